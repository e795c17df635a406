"""Apify and Airtable misbehaving: 429 and 5xx storms, and a VA deleting records by hand in
the middle of the lifecycle. Each job completes; stored rows equal the stand-in's truth with no
duplicate; Apify runs paid = chunks; Airtable records = live assignments, each once."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import auth
from tests.faults.conftest import assert_scrape_matches_truth
from tests.support.airtable import (  # noqa: F401
    assignments,
    at_tenant,
    run_job,
    seed_campaign,
    services,
    table_records,
    va_delete,
    va_edit,
)


@pytest.mark.parametrize("storm", [{"http_429": 12}, {"http_500": 12}, {"http_429": 6, "http_500": 6}])
def test_apify_storm_completes_with_one_run_per_chunk(stack, app, client, tenant, storm):
    _, key = tenant
    stack.apify_control("faults", storm)
    accounts = [f"storm{uuid.uuid4().hex[:6]}_{i}" for i in range(2)]
    response = client.post("/api/scrape-followers", headers=auth(key),
                           json={"accounts": accounts, "targetGender": "any"})
    assert response.status_code == 202
    assert_scrape_matches_truth(stack, client, app.extensions["services"].db, key,
                                response.get_json()["job_id"], accounts, timeout=180)
    faults = stack.apify_control("faults", method="GET")
    assert faults["http_429"] == faults["http_500"] == 0  # the whole storm was met


def assert_records_match_live_assignments(stack, services, tenant, tables: int) -> list[dict]:
    """Every live (not archived) assignment has exactly one Airtable record and every record
    belongs to one live assignment."""
    rows = [r for r in assignments(services, tenant) if r["archived_at"] is None]
    records = [r for n in range(1, tables + 1) for r in table_records(stack, tenant, n)]
    assert [k for k, n in Counter(r["fields"]["id"] for r in records).items() if n > 1] == []
    assert sorted(r["airtable_record_id"] for r in rows) == sorted(r["id"] for r in records)
    return rows


@pytest.mark.parametrize("fault", [{"rate": 2}, {"fail_next": 6, "fail_status": 503},
                                   {"fail_next": 5, "fail_status": 502}])
def test_airtable_storm_push_writes_each_assignment_once(stack, app, client, services, at_tenant, fault):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=2, per_table=30)
    stack.airtable_control("config", fault)
    try:
        body = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(campaign_id)},
                       timeout=240)
    finally:
        stack.airtable_control("config", {"rate": 5, "fail_next": 0})
    assert body["status"] == "completed", body
    assert len(assert_records_match_live_assignments(stack, services, tenant, 2)) == 60


def test_va_deleting_records_mid_lifecycle(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=2, per_table=12)
    assert run_job(app, client, services, tenant, key, "airtable_push",
                   {"campaign_id": str(campaign_id)})["status"] == "completed"
    rows = {(r["va_table_number"], r["position"]): r for r in assignments(services, tenant)}
    for pos in (1, 2, 3):
        va_edit(stack, tenant, 1, rows[(1, pos)]["airtable_record_id"], {"progress_status": "followed"})
    assert run_job(app, client, services, tenant, key, "status_sync")["status"] == "completed"
    # The VA deletes a followed record and a pending one, then the lifecycle moves on.
    va_delete(stack, tenant, 1, rows[(1, 1)]["airtable_record_id"])
    va_delete(stack, tenant, 2, rows[(2, 5)]["airtable_record_id"])
    old = datetime.now(timezone.utc) - timedelta(days=services.settings.unfollow_after_days + 1)
    with services.db.transaction() as conn:
        conn.execute("UPDATE daily_assignments SET followed_at = %s WHERE tenant_id = %s AND status = 'followed'",
                     (old, tenant.tenant_id))
    unfollow = run_job(app, client, services, tenant, key, "mark_unfollow")
    assert unfollow["status"] == "completed", unfollow
    sync = run_job(app, client, services, tenant, key, "status_sync")
    assert sync["status"] == "completed", sync
    live = assert_records_match_live_assignments(stack, services, tenant, 2)
    assert len(live) == 22
    statuses = {r["id"]: r["fields"].get("progress_status") for n in (1, 2) for r in table_records(stack, tenant, n)}
    assert sum(1 for s in statuses.values() if s == "unfollow") == 2
    rerun = run_job(app, client, services, tenant, key, "airtable_push", {"campaign_id": str(campaign_id)})
    assert rerun["status"] == "completed", rerun
    assert len(assert_records_match_live_assignments(stack, services, tenant, 2)) == 22  # nothing re-created
