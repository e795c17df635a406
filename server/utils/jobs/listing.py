"""Listing a tenant's jobs newest first, keyset-paginated on ``(created_at, job_id)``.

Keyset paging (``WHERE (created_at, job_id) < (last seen)``) stays as fast on page 500 as on
page 1 and never skips or repeats a job when new ones arrive between two pages; it uses the
``scrape_jobs_tenant_created`` index.
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import Connection


def list_jobs(conn: Connection, tenant_id: UUID, *, kind: str | None = None,
              statuses: list[str] | None = None, created_after: datetime | None = None,
              created_before: datetime | None = None, limit: int = 50,
              after: tuple[datetime, UUID] | None = None) -> tuple[list[dict], tuple[datetime, UUID] | None]:
    """Up to ``limit`` job rows of ``tenant_id``, newest first, filtered by ``kind``, any of
    ``statuses`` and the half-open creation window ``[created_after, created_before)``.

    ``after`` is the ``(created_at, job_id)`` of the last row of the previous page. Returns the
    rows and the key for the next page (None when this page is the last).
    """
    where = ["tenant_id = %(tenant)s"]
    args: dict = {"tenant": tenant_id, "limit": limit + 1}
    if kind:
        where.append("kind = %(kind)s")
        args["kind"] = kind
    if statuses:
        where.append("status = ANY(%(statuses)s)")
        args["statuses"] = list(statuses)
    if created_after:
        where.append("created_at >= %(created_after)s")
        args["created_after"] = created_after
    if created_before:
        where.append("created_at < %(created_before)s")
        args["created_before"] = created_before
    if after:
        where.append("(created_at, job_id) < (%(after_at)s, %(after_id)s)")
        args["after_at"], args["after_id"] = after
    rows = conn.execute(
        f"SELECT * FROM scrape_jobs WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, job_id DESC LIMIT %(limit)s", args).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1]["created_at"], rows[-1]["job_id"]) if more and rows else None)


def jobs_overview(conn: Connection, tenant_id: UUID, since: datetime) -> dict:
    """At-a-glance figures of the tenant's jobs: ``processing`` and ``queued`` (jobs now), and
    for jobs created at or after ``since``: ``scrapes``, ``kept`` (profiles kept by scrapes),
    ``cost_usd`` (float, USD spent on Apify) and ``failed`` (jobs that ended failed)."""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE status = 'processing') AS processing,
               count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE kind = 'scrape' AND created_at >= %(since)s) AS scrapes,
               coalesce(sum(profiles_scraped) FILTER (WHERE kind = 'scrape' AND created_at >= %(since)s), 0) AS kept,
               coalesce(sum(cost_usd) FILTER (WHERE created_at >= %(since)s), 0) AS cost_usd,
               count(*) FILTER (WHERE status = 'failed' AND created_at >= %(since)s) AS failed
          FROM scrape_jobs WHERE tenant_id = %(tenant)s
        """, {"tenant": tenant_id, "since": since}).fetchone()
    return {**row, "cost_usd": float(row["cost_usd"]), "kept": int(row["kept"])}
