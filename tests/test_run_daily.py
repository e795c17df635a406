"""Run-daily end to end against the Airtable stand-in: two tenants, each with its own base, get
exactly their own assignments in their own VA tables; a failing step stops the later ones; the
beat task creates and runs a due tenant's job."""
from __future__ import annotations

import time
import uuid
import pytest

from server.utils.clock import utc_now
from server.utils.jobs.runner import JobFailed
from server.utils.outreach.run_daily import STEPS, run_daily_job
from server.utils.tenants import load_tenant
from tests.conftest import auth, wait_for_job
from tests.support.daily import day, make_profiles, new_tenant, post_job, query



def _tenant_with_base(app, stack, label: str):
    base_id = "app" + uuid.uuid4().hex[:14]
    stack.airtable_control("bases", {"id": base_id, "name": f"{label} base"})
    return new_tenant(app, tables=4, per_table=25, base_id=base_id)


def _airtable_rows(stack, base_id: str) -> set[tuple]:
    """(table number, id, username, position, status) of every record in the base's VA tables."""
    rows = set()
    tables = stack.airtable_control(f"bases/{base_id}/tables", method="GET")["tables"]
    for table in tables:
        name = table["name"]
        if not name.startswith("Daily_Outreach_Table_"):
            continue
        number = int(name.rsplit("_", 1)[1])
        for record in stack.airtable_control(f"bases/{base_id}/tables/{name}/records", method="GET")["records"]:
            f = record["fields"]
            rows.add((number, f.get("id"), f.get("username"), f.get("position"), f.get("progress_status")))
    return rows


def test_run_daily_for_two_tenants_keeps_each_tenants_rows_in_its_own_base(client, app, stack):
    (a, key_a), (b, key_b) = _tenant_with_base(app, stack, "A"), _tenant_with_base(app, stack, "B")
    # The same people (same platform ids) in both pools, under different usernames per tenant.
    for key, prefix in ((key_a, "alpha"), (key_b, "bravo")):
        job = post_job(client, key, "/api/ingest", {"profiles": make_profiles(130, start=88_000_000, prefix=prefix)})
        assert job["result"]["added"] == 130
        assert post_job(client, key, "/api/airtable/create-base")["status"] == "completed"
    responses = {key: client.post("/api/run-daily", json={"campaign_date": day(15)}, headers=auth(key))
                 for key in (key_a, key_b)}   # both queued at once: the worker runs them side by side
    for key, response in responses.items():
        assert response.status_code == 202, response.get_json()
        job = wait_for_job(client, key, response.get_json()["job_id"], timeout=180)
        assert job["status"] == "completed", job
        assert job["progress"] == 100
        steps = job["result"]["steps"]
        assert job["result"]["steps_run"] == list(STEPS) and set(steps) == set(STEPS)
        assert steps["select"]["total_selected"] == 100 and steps["select"]["campaign_date"] == day(15)
        assert steps["distribute"]["assigned_per_table"] == {"1": 25, "2": 25, "3": 25, "4": 25}
        assert steps["push"]["status"] == "pushed"
        assert job["result"]["campaign_id"] == steps["select"]["campaign_id"]

    for tenant, prefix, other_prefix in ((a, "alpha", "bravo"), (b, "bravo", "alpha")):
        expected = {(r["va_table_number"], r["profile_id"], r["username"], r["position"], "pending")
                    for r in query(app, "SELECT va_table_number, profile_id, username, position FROM daily_assignments"
                                        " WHERE tenant_id = %s", (tenant.tenant_id,))}
        assert len(expected) == 100
        in_airtable = _airtable_rows(stack, tenant.airtable_base_id)
        assert in_airtable == expected
        assert all(username.startswith(prefix) for _, _, username, _, _ in in_airtable)
        assert not any(username.startswith(other_prefix) for _, _, username, _, _ in in_airtable)
        stored = query(app, "SELECT c.status, count(*) FILTER (WHERE airtable_record_id IS NULL) AS missing"
                            " FROM campaigns c JOIN daily_assignments d USING (campaign_id)"
                            " WHERE c.tenant_id = %s GROUP BY c.status", (tenant.tenant_id,))
        assert stored == [{"status": "pushed", "missing": 0}]

    # The same date again resumes: same campaign, nothing new selected, nothing duplicated.
    again = post_job(client, key_a, "/api/run-daily", {"campaign_date": day(15)}, timeout=180)
    assert again["status"] == "completed"
    assert again["result"]["steps"]["select"]["existing"] is True
    assert len(_airtable_rows(stack, a.airtable_base_id)) == 100
    assert query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s AND used",
                 (a.tenant_id,))[0]["n"] == 100


def test_empty_pool_completes_with_a_warning_and_skips_push(client, app, stack):
    _, key = _tenant_with_base(app, stack, "empty")
    post_job(client, key, "/api/airtable/create-base")
    job = post_job(client, key, "/api/run-daily", {"campaign_date": day(16)}, timeout=120)
    assert job["status"] == "completed", job
    assert job["result"]["campaign_id"] is None and "no unused profiles" in job["result"]["warning"]
    assert "skipped" in job["result"]["steps"]["distribute"] and "skipped" in job["result"]["steps"]["push"]


def test_a_failing_step_stops_the_later_ones(app, stack, monkeypatch):
    from server.utils.outreach import lifecycle

    t, _ = _tenant_with_base(app, stack, "failing")

    def boom(services, tenant, now, check=None):
        raise RuntimeError("Airtable is on fire")

    monkeypatch.setattr(lifecycle, "delete_completed", boom)
    reports = []
    job = {"job_id": uuid.uuid4(), "tenant_id": t.tenant_id, "params": {"campaign_date": "2030-12-02"}}
    with pytest.raises(JobFailed) as failed:
        run_daily_job(app.extensions["services"], job, lambda progress, partial=None: reports.append(progress))
    assert str(failed.value).startswith("step delete_completed failed: RuntimeError: Airtable is on fire")
    steps = failed.value.result["steps"]
    assert list(steps) == failed.value.result["steps_run"] == ["status_sync", "mark_unfollow", "delete_completed"]
    assert "Airtable is on fire" in steps["delete_completed"]["error"]
    assert failed.value.result["failed_step"] == "delete_completed"
    assert reports and reports == sorted(reports)
    assert query(app, "SELECT count(*) AS n FROM campaigns WHERE tenant_id = %s", (t.tenant_id,))[0]["n"] == 0


def test_beat_task_creates_and_runs_a_due_tenants_job(client, app, stack):
    t, key = _tenant_with_base(app, stack, "beat")
    post_job(client, key, "/api/ingest", {"profiles": make_profiles(40, prefix="beat")})
    post_job(client, key, "/api/airtable/create-base")
    with app.extensions["services"].db.transaction() as conn:
        conn.execute("UPDATE tenants SET daily_run_utc = '00:00', created_at = now() - interval '1 day'"
                     " WHERE tenant_id = %s", (t.tenant_id,))
    app.extensions["celery"].send_task("daily.schedule_due_runs")
    deadline = time.monotonic() + 30
    while not (rows := query(app, "SELECT job_id::text AS job_id, idempotency_key FROM scrape_jobs"
                                  " WHERE tenant_id = %s AND kind = 'run_daily'", (t.tenant_id,))):
        assert time.monotonic() < deadline, "the beat task created no run-daily job"
        time.sleep(0.2)
    today = utc_now(app.extensions["services"]).date().isoformat()
    assert rows[0]["idempotency_key"] == f"run-daily-{today}"
    job = wait_for_job(client, key, rows[0]["job_id"], timeout=180)
    assert job["status"] == "completed", job
    assert job["result"]["steps"]["select"]["total_selected"] == 40
    assert "partial campaign" in job["result"]["warning"]
    app.extensions["celery"].send_task("daily.schedule_due_runs")
    time.sleep(1.5)
    assert len(query(app, "SELECT 1 FROM scrape_jobs WHERE tenant_id = %s AND kind = 'run_daily'",
                     (t.tenant_id,))) == 1
    with app.extensions["services"].db.transaction() as conn:
        assert load_tenant(conn, t.tenant_id) is not None


def test_unreadable_va_tables_stop_run_daily_before_the_lifecycle_steps(client, app, stack):
    t, key = _tenant_with_base(app, stack, "lost")
    post_job(client, key, "/api/ingest", {"profiles": make_profiles(40, start=77_000_000, prefix="lost")})
    first = post_job(client, key, "/api/run-daily", {"campaign_date": day(1)}, timeout=180)
    assert first["status"] == "completed", first
    # The tenant's tables are gone (the base its records live in is now an empty one): statuses
    # cannot be read.
    empty_base = "app" + uuid.uuid4().hex[:14]
    stack.airtable_control("bases", {"id": empty_base, "name": "empty"})
    query(app, "UPDATE tenants SET airtable_base_id = %s WHERE tenant_id = %s RETURNING 1", (empty_base, t.tenant_id))
    query(app, "UPDATE daily_assignments SET airtable_base_id = %s WHERE tenant_id = %s RETURNING 1",
          (empty_base, t.tenant_id))
    job = post_job(client, key, "/api/run-daily", {"campaign_date": day(2)}, timeout=180)
    assert job["status"] == "failed"
    assert job["result"]["failed_step"] == "status_sync" and job["result"]["steps_run"] == ["status_sync"]
    assert job["error_message"].startswith("step status_sync failed")
    pending = query(app, "SELECT count(*) AS n FROM daily_assignments WHERE tenant_id = %s AND archived_at IS NULL",
                    (t.tenant_id,))[0]["n"]
    assert pending == 40  # nothing expired or archived on statuses that were never read
    sync = post_job(client, key, "/api/sync-airtable-statuses")
    assert sync["status"] == "failed" and "could not be read" in sync["error_message"]
