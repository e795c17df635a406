"""How many records the service has in each Airtable base right now, from its own assignments.

A record is live from its push (``airtable_record_id`` stored) until the lifecycle deletes it
or a VA does (``archived_at`` set). Records pushed before a tenant had several bases, or before
the base column existed, count for the tenant's first base. Records the service does not know
(added by hand in Airtable) are not counted: ``AIRTABLE_CAPACITY_MARGIN`` leaves room for them.
"""
from __future__ import annotations

from psycopg import Connection


def live_records_per_base(conn: Connection, tenant) -> dict[str, int]:
    """``{base id: live records}`` for every base of ``tenant`` (0 for an empty one), plus any
    base that still holds records but is no longer the tenant's."""
    out = {b: 0 for b in tenant.base_ids}
    for row in conn.execute(
            """
            SELECT coalesce(airtable_base_id, %s) AS base_id, count(*) AS n FROM daily_assignments
            WHERE tenant_id = %s AND archived_at IS NULL AND airtable_record_id IS NOT NULL
            GROUP BY 1
            """, (tenant.airtable_base_id, tenant.tenant_id)):
        if row["base_id"] is not None:
            out[row["base_id"]] = row["n"]
    return out
