"""Status sync: VA values are mapped (aliases, case, spaces), unknown values are reported and
never copied, VA-deleted records are reported once and archived, first-seen times are kept."""
from __future__ import annotations

import pytest

from server.utils.airtable.push import push_campaign
from server.utils.outreach.status_sync import normalize_status
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


@pytest.mark.parametrize("raw, expected", [
    ("pending", "pending"), ("followed", "followed"), ("unfollow", "unfollow"), ("completed", "completed"),
    (" Followed ", "followed"), ("FOLLOWED", "followed"), ("Unfollowed", "completed"), ("to_unfollow", "unfollow"),
    ("Done", "completed"), ("maybe later", None), ("", None), (None, None), (3, None), (["followed"], None),
])
def test_normalize_status(raw, expected):
    assert normalize_status(raw) == expected


def test_sync_maps_statuses_reports_unknown_values_and_va_deleted_records(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=2, per_table=105)   # 2 pages per table
    assert push_campaign(services, tenant, campaign_id)["records_pushed"] == 210
    rows = {r["position"]: r for r in assignments(services, tenant) if r["va_table_number"] == 1}
    rec = {pos: row["airtable_record_id"] for pos, row in rows.items()}
    va_edit(stack, tenant, 1, rec[1], {"progress_status": "followed"})
    va_edit(stack, tenant, 1, rec[2], {"progress_status": "completed"})
    va_edit(stack, tenant, 1, rec[3], {"progress_status": "Unfollowed"}, typecast=True)   # alias, new option
    va_edit(stack, tenant, 1, rec[4], {"progress_status": " FOLLOWED "}, typecast=True)
    va_edit(stack, tenant, 1, rec[5], {"progress_status": "maybe later"}, typecast=True)  # unknown
    va_edit(stack, tenant, 1, rec[6], {"progress_status": None})                          # emptied
    va_delete(stack, tenant, 1, rec[7])
    va_edit(stack, tenant, 1, rec[104], {"progress_status": "followed"})                  # on page 2

    body = run_job(app, client, services, tenant, key, "status_sync")

    assert body["status"] == "completed", body
    result = body["result"]
    assert result["tables_synced"] == 2 and result["records_read"] == 209
    assert result["transitions"] == {"pending->followed": 3, "pending->completed": 2}
    assert result["unknown_count"] == 1
    assert result["unknown"] == [{"table": "Daily_Outreach_Table_01", "record_id": rec[5], "value": "maybe later"}]
    assert result["empty_status"] == 1
    assert result["deleted_by_va_count"] == 1
    assert result["deleted_by_va"][0]["record_id"] == rec[7]
    after = {r["position"]: r for r in assignments(services, tenant) if r["va_table_number"] == 1}
    assert after[1]["status"] == "followed" and after[1]["followed_at"] is not None
    assert after[1]["completed_at"] is None
    assert after[2]["status"] == "completed" and after[2]["completed_at"] is not None
    assert after[3]["status"] == "completed" and after[4]["status"] == "followed"
    assert after[5]["status"] == "pending" and after[6]["status"] == "pending"
    assert after[7]["archived_at"] is not None and after[7]["archive_reason"] == "deleted_by_va"
    assert after[104]["status"] == "followed"
    assert all(r["last_synced_at"] is not None for p, r in after.items() if p not in (5, 6, 7))

    # Later: the VA moves on. First-seen times stay; the deleted record is not reported again.
    va_edit(stack, tenant, 1, rec[1], {"progress_status": "completed"})
    again = run_job(app, client, services, tenant, key, "status_sync")["result"]
    assert again["transitions"] == {"followed->completed": 1}
    assert again["deleted_by_va_count"] == 0
    assert again["unknown_count"] == 1
    final = {r["position"]: r for r in assignments(services, tenant) if r["va_table_number"] == 1}
    assert final[1]["followed_at"] == after[1]["followed_at"]
    assert final[1]["completed_at"] is not None
    assert final[7]["archive_reason"] == "deleted_by_va"
    assert len(table_records(stack, tenant, 1)) == 104


def test_sync_reports_a_missing_table_and_archives_nothing(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    campaign_id = seed_campaign(services, tenant, tables=1, per_table=5)
    push_campaign(services, tenant, campaign_id)
    with services.db.transaction() as conn:        # rows pointing at a table that does not exist
        conn.execute("UPDATE daily_assignments SET va_table_number = 3 WHERE tenant_id = %s AND position <= 2",
                     (tenant.tenant_id,))
    body = run_job(app, client, services, tenant, key, "status_sync")
    assert body["status"] == "completed_with_errors"
    assert [e["table"] for e in body["result"]["errors"]] == ["Daily_Outreach_Table_03"]
    assert all(r["archived_at"] is None for r in assignments(services, tenant))
