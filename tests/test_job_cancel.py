"""Cancelling the single-step jobs (run-daily, ingest, Airtable push, status sync, lifecycle,
base setup): once the cancel is accepted no further step starts, a running one stops at its next
safe point, and the cancelled job tells what was done before; the worker's last write never
turns ``cancelled`` into another status nor hides work that was done."""
from __future__ import annotations

import time
import uuid

import pytest

from server.utils.jobs import table as jobs
from server.utils.jobs.handlers import HANDLER_PATHS, handler_for
from server.utils.jobs.runner import run_job
from server.utils.outreach.ingest import BATCH_SIZE
from tests.conftest import auth
from tests.support.daily import day, make_profiles, new_tenant, post_job, query


def _tenant_with_base(app, stack, tables: int = 4, per_table: int = 25):
    base_id = "app" + uuid.uuid4().hex[:14]
    stack.airtable_control("bases", {"id": base_id, "name": "cancel base"})
    return new_tenant(app, tables=tables, per_table=per_table, base_id=base_id)


def _records_in_airtable(stack, base_id: str) -> int:
    count = 0
    for table in stack.airtable_control(f"bases/{base_id}/tables", method="GET")["tables"]:
        if table["name"].startswith("Daily_Outreach_Table_"):
            count += len(stack.airtable_control(f"bases/{base_id}/tables/{table['name']}/records",
                                                method="GET")["records"])
    return count


def _wait_for_worker(client, key: str, job_id: str, timeout: float = 120.0) -> dict:
    """The cancelled job once the worker has stopped and recorded what it did."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/job-status/{job_id}", headers=auth(key)).get_json()
        if "cancel_outcome" in (job["result"] or {}):
            return job
        assert time.monotonic() < deadline, f"the worker never recorded its outcome: {job}"
        time.sleep(0.2)


def test_cancelling_run_daily_during_the_push_stops_it_and_keeps_what_was_done(client, app, stack):
    t, key = _tenant_with_base(app, stack, tables=4, per_table=100)
    assert post_job(client, key, "/api/ingest", {"profiles": make_profiles(400, start=61_000_000,
                                                                            prefix="cancel")})["status"] == "completed"
    assert post_job(client, key, "/api/airtable/create-base")["status"] == "completed"
    started = client.post("/api/run-daily", json={"campaign_date": day(21)}, headers=auth(key))
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    deadline = time.monotonic() + 120    # 400 records at 5 requests/s x 10: about 8 s of pushing
    while _records_in_airtable(stack, t.airtable_base_id) == 0:
        assert time.monotonic() < deadline, "the push never started"
        time.sleep(0.1)
    cancel = client.post(f"/api/jobs/{job_id}/cancel", json={}, headers=auth(key))
    assert cancel.status_code == 202, cancel.get_json()
    assert cancel.get_json()["status"] == "cancelled"

    job = _wait_for_worker(client, key, job_id)
    assert job["status"] == "cancelled" and job["error_message"] == "cancelled by request"
    result = job["result"]
    assert result["cancel_outcome"] == "stopped" and result["cancelled_in_step"] == "push"
    assert result["steps_run"] == ["status_sync", "mark_unfollow", "delete_completed", "expire_pending",
                                   "select", "distribute", "push"]
    assert result["campaign_id"] == result["steps"]["select"]["campaign_id"] and result["campaign_date"] == day(21)
    push = result["steps"]["push"]
    assert push["cancelled"] is True and push["status"] == "cancelled"
    in_airtable = _records_in_airtable(stack, t.airtable_base_id)
    assert 0 < push["records_pushed"] == in_airtable < 400      # stopped between batches
    stored = query(app, "SELECT count(*) FILTER (WHERE airtable_record_id IS NOT NULL) AS n FROM daily_assignments"
                        " WHERE tenant_id = %s", (t.tenant_id,))[0]["n"]
    assert stored == in_airtable
    campaign = query(app, "SELECT status, push_error FROM campaigns WHERE tenant_id = %s", (t.tenant_id,))
    assert campaign[0]["status"] == "distributed" and "push cancelled by request" in campaign[0]["push_error"]
    time.sleep(1.5)
    assert _records_in_airtable(stack, t.airtable_base_id) == in_airtable   # nothing more went out
    history = client.get("/api/daily-runs", headers=auth(key)).get_json()
    steps = {s["name"]: s["outcome"] for s in history["runs"][0]["steps"]}
    assert steps["select"] == "ok" and steps["push"] == "cancelled"

    # Running the day again sends the rest, without duplicates.
    again = post_job(client, key, "/api/run-daily", {"campaign_date": day(21)}, timeout=180)
    assert again["status"] == "completed", (again["error_message"], again["result"].get("failed_step"))
    assert again["result"]["steps"]["push"]["already_pushed"] == in_airtable
    assert _records_in_airtable(stack, t.airtable_base_id) == 400


def _new_job(services, tenant_id, kind: str, params: dict) -> uuid.UUID:
    with services.db.transaction() as conn:
        return jobs.insert_job(conn, tenant_id, kind, params).job["job_id"]


def _cancel(services, tenant_id, job_id) -> None:
    with services.db.transaction() as conn:
        assert jobs.request_cancel(conn, tenant_id, job_id) is not None


def _cancelled_at_claim(services, tenant_id, job_id):
    """A handler lookup for ``run_job`` whose handler cancels job ``job_id`` as it starts (the
    worker has claimed the job), then runs the real handler of the job's kind."""
    def lookup(kind_name):
        real = handler_for(kind_name)

        def handler(services_, job, report):
            _cancel(services, tenant_id, job_id)
            return real(services_, job, report)
        return handler
    return lookup


def _job(services, job_id) -> dict:
    with services.db.transaction() as conn:
        return jobs.load_job(conn, job_id)


def _pool_profiles(n: int, start: int) -> list[dict]:
    return [{"profile_id": str(start + i), "username": f"pool_{start + i}", "full_name": f"P {i}"}
            for i in range(n)]


@pytest.fixture(scope="module")
def tenant_ready(app, stack):
    """A tenant with its VA tables, a pool and a pushed campaign: every kind has work to do."""
    client = app.test_client()
    t, key = _tenant_with_base(app, stack)
    post_job(client, key, "/api/ingest", {"profiles": make_profiles(150, start=62_000_000, prefix="ready")})
    post_job(client, key, "/api/airtable/create-base")
    run = post_job(client, key, "/api/run-daily", {"campaign_date": day(22)}, timeout=180)
    assert run["status"] == "completed", run
    return t, key, run["result"]["campaign_id"]


def _params(kind: str, campaign_id: str) -> dict:
    return {"ingest": {"profiles": _pool_profiles(10, 63_000_000)},
            "airtable_push": {"campaign_id": campaign_id},
            "run_daily": {"campaign_date": day(23), "profiles_per_table": 5}}.get(kind, {})


@pytest.mark.parametrize("kind", sorted(HANDLER_PATHS))
def test_a_cancel_landing_after_the_work_keeps_cancelled_and_records_the_result(app, stack, tenant_ready, kind):
    """The cancel is accepted after the handler did everything but before the worker's last
    write: the job stays cancelled and its result still shows the work."""
    t, _, campaign_id = tenant_ready
    services = app.extensions["services"]
    job_id = _new_job(services, t.tenant_id, kind, _params(kind, campaign_id))
    returned = {}

    def cancelled_at_the_end(kind_name):
        real = handler_for(kind_name)

        def handler(services_, job, report):
            returned.update(real(services_, job, report) or {})
            _cancel(services, t.tenant_id, job_id)
            return dict(returned)
        return handler

    assert run_job(services, job_id, cancelled_at_the_end) == "cancelled"
    job = _job(services, job_id)
    assert job["status"] == "cancelled" and job["error_message"] == "cancelled by request"
    assert job["result"]["cancel_outcome"] == "finished"
    returned.pop("_status", None)
    assert returned and set(returned) <= set(job["result"])
    if kind == "run_daily":
        assert job["result"]["campaign_id"] and job["result"]["steps"]["push"]["records_pushed"] == 20


def test_a_cancel_before_the_first_safe_point_stops_each_kind_there(app, stack, client, tenant_ready):
    """Cancelled as soon as the worker claims it: run-daily starts no step, a push sends no
    record, base setup creates no table, an ingest writes no batch, a status sync reads no
    table."""
    t, key, campaign_id = tenant_ready
    services = app.extensions["services"]
    with services.db.transaction() as conn:   # a new campaign to push, and missing VA tables
        conn.execute("UPDATE tenants SET num_va_tables = 6 WHERE tenant_id = %s", (t.tenant_id,))
    records_before = _records_in_airtable(stack, t.airtable_base_id)
    params = {"run_daily": {"campaign_date": day(24), "profiles_per_table": 5},
              "ingest": {"profiles": _pool_profiles(BATCH_SIZE + 500, 64_000_000)},
              "create_base": {}, "status_sync": {}}
    outcomes = {}
    for kind, job_params in params.items():
        job_id = _new_job(services, t.tenant_id, kind, job_params)

        assert run_job(services, job_id, _cancelled_at_claim(services, t.tenant_id, job_id)) == "cancelled"
        job = _job(services, job_id)
        assert job["status"] == "cancelled" and job["result"]["cancel_outcome"] == "stopped", (kind, job["result"])
        outcomes[kind] = job["result"]
    assert outcomes["run_daily"]["steps_run"] == [] and outcomes["run_daily"]["campaign_id"] is None
    assert not query(app, "SELECT 1 FROM campaigns WHERE tenant_id = %s AND campaign_date = %s",
                     (t.tenant_id, day(24)))
    assert outcomes["ingest"]["ingested"] == 0 and outcomes["ingest"]["added"] == 0
    assert outcomes["create_base"]["created"] == [] and outcomes["create_base"]["cancelled"] is True
    tables = [x["name"] for x in stack.airtable_control(f"bases/{t.airtable_base_id}/tables", method="GET")["tables"]]
    assert "Daily_Outreach_Table_05" not in tables
    assert outcomes["status_sync"]["tables_synced"] == 0
    assert _records_in_airtable(stack, t.airtable_base_id) == records_before

    # A push of a distributed campaign stops before its first batch.
    with services.db.transaction() as conn:
        conn.execute("UPDATE tenants SET num_va_tables = 4 WHERE tenant_id = %s", (t.tenant_id,))
    selected = client.post("/api/daily-selection", json={"campaign_date": day(25), "profiles_per_table": 5},
                           headers=auth(key))
    assert selected.status_code == 200, selected.get_json()
    new_campaign = selected.get_json()["campaign_id"]
    assert client.post(f"/api/distribute/{new_campaign}", json={}, headers=auth(key)).status_code == 200
    job_id = _new_job(services, t.tenant_id, "airtable_push", {"campaign_id": new_campaign})

    assert run_job(services, job_id, _cancelled_at_claim(services, t.tenant_id, job_id)) == "cancelled"
    job = _job(services, job_id)
    assert job["status"] == "cancelled" and job["result"]["cancel_outcome"] == "stopped"
    assert job["result"]["records_pushed"] == 0 and job["result"]["status"] == "cancelled"
    assert _records_in_airtable(stack, t.airtable_base_id) == records_before
    campaign = query(app, "SELECT status, push_error FROM campaigns WHERE campaign_id = %s", (new_campaign,))[0]
    assert campaign["status"] == "distributed" and campaign["push_error"].startswith("push cancelled by request")


def test_a_cancelled_lifecycle_job_touches_no_record(app, stack, tenant_ready):
    """Rows are due (the tenant's clock is 4 days ahead) but the job was cancelled when claimed:
    nothing is deleted from Airtable or archived, and the result says how many were due."""
    from server.utils import clock

    t, _, _ = tenant_ready
    services = app.extensions["services"]
    before = _records_in_airtable(stack, t.airtable_base_id)
    clock.advance(services, 4 * 86400, t)
    try:
        job_id = _new_job(services, t.tenant_id, "expire_pending", {})

        assert run_job(services, job_id, _cancelled_at_claim(services, t.tenant_id, job_id)) == "cancelled"
    finally:
        clock.reset(services, t)
    result = _job(services, job_id)["result"]
    assert result["cancel_outcome"] == "stopped" and result["due"] > 0
    assert result["deleted"] == result["archived"] == 0
    assert _records_in_airtable(stack, t.airtable_base_id) == before
