"""The VA lifecycle after the push (DESIGN.md §6): unfollow due, delete completed, expire pending.

Each rule compares a timestamp with ``now`` (given by the caller; the job handlers take it from
``server.utils.clock.utc_now`` — never SQL ``now()``), touches only the given tenant's rows
(every query filters ``tenant_id``) and is safe to run twice:

- :func:`mark_unfollow_due`: ``followed`` with ``followed_at <= now - UNFOLLOW_AFTER_DAYS`` →
  ``progress_status = unfollow`` in Airtable (PATCH by record id, 10 per request), then
  ``status = 'unfollow'`` in the DB for the records Airtable accepted. A rerun finds nothing left.
- :func:`delete_completed`: ``completed`` with ``completed_at <= now - DELETE_COMPLETED_AFTER_HOURS``
  → records deleted from Airtable (10 per request), rows archived (``archived_at``,
  ``archive_reason = 'completed'``) after each request.
- :func:`expire_pending`: ``pending`` with ``coalesce(pushed_at, created_at) <= now -
  EXPIRE_PENDING_AFTER_DAYS`` → deleted from Airtable, archived with ``'expired'``. Rows of a
  ``partial`` campaign that still wait for room in Airtable are not expired: they were never
  shown to a VA, and their age starts when they are pushed. Run it after a
  status sync (run-daily does), or a row a VA just started could be expired.

Airtable comes first, the DB second, one batch at a time: a crash in between leaves a row whose
record is already updated/deleted; the rerun repeats the same idempotent update, or finds the
record gone (counted as ``already_gone`` and archived). A record a VA deleted by hand before an
unfollow is archived with ``'deleted_by_va'`` and reported. A table Airtable refuses is reported
in ``errors`` and its rows stay as they are.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

import requests

from server.utils.airtable.gateway import RequestStats, airtable_api, call_budget, error_message, open_base
from server.utils.airtable.jobs import job_tenant, run_airtable_call
from server.utils.airtable.records import delete_records, update_fields
from server.utils.airtable.schema import va_table_name
from server.utils.clock import utc_now
from server.utils.jobs.runner import JobCancelled

log = logging.getLogger(__name__)

MAX_REPORTED = 100


def _candidates(services, tenant, sql: str, params: tuple) -> dict[tuple[str, int] | None, list[dict]]:
    """Rows of ``sql`` grouped by ``(base id, va_table_number)`` of their record (None: never
    pushed / no table). Records without a stored base live in the tenant's first base."""
    with services.db.transaction() as conn:
        rows = conn.execute(sql, params).fetchall()
    groups: dict[tuple[str, int] | None, list[dict]] = defaultdict(list)
    for row in rows:
        key = ((row["airtable_base_id"] or tenant.airtable_base_id, row["va_table_number"])
               if row["airtable_record_id"] else None)
        groups[key].append(row)
    return groups


class _Bases:
    """The Airtable bases a lifecycle rule touches, opened once each, with shared request stats."""

    def __init__(self, services, tenant):
        self.services, self.tenant = services, tenant
        self.stats = RequestStats()
        self._open: dict = {}

    def table(self, base_id: str, n: int):
        """``pyairtable.Table`` of VA table ``n`` in ``base_id`` (a base the tenant no longer
        lists still holds its old records, so it is opened too)."""
        if base_id not in self._open:
            if base_id in self.tenant.base_ids or not self.tenant.airtable_base_id:
                self._open[base_id] = open_base(self.services, self.tenant, self.stats, base_id)
            else:
                self._open[base_id] = airtable_api(self.services, self.stats,
                                                   call_budget(self.services, self.tenant)).base(base_id)
        return self._open[base_id].table(va_table_name(n))

    @property
    def used(self) -> bool:
        return bool(self._open)


def _label(bases: _Bases, base_id: str, n: int) -> str:
    name = va_table_name(n)
    return name if len(bases.tenant.base_ids) <= 1 and base_id == bases.tenant.airtable_base_id else f"{base_id}/{name}"


def _archive(services, tenant_id, assignment_ids: list[int], reason: str, now: datetime) -> int:
    if not assignment_ids:
        return 0
    with services.db.transaction() as conn:
        return conn.execute(
            """
            UPDATE daily_assignments SET archived_at = %s, archive_reason = %s, updated_at = now()
            WHERE tenant_id = %s AND assignment_id = ANY(%s::bigint[]) AND archived_at IS NULL
            """, (now, reason, tenant_id, assignment_ids)).rowcount


def _base_result(cutoff: datetime, due: int) -> dict:
    return {"cutoff": cutoff.isoformat(), "due": due, "errors": [], "failed": []}


def _finish(result: dict, bases: _Bases) -> dict:
    result["failed"] = result["failed"][:MAX_REPORTED]
    if bases.used:
        result["airtable_requests"] = bases.stats.as_dict()
    return result


def mark_unfollow_due(services, tenant, now: datetime, check=None) -> dict:
    """Flag ``followed`` rows of ``tenant`` with ``followed_at <= now - UNFOLLOW_AFTER_DAYS`` as
    ``unfollow`` in Airtable and the DB. ``now``: aware UTC datetime. ``check()`` (optional, a
    job's cancel checkpoint) is called before each VA table and after each Airtable batch is recorded; the
    ``JobCancelled`` it raises carries this result so far.

    Returns ``{"cutoff": iso, "due", "marked", "deleted_by_va_count", "deleted_by_va":
    [{"assignment_id", "record_id"}] (≤ 100), "failed": [{"record_id", "error"}], "errors":
    [{"table", "error"}], "airtable_requests"?}``. Raises ``AirtableNotConfigured`` (when rows
    are due) and ``AirtableRateLimited``.
    """
    cutoff = now - timedelta(days=services.settings.unfollow_after_days)
    check = check or (lambda: None)
    tid = tenant.tenant_id
    groups = _candidates(services, tenant, """
        SELECT assignment_id, va_table_number, airtable_record_id, airtable_base_id FROM daily_assignments
        WHERE tenant_id = %s AND status = 'followed' AND archived_at IS NULL AND followed_at <= %s
        ORDER BY va_table_number, assignment_id
        """, (tid, cutoff))
    result = _base_result(cutoff, sum(len(g) for g in groups.values()))
    result.update(marked=0, deleted_by_va_count=0, deleted_by_va=[])
    days = services.settings.unfollow_after_days

    def mark_in_db(assignment_ids: list[int]) -> None:
        if not assignment_ids:
            return
        with services.db.transaction() as conn:
            result["marked"] += conn.execute(
                """
                UPDATE daily_assignments SET status = 'unfollow',
                       unfollow_due_at = coalesce(unfollow_due_at, followed_at + %s * interval '1 day'),
                       updated_at = now()
                WHERE tenant_id = %s AND assignment_id = ANY(%s::bigint[]) AND status = 'followed'
                  AND archived_at IS NULL
                """, (days, tid, assignment_ids)).rowcount

    try:
        check()
    except JobCancelled:
        raise JobCancelled(result) from None
    mark_in_db([r["assignment_id"] for r in groups.pop(None, [])])   # no Airtable record to update
    bases = _Bases(services, tenant)
    for (base_id, n), rows in sorted(groups.items()):
        by_record = {r["airtable_record_id"]: r["assignment_id"] for r in rows}

        def on_batch(done: list[str], missing: list[str], by_record=by_record) -> None:
            mark_in_db([by_record[i] for i in done])
            gone = [by_record[i] for i in missing]
            _archive(services, tid, gone, "deleted_by_va", now)
            result["deleted_by_va_count"] += len(gone)
            result["deleted_by_va"].extend({"assignment_id": by_record[i], "record_id": i} for i in missing)
            check()

        try:
            check()
            outcome = update_fields(bases.table(base_id, n), list(by_record), {"progress_status": "unfollow"},
                                    on_batch)
            result["failed"].extend(outcome.failed)
        except requests.RequestException as exc:
            result["errors"].append({"table": _label(bases, base_id, n), "error": error_message(exc)})
        except JobCancelled:
            result["deleted_by_va"] = result["deleted_by_va"][:MAX_REPORTED]
            raise JobCancelled(_finish(result, bases)) from None
    result["deleted_by_va"] = result["deleted_by_va"][:MAX_REPORTED]
    return _finish(result, bases)


def _delete_and_archive(services, tenant, now: datetime, cutoff: datetime, sql: str, reason: str,
                        check=None) -> dict:
    check = check or (lambda: None)
    tid = tenant.tenant_id
    groups = _candidates(services, tenant, sql, (tid, cutoff))
    result = _base_result(cutoff, sum(len(g) for g in groups.values()))
    result.update(deleted=0, already_gone=0, archived=0)
    try:
        check()
    except JobCancelled:
        raise JobCancelled(result) from None
    result["archived"] += _archive(services, tid, [r["assignment_id"] for r in groups.pop(None, [])], reason, now)
    bases = _Bases(services, tenant)
    for (base_id, n), rows in sorted(groups.items()):
        by_record = {r["airtable_record_id"]: r["assignment_id"] for r in rows}

        def on_batch(done: list[str], missing: list[str], by_record=by_record) -> None:
            result["deleted"] += len(done)
            result["already_gone"] += len(missing)
            result["archived"] += _archive(services, tid, [by_record[i] for i in done + missing], reason, now)
            check()

        try:
            check()
            outcome = delete_records(bases.table(base_id, n), list(by_record), on_batch)
            result["failed"].extend(outcome.failed)
        except requests.RequestException as exc:
            result["errors"].append({"table": _label(bases, base_id, n), "error": error_message(exc)})
        except JobCancelled:
            raise JobCancelled(_finish(result, bases)) from None
    return _finish(result, bases)


def delete_completed(services, tenant, now: datetime, check=None) -> dict:
    """Delete from Airtable and archive (``'completed'``) the ``completed`` rows of ``tenant`` with
    ``completed_at <= now - DELETE_COMPLETED_AFTER_HOURS``. ``now``: aware UTC datetime.
    ``check`` as in :func:`mark_unfollow_due`.

    Returns ``{"cutoff": iso, "due", "deleted", "already_gone", "archived", "failed":
    [{"record_id", "error"}], "errors": [{"table", "error"}], "airtable_requests"?}``.
    Raises ``AirtableNotConfigured`` (when rows are due) and ``AirtableRateLimited``.
    """
    cutoff = now - timedelta(hours=services.settings.delete_completed_after_hours)
    return _delete_and_archive(services, tenant, now, cutoff, """
        SELECT assignment_id, va_table_number, airtable_record_id, airtable_base_id FROM daily_assignments
        WHERE tenant_id = %s AND status = 'completed' AND archived_at IS NULL AND completed_at <= %s
        ORDER BY va_table_number, assignment_id
        """, "completed", check)


def expire_pending(services, tenant, now: datetime, check=None) -> dict:
    """Delete from Airtable and archive (``'expired'``) the ``pending`` rows of ``tenant`` pushed
    (or, never pushed, created) at or before ``now - EXPIRE_PENDING_AFTER_DAYS``.

    Returns the shape of :func:`delete_completed`. Raises as :func:`delete_completed`;
    ``check`` as in :func:`mark_unfollow_due`.
    """
    cutoff = now - timedelta(days=services.settings.expire_pending_after_days)
    return _delete_and_archive(services, tenant, now, cutoff, """
        SELECT d.assignment_id, d.va_table_number, d.airtable_record_id, d.airtable_base_id
          FROM daily_assignments d JOIN campaigns c ON c.campaign_id = d.campaign_id AND c.tenant_id = d.tenant_id
        WHERE d.tenant_id = %s AND d.status = 'pending' AND d.archived_at IS NULL
          AND coalesce(d.pushed_at, d.created_at) <= %s
          AND (d.airtable_record_id IS NOT NULL OR c.status <> 'partial')
        ORDER BY d.va_table_number, d.assignment_id
        """, "expired", check)


def _job(services, job: dict, report, rule) -> dict:
    tenant = job_tenant(services, job)
    now = utc_now(services, tenant)
    result = run_airtable_call(lambda: rule(services, tenant, now, getattr(report, "check", None)))
    result["now"] = now.isoformat()
    if result["errors"] or result["failed"]:
        result["_status"] = "completed_with_errors"
    return result


def mark_unfollow_job(services, job: dict, report) -> dict:
    """Job ``mark_unfollow``: :func:`mark_unfollow_due` at ``utc_now``; result adds ``"now"``;
    ``completed_with_errors`` when a table or record failed."""
    return _job(services, job, report, mark_unfollow_due)


def delete_completed_job(services, job: dict, report) -> dict:
    """Job ``delete_completed``: :func:`delete_completed` at ``utc_now`` (result as
    :func:`mark_unfollow_job`)."""
    return _job(services, job, report, delete_completed)


def expire_pending_job(services, job: dict, report) -> dict:
    """Job ``expire_pending``: :func:`expire_pending` at ``utc_now`` (result as
    :func:`mark_unfollow_job`)."""
    return _job(services, job, report, expire_pending)
