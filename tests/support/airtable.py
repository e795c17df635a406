"""Helpers for the Airtable and lifecycle tests: a tenant whose base exists in the stand-in,
campaigns seeded straight into Postgres, reading the stand-in's tables, running jobs."""
from __future__ import annotations

import uuid
from datetime import date
from urllib.parse import quote

import pytest

from server.utils.airtable.schema import va_table_name
from server.utils.jobs.table import insert_job
from tests.conftest import wait_for_job

# Names that break naive formulas, single-line cells or encodings.
AWKWARD_NAMES = ["O'Brien", 'Say "hi"', "back\\slash", "Zoë 🌸", "two\nlines", "", "  spaced  "]


@pytest.fixture
def services(app):
    """The test process's ``Services`` (same settings as the worker)."""
    return app.extensions["services"]


@pytest.fixture
def at_tenant(stack, tenant):
    """``(Tenant, api_key)`` whose Airtable base exists (empty) in the stand-in."""
    t, key = tenant
    stack.airtable_control("bases", {"id": t.airtable_base_id, "name": t.name})
    return t, key


def seed_campaign(services, tenant, tables: int, per_table: int, campaign_date: date | None = None,
                  status: str = "distributed") -> uuid.UUID:
    """Insert a distributed campaign with ``tables × per_table`` assignments (and their pool rows)
    for ``tenant``; positions 1..per_table per table. Returns the campaign id."""
    campaign_date = campaign_date or date(2030, 1, 1)
    prefix = uuid.uuid4().hex[:8]
    total = tables * per_table
    with services.db.transaction() as conn:
        campaign_id = conn.execute(
            """
            INSERT INTO campaigns (tenant_id, campaign_date, status, va_tables, profiles_per_table,
                                   target_count, total_selected)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING campaign_id
            """, (tenant.tenant_id, campaign_date, status, tables, per_table, total, total)).fetchone()["campaign_id"]
        ids = conn.execute(
            """
            INSERT INTO global_usernames (tenant_id, profile_id, username, full_name, used, used_at)
            SELECT %s, %s || lpad(g::text, 6, '0'), 'user_' || %s || '_' || g,
                   (%s::text[])[1 + g %% %s], true, now()
            FROM generate_series(0, %s - 1) g
            RETURNING global_username_id, profile_id, username, full_name
            """, (tenant.tenant_id, "9" + prefix, prefix, AWKWARD_NAMES, len(AWKWARD_NAMES), total)).fetchall()
        ids.sort(key=lambda r: r["profile_id"])
        conn.execute(
            """
            INSERT INTO daily_assignments (tenant_id, campaign_id, global_username_id, profile_id, username,
                                           full_name, va_table_number, position)
            SELECT %s, %s, gid, pid, uname, fname, tbl, pos
            FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::int[])
                 AS u(gid, pid, uname, fname, tbl, pos)
            """,
            (tenant.tenant_id, campaign_id, [r["global_username_id"] for r in ids], [r["profile_id"] for r in ids],
             [r["username"] for r in ids], [r["full_name"] for r in ids],
             [1 + i // per_table for i in range(total)], [1 + i % per_table for i in range(total)]))
    return campaign_id


def assignments(services, tenant, campaign_id=None) -> list[dict]:
    """All assignment rows of ``tenant`` (optionally one campaign), by table and position."""
    sql = "SELECT * FROM daily_assignments WHERE tenant_id = %s"
    params: list = [tenant.tenant_id]
    if campaign_id is not None:
        sql += " AND campaign_id = %s"
        params.append(campaign_id)
    with services.db.transaction() as conn:
        return conn.execute(sql + " ORDER BY va_table_number, position, assignment_id", params).fetchall()


def table_records(stack, tenant, n: int) -> list[dict]:
    """Every record of VA table ``n`` in the stand-in (control API, no rate limit)."""
    path = f"bases/{tenant.airtable_base_id}/tables/{quote(va_table_name(n))}/records"
    return stack.airtable_control(path, method="GET")["records"]


def table_names(stack, tenant) -> list[str]:
    """Names of the tables of the tenant's base in the stand-in."""
    return [t["name"] for t in stack.airtable_control(f"bases/{tenant.airtable_base_id}/tables", method="GET")["tables"]]


def va_edit(stack, tenant, n: int, record_id: str, fields: dict, typecast: bool = False) -> dict:
    """A VA editing a record in table ``n``."""
    path = f"bases/{tenant.airtable_base_id}/tables/{quote(va_table_name(n))}/records/{record_id}"
    return stack.airtable_control(path, {"fields": fields, "typecast": typecast}, method="PATCH")


def va_delete(stack, tenant, n: int, record_id: str) -> dict:
    """A VA deleting a record of table ``n`` by hand."""
    path = f"bases/{tenant.airtable_base_id}/tables/{quote(va_table_name(n))}/records/{record_id}"
    return stack.airtable_control(path, method="DELETE")


def base_stats(stack, tenant) -> dict:
    """The stand-in's request statistics of the tenant's base."""
    return stack.airtable_control(f"stats?base={tenant.airtable_base_id}", method="GET")


def start_job(app, services, tenant, kind: str, params: dict | None = None) -> str:
    """Insert a queued job and send ``jobs.run`` for it; returns the job id."""
    with services.db.transaction() as conn:
        job = insert_job(conn, tenant.tenant_id, kind, params or {}).job
    app.extensions["celery"].send_task("jobs.run", args=[str(job["job_id"])])
    return str(job["job_id"])


def run_job(app, client, services, tenant, key, kind: str, params: dict | None = None,
            timeout: float = 120) -> dict:
    """Run a job on the Celery worker and wait for it; returns the job-status body."""
    job_id = start_job(app, services, tenant, kind, params)
    return wait_for_job(client, key, job_id, timeout=timeout)
