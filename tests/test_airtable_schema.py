"""Base setup: VA table names and creating only the missing VA tables through the meta API."""
from __future__ import annotations

import pytest
import requests

from server.utils.airtable.schema import FIELD_NAMES, STATUS_OPTIONS, va_table_name
from tests.support.airtable import at_tenant, run_job, services, table_names  # noqa: F401


def test_va_table_names_have_two_then_three_digits():
    assert va_table_name(1) == "Daily_Outreach_Table_01"
    assert va_table_name(99) == "Daily_Outreach_Table_99"
    assert va_table_name(100) == "Daily_Outreach_Table_100"
    assert va_table_name(999) == "Daily_Outreach_Table_999"
    for bad in (0, 1000, -1):
        with pytest.raises(ValueError):
            va_table_name(bad)


def test_create_base_creates_missing_tables_only(stack, app, client, services, at_tenant):
    tenant, key = at_tenant
    # An operator already made table 02 by hand, with fewer fields: it must be left alone.
    response = requests.post(
        f"{stack.airtable_url}/v0/meta/bases/{tenant.airtable_base_id}/tables",
        headers={"Authorization": f"Bearer {stack.env['AIRTABLE_ACCESS_TOKEN']}"},
        json={"name": "Daily_Outreach_Table_02", "fields": [{"name": "id", "type": "singleLineText"},
                                                           {"name": "notes", "type": "multilineText"}]},
        timeout=10)
    response.raise_for_status()

    body = run_job(app, client, services, tenant, key, "create_base")

    result = body["result"]
    assert body["status"] == "completed_with_errors"      # table 02 is incomplete, reported
    assert result["created"] == ["Daily_Outreach_Table_01", "Daily_Outreach_Table_03", "Daily_Outreach_Table_04"]
    assert result["existing"] == ["Daily_Outreach_Table_02"]
    assert set(result["incomplete"]["Daily_Outreach_Table_02"]["missing_fields"]) == set(FIELD_NAMES) - {"id"}
    schema = stack.airtable_control(f"bases/{tenant.airtable_base_id}/tables", method="GET")["tables"]
    by_name = {t["name"]: t for t in schema}
    assert sorted(by_name) == [va_table_name(n) for n in range(1, 5)]
    assert [f["name"] for f in by_name["Daily_Outreach_Table_02"]["fields"]] == ["id", "notes"]
    table = by_name["Daily_Outreach_Table_03"]
    assert [f["name"] for f in table["fields"]] == FIELD_NAMES
    assert table["primaryFieldId"] == table["fields"][0]["id"]
    status = next(f for f in table["fields"] if f["name"] == "progress_status")
    assert status["type"] == "singleSelect"
    assert [c["name"] for c in status["options"]["choices"]] == list(STATUS_OPTIONS)

    again = run_job(app, client, services, tenant, key, "create_base")["result"]
    assert again["created"] == []
    assert again["existing"] == [va_table_name(n) for n in range(1, 5)]
    assert len(table_names(stack, tenant)) == 4


def test_create_base_fails_clearly_for_unknown_base(app, client, services, tenant):
    t, key = tenant          # base never created in the stand-in
    body = run_job(app, client, services, t, key, "create_base")
    assert body["status"] == "failed"
    assert "404" in body["error_message"] and t.airtable_base_id in body["error_message"]
