"""Runs tracked without a waiting worker (webhooks, polling), the shared run budget, fair share,
refused starts and the cost cap, against a real worker and the Apify stand-in over HTTP.

The test stack's budget is ``APIFY_MAX_CONCURRENT_RUNS=8``; webhooks reach the app served at
``PUBLIC_BASE_URL``; ``scrape.poll_runs`` is sent every 0.5 s and polls a run
``APIFY_WEBHOOK_WAIT_SECONDS`` (4 s) after its start when no webhook came.
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter

import pytest
import requests

from server.services import Services
from server.settings import Settings
from server.utils import tenants
from server.utils.jobs.table import mark_processing
from server.utils.scrape.create import create_scrape_job
from server.utils.scrape.dispatch import fair_picks, run_budget, slots_in_use, take_slots
from server.utils.scrape.start import WEBHOOK_SECRET_HEADER, start_chunk_run
from tests.conftest import auth, wait_for_job
from tests.test_scrape_pipeline import _chunks, expected_kept, job_runs, stored, submit, wait_until

BUDGET = 8


def test_webhook_path_collects_every_run_once(client, app, stack, tenant):
    _, key = tenant
    accounts = [f"hooked{i}" for i in range(150)]
    job = submit(client, key, accounts, targetGender="any")
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed"
    db = app.extensions["services"].db
    assert len(stored(db, job["job_id"])) == len(expected_kept(accounts, final["params"]["per_account_limit"], "any"))
    chunks = _chunks(db, job["job_id"])
    deliveries = stack.apify_control("webhooks", method="GET")["deliveries"]
    ours = [d for d in deliveries if d["runId"] in {c["apify_run_id"] for c in chunks}]
    assert len(ours) == 3 and {d["status"] for d in ours} == {202}  # one end event per run, accepted
    assert all(c["webhook_secret_sha256"] for c in chunks)


def test_polling_alone_finishes_a_job_when_no_webhook_arrives(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("webhooks", {"enabled": False})  # e.g. the service is behind a firewall
    accounts = [f"polled{i}" for i in range(100)]
    job = submit(client, key, accounts, targetGender="any")
    final = wait_for_job(client, key, job["job_id"], timeout=60)
    assert final["status"] == "completed"
    db = app.extensions["services"].db
    assert len(stored(db, job["job_id"])) == len(expected_kept(accounts, final["params"]["per_account_limit"], "any"))


def test_without_public_base_url_runs_start_without_a_webhook_and_are_polled(client, app, stack, tenant):
    t, key = tenant
    services = Services(Settings.from_env(public_base_url=""))
    assert services.settings.public_base_url is None
    with services.db.transaction() as conn:
        job = create_scrape_job(conn, t.tenant_id, ["nohook_a"], {"targetGender": "any", "per_account_limit": 15},
                                50, None, None).job
        mark_processing(conn, job["job_id"])
        conn.execute("SELECT pg_advisory_xact_lock(7391004)")  # the live dispatcher waits for us
        conn.execute("UPDATE scrape_job_chunks SET status = 'starting', enqueued_at = now(),"
                     " lease_until = now() + interval '1 minute' WHERE job_id = %s", (job["job_id"],))
    outcome = start_chunk_run(services, job["job_id"], 0)  # what a worker without the URL does
    assert outcome.status == "running"
    chunk = _chunks(services.db, job["job_id"])[0]
    assert chunk["status"] == "running" and chunk["webhook_secret_sha256"] is None
    final = wait_for_job(client, key, str(job["job_id"]), timeout=60)  # the poller collects it
    assert final["status"] == "completed" and final["profiles_scraped"] == 15


def _running_chunk_with_known_secret(client, key, app, stack, name):
    """A one-chunk job whose run is going (30 s, no webhook delivery) and whose secret we know."""
    stack.apify_control("webhooks", {"enabled": False})
    stack.apify_control("faults", {"run_seconds": 30})
    job = submit(client, key, [name], targetGender="any")
    db = app.extensions["services"].db
    chunk = wait_until(lambda: next((c for c in _chunks(db, job["job_id"]) if c["status"] == "running"), None))
    secret = uuid.uuid4().hex
    with db.transaction() as conn:
        conn.execute("UPDATE scrape_job_chunks SET webhook_secret_sha256 = %s WHERE job_id = %s",
                     (hashlib.sha256(secret.encode()).hexdigest(), job["job_id"]))
    return job, chunk, secret


def _hook(client, run_id, secret=None):
    body = {"userId": "u", "createdAt": "2026-01-01T00:00:00.000Z", "eventType": "ACTOR.RUN.SUCCEEDED",
            "eventData": {"actorId": "a", "actorRunId": run_id}, "resource": {"id": run_id, "status": "SUCCEEDED"}}
    headers = {WEBHOOK_SECRET_HEADER: secret} if secret is not None else {}
    return client.post("/api/webhooks/apify", json=body, headers=headers)


def test_forged_webhooks_are_refused_and_change_nothing(client, app, stack, tenant):
    _, key = tenant
    job, chunk, secret = _running_chunk_with_known_secret(client, key, app, stack, "forged_target")
    run_id = chunk["apify_run_id"]
    assert _hook(client, run_id).status_code == 401  # no secret, and no API key needed or accepted
    assert _hook(client, run_id, "wrong").status_code == 401
    assert _hook(client, "UnknownRun0000000", secret).status_code == 401
    assert client.post("/api/webhooks/apify", json={"eventData": {}}, headers={WEBHOOK_SECRET_HEADER: secret}
                       ).status_code == 400
    # the right secret but a lying body: the run is still going, so nothing is collected
    assert _hook(client, run_id, secret).status_code == 202
    db = app.extensions["services"].db
    wait_until(lambda: _chunks(db, job["job_id"])[0]["status"] == "running" or None)
    assert _chunks(db, job["job_id"])[0]["items_read"] == 0
    assert client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key)).status_code == 202


def test_duplicate_webhooks_racing_the_poller_collect_once(client, app, stack, tenant):
    _, key = tenant
    job, chunk, secret = _running_chunk_with_known_secret(client, key, app, stack, "dup_target")
    requests.post(f"{stack.apify_url}/v2/actor-runs/{chunk['apify_run_id']}/abort",
                  headers={"Authorization": f"Bearer {stack.env['APIFY_API_KEY']}"}, timeout=10)
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(_hook(client, chunk["apify_run_id"], secret).status_code))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {202, 409} and 202 in answers
    final = wait_for_job(client, key, job["job_id"])
    db = app.extensions["services"].db
    row = _chunks(db, job["job_id"])[0]
    run = job_runs(stack, job["job_id"], db)[0]
    assert final["status"] == "failed" and row["status"] == "failed"  # ABORTED run, read once
    assert row["items_read"] == run["itemCount"] == final["items_read"]
    assert final["profiles_scraped"] == len(stored(db, job["job_id"])) == row["items_kept"]
    assert _hook(client, chunk["apify_run_id"], secret).status_code == 409  # a replay changes nothing


def _no_slot_held(app):
    """Wait until no chunk of an earlier test holds a run slot."""
    db = app.extensions["services"].db

    def free():
        with db.transaction() as conn:
            return slots_in_use(conn) == 0

    wait_until(free, timeout=60)


def test_run_budget_is_never_exceeded_by_concurrent_jobs(client, app, stack, tenant):
    _, key = tenant
    _no_slot_held(app)
    stack.apify_control("account", {"reset_peaks": True})
    stack.apify_control("faults", {"run_seconds": 1})
    jobs = [submit(client, key, [f"budget{j}_{i}" for i in range(500)], targetGender="any", totalScrapeCount=5000)
            for j in range(3)]  # 30 chunks wanting runs at once
    for job in jobs:
        assert wait_for_job(client, key, job["job_id"], timeout=120)["status"] == "completed"
    account = stack.apify_control("account", method="GET")
    assert account["peak_running"] == BUDGET  # the budget was used, never exceeded


def test_refused_starts_wait_their_turn_without_counting_attempts(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("account", {"max_memory_mbytes": 2048})  # two 1 GB runs fit; the budget says 8
    stack.apify_control("faults", {"run_seconds": 0.5})
    job = submit(client, key, [f"refused{i}" for i in range(300)], targetGender="any", totalScrapeCount=3000)
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed"
    account = stack.apify_control("account", method="GET")
    assert account["refused"] > 0 and account["peak_running"] == 2
    db = app.extensions["services"].db
    assert {c["attempts"] for c in _chunks(db, job["job_id"])} == {1}
    assert len(job_runs(stack, job["job_id"], db)) == 6


def test_cost_cap_stops_starting_runs_and_completes_the_job(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 0.5})
    # 10 chunks of 50 accounts x 11 followers: maxItems 550 per run, estimated 550 x $0.0007 = $0.385
    job = submit(client, key, [f"costly{i}" for i in range(500)], targetGender="any", totalScrapeCount=5000,
                 maxCostUsd=1.0)
    final = wait_for_job(client, key, job["job_id"], timeout=60)
    assert final["status"] == "completed" and final["result"]["stopped_by"] == "cost_cap"
    db = app.extensions["services"].db
    runs = job_runs(stack, job["job_id"], db)
    # $0 and $0.385 going before the first two starts: 11 followers each; $0.77 going before the
    # third: $0.23 left pays for 6 followers of 50 accounts ($0.21); then $0.02 pays for none
    by_chunk = sorted((c["chunk_index"], c["apify_run_id"]) for c in _chunks(db, job["job_id"]) if c["apify_run_id"])
    inputs = {r["id"]: r["input"]["max_count"] for r in runs}
    assert [inputs[run_id] for _, run_id in by_chunk] == [11, 11, 6]
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in runs)) and final["cost_usd"] <= 1.0
    statuses = Counter(c["status"] for c in _chunks(db, job["job_id"]))
    assert statuses == {"done": 3, "skipped": 7}


def test_max_cost_usd_is_validated(client, tenant):
    _, key = tenant
    for bad in (0, -1, "5", True):
        response = client.post("/api/scrape-followers", json={"accounts": ["a_b"], "maxCostUsd": bad},
                               headers=auth(key))
        assert response.status_code == 400 and "maxCostUsd" in response.get_json()["error"]["details"], bad


def test_fair_share_goes_round_robin_across_tenants_then_jobs(app):
    services = app.extensions["services"]
    with services.db.connect() as conn, conn.transaction(force_rollback=True):
        a = tenants.upsert_tenant(conn, f"fair-a-{uuid.uuid4().hex[:6]}", None, 1, 1)
        b = tenants.upsert_tenant(conn, f"fair-b-{uuid.uuid4().hex[:6]}", None, 1, 1)
        params = {"targetGender": "any", "per_account_limit": 5}

        def job(tenant, n_accounts):
            new = create_scrape_job(conn, tenant.tenant_id, [f"f{uuid.uuid4().hex[:8]}" for _ in range(n_accounts)],
                                    params, 1, None, None).job
            mark_processing(conn, new["job_id"])
            conn.execute("UPDATE scrape_jobs SET created_at = clock_timestamp() WHERE job_id = %s", (new["job_id"],))
            return new["job_id"]

        big = job(a, 100)  # 100 one-account chunks, submitted first
        other_tenant = job(b, 1)
        small = job(a, 1)  # the same tenant's second job
        picks = fair_picks(conn, 5, 0.0007, 1000)
        assert picks == [(big, 0, 5), (other_tenant, 0, 5), (small, 0, 5), (big, 1, 5), (big, 2, 5)]
        # with the big job's first chunks running, the other tenant's job still comes first
        conn.execute("UPDATE scrape_job_chunks SET status = 'running', apify_run_id = 'r' || chunk_index"
                     " WHERE job_id = %s AND chunk_index < 3", (big,))
        assert [p[:2] for p in fair_picks(conn, 3, 0.0007, 1000)] == [(other_tenant, 0), (small, 0), (big, 3)]
        in_use = conn.execute("SELECT count(*) AS n FROM scrape_job_chunks WHERE status IN ('starting', 'running')"
                              ).fetchone()["n"]
        assert len(take_slots(conn, in_use + 2, 0.0007, 1000, 60)) == 2  # never past the budget


def test_budget_follows_memory_and_the_account_limits(stack):
    stack.apify_control("account", {"max_concurrent_runs": 5, "max_memory_mbytes": 3072})
    services = Services(Settings.from_env(apify_read_account_limits=True))
    assert services.apify_account_limits == {"max_concurrent_runs": 5, "max_memory_mbytes": 3072}
    assert run_budget(services.settings, services.apify_account_limits) == 3  # 3072 MB / 1024 MB runs
    assert run_budget(Settings.from_env(apify_max_memory_gb=2.5), None) == 2
    assert run_budget(Settings.from_env(), None) == BUDGET
    assert Services(Settings.from_env()).apify_account_limits is None  # not read unless asked


def test_public_base_url_must_be_an_http_url(stack):
    from server.settings import SettingsError

    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        Settings.from_env(public_base_url="ftp://example.com")
    assert Settings.from_env(public_base_url="https://api.example.com/").public_base_url == "https://api.example.com"
