"""Read-only views of a tenant's outreach for operators: campaigns with per-VA-table counts,
the pool's size and growth, and the history of run-daily jobs with each step's outcome."""
from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from psycopg import Connection

from server.utils.outreach.campaigns import STATUSES
from server.utils.outreach.run_daily import STEPS as RUN_STEPS


def list_campaigns(conn: Connection, tenant_id: UUID, *, limit: int = 20,
                   after: tuple[date, UUID] | None = None, campaign_date: date | None = None
                   ) -> tuple[list[dict], tuple[date, UUID] | None]:
    """Up to ``limit`` campaign rows, newest ``campaign_date`` first (keyset ``after`` =
    ``(campaign_date, campaign_id)`` of the previous page's last row), or only the campaign of
    ``campaign_date``. Returns the rows and the next page's key (None at the end)."""
    where, args = ["tenant_id = %(tenant)s"], {"tenant": tenant_id, "limit": limit + 1}
    if campaign_date:
        where.append("campaign_date = %(day)s")
        args["day"] = campaign_date
    if after:
        where.append("(campaign_date, campaign_id) < (%(after_day)s, %(after_id)s)")
        args["after_day"], args["after_id"] = after
    rows = conn.execute(f"SELECT * FROM campaigns WHERE {' AND '.join(where)}"
                        " ORDER BY campaign_date DESC, campaign_id DESC LIMIT %(limit)s", args).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1]["campaign_date"], rows[-1]["campaign_id"]) if more and rows else None)


def campaign_summaries(conn: Connection, tenant_id: UUID, rows: list[dict]) -> list[dict]:
    """Public JSON of campaign ``rows`` with one grouped query for all of them: the campaign's
    fields, ``push_error``, ``last_status_sync`` (latest ``last_synced_at`` of its rows, ISO or
    None), ``totals`` per status and ``tables``: VA table number (string) → ``pending``,
    ``followed``, ``unfollow``, ``completed``, ``archived`` counts; ``unplaced`` rows have no
    table yet."""
    ids = [r["campaign_id"] for r in rows]
    counts: dict = {cid: {} for cid in ids}
    unplaced: dict = dict.fromkeys(ids, 0)
    synced: dict = {}
    if ids:
        for row in conn.execute(
                """
                SELECT campaign_id AS c, va_table_number AS t,
                       CASE WHEN archived_at IS NOT NULL THEN 'archived' ELSE status END AS s,
                       count(*) AS n, max(last_synced_at) AS synced
                  FROM daily_assignments WHERE tenant_id = %s AND campaign_id = ANY(%s) GROUP BY 1, 2, 3
                """, (tenant_id, ids)):
            if row["synced"] and (synced.get(row["c"]) is None or row["synced"] > synced[row["c"]]):
                synced[row["c"]] = row["synced"]
            if row["t"] is None:
                unplaced[row["c"]] += row["n"]
            else:
                counts[row["c"]].setdefault(row["t"], {})[row["s"]] = row["n"]
    out = []
    for campaign in rows:
        cid = campaign["campaign_id"]
        tables = {}
        for n in range(1, campaign["va_tables"] + 1):
            found = counts[cid].get(n, {})
            tables[str(n)] = {s: found.get(s, 0) for s in (*STATUSES, "archived")}
        totals = {s: sum(t[s] for t in tables.values()) for s in (*STATUSES, "archived")}
        out.append({
            "campaign_id": str(cid), "campaign_date": campaign["campaign_date"].isoformat(),
            "status": campaign["status"], "va_tables": campaign["va_tables"],
            "profiles_per_table": campaign["profiles_per_table"], "target": campaign["target_count"],
            "total_selected": campaign["total_selected"], "warning": campaign["warning"],
            "push_error": campaign.get("push_error"),
            "created_at": _iso(campaign["created_at"]), "distributed_at": _iso(campaign["distributed_at"]),
            "pushed_at": _iso(campaign["pushed_at"]), "last_status_sync": _iso(synced.get(cid)),
            "totals": totals, "tables": tables, "unplaced": unplaced[cid],
        })
    return out


def pool_stats(conn: Connection, tenant_id: UUID, today: date, days: int = 30) -> dict:
    """The tenant's pool (``global_usernames``): ``size``, ``unused``, ``used``, ``by_gender``
    and ``unused_by_gender`` (gender → count; no gender recorded counts as ``unknown``), and
    ``per_day``: for each of the ``days`` days up to ``today`` (UTC dates, oldest first)
    ``{"date", "added", "size"}`` where ``size`` is the pool size at the end of that day."""
    by_gender: dict[str, int] = {}
    unused_by_gender: dict[str, int] = {}
    for row in conn.execute(
            "SELECT coalesce(gender, 'unknown') AS g, count(*) AS n, count(*) FILTER (WHERE NOT used) AS u"
            " FROM global_usernames WHERE tenant_id = %s GROUP BY 1", (tenant_id,)):
        by_gender[row["g"]] = row["n"]
        unused_by_gender[row["g"]] = row["u"]
    size, unused = sum(by_gender.values()), sum(unused_by_gender.values())
    first = today - timedelta(days=days - 1)
    added = {r["d"]: r["n"] for r in conn.execute(
        "SELECT (added_at AT TIME ZONE 'UTC')::date AS d, count(*) AS n FROM global_usernames"
        " WHERE tenant_id = %s AND added_at >= %s::date AT TIME ZONE 'UTC' GROUP BY 1",
        (tenant_id, first))}
    running = size - sum(n for d, n in added.items() if d > today) - sum(
        n for d, n in added.items() if first <= d <= today)
    per_day = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        running += added.get(day, 0)
        per_day.append({"date": day.isoformat(), "added": added.get(day, 0), "size": running})
    return {"size": size, "unused": unused, "used": size - unused, "by_gender": by_gender,
            "unused_by_gender": unused_by_gender, "per_day": per_day}


def run_summary(job: dict) -> dict:
    """A run-daily job row as history: ``job_id``, ``status``, ``progress``, ``campaign_date``,
    ``campaign_id``, ``created_at``, ``started_at``, ``completed_at``, ``error_message``,
    ``failed_step``, ``warning`` and ``steps``: one ``{"name", "outcome", "summary"}`` per step
    in run order, ``outcome`` being ``ok``, ``failed``, ``skipped``, ``cancelled`` (stopped by a
    cancel part way; the summary tells what it did) or ``not_run``."""
    result = job["result"] or {}
    done = result.get("steps") or {}
    failed_step = result.get("failed_step")
    steps = []
    for name in RUN_STEPS:
        summary = done.get(name)
        if summary is None:
            outcome = "not_run"
        elif name == failed_step or (isinstance(summary, dict) and "error" in summary):
            outcome = "failed"
        elif isinstance(summary, dict) and summary.get("cancelled"):
            outcome = "cancelled"
        elif isinstance(summary, dict) and summary.get("skipped"):
            outcome = "skipped"
        else:
            outcome = "ok"
        steps.append({"name": name, "outcome": outcome, "summary": summary or {}})
    params = job["params"] or {}
    return {
        "job_id": str(job["job_id"]), "status": job["status"], "progress": job["progress"],
        "campaign_date": result.get("campaign_date") or params.get("campaign_date"),
        "campaign_id": result.get("campaign_id"),
        "created_at": _iso(job["created_at"]), "started_at": _iso(job["started_at"]),
        "completed_at": _iso(job["completed_at"]), "error_message": job["error_message"],
        "failed_step": failed_step, "warning": result.get("warning"), "steps": steps,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
