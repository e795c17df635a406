"""The scrape pipeline end to end: API → Celery chunks → Apify stand-in → gender → Postgres,
including redelivery, a killed worker, Apify failures, cancel and very large requests."""
from __future__ import annotations

import csv
import io
import os
import signal
import time
from collections import Counter

import pytest

from server.utils.gender import detect_gender
from standins.followers import generate_followers
from tests.conftest import auth, wait_for_job
from tests.support.processes import child_pids
from tests.support.waiting import wait_until


def submit(client, key, accounts, **body):
    response = client.post("/api/scrape-followers", json={"accounts": accounts, **body}, headers=auth(key))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def job_runs(stack, job_id, db):
    """Apify runs the stand-in started for the job's chunks."""
    with db.transaction() as conn:
        run_ids = {r["apify_run_id"] for r in conn.execute(
            "SELECT apify_run_id FROM scrape_job_chunks WHERE job_id = %s AND apify_run_id IS NOT NULL",
            (job_id,))}
    return [r for r in stack.apify_control("runs", method="GET") if r["id"] in run_ids]


def open_chunks(db, job_id) -> int:
    with db.transaction() as conn:
        return conn.execute("SELECT count(*) AS n FROM scrape_job_chunks WHERE job_id = %s"
                            " AND status IN ('queued', 'starting', 'running', 'collecting')", (job_id,)).fetchone()["n"]


def expected_kept(accounts, per_account, target, include_unknown=True, min_probability=None):
    """What the pipeline must keep, from the stand-in's own generator and our gender function:
    ``{profile_id: (gender, truth_gender)}``."""
    kept = {}
    for account in accounts:
        for follower in generate_followers(account, per_account):
            if follower.id in kept:
                continue
            guess = detect_gender(follower.full_name, follower.username).at_least(min_probability)
            if target == "any" or guess.gender == target or (include_unknown and guess.gender == "unknown"):
                kept[follower.id] = (guess.gender, follower.truth_gender)
    return kept


def stored(db, job_id):
    with db.transaction() as conn:
        return conn.execute("SELECT profile_id, gender, source_account FROM scrape_results WHERE job_id = %s",
                            (job_id,)).fetchall()


def test_job_keeps_exactly_the_expected_profiles_and_gender_split(client, app, stack, tenant):
    _, key = tenant
    accounts = [f"brand{i}" for i in range(60)]  # two chunks: 50 + 10
    job = submit(client, key, accounts, targetGender="female", includeUnknown=False)
    assert job["total_batches"] == 2
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed" and final["progress"] == 100
    assert final["current_batch"] == 2

    per_account = final["params"]["per_account_limit"]
    expected = expected_kept(accounts, per_account, "female", include_unknown=False)
    rows = stored(app.extensions["services"].db, job["job_id"])
    assert {r["profile_id"] for r in rows} == set(expected)
    assert final["profiles_scraped"] == len(rows) == len(expected)
    assert final["result"]["gender_split"] == {"female": len(expected)}
    assert final["items_read"] == per_account * len(accounts)
    # The kept profiles are women by the stand-in's ground truth (business accounts aside).
    truths = Counter(truth for _, truth in expected.values())
    assert truths["female"] / len(expected) >= 0.9, truths
    assert all(r["source_account"] in accounts for r in rows)
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in job_runs(
        stack, job["job_id"], app.extensions["services"].db)))


def test_min_gender_probability_counts_weaker_guesses_as_unknown(client, app, stack, tenant):
    _, key = tenant
    accounts = ["strict_one", "strict_two"]
    job = submit(client, key, accounts, targetGender="female", includeUnknown=False, minGenderProbability=0.99)
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed" and final["params"]["minGenderProbability"] == 0.99
    per_account = final["params"]["per_account_limit"]
    expected = expected_kept(accounts, per_account, "female", include_unknown=False, min_probability=0.99)
    default = expected_kept(accounts, per_account, "female", include_unknown=False)
    assert set(expected) < set(default)  # the cut removes some weaker "female" guesses
    with app.extensions["services"].db.transaction() as conn:
        rows = conn.execute("SELECT profile_id, gender_probability FROM scrape_results WHERE job_id = %s",
                            (job["job_id"],)).fetchall()
    assert {r["profile_id"] for r in rows} == set(expected)
    assert min(r["gender_probability"] for r in rows) >= 0.99


def test_total_scrape_count_caps_kept_profiles_and_results_page(client, app, stack, tenant):
    _, key = tenant
    job = submit(client, key, ["nike", "adidas", "puma"], targetGender="any", totalScrapeCount=250)
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed"
    assert final["profiles_scraped"] == 250
    assert final["params"]["per_account_limit"] == 92  # ceil(250 * 1.1 / 3): 10% headroom, no more

    seen, cursor = [], None
    while True:
        query = f"limit=100&cursor={cursor}" if cursor else "limit=100"
        page = client.get(f"/api/job-results/{job['job_id']}?{query}", headers=auth(key)).get_json()
        assert page["total"] == 250 and page["pages"] == 3
        seen += [p["profile_id"] for p in page["profiles"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 250
    page2 = client.get(f"/api/job-results/{job['job_id']}?page=2&limit=100", headers=auth(key)).get_json()
    assert [p["profile_id"] for p in page2["profiles"]] == seen[100:200]

    response = client.get(f"/api/job-results/{job['job_id']}?format=csv", headers=auth(key))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["profile_id"] for r in rows] == seen


def test_same_chunk_message_twice_makes_no_duplicates_and_no_second_run(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 2})
    job = submit(client, key, ["dup_one", "dup_two"], targetGender="any", totalScrapeCount=100)
    celery = app.extensions["celery"]
    for _ in range(2):  # the same message delivered twice more while the first is running
        celery.send_task("scrape.run_chunk", args=[job["job_id"], 0])
    final = wait_for_job(client, key, job["job_id"])
    celery.send_task("scrape.run_chunk", args=[job["job_id"], 0])  # and once after it finished
    time.sleep(1.5)
    db = app.extensions["services"].db
    rows = stored(db, job["job_id"])
    assert final["status"] == "completed"
    assert len(rows) == len({r["profile_id"] for r in rows}) == final["profiles_scraped"] == 100
    assert len(job_runs(stack, job["job_id"], db)) == 1
    again = client.get(f"/api/job-status/{job['job_id']}", headers=auth(key)).get_json()
    assert again["current_batch"] == 1 and again["profiles_scraped"] == 100


def _chunks(db, job_id):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM scrape_job_chunks WHERE job_id = %s", (job_id,)).fetchall()


def test_workers_killed_while_runs_are_going_restart_nothing_and_pay_once(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 3})
    accounts = [f"killtest{i}" for i in range(150)]  # 3 chunks, their runs going at once
    job = submit(client, key, accounts, targetGender="any")
    db = app.extensions["services"].db

    def all_running():
        chunks = _chunks(db, job["job_id"])
        return chunks if all(c["status"] == "running" and c["apify_run_id"] for c in chunks) else None

    chunks = wait_until(all_running)  # no worker holds them: they wait for their webhooks
    for pid in child_pids(stack.worker.pid):  # SIGKILL every pool process while the runs go
        os.kill(pid, signal.SIGKILL)

    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed", [
        {k: c[k] for k in ("status", "attempts", "error_message", "apify_run_status")} for c in _chunks(db, job["job_id"])]
    expected = expected_kept(accounts, final["params"]["per_account_limit"], "any")
    rows = stored(db, job["job_id"])
    assert len(rows) == len({r["profile_id"] for r in rows}) == len(expected) == final["profiles_scraped"]
    runs = job_runs(stack, job["job_id"], db)
    assert sorted(r["id"] for r in runs) == sorted(c["apify_run_id"] for c in chunks)  # none re-bought
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in runs))  # paid once
    assert {c["attempts"] for c in _chunks(db, job["job_id"])} == {1}


def test_worker_killed_while_collecting_resumes_the_dataset_without_duplicates(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 0.3, "page_limit_cap": 50})  # many small pages
    accounts = [f"collectkill{i}" for i in range(40)]
    job = submit(client, key, accounts, targetGender="any")
    db = app.extensions["services"].db

    def collecting_half_way():
        chunk = _chunks(db, job["job_id"])[0]
        return chunk if chunk["status"] == "collecting" and chunk["dataset_offset"] > 0 else None

    wait_until(collecting_half_way)
    for pid in child_pids(stack.worker.pid):
        os.kill(pid, signal.SIGKILL)
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed"
    expected = expected_kept(accounts, final["params"]["per_account_limit"], "any")
    rows = stored(db, job["job_id"])
    assert len(rows) == len({r["profile_id"] for r in rows}) == len(expected) == final["profiles_scraped"]
    assert len(job_runs(stack, job["job_id"], db)) == 1


def test_short_pages_from_apify_lose_no_item_and_repeat_none(client, app, stack, tenant):
    """Apify may return fewer items than asked for before a dataset's end; the pages read ahead
    after such a page are asked for again from where it really ended."""
    _, key = tenant
    stack.apify_control("faults", {"short_pages": True, "page_limit_cap": 300})
    accounts = [f"shortpage{i}" for i in range(3)]
    job = submit(client, key, accounts, targetGender="any")
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed"
    expected = expected_kept(accounts, final["params"]["per_account_limit"], "any")
    rows = stored(db := app.extensions["services"].db, job["job_id"])
    assert len(rows) == len({r["profile_id"] for r in rows}) == len(expected) == final["profiles_scraped"]
    chunk = _chunks(db, job["job_id"])[0]
    assert chunk["dataset_offset"] == chunk["items_read"] == final["items_read"]


@pytest.mark.parametrize("run_status", ["FAILED", "TIMED-OUT"])
def test_failed_apify_run_fails_the_chunk_and_reports_it(client, stack, tenant, app, run_status):
    _, key = tenant
    stack.apify_control("faults", {"run_status": run_status})
    job = submit(client, key, ["failing_source"], targetGender="any")
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "failed"
    assert final["failed_batches"] == 1
    assert "1 of 1 chunks failed" in final["error_message"]
    with app.extensions["services"].db.transaction() as conn:
        chunk = conn.execute("SELECT error_message, apify_run_status FROM scrape_job_chunks WHERE job_id = %s",
                             (job["job_id"],)).fetchone()
    assert chunk["apify_run_status"] == run_status and run_status in chunk["error_message"]
    assert final["error_message"] == f"1 of 1 chunks failed (first, chunk 0: {chunk['error_message']})"


def test_one_failed_chunk_of_two_gives_completed_with_errors(client, stack, tenant, app):
    _, key = tenant
    stack.apify_control("faults", {"fail_next_runs": 1})
    job = submit(client, key, [f"mixed{i}" for i in range(51)], targetGender="any", totalScrapeCount=5000)
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed_with_errors"
    assert final["failed_batches"] == 1 and final["profiles_scraped"] > 0
    with app.extensions["services"].db.transaction() as conn:
        failed = conn.execute(
            "SELECT error_message, items_kept FROM scrape_job_chunks WHERE job_id = %s AND status = 'failed'",
            (job["job_id"],)).fetchall()
    assert len(failed) == 1 and "FAILED" in failed[0]["error_message"]
    # the message counts every batch the chunk kept, the last one included
    assert f"; {failed[0]['items_kept']} profiles kept" in failed[0]["error_message"], failed[0]


def test_apify_429_then_success_completes_with_one_run(client, stack, tenant, app):
    _, key = tenant
    stack.apify_control("faults", {"http_429": 2})
    job = submit(client, key, ["ratelimited"], targetGender="any", totalScrapeCount=50)
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed" and final["profiles_scraped"] == 50
    assert len(job_runs(stack, job["job_id"], app.extensions["services"].db)) == 1


def test_apify_500_is_retried_by_the_task_then_succeeds(client, stack, tenant, app):
    _, key = tenant
    stack.apify_control("faults", {"http_500": 4})  # more than the client's own 3 attempts
    job = submit(client, key, ["flaky"], targetGender="any", totalScrapeCount=50)
    final = wait_for_job(client, key, job["job_id"])
    assert final["status"] == "completed" and final["profiles_scraped"] == 50
    assert len(job_runs(stack, job["job_id"], app.extensions["services"].db)) == 1


@pytest.mark.slow
def test_apify_500_forever_fails_the_job_after_bounded_attempts(client, stack, tenant, app):
    _, key = tenant
    stack.apify_control("faults", {"http_500": 10_000})
    job = submit(client, key, ["down"], targetGender="any", totalScrapeCount=50)
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    stack.apify_control("faults", {"http_500": 0})
    assert final["status"] == "failed"
    with app.extensions["services"].db.transaction() as conn:
        chunk = conn.execute("SELECT attempts, error_message FROM scrape_job_chunks WHERE job_id = %s",
                             (job["job_id"],)).fetchone()
    assert "gave up after" in chunk["error_message"] and "500" in chunk["error_message"]


def test_cancel_stops_chunks_and_aborts_runs(client, stack, tenant, app):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 30})
    job = submit(client, key, [f"cancel{i}" for i in range(120)], targetGender="any")
    db = app.extensions["services"].db
    wait_until(lambda: job_runs(stack, job["job_id"], db))
    response = client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key))
    assert response.status_code == 202 and response.get_json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key)).status_code == 409

    def all_stopped():
        runs = job_runs(stack, job["job_id"], db)
        return runs if open_chunks(db, job["job_id"]) == 0 and all(r["status"] == "ABORTED" for r in runs) else None

    runs = wait_until(all_stopped, every=0.2)
    final = client.get(f"/api/job-status/{job['job_id']}", headers=auth(key)).get_json()
    assert final["status"] == "cancelled"
    assert len(runs) <= 3  # the queued chunks never started a run


def test_reaching_the_cap_skips_the_remaining_chunks_at_once(client, app, stack, tenant):
    _, key = tenant
    accounts = [f"capped{i}" for i in range(1000)]  # 20 chunks; the run budget is 8
    job = submit(client, key, accounts, targetGender="any", totalScrapeCount=10)
    final = wait_for_job(client, key, job["job_id"], timeout=60)
    assert final["status"] == "completed" and final["profiles_scraped"] == 10
    assert final["current_batch"] == final["total_batches"] == 20
    db = app.extensions["services"].db
    with db.transaction() as conn:
        statuses = Counter(r["status"] for r in conn.execute(
            "SELECT status FROM scrape_job_chunks WHERE job_id = %s", (job["job_id"],)))
    assert statuses["skipped"] >= 12 and statuses["done"] >= 1  # the first wave of 8 ran
    assert len(job_runs(stack, job["job_id"], db)) <= 8  # the first wave (budget 8); none after the cap


@pytest.mark.slow
def test_a_big_job_does_not_hold_back_a_small_one(client, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 1})
    big = submit(client, key, [f"big{i}" for i in range(2000)], targetGender="any")  # 40 chunks
    try:
        small = submit(client, key, ["small_one"], targetGender="any", totalScrapeCount=20)
        done = wait_for_job(client, key, small["job_id"], timeout=60)
        assert done["status"] == "completed"
        still = client.get(f"/api/job-status/{big['job_id']}", headers=auth(key)).get_json()
        assert still["status"] == "processing", still
    finally:  # the big job must not keep the shared worker busy for the tests after this one
        assert client.post(f"/api/jobs/{big['job_id']}/cancel", headers=auth(key)).status_code == 202


def test_cancel_stops_writes_and_keeps_the_money_spent(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 2})
    job = submit(client, key, [f"spend{i}" for i in range(100)], targetGender="any")
    db = app.extensions["services"].db
    wait_until(lambda: job_runs(stack, job["job_id"], db))
    assert client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key)).status_code == 202
    cancelled_at = client.get(f"/api/job-status/{job['job_id']}", headers=auth(key)).get_json()
    wait_until(lambda: open_chunks(db, job["job_id"]) == 0, every=0.2)
    time.sleep(0.5)
    final = client.get(f"/api/job-status/{job['job_id']}", headers=auth(key)).get_json()
    assert final["status"] == "cancelled"
    assert final["profiles_scraped"] == cancelled_at["profiles_scraped"] == len(stored(db, job["job_id"]))
    runs = job_runs(stack, job["job_id"], db)
    assert final["cost_usd"] == pytest.approx(sum(r["usageTotalUsd"] for r in runs))
