"""VA lifecycle: unfollow, delete and expire happen exactly at the configured ages (one second
before: untouched), are safe to run twice, and never touch another tenant."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from server.utils import clock
from server.utils.airtable.push import push_campaign
from server.utils.outreach.lifecycle import delete_completed, expire_pending, mark_unfollow_due
from server.utils.tenants import upsert_tenant
from tests.support.airtable import (assignments, run_job, seed_campaign, services,  # noqa: F401
                                    table_records, va_delete)

T0 = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def two_tenants(stack, services, tenant):
    """Tenant A (with API key) and tenant B, each with a base and one pushed campaign of 2 × 12."""
    a, key = tenant
    with services.db.transaction() as conn:
        b = upsert_tenant(conn, a.name + "-b", "app" + a.airtable_base_id[3:14] + "BBB", 2, 12)
    for t in (a, b):
        stack.airtable_control("bases", {"id": t.airtable_base_id, "name": t.name})
        push_campaign(services, t, seed_campaign(services, t, tables=2, per_table=12))
    return a, b, key


def set_rows(services, tenant, status: str, **times) -> list[dict]:
    """Put every assignment of ``tenant`` in ``status`` with the given timestamp columns."""
    sets = ", ".join(f"{column} = %s" for column in times)
    with services.db.transaction() as conn:
        conn.execute(f"UPDATE daily_assignments SET status = %s, {sets} WHERE tenant_id = %s",
                     (status, *times.values(), tenant.tenant_id))
    return assignments(services, tenant)


def airtable_statuses(stack, tenant) -> dict:
    return {r["id"]: r["fields"].get("progress_status") for n in (1, 2) for r in table_records(stack, tenant, n)}


def snapshot(stack, services, tenant):
    return assignments(services, tenant), airtable_statuses(stack, tenant)


def test_mark_unfollow_exactly_at_the_age_and_only_for_its_tenant(stack, services, two_tenants):
    a, b, _ = two_tenants
    days = services.settings.unfollow_after_days
    rows = set_rows(services, a, "followed", followed_at=T0)
    set_rows(services, b, "followed", followed_at=T0)
    gone = rows[3]
    va_delete(stack, a, gone["va_table_number"], gone["airtable_record_id"])   # a VA removed one by hand
    before_b = snapshot(stack, services, b)

    early = mark_unfollow_due(services, a, T0 + timedelta(days=days) - timedelta(seconds=1))
    assert early["due"] == 0 and early["marked"] == 0
    assert set(airtable_statuses(stack, a).values()) == {"pending"}

    result = mark_unfollow_due(services, a, T0 + timedelta(days=days))
    assert result["due"] == 24 and result["marked"] == 23
    assert result["deleted_by_va_count"] == 1 and result["deleted_by_va"][0]["record_id"] == gone["airtable_record_id"]
    assert result["errors"] == [] and result["failed"] == []
    after = {r["assignment_id"]: r for r in assignments(services, a)}
    assert after[gone["assignment_id"]]["archive_reason"] == "deleted_by_va"
    marked = [r for r in after.values() if r["archived_at"] is None]
    assert {r["status"] for r in marked} == {"unfollow"}
    assert all(r["unfollow_due_at"] == T0 + timedelta(days=days) for r in marked)
    assert set(airtable_statuses(stack, a).values()) == {"unfollow"}

    twice = mark_unfollow_due(services, a, T0 + timedelta(days=days + 1))
    assert twice["due"] == 0 and twice["marked"] == 0
    assert snapshot(stack, services, b) == before_b          # the other tenant is untouched


def test_delete_completed_exactly_at_the_age_in_batches_and_only_for_its_tenant(stack, services, two_tenants):
    a, b, _ = two_tenants
    hours = services.settings.delete_completed_after_hours
    rows = set_rows(services, a, "completed", followed_at=T0 - timedelta(days=8), completed_at=T0)
    set_rows(services, b, "completed", followed_at=T0 - timedelta(days=8), completed_at=T0)
    with services.db.transaction() as conn:   # table 2: 11 records completed (chunks of 10 + 1, B17)
        conn.execute("UPDATE daily_assignments SET status = 'followed' WHERE tenant_id = %s AND va_table_number = 2"
                     " AND position = 12", (a.tenant_id,))
    already = rows[0]
    va_delete(stack, a, 1, already["airtable_record_id"])
    before_b = snapshot(stack, services, b)

    early = delete_completed(services, a, T0 + timedelta(hours=hours) - timedelta(seconds=1))
    assert early["due"] == 0
    assert len(airtable_statuses(stack, a)) == 23

    result = delete_completed(services, a, T0 + timedelta(hours=hours))
    assert result["due"] == 23 and result["deleted"] == 22 and result["already_gone"] == 1
    assert result["archived"] == 23 and result["errors"] == [] and result["failed"] == []
    assert len(table_records(stack, a, 1)) == 0
    assert [r["fields"]["position"] for r in table_records(stack, a, 2)] == [12]
    after = assignments(services, a)
    assert sum(1 for r in after if r["archive_reason"] == "completed") == 23
    assert all(r["archived_at"] == T0 + timedelta(hours=hours) for r in after if r["archive_reason"])

    twice = delete_completed(services, a, T0 + timedelta(hours=hours + 5))
    assert twice["due"] == 0 and twice["deleted"] == 0
    assert snapshot(stack, services, b) == before_b


def test_expire_pending_exactly_at_the_age_and_only_for_its_tenant(stack, services, two_tenants):
    a, b, _ = two_tenants
    days = services.settings.expire_pending_after_days
    set_rows(services, a, "pending", pushed_at=T0)
    set_rows(services, b, "pending", pushed_at=T0)
    with services.db.transaction() as conn:   # one row the VA already started stays
        conn.execute("UPDATE daily_assignments SET status = 'followed', followed_at = %s WHERE tenant_id = %s"
                     " AND va_table_number = 1 AND position = 1", (T0, a.tenant_id))
    before_b = snapshot(stack, services, b)

    assert expire_pending(services, a, T0 + timedelta(days=days) - timedelta(seconds=1))["due"] == 0
    result = expire_pending(services, a, T0 + timedelta(days=days))
    assert result["due"] == 23 and result["deleted"] == 23 and result["archived"] == 23
    assert [r["fields"]["position"] for r in table_records(stack, a, 1)] == [1]
    assert table_records(stack, a, 2) == []
    after = assignments(services, a)
    assert sum(1 for r in after if r["archive_reason"] == "expired") == 23
    assert expire_pending(services, a, T0 + timedelta(days=days + 1))["due"] == 0
    assert snapshot(stack, services, b) == before_b


def test_lifecycle_jobs_take_now_from_the_service_clock(stack, app, client, services, two_tenants):
    a, b, key = two_tenants
    days = services.settings.unfollow_after_days
    real_now = datetime.now(timezone.utc)
    set_rows(services, a, "followed", followed_at=real_now - timedelta(days=days) + timedelta(hours=1))
    try:
        body = run_job(app, client, services, a, key, "mark_unfollow")
        assert body["status"] == "completed" and body["result"]["due"] == 0
        clock.advance(services, 3600 + 60, a)             # one hour later for tenant a, in every process
        body = run_job(app, client, services, a, key, "mark_unfollow")
        assert body["status"] == "completed" and body["result"]["marked"] == 24
        assert set(airtable_statuses(stack, a).values()) == {"unfollow"}

        set_rows(services, a, "completed", completed_at=clock.utc_now(services, a) - timedelta(days=2))
        body = run_job(app, client, services, a, key, "delete_completed")
        assert body["status"] == "completed" and body["result"]["deleted"] == 24
        assert airtable_statuses(stack, a) == {}
        body = run_job(app, client, services, a, key, "expire_pending")
        assert body["status"] == "completed" and body["result"]["due"] == 0
    finally:
        clock.reset(services, a)
