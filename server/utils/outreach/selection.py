"""Daily selection: one campaign per tenant and date, claiming unused profiles from the pool
(DESIGN.md §6).

Everything happens in one transaction: the campaign row is inserted (or the existing one for
that date is returned), ``num_va_tables × profiles_per_table`` unused profiles are claimed with
``FOR UPDATE SKIP LOCKED``, marked used and copied into ``daily_assignments``. Two concurrent
selections (any dates) therefore never hand out the same profile; two for the same date
serialise on the campaign's unique key and the second returns the first's campaign.

A pool smaller than the target gives a partial campaign with a ``warning``. An empty pool
creates nothing (no campaign without profiles is ever stored, so a later call for the same date,
after an ingest, can still select): the answer then has ``campaign_id`` None, ``status``
``"empty"`` and a warning.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from uuid import UUID

from psycopg import Connection

from server.utils.clock import utc_now
from server.utils.tenants import Tenant


@dataclass(frozen=True)
class Selection:
    """Outcome of a selection. ``campaign_id`` is None only for an empty pool (nothing stored);
    ``existing`` is True when the tenant already had a campaign for ``campaign_date``."""

    campaign_id: UUID | None
    campaign_date: date
    total_selected: int
    target: int
    va_tables: int
    profiles_per_table: int
    status: str
    warning: str | None
    existing: bool

    def to_json(self) -> dict:
        """JSON shape of ``POST /api/daily-selection``."""
        out = asdict(self)
        out["campaign_id"] = str(self.campaign_id) if self.campaign_id else None
        out["campaign_date"] = self.campaign_date.isoformat()
        if out["warning"] is None:
            del out["warning"]
        return out


_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT global_username_id FROM global_usernames
     WHERE tenant_id = %(tenant_id)s AND NOT used
     ORDER BY global_username_id
     LIMIT %(target)s
       FOR UPDATE SKIP LOCKED
),
marked AS (
    UPDATE global_usernames g SET used = true, used_at = %(now)s, updated_at = now()
      FROM picked p
     WHERE g.global_username_id = p.global_username_id AND g.tenant_id = %(tenant_id)s
    RETURNING g.global_username_id, g.profile_id, g.username, g.full_name
)
INSERT INTO daily_assignments (tenant_id, campaign_id, global_username_id, profile_id, username, full_name)
SELECT %(tenant_id)s, %(campaign_id)s, m.global_username_id, m.profile_id, m.username, m.full_name
  FROM marked m
"""


def _from_row(row: dict, existing: bool) -> Selection:
    return Selection(row["campaign_id"], row["campaign_date"], row["total_selected"], row["target_count"],
                     row["va_tables"], row["profiles_per_table"], row["status"], row["warning"], existing)


def select_campaign(conn: Connection, tenant: Tenant, campaign_date: date, profiles_per_table: int,
                    now: datetime) -> Selection:
    """Create ``tenant``'s campaign for ``campaign_date`` in the caller's transaction and claim
    its profiles (oldest in the pool first); or return the existing campaign of that date.

    ``profiles_per_table`` (1..10000) sizes a new campaign; ``now`` is stored as ``used_at``.
    """
    target = tenant.num_va_tables * profiles_per_table
    row = conn.execute(
        "INSERT INTO campaigns (tenant_id, campaign_date, va_tables, profiles_per_table, target_count)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, campaign_date) DO NOTHING RETURNING *",
        (tenant.tenant_id, campaign_date, tenant.num_va_tables, profiles_per_table, target)).fetchone()
    if row is None:
        existing = conn.execute("SELECT * FROM campaigns WHERE tenant_id = %s AND campaign_date = %s",
                                (tenant.tenant_id, campaign_date)).fetchone()
        return _from_row(existing, existing=True)
    selected = conn.execute(_CLAIM, {"tenant_id": tenant.tenant_id, "campaign_id": row["campaign_id"],
                                     "target": target, "now": now}).rowcount
    if selected == 0:
        conn.execute("DELETE FROM campaigns WHERE campaign_id = %s AND tenant_id = %s",
                     (row["campaign_id"], tenant.tenant_id))
        return Selection(None, campaign_date, 0, target, tenant.num_va_tables, profiles_per_table,
                         "empty", "the pool has no unused profiles; no campaign was created", False)
    warning = None
    if selected < target:
        warning = f"partial campaign: the pool had only {selected} unused profiles of {target} wanted"
    row = conn.execute(
        "UPDATE campaigns SET total_selected = %s, warning = %s, updated_at = now()"
        " WHERE campaign_id = %s AND tenant_id = %s RETURNING *",
        (selected, warning, row["campaign_id"], tenant.tenant_id)).fetchone()
    return _from_row(row, existing=False)


def select_for_tenant(services, tenant: Tenant, campaign_date: date | None = None,
                      profiles_per_table: int | None = None) -> Selection:
    """``select_campaign`` in its own transaction; ``campaign_date`` defaults to today (UTC, per
    the service clock) and ``profiles_per_table`` to the tenant's setting."""
    now = utc_now(services, tenant)
    with services.db.transaction() as conn:
        return select_campaign(conn, tenant, campaign_date or now.date(),
                               profiles_per_table or tenant.profiles_per_table, now)
