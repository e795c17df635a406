"""``maxCostUsd`` is respected before money is spent, every way a scrape job ends sends its
follow-up job, and ending a huge job's remaining chunks is set-based.

Against the test stack (``APIFY_PRICE_PER_RESULT_USD`` 0.0007, a real worker, the Apify
stand-in, whose runs cost their dataset items × 0.0007).
"""
from __future__ import annotations

import time
import uuid
from collections import Counter

from server.utils import tenants
from server.utils.jobs.table import mark_processing
from server.utils.scrape.chunks import mark_starting, skip_remaining_chunks
from server.utils.scrape.create import create_scrape_job
from server.utils.scrape.dispatch import COST_CAP_REACHED, fair_picks, stop_capped_jobs
from server.utils.scrape.source_report import status_counts
from tests.conftest import auth, wait_for_job
from tests.test_scrape_pipeline import _chunks, job_runs, submit

PRICE = 0.0007


def _sources(db, job_id):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM scrape_job_sources WHERE job_id = %s", (job_id,)).fetchall()


def test_first_run_is_shrunk_to_fit_the_cap_and_auto_ingest_follows(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 0.3})
    # the reported case: 4 chunks of 50 accounts × 1,000 followers would be $35 a run
    job = submit(client, key, [f"capped{i}" for i in range(200)], targetGender="female", maxCostUsd=1.0,
                 autoIngest=True)
    final = wait_for_job(client, key, job["job_id"], timeout=60)
    assert final["status"] == "completed" and final["result"]["stopped_by"] == "cost_cap"
    assert final["cost_usd"] <= 1.0
    db = app.extensions["services"].db
    chunks = sorted(_chunks(db, job["job_id"]), key=lambda c: c["chunk_index"])
    started = [c for c in chunks if c["apify_run_id"]]
    # the first run asked what $1.00 pays for: 28 followers × 50 accounts × $0.0007 = $0.98
    assert started[0]["max_items"] == 1400
    runs = {r["id"]: r for r in job_runs(stack, job["job_id"], db)}
    assert runs[started[0]["apify_run_id"]]["input"]["max_count"] == 28
    for chunk in started:  # no run's worst case passed the cap
        assert chunk["max_items"] * PRICE <= 1.0 + 1e-9
        assert runs[chunk["apify_run_id"]]["input"]["max_count"] * 50 == chunk["max_items"]
    skipped = [c for c in chunks if c["status"] == "skipped"]
    assert skipped and all(c["error_message"] == COST_CAP_REACHED and not c["apify_run_id"] for c in skipped)
    assert final["cost_usd"] + 50 * PRICE > 1.0  # the next chunk's cheapest run did not fit
    skipped_sources = [s for s in _sources(db, job["job_id"]) if s["status"] == "skipped"]
    assert len(skipped_sources) == 50 * len(skipped) == final["sources"]["skipped"]
    assert {s["error"] for s in skipped_sources} == {"not read: maxCostUsd reached"}
    # B: the follow-up ingest job is sent when the job ends on its cap (not left to the reaper)
    ingest_id = final["result"]["auto_ingest_job_id"]
    assert wait_for_job(client, key, ingest_id, timeout=30)["status"] == "completed"


def test_no_run_starts_when_not_one_fits_and_auto_ingest_still_follows(client, app, stack, tenant):
    _, key = tenant
    # one follower of each of 50 accounts would cost $0.035: more than the cap
    job = submit(client, key, [f"toodear{i}" for i in range(60)], targetGender="any", maxCostUsd=0.03,
                 autoIngest=True)
    final = wait_for_job(client, key, job["job_id"], timeout=30)
    assert final["status"] == "completed" and final["result"]["stopped_by"] == "cost_cap"
    assert final["cost_usd"] == 0 and final["current_batch"] == final["total_batches"] == 2
    db = app.extensions["services"].db
    assert job_runs(stack, job["job_id"], db) == []
    assert Counter(c["status"] for c in _chunks(db, job["job_id"])) == {"skipped": 2}
    assert final["sources"]["skipped"] == 60
    assert wait_for_job(client, key, final["result"]["auto_ingest_job_id"], timeout=30)["status"] == "completed"


def test_profile_cap_reached_by_the_dispatcher_sends_the_follow_up(client, app, stack, tenant):
    """B for ``totalScrapeCount``: a job found at its cap by the dispatcher (its last run's
    profiles counted, nothing running) is completed there and its ingest job is sent."""
    t, key = tenant
    services = app.extensions["services"]
    with services.db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(7391004)")  # the live dispatcher waits for us
        job = create_scrape_job(conn, t.tenant_id, [f"full{i}" for i in range(100)],
                                {"targetGender": "any", "per_account_limit": 5, "autoIngest": True},
                                50, 10, None).job
        mark_processing(conn, job["job_id"])
        conn.execute("UPDATE scrape_job_chunks SET status = 'done', finished_at = now()"
                     " WHERE job_id = %s AND chunk_index = 0", (job["job_id"],))
        conn.execute("UPDATE scrape_jobs SET profiles_scraped = 10, current_batch = 1 WHERE job_id = %s",
                     (job["job_id"],))
    final = wait_for_job(client, key, str(job["job_id"]), timeout=30)
    assert final["status"] == "completed" and final["result"]["stopped_by"] == "total_scrape_count"
    assert wait_for_job(client, key, final["result"]["auto_ingest_job_id"], timeout=30)["status"] == "completed"


def test_grants_count_the_runs_going_and_the_money_spent(app):
    services = app.extensions["services"]
    with services.db.connect() as conn, conn.transaction(force_rollback=True):
        t = tenants.upsert_tenant(conn, f"grant-{uuid.uuid4().hex[:6]}", None, 1, 1)
        job_id = create_scrape_job(conn, t.tenant_id, [f"g{uuid.uuid4().hex[:8]}" for _ in range(200)],
                                   {"targetGender": "female", "per_account_limit": 1000, "maxCostUsd": 1.0},
                                   50, None, None).job["job_id"]
        mark_processing(conn, job_id)

        def picks():
            return [p for p in fair_picks(conn, 8, PRICE, 1000) if p.job_id == job_id]

        assert picks() == [(job_id, 0, 28)]  # $35 asked, $0.98 granted; nothing for chunk 1
        mark_starting(conn, picks(), 60)
        chunk = conn.execute("SELECT max_items FROM scrape_job_chunks WHERE job_id = %s AND chunk_index = 0",
                             (job_id,)).fetchone()
        assert chunk["max_items"] == 1400
        # a second dispatcher (they take turns on the budget lock) sees the run going: $0.02 left
        assert picks() == []
        assert stop_capped_jobs(conn, PRICE) == [] and conn.execute(  # the run may cost less: wait
            "SELECT count(*) AS n FROM scrape_job_chunks WHERE job_id = %s AND status = 'queued'",
            (job_id,)).fetchone()["n"] == 3
        # the run cost $0.50: the next one gets what is left
        conn.execute("UPDATE scrape_job_chunks SET status = 'done' WHERE job_id = %s AND chunk_index = 0", (job_id,))
        conn.execute("UPDATE scrape_jobs SET cost_usd = 0.5, current_batch = 1 WHERE job_id = %s", (job_id,))
        assert picks() == [(job_id, 1, 14)]  # 14 × 50 × $0.0007 = $0.49
        mark_starting(conn, picks(), 60)
        assert picks() == []
        conn.execute("UPDATE scrape_job_chunks SET status = 'done' WHERE job_id = %s AND chunk_index = 1", (job_id,))
        conn.execute("UPDATE scrape_jobs SET cost_usd = 0.99, current_batch = 2 WHERE job_id = %s", (job_id,))
        stop_capped_jobs(conn, PRICE)  # $0.01 left: not one follower of 50 accounts
        job = conn.execute("SELECT status, result FROM scrape_jobs WHERE job_id = %s", (job_id,)).fetchone()
        assert job["status"] == "completed" and job["result"]["stopped_by"] == "cost_cap"
        statuses = Counter(r["status"] for r in conn.execute(
            "SELECT status FROM scrape_job_chunks WHERE job_id = %s", (job_id,)))
        assert statuses == {"done": 2, "skipped": 2}


def test_a_capped_big_job_skips_its_remaining_chunks_and_sources_at_once(app):
    services = app.extensions["services"]
    accounts = [f"big{i:05d}" for i in range(20_000)]  # 400 chunks
    with services.db.connect() as conn, conn.transaction(force_rollback=True):
        t = tenants.upsert_tenant(conn, f"big-{uuid.uuid4().hex[:6]}", None, 1, 1)
        job_id = create_scrape_job(conn, t.tenant_id, accounts, {"targetGender": "any", "per_account_limit": 5},
                                   50, 10, None).job["job_id"]
        mark_processing(conn, job_id)
        # chunk 0 read (its 50 sources ok); three sources of chunk 1 were read in an earlier run
        conn.execute("UPDATE scrape_job_chunks SET status = 'done', finished_at = now()"
                     " WHERE job_id = %s AND chunk_index = 0", (job_id,))
        conn.execute("UPDATE scrape_jobs SET current_batch = 1, profiles_scraped = 10 WHERE job_id = %s", (job_id,))
        conn.execute("INSERT INTO scrape_job_sources (job_id, source_account, tenant_id, chunk_index, status,"
                     " followers_read, runs) SELECT %s, unnest(%s::text[]), %s, 0, 'ok', 5, 1",
                     (job_id, accounts[:50], t.tenant_id))
        conn.execute(
            "INSERT INTO scrape_job_sources (job_id, source_account, tenant_id, chunk_index, runs, error_kind, error)"
            " VALUES (%s, %s, %s, 1, 1, NULL, NULL), (%s, %s, %s, 1, 1, 'rate_limited', 'slow down'),"
            " (%s, %s, %s, 1, 1, 'private', 'private account')",
            (job_id, accounts[50], t.tenant_id, job_id, accounts[51], t.tenant_id, job_id, accounts[52], t.tenant_id))
        started = time.perf_counter()
        counters = skip_remaining_chunks(conn, job_id, COST_CAP_REACHED, "cost_cap")
        print(f"skipped 399 chunks / 19,950 sources in {time.perf_counter() - started:.3f}s")
        assert counters["current_batch"] == 400
        job = conn.execute("SELECT * FROM scrape_jobs WHERE job_id = %s", (job_id,)).fetchone()
        assert job["status"] == "completed" and job["result"]["stopped_by"] == "cost_cap"
        chunks = conn.execute("SELECT status, error_message, count(*) AS n FROM scrape_job_chunks"
                              " WHERE job_id = %s GROUP BY 1, 2", (job_id,)).fetchall()
        assert {(c["status"], c["error_message"], c["n"]) for c in chunks} == {
            ("done", None, 1), ("skipped", COST_CAP_REACHED, 399)}
        rows = conn.execute("SELECT status, error, count(*) AS n FROM scrape_job_sources WHERE job_id = %s"
                            " GROUP BY 1, 2", (job_id,)).fetchall()
        assert {(r["status"], r["error"], r["n"]) for r in rows} == {
            ("ok", None, 50), ("skipped", "not read: maxCostUsd reached", 19_947),
            ("empty", "no follower and no error item; not asked again: maxCostUsd reached", 1),
            ("failed", "slow down", 1), ("private", "private account", 1)}
        assert status_counts(conn, job) == {"ok": 50, "private": 1, "not_found": 0, "empty": 1, "failed": 1,
                                            "skipped": 19_947, "pending": 0}
        known = conn.execute("SELECT username, last_status FROM source_profiles WHERE tenant_id = %s",
                             (t.tenant_id,)).fetchall()
        assert {(r["username"], r["last_status"]) for r in known} == {
            (accounts[50], "empty"), (accounts[51], "failed"), (accounts[52], "private")}
        assert skip_remaining_chunks(conn, job_id, COST_CAP_REACHED, "cost_cap") is None  # once
