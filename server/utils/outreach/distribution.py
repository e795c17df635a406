"""Distribution: a campaign's selected profiles, shuffled, sliced into its VA tables with
positions 1..N (DESIGN.md §6).

One UPDATE numbers every not-yet-placed assignment in random order (``row_number() OVER (ORDER
BY random())``): row r (0-based) goes to table ``r / N + 1`` at position ``r % N + 1``, N being
the campaign's ``profiles_per_table``, so tables 1..k are full and the last one may be shorter for
a partial campaign. The campaign row is locked first, so concurrent calls serialise and a
second call finds nothing left to place: it changes nothing and answers the same counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg import Connection

from server.utils.tenants import Tenant


class CampaignNotFound(LookupError):
    """No such campaign for this tenant."""


@dataclass(frozen=True)
class Distribution:
    """``assigned_per_table`` maps every table number 1..va_tables (as a string) to its count."""

    campaign_id: UUID
    va_tables: int
    assigned_per_table: dict[str, int]
    total_distributed: int
    status: str

    def to_json(self) -> dict:
        """JSON shape of ``POST /api/distribute/<campaign_id>``."""
        return {"campaign_id": str(self.campaign_id), "va_tables": self.va_tables,
                "assigned_per_table": self.assigned_per_table,
                "total_distributed": self.total_distributed, "status": self.status}


_PLACE = """
WITH ordered AS (
    SELECT assignment_id, row_number() OVER (ORDER BY random()) - 1 AS r
      FROM daily_assignments
     WHERE tenant_id = %(tenant_id)s AND campaign_id = %(campaign_id)s AND va_table_number IS NULL
)
UPDATE daily_assignments a
   SET va_table_number = o.r / %(per_table)s + 1, position = o.r %% %(per_table)s + 1, updated_at = now()
  FROM ordered o
 WHERE a.assignment_id = o.assignment_id AND a.tenant_id = %(tenant_id)s AND a.campaign_id = %(campaign_id)s
"""


def distribute_campaign(conn: Connection, tenant_id: UUID, campaign_id: UUID) -> Distribution:
    """Place the campaign's unplaced assignments (none after the first call) and mark a
    ``selected`` campaign ``distributed``. Raises ``CampaignNotFound`` for an unknown campaign
    or another tenant's."""
    campaign = conn.execute(
        "SELECT * FROM campaigns WHERE campaign_id = %s AND tenant_id = %s FOR UPDATE",
        (campaign_id, tenant_id)).fetchone()
    if campaign is None:
        raise CampaignNotFound(str(campaign_id))
    # Existing positions are kept; new rows (there are none once a campaign is distributed)
    # would continue after them. A partial campaign is placed in one go, so this stays simple.
    conn.execute(_PLACE, {"tenant_id": tenant_id, "campaign_id": campaign_id,
                          "per_table": campaign["profiles_per_table"]})
    status = campaign["status"]
    if status == "selected":
        status = conn.execute(
            "UPDATE campaigns SET status = 'distributed', distributed_at = now(), updated_at = now()"
            " WHERE campaign_id = %s AND tenant_id = %s RETURNING status",
            (campaign_id, tenant_id)).fetchone()["status"]
    counts = {str(n): 0 for n in range(1, campaign["va_tables"] + 1)}
    for row in conn.execute(
            "SELECT va_table_number, count(*) AS n FROM daily_assignments"
            " WHERE tenant_id = %s AND campaign_id = %s GROUP BY va_table_number ORDER BY 1",
            (tenant_id, campaign_id)):
        counts[str(row["va_table_number"])] = row["n"]
    return Distribution(campaign_id, campaign["va_tables"], counts, sum(counts.values()), status)


def distribute_for_tenant(services, tenant: Tenant, campaign_id: UUID) -> Distribution:
    """``distribute_campaign`` in its own transaction."""
    with services.db.transaction() as conn:
        return distribute_campaign(conn, tenant.tenant_id, campaign_id)
