"""Reading campaigns: one campaign row, and its per-table progress for operators and the demo."""
from __future__ import annotations

from uuid import UUID

from psycopg import Connection

STATUSES = ("pending", "followed", "unfollow", "completed")


def get_campaign(conn: Connection, tenant_id: UUID, campaign_id: UUID) -> dict | None:
    """The tenant's campaign row, or None (another tenant's campaign is None too)."""
    return conn.execute("SELECT * FROM campaigns WHERE campaign_id = %s AND tenant_id = %s",
                        (campaign_id, tenant_id)).fetchone()


def campaign_to_json(conn: Connection, campaign: dict) -> dict:
    """Public JSON of a campaign with ``tables``: table number (string) → counts of live rows per
    status (``pending``, ``followed``, ``unfollow``, ``completed``) and ``archived`` (removed from
    Airtable: completed, expired or deleted by a VA), plus ``unplaced`` rows not yet distributed."""
    tables = {str(n): {**dict.fromkeys(STATUSES, 0), "archived": 0}
              for n in range(1, campaign["va_tables"] + 1)}
    unplaced = 0
    for row in conn.execute(
            """
            SELECT va_table_number AS t, CASE WHEN archived_at IS NOT NULL THEN 'archived' ELSE status END AS s,
                   count(*) AS n
              FROM daily_assignments WHERE tenant_id = %s AND campaign_id = %s GROUP BY 1, 2
            """, (campaign["tenant_id"], campaign["campaign_id"])):
        if row["t"] is None:
            unplaced += row["n"]
        else:
            tables.setdefault(str(row["t"]), {**dict.fromkeys(STATUSES, 0), "archived": 0})[row["s"]] = row["n"]
    iso = lambda v: v.isoformat() if v is not None else None  # noqa: E731
    return {
        "campaign_id": str(campaign["campaign_id"]), "campaign_date": campaign["campaign_date"].isoformat(),
        "status": campaign["status"], "va_tables": campaign["va_tables"],
        "profiles_per_table": campaign["profiles_per_table"], "target": campaign["target_count"],
        "total_selected": campaign["total_selected"], "warning": campaign["warning"],
        "created_at": iso(campaign["created_at"]), "distributed_at": iso(campaign["distributed_at"]),
        "pushed_at": iso(campaign["pushed_at"]), "tables": tables, "unplaced": unplaced,
    }
