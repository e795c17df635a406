"""HTTP contract of the daily endpoints: 202 + Location, validation (400 naming the field, nothing
stored), tenancy (404), state conflicts (409), idempotency keys, the beat's scheduling rule."""
from __future__ import annotations

import uuid
from datetime import time, timedelta

import pytest

from server.utils.clock import utc_now
from server.utils.jobs import table as jobs
from server.utils.outreach.schedule import due_tenants, run_daily_key, schedule_due_runs
from tests.conftest import auth
from tests.support.daily import assert_400_naming, day, fill_pool, new_tenant, query

SIMPLE_JOBS = [
    ("/api/airtable/create-base", "create_base"),
    ("/api/sync-airtable-statuses", "status_sync"),
    ("/api/mark-unfollow-due", "mark_unfollow"),
    ("/api/delete-completed-after-delay", "delete_completed"),
    ("/api/expire-pending", "expire_pending"),
]


def _jobs_of(app, tenant, kind=None):
    sql = "SELECT * FROM scrape_jobs WHERE tenant_id = %s" + (" AND kind = %s" if kind else "")
    return query(app, sql, (tenant.tenant_id, kind) if kind else (tenant.tenant_id,))


def _quiet_job(app, tenant, kind, params=None):
    """A queued job that no worker was told about (stays queued)."""
    with app.extensions["services"].db.transaction() as conn:
        return jobs.insert_job(conn, tenant.tenant_id, kind, params or {}).job


@pytest.mark.parametrize("path, kind", SIMPLE_JOBS)
def test_job_endpoints_answer_202_with_location_and_store_the_job(client, app, tenant, path, kind):
    t, key = tenant
    response = client.post(path, headers=auth(key))          # no body at all
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["success"] is True and body["status"] in ("queued", "processing", "completed", "failed")
    assert response.headers["Location"] == body["status_url"] == f"/api/job-status/{body['job_id']}"
    stored = _jobs_of(app, t, kind)
    assert [str(j["job_id"]) for j in stored] == [body["job_id"]]
    assert client.post(path, json={}, headers=auth(key)).status_code == 202   # an empty object is fine too


@pytest.mark.parametrize("path, kind", SIMPLE_JOBS)
def test_job_endpoints_reject_unknown_fields(client, app, tenant, path, kind):
    t, key = tenant
    assert_400_naming(client.post(path, json={"force": True}, headers=auth(key)), "force")
    assert _jobs_of(app, t) == []


def test_idempotency_key_returns_the_same_job(client, app, tenant):
    t, key = tenant
    headers = {**auth(key), "Idempotency-Key": "sync-once"}
    first = client.post("/api/sync-airtable-statuses", headers=headers).get_json()
    second = client.post("/api/sync-airtable-statuses", headers=headers).get_json()
    assert first["job_id"] == second["job_id"]
    assert len(_jobs_of(app, t, "status_sync")) == 1


def test_tenant_without_airtable_base_gets_409(client, app):
    t, key = new_tenant(app)
    with app.extensions["services"].db.transaction() as conn:
        conn.execute("UPDATE tenants SET airtable_base_id = NULL WHERE tenant_id = %s", (t.tenant_id,))
    for path, _ in SIMPLE_JOBS:
        response = client.post(path, headers=auth(key))
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "NO_AIRTABLE_BASE"
    assert client.post("/api/run-daily", headers=auth(key)).status_code == 409
    assert _jobs_of(app, t) == []


BAD_SELECTION = [
    ({"campaign_date": "2024-13-01"}, "campaign_date"),
    ({"campaign_date": "2024-02-30"}, "campaign_date"),
    ({"campaign_date": "tomorrow"}, "campaign_date"),
    ({"campaign_date": "0001-01-01"}, "campaign_date"),
    ({"campaign_date": "9999-12-31"}, "campaign_date"),
    ({"campaign_date": day(31)}, "campaign_date"),
    ({"campaign_date": day(-8)}, "campaign_date"),
    ({"campaign_date": 20240101}, "campaign_date"),
    ({"campaign_date": None}, "campaign_date"),
    ({"profiles_per_table": 0}, "profiles_per_table"),
    ({"profiles_per_table": 10001}, "profiles_per_table"),
    ({"profiles_per_table": "25"}, "profiles_per_table"),
    ({"profiles_per_table": 2.5}, "profiles_per_table"),
    ({"profiles_per_table": True}, "profiles_per_table"),
    ({"profiles_per_tables": 5}, "profiles_per_tables"),
]


@pytest.mark.parametrize("body, field", BAD_SELECTION)
def test_bad_selection_bodies_are_400_and_select_nothing(client, app, tenant, body, field):
    t, key = tenant
    fill_pool(app, t, 5)
    assert_400_naming(client.post("/api/daily-selection", json=body, headers=auth(key)), field)
    assert query(app, "SELECT count(*) AS n FROM campaigns WHERE tenant_id = %s", (t.tenant_id,))[0]["n"] == 0
    assert query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s AND used",
                 (t.tenant_id,))[0]["n"] == 0


@pytest.mark.parametrize("body, field", BAD_SELECTION)
def test_bad_run_daily_bodies_are_400_and_store_no_job(client, app, tenant, body, field):
    t, key = tenant
    assert_400_naming(client.post("/api/run-daily", json=body, headers=auth(key)), field)
    assert _jobs_of(app, t) == []


def test_selection_body_that_is_not_an_object_is_400(client, tenant):
    _, key = tenant
    response = client.post("/api/daily-selection", json=["2030-01-01"], headers=auth(key))
    assert response.status_code == 400


def test_distribute_rejects_unknown_fields(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 10)
    campaign = client.post("/api/daily-selection", json={}, headers=auth(key)).get_json()["campaign_id"]
    assert_400_naming(client.post(f"/api/distribute/{campaign}", json={"shuffle": False}, headers=auth(key)),
                      "shuffle")
    assert query(app, "SELECT status FROM campaigns WHERE campaign_id = %s", (campaign,))[0]["status"] == "selected"


def test_airtable_sync_needs_a_distributed_campaign(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 10)
    campaign = client.post("/api/daily-selection", json={"campaign_date": day(13)},
                           headers=auth(key)).get_json()["campaign_id"]
    response = client.post(f"/api/airtable-sync/{campaign}", headers=auth(key))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "NOT_DISTRIBUTED"
    assert _jobs_of(app, t, "airtable_push") == []
    client.post(f"/api/distribute/{campaign}", headers=auth(key))
    response = client.post(f"/api/airtable-sync/{campaign}", headers=auth(key))
    assert response.status_code == 202
    stored = _jobs_of(app, t, "airtable_push")
    assert len(stored) == 1 and stored[0]["params"] == {"campaign_id": campaign}
    assert response.headers["Location"] == f"/api/job-status/{stored[0]['job_id']}"


def test_run_daily_stores_the_date_and_refuses_a_second_run_while_one_is_active(client, app, tenant):
    t, key = tenant
    quiet = _quiet_job(app, t, "run_daily", {"campaign_date": "2030-01-01", "profiles_per_table": None})
    response = client.post("/api/run-daily", json={"campaign_date": day(14)}, headers=auth(key))
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["job_id"] == [str(quiet["job_id"])]
    with app.extensions["services"].db.transaction() as conn:
        conn.execute("UPDATE scrape_jobs SET status = 'cancelled' WHERE job_id = %s", (quiet["job_id"],))
    response = client.post("/api/run-daily", json={"campaign_date": day(14), "profiles_per_table": 3},
                           headers={**auth(key), "Idempotency-Key": "rd-1"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["campaign_date"] == day(14)
    stored = [j for j in _jobs_of(app, t, "run_daily") if str(j["job_id"]) == body["job_id"]][0]
    assert stored["params"] == {"campaign_date": day(14), "profiles_per_table": 3}
    again = client.post("/api/run-daily", json={"profiles_per_table": 3, "campaign_date": day(14)},
                        headers={**auth(key), "Idempotency-Key": "rd-1"})
    assert again.status_code == 202 and again.get_json()["job_id"] == body["job_id"]
    other = client.post("/api/run-daily", json={}, headers={**auth(key), "Idempotency-Key": "rd-1"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_another_tenants_job_is_404_for_ingest(client, app, tenant):
    _, key = tenant
    other, _ = new_tenant(app)
    theirs = _quiet_job(app, other, "scrape")
    response = client.post("/api/ingest", json={"job_id": str(theirs["job_id"])}, headers=auth(key))
    assert response.status_code == 404
    assert client.get(f"/api/job-status/{theirs['job_id']}", headers=auth(key)).status_code == 404


def test_daily_endpoints_need_a_key(client):
    for path in ["/api/ingest", "/api/daily-selection", f"/api/distribute/{uuid.uuid4()}", "/api/run-daily",
                 f"/api/airtable-sync/{uuid.uuid4()}"] + [p for p, _ in SIMPLE_JOBS]:
        assert client.post(path, json={}).status_code == 401


def test_beat_schedules_each_due_tenant_once_per_day(app):
    services = app.extensions["services"]
    due, _ = new_tenant(app)
    later, _ = new_tenant(app)
    fresh, _ = new_tenant(app)
    now = utc_now(services)
    with services.db.transaction() as conn:
        # due: its time (00:00) has passed and it existed then; later: its time is still ahead
        # (23:59:59); fresh: created after its time today, so it starts tomorrow.
        conn.execute("UPDATE tenants SET daily_run_utc = '00:00', created_at = now() - interval '2 days'"
                     " WHERE tenant_id = %s", (due.tenant_id,))
        conn.execute("UPDATE tenants SET daily_run_utc = '23:59:59', created_at = now() - interval '2 days'"
                     " WHERE tenant_id = %s", (later.tenant_id,))
        conn.execute("UPDATE tenants SET daily_run_utc = %s WHERE tenant_id = %s",
                     (time(0, 0), fresh.tenant_id))
        ids = due_tenants(conn, now)
    assert due.tenant_id in ids and later.tenant_id not in ids and fresh.tenant_id not in ids
    first = schedule_due_runs(services)
    mine = [j for j in query(app, "SELECT * FROM scrape_jobs WHERE tenant_id = %s AND kind = 'run_daily'",
                             (due.tenant_id,))]
    assert len(mine) == 1 and str(mine[0]["job_id"]) in first
    assert mine[0]["idempotency_key"] == run_daily_key(now.date())
    assert mine[0]["params"]["campaign_date"] == now.date().isoformat()
    second = schedule_due_runs(services)
    assert str(mine[0]["job_id"]) not in second
    assert len(query(app, "SELECT 1 FROM scrape_jobs WHERE tenant_id = %s AND kind = 'run_daily'",
                     (due.tenant_id,))) == 1
    # The next day it is due again.
    with services.db.transaction() as conn:
        assert due.tenant_id in due_tenants(conn, now + timedelta(days=1))
    # Leave nothing queued that a later test could mistake for an active run.
    with services.db.transaction() as conn:
        conn.execute("UPDATE scrape_jobs SET status = 'cancelled' WHERE kind = 'run_daily' AND status = 'queued'"
                     " AND job_id = ANY(%s)", ([uuid.UUID(j) for j in first + second],))
