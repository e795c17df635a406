"""Pushing a distributed campaign into the VAs' Airtable tables (DESIGN.md §6 "Push").

For each VA table of the campaign, the assignments without a stored ``airtable_record_id`` are
sent 10 per request as an upsert keyed on the ``id`` field (the platform id), and the record ids
Airtable returns are stored right after each request. Hence:
- a rerun skips what is stored and sends only the rest;
- a crash between Airtable's answer and the DB commit is harmless: the rerun's upsert matches
  the record by ``id`` and updates it instead of creating a second one (reported as
  ``recovered``). A profile is handed out once per tenant, so ``id`` is unique in a table.
- a record the upsert re-sends gets ``progress_status = pending``; such rows have never been
  synced (no record id stored), so that is also what the DB says.

Tables: before writing, the push reads the base schema once and creates the VA tables the
campaign needs that are missing (the same tables as base setup). An existing table lacking a
field or a status option stops the push with a clear error (it is never altered).

One push per campaign at a time: a Redis lock with a short TTL, kept alive by a heartbeat thread
while the push runs (also while it waits out a 429 penalty), so a killed worker's lock frees
itself within ``LOCK_TTL_SECONDS``; a second push waits for it.

Campaign status: ``pushing`` while running, then ``pushed`` (``pushed_at`` set, ``push_error``
cleared), or ``failed`` with ``push_error`` (Airtable refused the table, rate limit not
recoverable, or some records were rejected).
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import date
from uuid import UUID

import requests

from server.utils.airtable.gateway import error_message, error_type, open_base, status_code
from server.utils.airtable.jobs import AirtableJobError, chunked, job_tenant, run_airtable_call
from server.utils.airtable.schema import ensure_tables, va_table_name
from server.utils.clock import utc_now
from server.utils.jobs.runner import JobFailed

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 10
LOCK_WAIT_SECONDS = 3 * LOCK_TTL_SECONDS
REPORT_EVERY_REQUESTS = 5
PUSHABLE_STATUSES = ("distributed", "pushing", "pushed", "failed")


class PushError(AirtableJobError):
    """The campaign cannot be pushed (unknown, not distributed, tables unusable, locked)."""


def profile_url(username: str) -> str:
    """``https://www.instagram.com/<username>/``."""
    return f"https://www.instagram.com/{username}/"


def _one_line(text: str | None) -> str:
    """Single-line text for Airtable ``singleLineText`` cells (no CR/LF, trimmed)."""
    return " ".join((text or "").split())


def record_fields(row: dict, campaign_date: date) -> dict:
    """Airtable ``fields`` of one assignment row (keys ``profile_id``, ``username``,
    ``full_name``, ``position``) for a campaign on ``campaign_date``."""
    return {
        "id": row["profile_id"],
        "username": row["username"],
        "full_name": _one_line(row["full_name"]),
        "profile_url": profile_url(row["username"]),
        "position": row["position"],
        "campaign_date": campaign_date.isoformat(),
        "progress_status": "pending",
    }


@contextmanager
def campaign_lock(services, campaign_id: UUID):
    """Hold the Redis lock ``airtable:push-lock:<campaign>`` for the block (waits up to
    ``LOCK_WAIT_SECONDS``; ``PushError`` if another push still holds it)."""
    lock = services.redis.lock(f"airtable:push-lock:{campaign_id}", timeout=LOCK_TTL_SECONDS,
                               thread_local=False)
    if not lock.acquire(blocking=True, blocking_timeout=LOCK_WAIT_SECONDS):
        raise PushError(f"another push of campaign {campaign_id} is running")
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(LOCK_TTL_SECONDS / 3):
            try:
                lock.reacquire()
            except Exception:  # lock lost (Redis restart): the push continues, upserts stay safe
                log.warning("push lock of campaign %s lost", campaign_id)
                return

    thread = threading.Thread(target=heartbeat, name=f"push-lock-{campaign_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            lock.release()
        except Exception:
            pass


def _load_campaign(conn, tenant_id: UUID, campaign_id: UUID) -> dict | None:
    return conn.execute(
        "SELECT campaign_id, campaign_date, status FROM campaigns WHERE tenant_id = %s AND campaign_id = %s",
        (tenant_id, campaign_id)).fetchone()


def _table_counts(conn, tenant_id: UUID, campaign_id: UUID) -> list[dict]:
    return conn.execute(
        """
        SELECT va_table_number AS n, count(*) AS total, count(airtable_record_id) AS stored
        FROM daily_assignments
        WHERE tenant_id = %s AND campaign_id = %s AND archived_at IS NULL AND va_table_number IS NOT NULL
        GROUP BY va_table_number ORDER BY va_table_number
        """, (tenant_id, campaign_id)).fetchall()


def _set_campaign(services, tenant_id: UUID, campaign_id: UUID, status: str, error: str | None = None,
                  pushed_at=None) -> None:
    with services.db.transaction() as conn:
        conn.execute(
            """
            UPDATE campaigns SET status = %s, push_error = %s, pushed_at = coalesce(%s, pushed_at),
                   updated_at = now()
            WHERE tenant_id = %s AND campaign_id = %s
            """, (status, error, pushed_at, tenant_id, campaign_id))


def _store_record_ids(services, tenant_id: UUID, pairs: list[tuple[int, str]], pushed_at) -> None:
    """Store ``(assignment_id, record_id)`` pairs in one set-based UPDATE."""
    if not pairs:
        return
    with services.db.transaction() as conn:
        conn.execute(
            """
            UPDATE daily_assignments d SET airtable_record_id = v.record_id, pushed_at = %s, updated_at = now()
            FROM unnest(%s::bigint[], %s::text[]) AS v(assignment_id, record_id)
            WHERE d.tenant_id = %s AND d.assignment_id = v.assignment_id
              AND d.airtable_record_id IS DISTINCT FROM v.record_id
            """, (pushed_at, [a for a, _ in pairs], [r for _, r in pairs], tenant_id))


class _TablePush:
    """Push the unsent rows of one VA table; counts what happened."""

    def __init__(self, services, tenant, campaign: dict, base, counts: dict, progress):
        self.services, self.tenant, self.campaign = services, tenant, campaign
        self.number, self.total, self.stored_before = counts["n"], counts["total"], counts["stored"]
        self.name = va_table_name(self.number)
        self.table = base.table(self.name)
        self.progress = progress
        self.pushed = self.created = self.recovered = 0
        self.rejected: list[dict] = []

    def run(self) -> None:
        with self.services.db.transaction() as conn:
            rows = conn.execute(
                """
                SELECT assignment_id, profile_id, username, full_name, position FROM daily_assignments
                WHERE tenant_id = %s AND campaign_id = %s AND va_table_number = %s
                  AND archived_at IS NULL AND airtable_record_id IS NULL
                ORDER BY position
                """, (self.tenant.tenant_id, self.campaign["campaign_id"], self.number)).fetchall()
        for chunk in chunked(rows):
            self._send(chunk)
            self.progress(self, len(chunk))

    def _send(self, rows: list[dict]) -> None:
        records = [{"fields": record_fields(r, self.campaign["campaign_date"])} for r in rows]
        try:
            response = self.table.batch_upsert(records, key_fields=["id"])
        except requests.HTTPError as exc:
            if status_code(exc) != 422 or error_type(exc) in ("UNKNOWN_FIELD_NAME",):
                raise
            if len(rows) == 1:          # B19: surface a rejected record instead of aborting the push
                self.rejected.append({"assignment_id": rows[0]["assignment_id"], "table": self.name,
                                      "id": rows[0]["profile_id"], "error": error_message(exc)})
                return
            for row in rows:
                self._send([row])
            return
        by_platform_id = {rec["fields"].get("id"): rec["id"] for rec in response["records"]}
        pairs = [(r["assignment_id"], by_platform_id[r["profile_id"]]) for r in rows
                 if r["profile_id"] in by_platform_id]
        for r in rows:
            if r["profile_id"] not in by_platform_id:
                self.rejected.append({"assignment_id": r["assignment_id"], "table": self.name,
                                      "id": r["profile_id"], "error": "no record returned for this id"})
        _store_record_ids(self.services, self.tenant.tenant_id, pairs, utc_now(self.services))
        self.pushed += len(pairs)
        self.created += len(response.get("createdRecords", []))
        self.recovered += len(response.get("updatedRecords", []))

    def summary(self) -> dict:
        return {"total": self.total, "already_pushed": self.stored_before, "pushed": self.pushed,
                "created": self.created, "recovered": self.recovered, "rejected": len(self.rejected)}


def push_campaign(services, tenant, campaign_id, report=None) -> dict:
    """Push campaign ``campaign_id`` of ``tenant`` to its VA tables; safe to rerun any time.

    ``report(progress_0_99, partial_result)`` (optional) gets per-table progress.
    Returns ``{"campaign_id", "campaign_date", "status": "pushed"|"failed", "records_total",
    "records_pushed" (this run), "already_pushed", "created", "recovered" (existing records
    matched by ``id``: a crashed earlier run), "rejected": [{"assignment_id", "table", "id",
    "error"}] (≤ 100), "rejected_count", "tables": {name: {"total", "already_pushed", "pushed",
    "created", "recovered", "rejected"}}, "tables_created": [names], "airtable_requests":
    {RequestStats}}``.

    Raises ``PushError`` (campaign unknown for this tenant, not yet distributed, another push
    running, a VA table lacking fields/options), ``AirtableNotConfigured``,
    ``AirtableRateLimited``, ``SchemaError``, ``requests`` errors for table-level Airtable
    failures; the campaign is then marked ``failed`` with the reason (except for the first three).
    """
    campaign_id = UUID(str(campaign_id))
    report = report or (lambda progress, partial=None: None)
    tid = tenant.tenant_id
    with services.db.transaction() as conn:
        campaign = _load_campaign(conn, tid, campaign_id)
    if campaign is None:
        raise PushError(f"campaign {campaign_id} not found")
    if campaign["status"] not in PUSHABLE_STATUSES:
        raise PushError(f"campaign {campaign_id} is {campaign['status']}; distribute it before pushing")
    base = open_base(services, tenant)
    with campaign_lock(services, campaign_id):
        _set_campaign(services, tid, campaign_id, "pushing")
        try:
            return _push(services, tenant, campaign, base, report)
        except Exception as exc:
            reason = error_message(exc) if isinstance(exc, requests.RequestException) else str(exc)
            _set_campaign(services, tid, campaign_id, "failed", reason[:1000] or type(exc).__name__)
            raise


def _push(services, tenant, campaign: dict, base, report) -> dict:
    tid, campaign_id = tenant.tenant_id, campaign["campaign_id"]
    with services.db.transaction() as conn:
        counts = _table_counts(conn, tid, campaign_id)
    total = sum(c["total"] for c in counts)
    stored = sum(c["stored"] for c in counts)
    todo = [c for c in counts if c["stored"] < c["total"]]
    tables_created: list[str] = []
    if todo:
        schema = ensure_tables(base, [c["n"] for c in todo])
        tables_created = schema["created"]
        if schema["incomplete"]:
            raise PushError("VA tables lack fields or status options (fix them in Airtable, or delete them and "
                            f"run base setup): {schema['incomplete']}")
    tables: dict = {va_table_name(c["n"]): {"total": c["total"], "already_pushed": c["stored"], "pushed": 0,
                                            "created": 0, "recovered": 0, "rejected": 0} for c in counts}
    done = {"rows": stored, "requests": 0}
    rejected: list[dict] = []

    def progress(pusher: "_TablePush", n_rows: int) -> None:
        done["rows"] += n_rows
        done["requests"] += 1
        if done["requests"] % REPORT_EVERY_REQUESTS == 0:
            report(_pct(done["rows"], total), {"tables": {**tables, pusher.name: pusher.summary()},
                                               "records_done": done["rows"], "records_total": total})

    for c in todo:
        pusher = _TablePush(services, tenant, campaign, base, c, progress)
        pusher.run()
        tables[pusher.name] = pusher.summary()
        rejected.extend(pusher.rejected)
        report(_pct(done["rows"], total), {"tables": tables, "records_done": done["rows"], "records_total": total})

    result = {
        "campaign_id": str(campaign_id),
        "campaign_date": campaign["campaign_date"].isoformat(),
        "records_total": total,
        "records_pushed": sum(t["pushed"] for t in tables.values()),
        "already_pushed": stored,
        "created": sum(t["created"] for t in tables.values()),
        "recovered": sum(t["recovered"] for t in tables.values()),
        "rejected": rejected[:100],
        "rejected_count": len(rejected),
        "tables": tables,
        "tables_created": tables_created,
        "airtable_requests": base.api.request_stats.as_dict(),
    }
    if rejected:
        reason = f"{len(rejected)} records rejected by Airtable (first: {rejected[0]['error']})"
        _set_campaign(services, tid, campaign_id, "failed", reason[:1000])
        result["status"] = "failed"
        result["error_message"] = reason
    else:
        _set_campaign(services, tid, campaign_id, "pushed", None, utc_now(services))
        result["status"] = "pushed"
    log.info("campaign %s pushed: %d new, %d already, %d rejected", campaign_id, result["records_pushed"],
             stored, len(rejected))
    return result


def _pct(done: int, total: int) -> int:
    return int(99 * done / total) if total else 99


def push_campaign_job(services, job: dict, report) -> dict:
    """Job ``airtable_push`` (params ``{"campaign_id": "<uuid>"}``): :func:`push_campaign` for
    the job's tenant. Fails the job on ``PushError`` / Airtable errors (campaign ``failed``);
    ``completed_with_errors`` when some records were rejected."""
    tenant = job_tenant(services, job)
    campaign_id = (job.get("params") or {}).get("campaign_id")
    try:
        campaign_id = UUID(str(campaign_id))
    except ValueError:
        raise JobFailed(f"invalid campaign_id {campaign_id!r}") from None
    result = run_airtable_call(lambda: push_campaign(services, tenant, campaign_id, report))
    if result["rejected_count"]:
        result["_status"] = "completed_with_errors"
    return result
