"""Airtable push: every assignment becomes exactly one record, whatever crashes, reruns, 429s
or concurrent workers happen, and no base ever sees more than 5 requests per second."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import date

import pytest

from server.utils.airtable import push as airtable_push
from server.utils.airtable.push import PushError, push_campaign
from tests.conftest import wait_for_job
from tests.support.airtable import (  # noqa: F401
    assignments,
    at_tenant,
    base_stats,
    run_job,
    seed_campaign,
    services,
    start_job,
    table_records,
)
from tests.support.processes import child_pids, start_worker


def assert_one_record_per_assignment(stack, services, tenant, tables: int) -> list[dict]:
    """Each non-archived assignment has a stored record id, and every Airtable record of the
    tenant's tables belongs to exactly one assignment (no duplicates, no strays)."""
    rows = assignments(services, tenant)
    records = [r for n in range(1, tables + 1) for r in table_records(stack, tenant, n)]
    platform_ids = Counter(r["fields"]["id"] for r in records)
    assert [pid for pid, count in platform_ids.items() if count > 1] == []
    assert all(r["airtable_record_id"] for r in rows)
    assert sorted(r["airtable_record_id"] for r in rows) == sorted(r["id"] for r in records)
    by_record = {r["id"]: r for r in records}
    for row in rows:
        record = by_record[row["airtable_record_id"]]
        assert record["fields"]["id"] == row["profile_id"]
        assert record["fields"]["position"] == row["position"]
    return rows


def test_push_job_writes_each_assignment_once_and_rerun_adds_nothing(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=2, per_table=23, campaign_date=date(2030, 2, 3))

    body = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(campaign_id)})

    assert body["status"] == "completed", body
    result = body["result"]
    assert result["records_pushed"] == 46 and result["created"] == 46 and result["recovered"] == 0
    assert result["tables"]["Daily_Outreach_Table_02"]["pushed"] == 23
    assert result["tables_created"] == ["Daily_Outreach_Table_01", "Daily_Outreach_Table_02"]
    rows = assert_one_record_per_assignment(stack, services, tenant, 2)
    record = next(r for r in table_records(stack, tenant, 1) if r["fields"]["position"] == 1)
    first = rows[0]
    assert record["fields"] == {
        "id": first["profile_id"], "username": first["username"], "full_name": "O'Brien",
        "profile_url": f"https://www.instagram.com/{first['username']}/", "position": 1,
        "campaign_date": "2030-02-03", "progress_status": "pending"}
    assert all(r["pushed_at"] is not None for r in rows)
    with services.db.transaction() as conn:
        campaign = conn.execute("SELECT status, pushed_at, push_error FROM campaigns WHERE campaign_id = %s",
                                (campaign_id,)).fetchone()
    assert campaign["status"] == "pushed" and campaign["pushed_at"] and campaign["push_error"] is None

    again = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(campaign_id)})
    assert again["status"] == "completed"
    assert again["result"]["records_pushed"] == 0 and again["result"]["already_pushed"] == 46
    assert again["result"]["airtable_requests"]["requests"] == 0
    assert_one_record_per_assignment(stack, services, tenant, 2)


def test_push_killed_halfway_then_rerun_leaves_one_record_per_assignment(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=4, per_table=50)
    first_job = start_job(app, services, tenant, "airtable_push", {"campaign_id": str(campaign_id)})

    deadline = time.monotonic() + 60
    while True:
        stored = sum(1 for r in assignments(services, tenant) if r["airtable_record_id"])
        if 30 <= stored:
            break
        assert time.monotonic() < deadline, "push never started"
        time.sleep(0.05)
    assert stored < 200, "push finished before it could be killed; make it larger"
    for pid in child_pids(stack.worker.pid):      # SIGKILL the pool processes mid-push
        os.kill(pid, signal.SIGKILL)

    second = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(campaign_id)},
                     timeout=150)
    assert second["status"] == "completed", second
    # The killed job's message is redelivered (acks_late); let it end too before counting.
    first = wait_for_job(client, key, first_job, timeout=150)
    assert first["status"] in ("completed", "failed")
    # Whichever run came last found everything stored and created nothing.
    assert second["result"]["already_pushed"] + second["result"]["records_pushed"] == 200
    rows = assert_one_record_per_assignment(stack, services, tenant, 4)
    assert len(rows) == 200
    with services.db.transaction() as conn:
        status = conn.execute("SELECT status FROM campaigns WHERE campaign_id = %s", (campaign_id,)).fetchone()
    assert status["status"] == "pushed"


def test_crash_between_airtable_write_and_db_commit_is_recovered_without_duplicates(
        stack, services, at_tenant, monkeypatch):
    tenant, _ = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=1, per_table=35)
    real_store = airtable_push._store_record_ids
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker died after Airtable answered")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(airtable_push, "_store_record_ids", crash_on_third)
    with pytest.raises(RuntimeError):
        push_campaign(services, tenant, campaign_id)
    with services.db.transaction() as conn:
        campaign = conn.execute("SELECT status, push_error FROM campaigns WHERE campaign_id = %s",
                                (campaign_id,)).fetchone()
    assert campaign["status"] == "failed" and "worker died" in campaign["push_error"]
    assert len(table_records(stack, tenant, 1)) == 30           # 3 requests answered, 20 ids stored

    monkeypatch.setattr(airtable_push, "_store_record_ids", real_store)
    result = push_campaign(services, tenant, campaign_id)
    assert result["recovered"] == 10 and result["created"] == 5 and result["already_pushed"] == 20
    assert result["status"] == "pushed"
    assert_one_record_per_assignment(stack, services, tenant, 1)


def test_push_refuses_unknown_or_undistributed_campaigns(app, client, services, at_tenant):
    tenant, key = at_tenant
    undistributed = seed_campaign(services, tenant, 1, 3, status="selected")
    body = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(undistributed)})
    assert body["status"] == "failed" and "distribute" in body["error_message"]
    body = run_job(app, client, services, tenant, key, "airtable_push",
                   {"campaign_id": "00000000-0000-0000-0000-000000000000"})
    assert body["status"] == "failed" and "not found" in body["error_message"]
    with pytest.raises(PushError):
        push_campaign(services, tenant, "00000000-0000-0000-0000-000000000000")


@pytest.fixture(scope="module")
def second_worker(stack, tmp_path_factory):
    """A second Celery worker (2 more processes) on the same broker."""
    worker = start_worker(tmp_path_factory.mktemp("worker2"), stack.env, name="worker2")
    yield worker
    worker.stop()


def _job_rows(services, job_ids):
    with services.db.transaction() as conn:
        return conn.execute("SELECT job_id, status, started_at, completed_at, result FROM scrape_jobs"
                            " WHERE job_id = ANY(%s::uuid[])", (job_ids,)).fetchall()


def test_two_workers_pushing_one_base_stay_within_5_requests_per_second(
        stack, app, client, services, at_tenant, second_worker):
    tenant, key = at_tenant
    campaigns = [seed_campaign(services, tenant, 3, 40, campaign_date=date(2030, 3, d)) for d in (1, 2, 3)]
    jobs = [start_job(app, services, tenant, "airtable_push", {"campaign_id": str(c)}) for c in campaigns]
    bodies = [wait_for_job(client, key, j, timeout=150) for j in jobs]

    assert [b["status"] for b in bodies] == ["completed"] * 3, bodies
    rows = _job_rows(services, jobs)
    overlap = max(r["started_at"] for r in rows) < min(r["completed_at"] for r in rows)
    assert overlap, "the pushes did not run at the same time"
    stats = base_stats(stack, tenant)
    assert stats["rate_limited"] == 0
    assert stats["max_requests_in_any_1s_window"] <= 5
    assert_one_record_per_assignment(stack, services, tenant, 3)
    assert len(assignments(services, tenant)) == 360


def test_push_meeting_429s_waits_out_the_penalty_loses_nothing_and_stays_within_5_per_second(
        stack, app, client, services, at_tenant, second_worker):
    tenant, key = at_tenant
    campaigns = [seed_campaign(services, tenant, 2, 40, campaign_date=date(2030, 4, d)) for d in (1, 2)]
    # Airtable admits fewer requests than our budget (another integration uses the base, say):
    # our 5 requests/s now meet 429s and the 2 s penalty on every worker.
    stack.airtable_control("config", {"rate": 4})
    try:
        jobs = [start_job(app, services, tenant, "airtable_push", {"campaign_id": str(c)}) for c in campaigns]
        bodies = [wait_for_job(client, key, j, timeout=150) for j in jobs]
    finally:
        stack.airtable_control("config", {"rate": 5})

    assert [b["status"] for b in bodies] == ["completed"] * 2, bodies
    assert sum(b["result"]["airtable_requests"]["rate_limited"] for b in bodies) >= 2
    assert sum(b["result"]["airtable_requests"]["penalty_waits"] for b in bodies) >= 2
    rows = _job_rows(services, jobs)
    assert max(r["started_at"] for r in rows) < min(r["completed_at"] for r in rows)
    stats = base_stats(stack, tenant)
    assert stats["rate_limited"] >= 2
    assert stats["max_requests_in_any_1s_window"] <= 5          # 429s included, both workers together
    rows = assert_one_record_per_assignment(stack, services, tenant, 2)
    assert len(rows) == 160
    assert all(b["result"]["records_pushed"] == 80 for b in bodies)
