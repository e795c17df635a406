"""Airtable capacity: the forecast (model, GET /api/capacity, CLI), several bases per tenant,
and the limits respected at run time (a base's records, the workspace's monthly API calls):
what fits is pushed, the rest waits and the next day continues, nothing is lost or duplicated."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from urllib.parse import quote
from uuid import uuid4

import pytest

from server.utils import tenants
from server.utils.airtable.placement import table_bases, tables_per_base
from server.utils.airtable.plans import tenant_limits
from server.utils.airtable.push import push_campaign
from server.utils.airtable.schema import va_table_name
from server.utils.airtable.usage import ApiCallBudget, month_of
from server.utils.clock import utc_now
from server.utils.outreach.capacity import History, Rules, build_forecast, calls_per_run, lifetimes, project_base
from tests.conftest import auth, wait_for_job
from tests.support.airtable import seed_campaign, services  # noqa: F401
from tests.support.daily import day, fill_pool, query

DEFAULT_RULES = Rules(7, 24, 3)


def _tenant(plan="team", tables=80, per_table=180, extra=(), **limits):
    return tenants.Tenant(uuid4(), "acme", "appAAAAAAAAAAAAAA1", tables, per_table, "female", plan,
                          extra_base_ids=tuple(extra), **limits)


def _forecast(tenant, history=History(), live=None, existing=None, used=0, first=date(2031, 3, 1)):
    return build_forecast(tenant, DEFAULT_RULES, history, tenant_limits(tenant, 0.1), live or {}, existing or {},
                          used, first)


# ---------------------------------------------------------------------------------- the model
def test_record_lifetimes_follow_the_daily_cadence():
    # followed at the next run, marked 8 runs later, completed the run after, deleted 2 runs later
    assert lifetimes(DEFAULT_RULES, History()) == (12, 4)
    assert lifetimes(Rules(7, 48, 3), History(follow_runs=2, unfollow_runs=3)) == (2 + 8 + 3 + 3, 4)
    assert lifetimes(DEFAULT_RULES, History(follow_runs=4)) == (4, 4)      # expired before anyone follows


def test_default_settings_on_a_team_plan_do_not_fit_from_day_4():
    result = _forecast(_tenant("team"))
    assert result["fits"] is False
    base = result["bases"][0]
    assert base["records_per_day"] == 14_400 and base["steady_state_records"] == 172_800
    assert base["usable_records"] == 45_000
    assert base["first_day_over"] == {"day": 4, "date": "2031-03-04", "records": 57_600}
    assert result["stops_fitting"]["day"] == 4 and "appAAAAAAAAAAAAAA1" in result["stops_fitting"]["reason"]
    calls = result["api_calls"]
    assert calls["cap"] == 100_000 and calls["fits"] is False
    assert calls["per_day"] == 6_081                  # 80 x (18 push + 22 sync pages + 18 unfollow + 18 delete) + 1
    assert calls["first_day_over"]["day"] == 17       # 16 x 6,081 = 97,296 <= 100,000 < 17 x 6,081


def test_two_business_bases_fit_and_split_the_tables():
    result = _forecast(_tenant("business", extra=["appBBBBBBBBBBBBBB2"]))
    assert result["fits"] is True and result["stops_fitting"] is None
    assert [(b["va_tables"], b["steady_state_records"], b["fits"]) for b in result["bases"]] == [
        ("1-40", 86_400, True), ("41-80", 86_400, True)]
    assert result["api_calls"]["cap"] is None and result["api_calls"]["fits"] is True
    assert _forecast(_tenant("business"))["bases"][0]["first_day_over"]["day"] == 8   # one base: 115,200 > 112,500


def test_history_and_explicit_limits_change_the_answer():
    # half the rows are never followed: they leave after 4 runs, the average record lives 8 runs
    result = _forecast(_tenant("team", tables=10, per_table=50), History(0.5, 1, 1, 500, "history"))
    assert result["model"]["average_record_days"] == 8.0
    assert result["bases"][0]["steady_state_records"] == 4_000 and result["fits"] is True
    tight = _forecast(_tenant("team", tables=10, per_table=50, airtable_max_records_per_base=3_000))
    assert tight["limits"]["source"] == "explicit" and tight["limits"]["usable_records_per_base"] == 2_700
    assert tight["bases"][0]["first_day_over"]["day"] == 6


def test_live_records_age_out_of_the_projection():
    # 1,000 followed records pushed 11 runs ago leave after the next run; 1,000 still pending after
    # their follow time expire at age 4; 1,000 followed yesterday stay for 12 runs
    path = project_base(0, [(11, "followed", 1000), (1, "pending", 1000), (1, "followed", 1000)], 12, 4,
                        History(), 5)
    assert path == [3000, 2000, 2000, 1000, 1000]
    assert project_base(100, [], 12, 4, History(0.0), 6) == [100, 200, 300, 400, 400, 400]
    assert calls_per_run(0, 180, 12, 4, 1.0) == 0


def test_tables_are_split_over_the_bases_in_equal_blocks():
    assert table_bases(5, ["appA"]) == {n: "appA" for n in range(1, 6)}
    assert tables_per_base(5, ["appA", "appB"]) == {"appA": [1, 2, 3], "appB": [4, 5]}
    assert tables_per_base(2, ["appA", "appB", "appC"]) == {"appA": [1], "appB": [2], "appC": []}
    assert table_bases(3, []) == {}


def test_api_call_budget_stops_before_the_cap(services):
    budget = ApiCallBudget(services.redis, f"test-{uuid4()}", "2031-03", 3)
    assert [budget.take() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RuntimeError, match="3 of its 3 API calls"):
        budget.take()
    assert budget.used() == 3 and budget.remaining() == 0


def test_api_call_count_survives_redis_losing_it(services):
    budget = ApiCallBudget(services.redis, f"test-{uuid4()}", "2031-04", None, db=services.db)
    for _ in range(120):
        budget.take()
    services.redis.delete(budget.key)                 # Redis restarted empty
    assert budget.used() == 100                       # the copy in Postgres (every 50 calls)
    assert budget.take() == 101 and budget.used() == 101


# ------------------------------------------------------------------------------- the endpoint
def _api_tenant(app, stack, tables=80, per_table=180, plan="team", create_base=True):
    suffix = uuid.uuid4().hex[:11]
    base_id = f"app{suffix}CAP"
    if create_base:
        stack.airtable_control("bases", {"id": base_id, "name": suffix})
    with app.extensions["services"].db.transaction() as conn:
        t = tenants.upsert_tenant(conn, f"cap-{suffix}", base_id, tables, per_table, airtable_plan=plan)
        return t, tenants.create_api_key(conn, t)


def test_get_capacity_team_plan_does_not_fit_and_two_business_bases_do(client, app, stack):
    tenant, key = _api_tenant(app, stack)
    response = client.get("/api/capacity", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True and body["fits"] is False
    assert body["limits"]["plan"] == "team" and body["limits"]["records_per_base"] == 50_000
    assert body["stops_fitting"]["day"] == 4
    today = utc_now(app.extensions["services"]).date()
    assert body["next_run_date"] == today.isoformat()
    assert body["stops_fitting"]["date"] == date.fromordinal(today.toordinal() + 3).isoformat()
    assert body["bases"][0]["live_records"] == 0 and body["bases"][0]["first_day_over"]["records"] == 57_600

    with app.extensions["services"].db.transaction() as conn:
        tenants.set_airtable_limits(conn, tenant.tenant_id, plan="business")
        tenants.add_base(conn, tenants.load_tenant(conn, tenant.tenant_id), f"app{uuid.uuid4().hex[:11]}TWO")
    body = client.get("/api/capacity", headers=auth(key)).get_json()
    assert body["fits"] is True and body["stops_fitting"] is None
    assert [b["va_tables"] for b in body["bases"]] == ["1-40", "41-80"]
    assert all(b["fits"] and b["steady_state_records"] == 86_400 for b in body["bases"])


def test_get_capacity_needs_a_base_and_a_key(client, app):
    with app.extensions["services"].db.transaction() as conn:
        t = tenants.upsert_tenant(conn, f"nobase-{uuid.uuid4().hex[:8]}", None, 2, 5)
        key = tenants.create_api_key(conn, t)
    assert client.get("/api/capacity", headers=auth(key)).status_code == 409
    assert client.get("/api/capacity").status_code == 401


def test_cli_prints_the_forecast_at_create_tenant_and_on_changes(app, stack):
    runner = app.test_cli_runner()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    base_id = f"app{uuid.uuid4().hex[:11]}CLI"
    result = runner.invoke(args=["create-tenant", name, "--base-id", base_id, "--tables", "80", "--per-table", "180"])
    assert result.exit_code == 0, result.output
    assert "team plan" in result.output and "DOES NOT FIT from day 4" in result.output
    second = f"app{uuid.uuid4().hex[:11]}CL2"
    result = runner.invoke(args=["add-base", name, second])
    assert result.exit_code == 0, result.output
    assert f"tables 41-80" in result.output
    result = runner.invoke(args=["airtable-plan", name, "--plan", "business"])
    assert result.exit_code == 0 and result.output.rstrip().endswith("fits"), result.output
    result = runner.invoke(args=["add-base", name, second])
    assert result.exit_code != 0 and "already used" in result.output
    result = runner.invoke(args=["remove-base", name, base_id])
    assert result.exit_code != 0 and "first base" in result.output
    result = runner.invoke(args=["remove-base", name, second])
    assert result.exit_code == 0 and "DOES NOT FIT from day 8" in result.output, result.output


# ------------------------------------------------------------------------- limits at run time
def _records(stack, base_id: str, n: int) -> list[dict]:
    return stack.airtable_control(f"bases/{base_id}/tables/{quote(va_table_name(n))}/records",
                                  method="GET")["records"]


def _all_records(stack, base_id: str, tables: int) -> list[dict]:
    names = {t["name"] for t in stack.airtable_control(f"bases/{base_id}/tables", method="GET")["tables"]}
    return [r for n in range(1, tables + 1) if va_table_name(n) in names for r in _records(stack, base_id, n)]


def _limited_tenant(app, stack, max_records: int, standin_max: int | None = None):
    tenant, key = _api_tenant(app, stack, tables=4, per_table=25)
    if standin_max is not None:
        stack.airtable_control("bases", {"id": tenant.airtable_base_id, "max_records": standin_max})
    with app.extensions["services"].db.transaction() as conn:
        tenant = tenants.set_airtable_limits(conn, tenant.tenant_id, max_records_per_base=max_records)
    return tenant, key


def _no_duplicates(app, stack, tenant, tables: int) -> list[dict]:
    """Every live record belongs to exactly one assignment and vice versa; returns the rows."""
    rows = query(app, "SELECT * FROM daily_assignments WHERE tenant_id = %s", (tenant.tenant_id,))
    records = [r for b in tenant.base_ids for r in _all_records(stack, b, tables)]
    assert not [pid for pid, n in Counter(r["fields"]["id"] for r in records).items() if n > 1]
    live = sorted(r["airtable_record_id"] for r in rows if r["airtable_record_id"] and r["archived_at"] is None)
    assert live == sorted(r["id"] for r in records)
    return rows


def test_push_stops_at_the_base_limit_and_the_next_day_continues(client, app, stack):
    # 100 records per base, 10% margin: 90 usable; the stand-in refuses past 100 like Airtable.
    tenant, key = _limited_tenant(app, stack, max_records=100, standin_max=100)
    fill_pool(app, tenant, 200, start=61_000_000 + uuid.uuid4().int % 1_000_000 * 10)
    assert client.post("/api/airtable/create-base", headers=auth(key)).status_code == 202

    first = client.post("/api/run-daily", json={"campaign_date": day(20)}, headers=auth(key))
    job = wait_for_job(client, key, first.get_json()["job_id"], timeout=180)
    assert job["status"] == "failed", job
    assert job["result"]["failed_step"] == "push"
    push = job["result"]["steps"]["push"]
    assert push["status"] == "partial"
    assert push["records_pushed"] == 90 and push["waiting"] == 10
    assert tenant.airtable_base_id in job["error_message"] and "90" in job["error_message"]
    assert "100 records per base" in push["error_message"]
    assert push["tables"]["Daily_Outreach_Table_04"]["pushed"] == 15
    campaign = query(app, "SELECT status, push_error FROM campaigns WHERE tenant_id = %s", (tenant.tenant_id,))
    assert campaign[0]["status"] == "partial" and tenant.airtable_base_id in campaign[0]["push_error"]
    rows = _no_duplicates(app, stack, tenant, 4)
    assert sum(1 for r in rows if r["airtable_record_id"]) == 90
    assert {r["airtable_base_id"] for r in rows if r["airtable_record_id"]} == {tenant.airtable_base_id}

    # A VA deletes 40 records by hand: the next day's sync archives them and frees room.
    gone = [r["id"] for r in _records(stack, tenant.airtable_base_id, 1)[:25]] + \
           [r["id"] for r in _records(stack, tenant.airtable_base_id, 2)[:15]]
    for n, record_id in [(1, i) for i in gone[:25]] + [(2, i) for i in gone[25:]]:
        stack.airtable_control(f"bases/{tenant.airtable_base_id}/tables/{quote(va_table_name(n))}/records/"
                               f"{record_id}", method="DELETE")
    second = client.post("/api/run-daily", json={"campaign_date": day(21)}, headers=auth(key))
    job = wait_for_job(client, key, second.get_json()["job_id"], timeout=180)
    push = job["result"]["steps"]["push"]
    assert job["result"]["steps"]["status_sync"]["deleted_by_va_count"] == 40
    # yesterday's 10 waiting rows go first, then 30 of today's 100; 70 wait
    assert [(e["status"], e["records_pushed"]) for e in push["earlier_campaigns"]] == [("pushed", 10)]
    assert push["records_pushed"] == 30 and push["waiting"] == 70 and push["status"] == "partial"
    assert job["status"] == "failed" and job["result"]["failed_step"] == "push"
    by_date = {r["campaign_date"].isoformat(): r["status"] for r in query(
        app, "SELECT campaign_date, status FROM campaigns WHERE tenant_id = %s", (tenant.tenant_id,))}
    assert by_date == {day(20): "pushed", day(21): "partial"}
    rows = _no_duplicates(app, stack, tenant, 4)
    live = [r for r in rows if r["airtable_record_id"] and r["archived_at"] is None]
    assert len(live) == 90
    waiting = [r for r in rows if r["airtable_record_id"] is None]
    assert len(waiting) == 70 and all(r["archived_at"] is None for r in waiting)   # nothing lost
    assert stack.airtable_control("records", method="GET")["bases"][tenant.airtable_base_id]["records"] == 90

    body = client.get("/api/capacity", headers=auth(key)).get_json()
    assert body["bases"][0]["live_records"] == 90 and body["live_records"] == 90


def test_airtable_refusing_new_records_stops_that_base_and_keeps_the_rest(app, stack, services):
    # Records the service does not know fill the base: Airtable refuses at 50 although 90 are usable.
    tenant, _ = _limited_tenant(app, stack, max_records=100, standin_max=50)
    campaign_id = seed_campaign(services, tenant, tables=4, per_table=25, campaign_date=date(2031, 5, 1))
    result = push_campaign(services, tenant, campaign_id)
    assert result["status"] == "partial" and result["records_pushed"] == 50 and result["waiting"] == 50
    assert result["rejected_count"] == 0
    assert "Airtable refused new records" in result["error_message"]
    assert tenant.airtable_base_id in result["error_message"]
    assert len(_no_duplicates(app, stack, tenant, 4)) == 100


def test_two_bases_each_get_their_tables_and_the_lifecycle_follows_the_records(app, stack, services):
    tenant, _ = _api_tenant(app, stack, tables=4, per_table=25)
    second = f"app{uuid.uuid4().hex[:11]}SEC"
    stack.airtable_control("bases", {"id": second, "name": "second"})
    with services.db.transaction() as conn:
        tenant = tenants.add_base(conn, tenant, second)
    campaign_id = seed_campaign(services, tenant, tables=4, per_table=25, campaign_date=date(2031, 6, 1))
    from server.utils.airtable.schema import ensure_va_tables

    setup = ensure_va_tables(services, tenant)          # base setup: each base gets its share
    assert {b: v["created"] for b, v in setup["bases"].items()} == {
        tenant.airtable_base_id: [va_table_name(1), va_table_name(2)], second: [va_table_name(3), va_table_name(4)]}

    result = push_campaign(services, tenant, campaign_id)
    assert result["status"] == "pushed" and result["records_pushed"] == 100 and result["tables_created"] == []
    assert {b: v["pushed"] for b, v in result["bases"].items()} == {tenant.airtable_base_id: 50, second: 50}
    assert [len(_records(stack, tenant.airtable_base_id, n)) for n in (1, 2)] == [25, 25]
    assert [len(_records(stack, second, n)) for n in (3, 4)] == [25, 25]
    names = {t["name"] for t in stack.airtable_control(f"bases/{second}/tables", method="GET")["tables"]}
    assert names == {va_table_name(3), va_table_name(4)}
    rows = _no_duplicates(app, stack, tenant, 4)
    assert {(r["va_table_number"], r["airtable_base_id"]) for r in rows} == {
        (1, tenant.airtable_base_id), (2, tenant.airtable_base_id), (3, second), (4, second)}

    # A VA completes a record in the second base: the sync reads both bases and records it.
    from server.utils.outreach.lifecycle import delete_completed
    from server.utils.outreach.status_sync import sync_statuses

    record = _records(stack, second, 4)[0]
    stack.airtable_control(f"bases/{second}/tables/{quote(va_table_name(4))}/records/{record['id']}",
                           {"fields": {"progress_status": "completed"}}, method="PATCH")
    sync = sync_statuses(services, tenant)
    assert sync["errors"] == [] and sync["tables_synced"] == 4 and sync["transitions"] == {"pending->completed": 1}
    assert f"{second}/{va_table_name(4)}" in sync["tables"]
    later = utc_now(services).replace(year=2040)
    deleted = delete_completed(services, tenant, later)
    assert deleted["deleted"] == 1 and deleted["errors"] == []
    assert record["id"] not in {r["id"] for r in _records(stack, second, 4)}
    body = app.test_client().get("/api/capacity", headers=auth(_key(app, tenant))).get_json()
    assert {b["base_id"]: b["live_records"] for b in body["bases"]} == {tenant.airtable_base_id: 50, second: 49}


def _key(app, tenant) -> str:
    with app.extensions["services"].db.transaction() as conn:
        return tenants.create_api_key(conn, tenant)


def test_push_stops_before_the_monthly_api_calls_run_out(app, stack, services):
    tenant, key = _api_tenant(app, stack, tables=4, per_table=25)
    with services.db.transaction() as conn:
        tenant = tenants.set_airtable_limits(conn, tenant.tenant_id, max_api_calls_per_month=8)
    campaign_id = seed_campaign(services, tenant, tables=4, per_table=25, campaign_date=date(2031, 7, 1))
    result = push_campaign(services, tenant, campaign_id)
    # 8 calls: 1 schema read + 4 table creates reserved, 3 writes: table 1's 25 records (10 + 10 + 5)
    assert result["status"] == "partial" and result["records_pushed"] == 25 and result["waiting"] == 75
    assert "API calls" in result["error_message"] and "8" in result["error_message"]
    budget = ApiCallBudget(services.redis, tenant.workspace_key, month_of(utc_now(services)), 8)
    assert budget.used() == 5            # schema read, one table created (only table 1 had rows to send), 3 writes
    # With the month spent, every further request is refused before it is sent, with the same clarity.
    with services.db.transaction() as conn:
        tenants.set_airtable_limits(conn, tenant.tenant_id, max_api_calls_per_month=5)
    job = wait_for_job(app.test_client(), key,
                       app.test_client().post("/api/sync-airtable-statuses", headers=auth(key)).get_json()["job_id"])
    assert job["status"] == "failed" and "5 of its 5 API calls" in job["error_message"], job
    assert budget.used() == 5
    assert len(_no_duplicates(app, stack, tenant, 4)) == 100


def test_airtables_own_monthly_cap_fails_clearly_without_waiting_out_penalties(app, stack, services):
    from tests.conftest import AIRTABLE_TOKEN

    tenant, _ = _api_tenant(app, stack, tables=2, per_table=25)
    campaign_id = seed_campaign(services, tenant, tables=2, per_table=25, campaign_date=date(2031, 8, 1))
    month = utc_now(services).strftime("%Y-%m")
    used = stack.airtable_control(f"usage?token={AIRTABLE_TOKEN}", method="GET")["months"].get(month, 0)
    # the stand-in's workspace allows 5 more calls: schema read, 2 creates, 2 writes, then 429
    stack.airtable_control("config", {"max_calls_per_month": used + 5})
    try:
        with pytest.raises(RuntimeError, match="PUBLIC_API_BILLING_LIMIT_EXCEEDED"):
            push_campaign(services, tenant, campaign_id)
    finally:
        stack.airtable_control("config", {"max_calls_per_month": None})
    campaign = query(app, "SELECT status, push_error FROM campaigns WHERE campaign_id = %s", (campaign_id,))[0]
    assert campaign["status"] == "failed" and "API calls for the month are spent" in campaign["push_error"]
    assert stack.airtable_control(f"stats?base={tenant.airtable_base_id}", method="GET")["rate_limited"] == 0
    rows = _no_duplicates(app, stack, tenant, 2)
    assert sum(1 for r in rows if r["airtable_record_id"]) == 20          # what was stored stays; rerun sends the rest
    assert push_campaign(services, tenant, campaign_id)["records_pushed"] == 30


def test_history_is_measured_from_the_tenants_own_assignments(app, stack, services):
    from server.utils.outreach.capacity import measure_history

    tenant, _ = _api_tenant(app, stack, tables=4, per_table=50)
    campaign_id = seed_campaign(services, tenant, tables=4, per_table=50, campaign_date=date(2031, 9, 1))
    now = utc_now(services)
    with services.db.transaction() as conn:
        assert measure_history(conn, tenant.tenant_id, now).source == "default"
        conn.execute(
            """
            UPDATE daily_assignments SET pushed_at = %(t)s - interval '10 days',
                   followed_at = CASE WHEN position %% 4 <> 0 THEN %(t)s - interval '9 days' END,
                   unfollow_due_at = CASE WHEN position %% 4 <> 0 THEN %(t)s - interval '2 days' END,
                   completed_at = CASE WHEN position %% 4 <> 0 THEN %(t)s END,
                   archived_at = CASE WHEN position %% 4 = 0 THEN %(t)s END,
                   archive_reason = CASE WHEN position %% 4 = 0 THEN 'expired' END
             WHERE campaign_id = %(c)s
            """, {"t": now, "c": campaign_id})
        history = measure_history(conn, tenant.tenant_id, now)
    assert history == History(0.76, 1, 1, 200, "history")      # positions 4, 8 .. 48 of 50 expired


def test_create_tenant_on_an_existing_name_says_what_it_changed_and_keeps_a_base_with_live_records(app, stack):
    runner = app.test_cli_runner()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    base_id = f"app{uuid.uuid4().hex[:11]}CL3"
    args = ["create-tenant", name, "--base-id", base_id, "--tables", "3", "--per-table", "7"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0 and f"tenant {name} created" in result.output, result.output
    result = runner.invoke(args=[*args[:4], "--tables", "2", "--per-table", "7"])
    assert result.exit_code == 0 and "updated (tables 3 -> 2)" in result.output, result.output

    db = app.extensions["services"].db
    with db.transaction() as conn:
        tenant = tenants.get_tenant_by_name(conn, name)
    campaign = seed_campaign(app.extensions["services"], tenant, 1, 2)
    with db.transaction() as conn:  # both records pushed into the first base
        conn.execute("UPDATE daily_assignments SET airtable_base_id = %s, airtable_record_id = 'rec' || assignment_id,"
                     " pushed_at = now() WHERE campaign_id = %s", (base_id, campaign))
    other = f"app{uuid.uuid4().hex[:11]}CL4"
    result = runner.invoke(args=["create-tenant", name, "--base-id", other, "--tables", "2", "--per-table", "7"])
    assert result.exit_code != 0 and "--base-id" in result.output and "2 live records" in result.output, result.output
    with db.transaction() as conn:
        assert tenants.get_tenant_by_name(conn, name).airtable_base_id == base_id  # nothing changed
    with db.transaction() as conn:  # once the lifecycle has deleted them, the base may change
        conn.execute("UPDATE daily_assignments SET archived_at = now(), archive_reason = 'completed'"
                     " WHERE campaign_id = %s", (campaign,))
    result = runner.invoke(args=["create-tenant", name, "--base-id", other, "--tables", "2", "--per-table", "7"])
    assert result.exit_code == 0 and f"base {base_id} -> {other}" in result.output, result.output
