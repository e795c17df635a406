"""Pulling the VAs' progress from Airtable into ``daily_assignments`` (DESIGN.md §6 "Status sync").

For every VA table (in the base its records were pushed to) that holds active (not archived)
pushed assignments of the tenant, the whole table is read page by page (100 records per request, only the ``progress_status`` field), then:
- each value is mapped to one of ``pending``, ``followed``, ``unfollow``, ``completed``
  (:func:`normalize_status`: case, spaces, ``_`` and ``-`` ignored; aliases such as
  ``unfollowed`` → ``completed``). Unknown values are reported and never copied; empty cells are
  counted and left alone;
- the DB is updated with one set-based UPDATE per table, matched by ``airtable_record_id``;
  ``followed_at`` is recorded the first time a record is seen ``followed`` or later,
  ``completed_at`` the first time it is seen ``completed`` (times from ``utc_now``);
- an assignment whose record is no longer in the table (a VA deleted it) is archived with
  ``archive_reason = 'deleted_by_va'`` and reported — it is never looked for again. Only
  assignments pushed before the listing began are considered, so a push running at the same time
  cannot make fresh records look deleted; a table whose listing fails archives nothing.
"""
from __future__ import annotations

import logging
import re

import requests

from server.utils.airtable.gateway import RequestStats, airtable_api, call_budget, error_message, error_type, open_base
from server.utils.airtable.jobs import job_tenant, run_airtable_call
from server.utils.airtable.schema import va_table_name
from server.utils.clock import utc_now
from server.utils.jobs.runner import JobCancelled, JobFailed, checkpoint

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_REPORTED = 100
STATUSES = ("pending", "followed", "unfollow", "completed")
STATUS_ALIASES = {
    "pending": "pending", "to do": "pending", "todo": "pending", "not started": "pending", "new": "pending",
    "followed": "followed", "follow": "followed", "following": "followed", "follow done": "followed",
    "unfollow": "unfollow", "to unfollow": "unfollow", "unfollow due": "unfollow", "unfollow now": "unfollow",
    "completed": "completed", "complete": "completed", "done": "completed", "unfollowed": "completed",
}
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_status(value: object) -> str | None:
    """The canonical status of a ``progress_status`` cell, or None when it is not one we know.

    ``" Followed "`` → ``followed``; ``"UNFOLLOWED"`` → ``completed``; ``"to_unfollow"`` →
    ``unfollow``; non-strings → None."""
    if not isinstance(value, str):
        return None
    return STATUS_ALIASES.get(_SEPARATORS.sub(" ", value.strip().casefold()).strip())


def _tables_to_sync(services, tenant) -> list[tuple[str, int]]:
    """``(base id, table number)`` of every VA table holding live pushed records of ``tenant``."""
    with services.db.transaction() as conn:
        rows = conn.execute(
            """
            SELECT DISTINCT coalesce(airtable_base_id, %s) AS base_id, va_table_number AS n FROM daily_assignments
            WHERE tenant_id = %s AND archived_at IS NULL AND airtable_record_id IS NOT NULL
              AND va_table_number IS NOT NULL
            ORDER BY 1, 2
            """, (tenant.airtable_base_id, tenant.tenant_id)).fetchall()
    return [(r["base_id"], r["n"]) for r in rows]


def _read_table(table) -> dict[str, object]:
    """``{record_id: raw progress_status (None if empty)}`` of every record, page by page; the
    listing restarts once if Airtable expired its iterator (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE)."""
    for attempt in (1, 2):
        seen: dict[str, object] = {}
        try:
            for page in table.iterate(page_size=PAGE_SIZE, fields=["progress_status"]):
                for record in page:
                    seen[record["id"]] = record.get("fields", {}).get("progress_status")
            return seen
        except requests.HTTPError as exc:
            if attempt == 2 or error_type(exc) != "LIST_RECORDS_ITERATOR_NOT_AVAILABLE":
                raise
    raise AssertionError("unreachable")


_UPDATE_SQL = """
WITH v AS (
    SELECT * FROM unnest(%(ids)s::text[], %(statuses)s::text[]) AS v(record_id, status)
), old AS (
    SELECT d.assignment_id, d.status AS old_status
    FROM daily_assignments d JOIN v ON v.record_id = d.airtable_record_id
    WHERE d.tenant_id = %(tenant)s AND d.va_table_number = %(n)s AND d.archived_at IS NULL
      AND coalesce(d.airtable_base_id, %(first_base)s) = %(base)s
)
UPDATE daily_assignments d SET
    status = v.status,
    followed_at = CASE WHEN v.status <> 'pending' THEN coalesce(d.followed_at, %(now)s) ELSE d.followed_at END,
    unfollow_due_at = CASE WHEN v.status <> 'pending'
        THEN coalesce(d.unfollow_due_at, coalesce(d.followed_at, %(now)s) + %(days)s * interval '1 day')
        ELSE d.unfollow_due_at END,
    completed_at = CASE WHEN v.status = 'completed' THEN coalesce(d.completed_at, %(now)s) ELSE d.completed_at END,
    last_synced_at = %(now)s,
    updated_at = now()
FROM v, old
WHERE d.tenant_id = %(tenant)s AND old.assignment_id = d.assignment_id AND v.record_id = d.airtable_record_id
RETURNING old.old_status, d.status
"""

_ARCHIVE_DELETED_SQL = """
UPDATE daily_assignments SET archived_at = %(now)s, archive_reason = 'deleted_by_va', updated_at = now()
WHERE tenant_id = %(tenant)s AND va_table_number = %(n)s AND archived_at IS NULL
  AND coalesce(airtable_base_id, %(first_base)s) = %(base)s
  AND airtable_record_id IS NOT NULL AND pushed_at < %(listed_at)s
  AND NOT (airtable_record_id = ANY(%(seen)s::text[]))
RETURNING assignment_id, airtable_record_id, username, status
"""


def _sync_table(services, tenant, table, n: int, base_id: str) -> dict:
    listed_at = utc_now(services, tenant)
    seen = _read_table(table)
    name = va_table_name(n)
    ids, statuses, unknown, empty = [], [], [], 0
    for record_id, raw in seen.items():
        if raw is None or raw == "":
            empty += 1
            continue
        status = normalize_status(raw)
        if status is None:
            unknown.append({"table": name, "record_id": record_id, "value": str(raw)[:200]})
            continue
        ids.append(record_id)
        statuses.append(status)
    now = utc_now(services, tenant)
    with services.db.transaction() as conn:
        where = {"tenant": tenant.tenant_id, "n": n, "base": base_id, "first_base": tenant.airtable_base_id}
        changed = conn.execute(_UPDATE_SQL, {
            **where, "ids": ids, "statuses": statuses, "now": now,
            "days": services.settings.unfollow_after_days}).fetchall()
        deleted = conn.execute(_ARCHIVE_DELETED_SQL, {
            **where, "now": now, "listed_at": listed_at, "seen": list(seen)}).fetchall()
    transitions: dict[str, int] = {}
    for row in changed:
        if row["old_status"] != row["status"]:
            key = f"{row['old_status']}->{row['status']}"
            transitions[key] = transitions.get(key, 0) + 1
    return {
        "records": len(seen), "matched": len(changed), "updated": sum(transitions.values()),
        "transitions": transitions, "unknown": unknown, "empty_status": empty,
        "deleted_by_va": [{"table": name, "assignment_id": r["assignment_id"], "record_id": r["airtable_record_id"],
                           "username": r["username"], "status": r["status"]} for r in deleted],
    }


def sync_statuses(services, tenant, report=None) -> dict:
    """Copy the VAs' ``progress_status`` values of every active VA table of ``tenant`` into the DB.

    ``report(progress_0_99, partial_result)`` (optional) is called after each table; a job's
    report (checked before each table too) raises ``JobCancelled`` when the job was cancelled,
    re-raised carrying this result so far (the tables already synced stay synced).
    Returns ``{"tables_synced", "records_read", "updated", "transitions": {"old->new": n},
    "unknown_count", "unknown": [{"table", "record_id", "value"}] (≤ 100), "empty_status",
    "deleted_by_va_count", "deleted_by_va": [{"table", "assignment_id", "record_id", "username",
    "status"}] (≤ 100), "tables": {name: {"records", "matched", "updated", "unknown",
    "empty_status", "deleted_by_va"}} (counts; keys are ``<base id>/<name>`` when the tenant
    has several bases), "errors": [{"table", "error"}],
    "airtable_requests": {RequestStats}}``.

    A table Airtable refuses (missing table, 5xx after retries) is listed in ``errors`` and
    skipped. Raises ``AirtableNotConfigured`` and ``AirtableRateLimited``.
    """
    report = report or (lambda progress, partial=None: None)
    stats = RequestStats()
    open_base(services, tenant, stats)           # AirtableNotConfigured without a base
    bases: dict = {}
    numbers = _tables_to_sync(services, tenant)
    several = len({b for b, _ in numbers} | set(tenant.base_ids)) > 1
    out = {"tables_synced": 0, "records_read": 0, "updated": 0, "transitions": {}, "unknown_count": 0,
           "unknown": [], "empty_status": 0, "deleted_by_va_count": 0, "deleted_by_va": [], "tables": {},
           "errors": []}
    for index, (base_id, n) in enumerate(numbers, start=1):
        name = va_table_name(n)
        label = f"{base_id}/{name}" if several else name
        try:
            checkpoint(report)
        except JobCancelled:
            out["airtable_requests"] = stats.as_dict()
            raise JobCancelled(out) from None
        try:
            if base_id not in bases:
                bases[base_id] = open_base(services, tenant, stats, base_id) if base_id in tenant.base_ids \
                    else airtable_api(services, stats, call_budget(services, tenant)).base(base_id)
            one = _sync_table(services, tenant, bases[base_id].table(name), n, base_id)
        except requests.RequestException as exc:
            log.warning("status sync of %s/%s failed: %s", base_id, name, error_message(exc))
            out["errors"].append({"table": label, "error": error_message(exc)})
            continue
        out["tables_synced"] += 1
        out["records_read"] += one["records"]
        out["updated"] += one["updated"]
        for key, count in one["transitions"].items():
            out["transitions"][key] = out["transitions"].get(key, 0) + count
        out["unknown_count"] += len(one["unknown"])
        out["unknown"] = (out["unknown"] + one["unknown"])[:MAX_REPORTED]
        out["empty_status"] += one["empty_status"]
        out["deleted_by_va_count"] += len(one["deleted_by_va"])
        out["deleted_by_va"] = (out["deleted_by_va"] + one["deleted_by_va"])[:MAX_REPORTED]
        out["tables"][label] = {"records": one["records"], "matched": one["matched"], "updated": one["updated"],
                               "unknown": len(one["unknown"]), "empty_status": one["empty_status"],
                               "deleted_by_va": len(one["deleted_by_va"])}
        try:
            report(int(99 * index / len(numbers)), {"tables_synced": out["tables_synced"],
                                                    "tables_total": len(numbers)})
        except JobCancelled:
            if index < len(numbers):
                out["airtable_requests"] = stats.as_dict()
                raise JobCancelled(out) from None
    out["airtable_requests"] = stats.as_dict()
    return out


def status_sync_job(services, job: dict, report) -> dict:
    """Job ``status_sync``: :func:`sync_statuses` for the job's tenant. ``completed_with_errors``
    when a table could not be read; unknown values and VA deletions are reported in the result
    (they are the VAs' doing, not a failure of the job)."""
    tenant = job_tenant(services, job)
    result = run_airtable_call(lambda: sync_statuses(services, tenant, report))
    if result["errors"]:
        message = f"{len(result['errors'])} table(s) could not be read; first: {result['errors'][0]}"
        if not result["tables_synced"]:
            raise JobFailed(message, result)
        result["_status"] = "completed_with_errors"
        result["error_message"] = message[:1000]
    return result
