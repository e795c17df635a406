"""Reading the per-source accounting: a job's sources (pages, CSV, counts per status, why a
capped job ended below its target), the tenant's source accounts over all jobs, and the
accounts whose last known status says they will give nothing.

A source still ``pending`` when its job has ended was never read (the cap was reached or the
job was cancelled first) and is shown as ``skipped``. Accounts of chunks that have not started
have no ``scrape_job_sources`` row yet: they are listed from their chunk with zero figures, as
``pending`` while the job runs and ``skipped`` once it has ended. "Per USD" figures are kept followers divided by the source's
cost share: 0 for a source that kept nothing (even at no cost), null only for one that kept
something at no cost.
"""
from __future__ import annotations

import csv
import io
from typing import Iterator
from uuid import UUID

from psycopg import Connection

from server.utils.jobs.table import TERMINAL
from server.utils.scrape.sources import FINAL_STATUSES, STATUSES

SOURCE_COLUMNS = ("source_account", "status", "followers_read", "kept", "kept_female", "kept_male",
                  "kept_unknown", "kept_target", "duplicates", "over_cap", "error_items", "cost_usd",
                  "kept_female_per_usd", "kept_male_per_usd", "kept_target_per_usd", "runs", "error")
# sort key -> SQL expression (all columns of the inner query)
JOB_SORTS = {
    "kept_female_per_usd": "kept_female_per_usd", "kept_male_per_usd": "kept_male_per_usd",
    "kept_target_per_usd": "kept_target_per_usd", "kept": "kept", "kept_female": "kept_female",
    "kept_male": "kept_male", "kept_target": "kept_target", "followers_read": "followers_read",
    "duplicates": "duplicates", "cost_usd": "cost_usd", "source_account": "source_account",
}
ACCOUNT_SORTS = {
    "kept_female_per_usd": "kept_female_per_usd", "kept_male_per_usd": "kept_male_per_usd",
    "kept": "kept", "kept_female": "kept_female", "kept_male": "kept_male", "followers_read": "followers_read",
    "duplicates": "duplicates", "cost_usd": "cost_usd", "jobs": "jobs", "last_scraped_at": "last_scraped_at",
    "source_account": "source_account",
}
_TARGET = {"female": "kept_female", "male": "kept_male"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _per_usd(column: str) -> str:
    """SQL for ``column`` per dollar of the source's cost (2 decimals): 0 when it kept nothing,
    null when it kept something at no cost."""
    return (f"(CASE WHEN cost_usd > 0 THEN round({column} / cost_usd, 2) WHEN {column} = 0 THEN 0 END)::float8")


def _job_sources_sql(where_status: bool) -> str:
    return f"""
    SELECT * FROM (
        SELECT source_account,
               CASE WHEN status = 'pending' AND %(ended)s THEN 'skipped' ELSE status END AS status,
               followers_read, kept, kept_female, kept_male, kept_unknown,
               {{target}} AS kept_target, duplicates, over_cap, error_items, cost_usd::float8 AS cost_usd,
               {_per_usd("kept_female")} AS kept_female_per_usd, {_per_usd("kept_male")} AS kept_male_per_usd,
               {_per_usd("{target}")} AS kept_target_per_usd,
               runs, error, finished_at
          FROM scrape_job_sources WHERE job_id = %(job_id)s
        UNION ALL  -- accounts of chunks not started yet: no row so far
        SELECT a.account, CASE WHEN %(ended)s THEN 'skipped' ELSE 'pending' END,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0::float8, 0::float8, 0::float8, 0::float8, 0, NULL::text, NULL::timestamptz
          FROM scrape_job_chunks c CROSS JOIN LATERAL unnest(c.accounts) AS a(account)
         WHERE c.job_id = %(job_id)s
           AND NOT EXISTS (SELECT 1 FROM scrape_job_sources r
                            WHERE r.job_id = %(job_id)s AND r.source_account = a.account)) s
    {"WHERE status = %(status)s" if where_status else ""}
    """


def _order(sorts: dict, sort: str, order: str | None) -> str:
    direction = (order or ("asc" if sort == "source_account" else "desc")).upper()
    column = 'source_account COLLATE "C"' if sort == "source_account" else sorts[sort]
    return f' ORDER BY {column} {direction} NULLS LAST, source_account COLLATE "C"'


def _job_query(job: dict, status: str | None, sort: str, order: str | None) -> tuple[str, dict]:
    target = _TARGET.get((job["params"] or {}).get("targetGender"), "kept")
    sql = _job_sources_sql(status is not None).format(target=target) + _order(JOB_SORTS, sort, order)
    return sql, {"job_id": job["job_id"], "ended": job["status"] in TERMINAL, "status": status}


def job_sources_page(conn: Connection, job: dict, status: str | None, sort: str, order: str | None,
                     page: int, limit: int) -> tuple[list[dict], int]:
    """One page (1-based, ``limit`` rows) of the job's sources, filtered by ``status`` and
    sorted by ``sort`` (a ``JOB_SORTS`` key; ``order`` asc/desc, default desc except for the
    name). Returns the rows (``SOURCE_COLUMNS`` plus ``finished_at``) and the matching total."""
    sql, params = _job_query(job, status, sort, order)
    rows = conn.execute(sql + " LIMIT %(limit)s OFFSET %(offset)s",
                        {**params, "limit": limit, "offset": (page - 1) * limit}).fetchall()
    total = conn.execute(f"SELECT count(*) AS n FROM ({_job_sources_sql(status is not None).format(target='kept')}) q",
                         params).fetchone()["n"]
    for row in rows:
        row["finished_at"] = row["finished_at"].isoformat() if row["finished_at"] else None
    return rows, total


def iter_job_sources_csv(db, job: dict, status: str | None, sort: str, order: str | None) -> Iterator[str]:
    """CSV text of every matching source of the job (``SOURCE_COLUMNS``), header first; text
    cells are made safe to open in a spreadsheet (no formula)."""
    sql, params = _job_query(job, status, sort, order)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SOURCE_COLUMNS)
    with db.connect() as conn:
        with conn.transaction(), conn.cursor(name=f"sources_{job['job_id'].hex}") as cur:
            cur.itersize = 2000
            cur.execute(sql, params)
            for count, row in enumerate(cur, 1):
                writer.writerow([spreadsheet_safe(row[c]) for c in SOURCE_COLUMNS])
                if count % 2000 == 0:
                    yield _drain(buffer)
    yield _drain(buffer)


def status_counts(conn: Connection, job: dict) -> dict:
    """``{status: n}`` for every status of ``STATUSES`` over the job's source accounts; accounts
    whose chunk never started count as ``skipped`` once the job has ended, else ``pending``."""
    rows = conn.execute("SELECT status, count(*) AS n FROM scrape_job_sources WHERE job_id = %s GROUP BY status",
                        (job["job_id"],))
    return _counts_by_status(job, {row["status"]: row["n"] for row in rows})


def job_with_status_counts(conn: Connection, tenant_id: UUID, job_id: UUID) -> tuple[dict, dict | None] | None:
    """The tenant's job ``job_id`` and, for a scrape job, its ``status_counts``, read by one
    statement; None when the job is unknown or another tenant's. The job dict is the
    ``scrape_jobs`` row as ``get_job`` returns it plus ``sources_at_limit`` (for a scrape job
    that completed below its ``totalScrapeCount``: its sources that gave followers up to the
    per-account limit, so may have more; else None); the counts are None for other kinds."""
    row = conn.execute(
        """SELECT j.*, CASE WHEN j.kind = 'scrape' THEN
                  (SELECT coalesce(json_object_agg(s.status, s.n), '{}'::json)
                     FROM (SELECT status, count(*) AS n FROM scrape_job_sources
                            WHERE job_id = j.job_id GROUP BY status) s) END AS source_status_counts,
                  CASE WHEN j.kind = 'scrape' AND j.profiles_scraped < j.max_profiles
                            AND j.status IN ('completed', 'completed_with_errors') THEN
                  (SELECT count(*) FROM scrape_job_sources s
                    WHERE s.job_id = j.job_id AND s.status = 'ok'
                      AND s.followers_read >= (j.params->>'per_account_limit')::int) END AS sources_at_limit
             FROM scrape_jobs j WHERE j.job_id = %s AND j.tenant_id = %s""", (job_id, tenant_id)).fetchone()
    if row is None:
        return None
    raw = row.pop("source_status_counts")
    return row, (_counts_by_status(row, raw) if raw is not None else None)


def _counts_by_status(job: dict, stored: dict) -> dict:
    """``status_counts`` from the stored ``{status: n}`` of the job's source rows."""
    ended = job["status"] in TERMINAL
    counts = {s: 0 for s in STATUSES}
    for status, n in stored.items():
        counts["skipped" if ended and status == "pending" else status] += n
    untried = max(0, (job["accounts_total"] or 0) - sum(counts.values()))
    counts["skipped" if ended else "pending"] += untried
    return counts


def below_target(job: dict, counts: dict) -> dict | None:
    """Why a job with ``totalScrapeCount`` ended below it, or None: ``reason`` is ``cancelled``,
    ``cost_cap`` (the job's cost cap stopped it: ``result.stopped_by``), ``failed``,
    ``per_account_limit`` (``sources_at_limit`` sources gave as many followers as the
    per-account limit sized for the target asked for, ``per_account_limit``, and may have more:
    a new job with a larger ``totalScrapeCount`` asks them for more) or ``sources_exhausted``
    (every source was read and they had no more to give), with the numbers behind it. ``job``
    is a row of ``job_with_status_counts``."""
    target, kept = job["max_profiles"], job["profiles_scraped"]
    if job["kind"] != "scrape" or not target or kept >= target or job["status"] not in TERMINAL:
        return None
    if job["status"] == "cancelled":
        reason = "cancelled"
    elif (job["result"] or {}).get("stopped_by") == "cost_cap":
        reason = "cost_cap"
    elif job["status"] == "failed":
        reason = "failed"
    elif job.get("sources_at_limit"):
        reason = "per_account_limit"
    else:
        reason = "sources_exhausted"
    gave_nothing = {s: counts[s] for s in ("private", "not_found", "empty", "failed") if counts.get(s)}
    shortfall = {"reason": reason, "kept": kept, "target": target, "short_by": target - kept,
                 "sources_without_followers": gave_nothing}
    if reason == "per_account_limit":
        shortfall.update(sources_at_limit=job["sources_at_limit"],
                         per_account_limit=(job["params"] or {}).get("per_account_limit"))
    return shortfall


def tenant_sources_page(conn: Connection, tenant_id: UUID, status: str | None, sort: str, order: str | None,
                        page: int, limit: int) -> tuple[list[dict], int]:
    """One page of the tenant's source accounts that were ever scraped, with totals over their
    jobs, last known status (and error, job) and last scraped time; ``status`` filters on the
    last status. Returns the rows and the matching total."""
    where = "tenant_id = %(tenant)s AND last_status IS NOT NULL" + (" AND last_status = %(status)s" if status else "")
    params = {"tenant": tenant_id, "status": status, "limit": limit, "offset": (page - 1) * limit}
    rows = conn.execute(
        f"""
        SELECT * FROM (
            SELECT username AS source_account, last_status, last_error, last_job_id::text AS last_job_id,
                   last_scraped_at, jobs, followers_read, kept, kept_female, kept_male, kept_unknown,
                   duplicates, over_cap, cost_usd::float8 AS cost_usd,
                   {_per_usd("kept_female")} AS kept_female_per_usd, {_per_usd("kept_male")} AS kept_male_per_usd
              FROM source_profiles WHERE {where}) s
        {_order(ACCOUNT_SORTS, sort, order)} LIMIT %(limit)s OFFSET %(offset)s
        """, params).fetchall()
    total = conn.execute(f"SELECT count(*) AS n FROM source_profiles WHERE {where}", params).fetchone()["n"]
    for row in rows:
        row["last_scraped_at"] = row["last_scraped_at"].isoformat() if row["last_scraped_at"] else None
    return rows, total


def accounts_to_exclude(conn: Connection, tenant_id: UUID, accounts: list[str], statuses: list[str]) -> dict:
    """``{account: {"status", "job_id", "at"}}`` for those of ``accounts`` whose last known
    status (from the tenant's earlier jobs) is one of ``statuses`` (each in ``FINAL_STATUSES``).
    Reads the tenant's sources with those statuses (few) rather than looking up every account,
    so a 500,000-account request costs one small query."""
    if not statuses or not accounts:
        return {}
    assert set(statuses) <= set(FINAL_STATUSES)
    wanted = set(accounts)
    out = {}
    with conn.cursor(name=f"exclude_{tenant_id.hex}") as cur:
        cur.execute("SELECT username, last_status, last_job_id, last_status_at FROM source_profiles"
                    " WHERE tenant_id = %s AND last_status = ANY(%s)", (tenant_id, statuses))
        for r in cur:
            if r["username"] in wanted:
                out[r["username"]] = {"status": r["last_status"], "job_id": str(r["last_job_id"]),
                                      "at": r["last_status_at"].isoformat()}
    return out


def spreadsheet_safe(value):
    """A text cell that starts like a formula (``= + - @``, tab, CR) gets a leading ``'``;
    numbers and None pass unchanged (OWASP CSV injection rule)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
