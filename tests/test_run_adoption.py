"""A worker that dies between Apify starting a chunk's run and the run id reaching Postgres: the
chunk is started again by the real worker, which adopts the run instead of paying for a second one
(and aborts any extra run of the chunk), so every chunk has exactly one run and the job's cost is
what Apify charged."""
from __future__ import annotations

import os
import secrets
import signal
from collections import Counter
from datetime import timedelta

import pytest

from server.utils.jobs.table import mark_processing, request_cancel
from server.utils.scrape.actor import build_run_input, input_style
from server.utils.scrape.chunks import claim_start, mark_start_sent
from server.utils.scrape.create import create_scrape_job
from server.utils.scrape.runs import abort_job_runs
from server.utils.scrape.start import secret_digest, webhook_definition
from tests.conftest import wait_for_job
from tests.support.processes import child_pids
from tests.support.waiting import wait_until
from tests.test_scrape_pipeline import _chunks, expected_kept, stored, submit

PER_ACCOUNT = 20
LIST_ROUTES = ("GET /v2/acts/<path:actor_id>/runs", "GET /v2/actors/<path:actor_id>/runs",
               "GET /v2/key-value-stores/<store_id>/records/<key>")


def _starting_job(services, tenant, accounts):
    """A processing one-chunk job whose chunk the dispatcher has just put in ``starting``."""
    with services.db.transaction() as conn:
        job = create_scrape_job(conn, tenant.tenant_id, accounts, {
            "targetGender": "any", "includeUnknown": True, "per_account_limit": PER_ACCOUNT}, 50, None, None).job
        mark_processing(conn, job["job_id"])
        conn.execute("SELECT pg_advisory_xact_lock(7391004)")  # the live dispatcher waits for us
        conn.execute("UPDATE scrape_job_chunks SET status = 'starting', enqueued_at = now(),"
                     " lease_until = now() + interval '1 minute' WHERE job_id = %s", (job["job_id"],))
    return job


def _start_then_die(services, job, accounts, runs=1, expire=True):
    """Do what ``start.py`` does up to and including the start request(s), then die: the run id is
    never recorded and the lease runs out. ``runs`` > 1: the request reached Apify more than once
    (e.g. the client retried a start whose answer was lost). Returns the started runs."""
    settings = services.settings
    with services.db.transaction() as conn:
        claim = claim_start(conn, job["job_id"], 0, settings.chunk_lease_seconds)
    assert claim is not None
    secret = secrets.token_urlsafe(32)
    with services.db.transaction() as conn:
        mark_start_sent(conn, claim, secret_digest(secret))
    style = input_style(settings.apify_actor_id, settings.apify_actor_input)
    actor = services.apify().actor(settings.apify_actor_id)
    started = [actor.start(run_input=build_run_input(style, accounts, PER_ACCOUNT),
                           max_items=PER_ACCOUNT * len(accounts), memory_mbytes=settings.apify_memory_mbytes,
                           run_timeout=timedelta(seconds=settings.apify_run_timeout_seconds),
                           webhooks=[webhook_definition(settings.public_base_url, secret, f"{job['job_id']}:0:1")])
               for _ in range(runs)]
    if not expire:
        return started
    with services.db.transaction() as conn:  # the worker is gone: its lease expires
        conn.execute("UPDATE scrape_job_chunks SET lease_until = now() - interval '1 second' WHERE job_id = %s",
                     (job["job_id"],))
    return started


def _runs_of(stack, accounts):
    return [r for r in stack.apify_control("runs", method="GET") if r["input"].get("usernames") == accounts]


def _list_requests(stack) -> int:
    counts = stack.apify_control("stats", method="GET")["requests"]
    return sum(counts.get(route, 0) for route in LIST_ROUTES)


def _assert_exact(app, final, accounts, job_id):
    assert final["status"] == "completed", final
    expected = expected_kept(accounts, PER_ACCOUNT, "any")
    rows = stored(app.extensions["services"].db, job_id)
    assert len(rows) == len({r["profile_id"] for r in rows}) == len(expected) == final["profiles_scraped"]


def test_run_started_but_never_recorded_is_adopted_not_bought_again(client, app, stack, tenant):
    t, key = tenant
    services = app.extensions["services"]
    accounts = [f"adopt_one{i}" for i in range(3)]
    job = _starting_job(services, t, accounts)
    [run] = _start_then_die(services, job, accounts)
    # the poller gives the dead worker's chunk back; the real worker starts it again
    final = wait_for_job(client, key, str(job["job_id"]), timeout=60)
    _assert_exact(app, final, accounts, job["job_id"])
    runs = _runs_of(stack, accounts)
    assert [r["id"] for r in runs] == [run.id]  # exactly one run for the chunk: the adopted one
    [chunk] = _chunks(services.db, job["job_id"])
    assert chunk["apify_run_id"] == run.id and chunk["apify_dataset_id"] == run.default_dataset_id
    assert chunk["attempts"] == 1  # the adopting claim started nothing
    assert final["cost_usd"] == pytest.approx(runs[0]["usageTotalUsd"]) == pytest.approx(
        PER_ACCOUNT * len(accounts) * services.settings.apify_price_per_result_usd)


def test_extra_runs_of_a_chunk_are_aborted_and_their_cost_counted(client, app, stack, tenant):
    t, key = tenant
    services = app.extensions["services"]
    stack.apify_control("faults", {"run_seconds": 3})
    accounts = [f"adopt_two{i}" for i in range(2)]
    job = _starting_job(services, t, accounts)
    first, second = _start_then_die(services, job, accounts, runs=2)
    final = wait_for_job(client, key, str(job["job_id"]), timeout=60)
    _assert_exact(app, final, accounts, job["job_id"])
    runs = {r["id"]: r for r in _runs_of(stack, accounts)}
    assert set(runs) == {first.id, second.id}  # no third run
    [chunk] = _chunks(services.db, job["job_id"])
    assert chunk["apify_run_id"] == first.id and runs[first.id]["status"] == "SUCCEEDED"  # the earliest
    assert runs[second.id]["status"] == "ABORTED"  # stopped so it spends no more
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in runs.values()))


def test_start_path_without_an_earlier_attempt_asks_apify_nothing_more(client, app, stack, tenant):
    _, key = tenant
    before = _list_requests(stack)
    job = submit(client, key, [f"adopt_none{i}" for i in range(60)], targetGender="any")
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed"
    assert _list_requests(stack) == before  # no run listing, no input read


def test_cancelled_job_aborts_the_run_its_dead_starter_left(app, stack, tenant):
    t, _ = tenant
    services = app.extensions["services"]
    stack.apify_control("faults", {"run_seconds": 5})
    accounts = [f"adopt_cancel{i}" for i in range(2)]
    job = _starting_job(services, t, accounts)
    [run] = _start_then_die(services, job, accounts, expire=False)
    with services.db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(7391004)")  # the live dispatcher waits for us
        conn.execute("UPDATE scrape_job_chunks SET status = 'queued', lease_token = NULL, lease_until = NULL"
                     " WHERE job_id = %s", (job["job_id"],))  # what the poller does with it
        assert request_cancel(conn, t.tenant_id, job["job_id"])["status"] == "cancelled"
    assert abort_job_runs(services, job["job_id"]) == 1  # what jobs.abort_runs does after the cancel
    [stray] = _runs_of(stack, accounts)
    assert stray["id"] == run.id and stray["status"] == "ABORTED"
    with services.db.transaction() as conn:
        cost = conn.execute("SELECT cost_usd FROM scrape_jobs WHERE job_id = %s", (job["job_id"],)).fetchone()
    assert float(cost["cost_usd"]) == pytest.approx(stray["usageTotalUsd"])
    assert abort_job_runs(services, job["job_id"]) == 0  # a repeated abort finds nothing more to pay


def test_workers_killed_during_the_start_burst_pay_one_run_per_chunk(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 5})
    accounts = [f"burst{i}" for i in range(400)]  # 8 chunks, all started at once (budget 8)
    job = submit(client, key, accounts, targetGender="any")
    db = app.extensions["services"].db
    chunk_inputs = {tuple(c["accounts"]) for c in _chunks(db, job["job_id"])}

    def runs_of_job():
        return [r for r in stack.apify_control("runs", method="GET")
                if tuple(r["input"].get("usernames") or ()) in chunk_inputs]

    wait_until(runs_of_job, every=0.02)  # the first run is started: the burst is under way
    for pid in child_pids(stack.worker.pid):
        os.kill(pid, signal.SIGKILL)
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed", final
    expected = expected_kept(accounts, final["params"]["per_account_limit"], "any")
    rows = stored(db, job["job_id"])
    assert len(rows) == len({r["profile_id"] for r in rows}) == len(expected) == final["profiles_scraped"]
    runs = runs_of_job()
    paid = Counter(tuple(r["input"]["usernames"]) for r in runs if r["status"] != "ABORTED")
    assert paid == Counter(chunk_inputs)  # one finished run per chunk, none bought twice
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in runs))
