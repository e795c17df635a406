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

Several bases: each VA table lives in one of the tenant's bases (``placement.table_bases``);
each base is pushed by its own thread through its own 5 requests/s budget, so two bases push
twice as fast. A record's base is stored with its record id.

Capacity (README "Sizing Airtable"): before sending, each base gets at most its usable record
limit (plan limit × (1 − ``AIRTABLE_CAPACITY_MARGIN``)) minus the records the service has live
in it, and the workspace's monthly API calls left cap the requests. Rows beyond that are not
sent: tables are filled in order, the rows left wait in the database (no record id), and the
campaign becomes ``partial`` with a ``push_error`` naming the base and the limit. A 422 by
which Airtable itself refuses new records (records the service does not know filled the base)
stops that base the same way. :func:`push_waiting_then` (run-daily) pushes the waiting
campaigns, oldest first, before the day's campaign, so the next day continues where this one
stopped once the lifecycle has freed room.

Campaign status: ``pushing`` while running, then ``pushed`` (``pushed_at`` set, ``push_error``
cleared), ``partial`` (what fitted was pushed, the rest waits), or ``failed`` with
``push_error`` (Airtable refused the table, rate limit not recoverable, or some records were
rejected). A push stopped by its job's cancel goes back to ``distributed`` with ``push_error``
"push cancelled by request after N records": pushing again (or run-daily for that date) sends
the rest.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import date
from uuid import UUID

import requests

from server.utils.airtable.gateway import (AirtableNotConfigured, RequestStats, call_budget, error_message, error_type,
                                           open_base, status_code)
from server.utils.airtable.jobs import AirtableJobError, chunked, job_tenant, run_airtable_call
from server.utils.airtable.occupancy import live_records_per_base
from server.utils.airtable.placement import table_bases
from server.utils.airtable.plans import RECORDS_PER_WRITE, tenant_limits
from server.utils.airtable.schema import ensure_tables, va_table_name
from server.utils.clock import utc_now
from server.utils.jobs.runner import JobCancelled, JobFailed, checker, checkpoint

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 10
LOCK_WAIT_SECONDS = 3 * LOCK_TTL_SECONDS
REPORT_EVERY_REQUESTS = 5
PUSHABLE_STATUSES = ("distributed", "pushing", "pushed", "partial", "failed")
# 422 types of a create refused because the base holds its plan's records (Airtable does not
# publish the type; these are matched, and so is a message naming the record limit).
RECORD_LIMIT_TYPES = {"RECORD_LIMIT_EXCEEDED", "ROW_LIMIT_EXCEEDED", "BASE_RECORD_LIMIT_EXCEEDED"}


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


def _store_record_ids(services, tenant_id: UUID, pairs: list[tuple[int, str]], pushed_at, base_id: str) -> None:
    """Store ``(assignment_id, record_id)`` pairs and the base they live in, one set-based UPDATE."""
    if not pairs:
        return
    with services.db.transaction() as conn:
        conn.execute(
            """
            UPDATE daily_assignments d SET airtable_record_id = v.record_id, airtable_base_id = %s, pushed_at = %s,
                   updated_at = now()
            FROM unnest(%s::bigint[], %s::text[]) AS v(assignment_id, record_id)
            WHERE d.tenant_id = %s AND d.assignment_id = v.assignment_id
              AND d.airtable_record_id IS DISTINCT FROM v.record_id
            """, (base_id, pushed_at, [a for a, _ in pairs], [r for _, r in pairs], tenant_id))


def _record_limit_refusal(exc: BaseException) -> bool:
    """True for a 422 by which Airtable refuses records because the base is at its limit."""
    if status_code(exc) != 422:
        return False
    return error_type(exc) in RECORD_LIMIT_TYPES or "record limit" in error_message(exc).lower()


class _TablePush:
    """Push the unsent rows of one VA table; counts what happened."""

    def __init__(self, services, tenant, campaign: dict, base, counts: dict, progress, limit: int, check=None):
        self.services, self.tenant, self.campaign = services, tenant, campaign
        self.number, self.total, self.stored_before = counts["n"], counts["total"], counts["stored"]
        self.name = va_table_name(self.number)
        self.base_id = base.id
        self.table = base.table(self.name)
        self.progress = progress
        self.limit = limit
        self.check = check or (lambda: None)     # raises JobCancelled: checked before each batch
        self.pushed = self.created = self.recovered = 0
        self.rejected: list[dict] = []
        self.refused: str | None = None     # Airtable's record-limit refusal, if it came

    def run(self) -> None:
        with self.services.db.transaction() as conn:
            rows = conn.execute(
                """
                SELECT assignment_id, profile_id, username, full_name, position FROM daily_assignments
                WHERE tenant_id = %s AND campaign_id = %s AND va_table_number = %s
                  AND archived_at IS NULL AND airtable_record_id IS NULL
                ORDER BY position LIMIT %s
                """, (self.tenant.tenant_id, self.campaign["campaign_id"], self.number, self.limit)).fetchall()
        for chunk in chunked(rows):
            self.check()
            try:
                self._send(chunk)
            except requests.HTTPError as exc:
                if not _record_limit_refusal(exc):
                    raise
                self.refused = error_message(exc)
                return
            self.progress(self, len(chunk))

    def _send(self, rows: list[dict]) -> None:
        records = [{"fields": record_fields(r, self.campaign["campaign_date"])} for r in rows]
        try:
            response = self.table.batch_upsert(records, key_fields=["id"])
        except requests.HTTPError as exc:
            if status_code(exc) != 422 or error_type(exc) in ("UNKNOWN_FIELD_NAME",) or _record_limit_refusal(exc):
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
        _store_record_ids(self.services, self.tenant.tenant_id, pairs, utc_now(self.services, self.tenant), self.base_id)
        self.pushed += len(pairs)
        self.created += len(response.get("createdRecords", []))
        self.recovered += len(response.get("updatedRecords", []))

    def summary(self) -> dict:
        return {"total": self.total, "already_pushed": self.stored_before, "pushed": self.pushed,
                "created": self.created, "recovered": self.recovered, "rejected": len(self.rejected)}


def push_campaign(services, tenant, campaign_id, report=None) -> dict:
    """Push campaign ``campaign_id`` of ``tenant`` to its VA tables; safe to rerun any time.

    ``report(progress_0_99, partial_result)`` (optional) gets per-table progress; when it is a
    job's report (see ``server.utils.jobs.runner.checkpoint``) a cancel of the job stops the push
    before its next 10-record batch: ``JobCancelled`` carries this result so far (``"status":
    "cancelled"``, what was pushed) and the campaign goes back to ``distributed`` with a
    ``push_error`` saying so (rerun the push, or run-daily for that date, to send the rest).
    Returns ``{"campaign_id", "campaign_date", "status": "pushed"|"partial"|"failed",
    "error_message"? (why partial or failed), "records_total", "records_pushed" (this run),
    "already_pushed", "waiting" (rows left for a later push: no room), "created", "recovered"
    (existing records matched by ``id``: a crashed earlier run), "rejected": [{"assignment_id",
    "table", "id", "error"}] (≤ 100), "rejected_count", "tables": {name: {"total",
    "already_pushed", "pushed", "created", "recovered", "rejected", "base_id"}},
    "tables_created": [names], "bases": {base id: {"live_before", "pushed", "held": reason or
    None}}, "limits": {plans.Limits}, "airtable_requests": {RequestStats, all bases}}``.

    Raises ``PushError`` (campaign unknown for this tenant, not yet distributed, another push
    running, a VA table lacking fields/options), ``AirtableNotConfigured``,
    ``AirtableRateLimited``, ``AirtableCallsExhausted``, ``SchemaError``, ``requests`` errors for
    table-level Airtable failures; the campaign is then marked ``failed`` with the reason (except
    for the first three). Records stored before such an error stay stored.
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
    if not tenant.airtable_base_id:
        raise AirtableNotConfigured(f"tenant {tenant.name} has no Airtable base id")
    with campaign_lock(services, campaign_id):
        _set_campaign(services, tid, campaign_id, "pushing")
        try:
            return _push(services, tenant, campaign, report)
        except JobCancelled as exc:
            reason = (f"push cancelled by request after {exc.result.get('records_pushed', 0)} records; "
                      "push again to send the rest")
            _set_campaign(services, tid, campaign_id, "distributed", reason)
            raise
        except Exception as exc:
            reason = error_message(exc) if isinstance(exc, requests.RequestException) else str(exc)
            _set_campaign(services, tid, campaign_id, "failed", reason[:1000] or type(exc).__name__)
            raise


def _plan_rows(services, tenant, counts: list[dict], placement: dict[int, str], budget) -> dict:
    """How many unsent rows of each table may go out today: ``{"rows": {n: k}, "held":
    {base id: reason}, "live": {base id: n}, "limits": Limits}``. Per base, the rows fit into
    its usable record limit minus its live records (tables filled in order); then the calls
    left in the workspace's month (one schema read plus one create per table reserved per base,
    one request per 10 records) cap what is left."""
    limits = tenant_limits(tenant, services.settings.airtable_capacity_margin)
    with services.db.transaction() as conn:
        live = live_records_per_base(conn, tenant)
    todo_by_base: dict[str, list[dict]] = {}
    for c in counts:
        if c["stored"] < c["total"]:
            todo_by_base.setdefault(placement[c["n"]], []).append(c)
    rows: dict[int, int] = {}
    held: dict[str, str] = {}
    for base_id, tables in todo_by_base.items():
        room = max(0, limits.usable_records_per_base - live.get(base_id, 0))
        wanted = sum(c["total"] - c["stored"] for c in tables)
        for c in tables:
            rows[c["n"]] = min(c["total"] - c["stored"], room)
            room -= rows[c["n"]]
        granted = sum(rows[c["n"]] for c in tables)
        if granted < wanted:
            held[base_id] = (
                f"base {base_id} has no room for {wanted - granted:,} of today's {wanted:,} records: "
                f"{live.get(base_id, 0):,} live + {wanted:,} new would pass {limits.usable_records_per_base:,} "
                f"({100 * (1 - limits.margin):.0f}% of {limits.records_label} records per base); "
                f"pushed {granted:,}, {wanted - granted:,} wait for room")
    remaining = budget.remaining()
    if remaining is not None:
        calls = remaining - sum(1 + len(tables) for tables in todo_by_base.values())
        for base_id, tables in todo_by_base.items():
            cut = 0
            for c in tables:
                fit = max(0, calls) * RECORDS_PER_WRITE
                take = min(rows[c["n"]], fit)
                cut += rows[c["n"]] - take
                calls -= -(-take // RECORDS_PER_WRITE)
                rows[c["n"]] = take
            if cut:
                reason = (f"the workspace has {remaining:,} of its {budget.cap:,} API calls left for {budget.month} "
                          f"({'explicit limit' if limits.source == 'explicit' else limits.plan + ' plan'}): "
                          f"{cut:,} records for base {base_id} wait until the calls allow")
                held[base_id] = f"{held[base_id]}; {reason}" if base_id in held else reason
    return {"rows": rows, "held": held, "live": live, "limits": limits}


def _push(services, tenant, campaign: dict, report) -> dict:
    tid, campaign_id = tenant.tenant_id, campaign["campaign_id"]
    with services.db.transaction() as conn:
        counts = _table_counts(conn, tid, campaign_id)
    total = sum(c["total"] for c in counts)
    stored = sum(c["stored"] for c in counts)
    placement = table_bases(max([tenant.num_va_tables, *[c["n"] for c in counts]]), tenant.base_ids)
    budget = call_budget(services, tenant)
    plan = _plan_rows(services, tenant, counts, placement, budget)
    tables: dict = {va_table_name(c["n"]): {"total": c["total"], "already_pushed": c["stored"], "pushed": 0,
                                            "created": 0, "recovered": 0, "rejected": 0,
                                            "base_id": placement[c["n"]]} for c in counts}
    by_base: dict[str, list[dict]] = {}
    for c in counts:
        if plan["rows"].get(c["n"]):
            by_base.setdefault(placement[c["n"]], []).append(c)
    done = {"rows": stored, "requests": 0}
    lock = threading.Lock()
    rejected: list[dict] = []
    tables_created: list[str] = []
    held = dict(plan["held"])
    stats: list[RequestStats] = []
    errors: list[BaseException] = []

    def progress(pusher: "_TablePush", n_rows: int) -> None:
        with lock:
            done["rows"] += n_rows
            done["requests"] += 1
            if done["requests"] % REPORT_EVERY_REQUESTS == 0:
                report(_pct(done["rows"], total), {"tables": {**tables, pusher.name: pusher.summary()},
                                                   "records_done": done["rows"], "records_total": total})

    def push_base(base_id: str, base_tables: list[dict]) -> None:
        base_stats = RequestStats()
        with lock:
            stats.append(base_stats)
        try:
            base = open_base(services, tenant, base_stats, base_id)
            schema = ensure_tables(base, [c["n"] for c in base_tables])
            with lock:
                tables_created.extend(schema["created"])
            if schema["incomplete"]:
                raise PushError("VA tables lack fields or status options (fix them in Airtable, or delete them and "
                                f"run base setup): {schema['incomplete']}")
            for c in base_tables:
                pusher = _TablePush(services, tenant, campaign, base, c, progress, plan["rows"][c["n"]],
                                    lambda: checkpoint(report))
                try:
                    pusher.run()
                finally:
                    with lock:
                        tables[pusher.name] = {**pusher.summary(), "base_id": base_id}
                        rejected.extend(pusher.rejected)
                if pusher.refused:
                    with lock:
                        held[base_id] = (f"Airtable refused new records in base {base_id}: its record limit is "
                                         f"reached ({pusher.refused}); the rest of its tables wait for room")
                    break
        except BaseException as exc:  # re-raised after every base has finished
            with lock:
                errors.append(exc)

    if len(by_base) == 1:                  # one base: in this thread, as always
        push_base(*next(iter(by_base.items())))
    else:                                  # one thread per base: each has its own 5 requests/s
        threads = [threading.Thread(target=push_base, args=(b, t), name=f"push-{b}") for b, t in by_base.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    cancels = [e for e in errors if isinstance(e, JobCancelled)]
    if cancels:                            # what was pushed before the cancel, then stop
        raise JobCancelled({"campaign_id": str(campaign_id), "campaign_date": campaign["campaign_date"].isoformat(),
                            "status": "cancelled", "records_total": total, "already_pushed": stored,
                            "records_pushed": sum(t["pushed"] for t in tables.values()),
                            "created": sum(t["created"] for t in tables.values()),
                            "recovered": sum(t["recovered"] for t in tables.values()),
                            "rejected": rejected[:100], "rejected_count": len(rejected), "tables": tables,
                            "tables_created": sorted(tables_created)})
    if errors:
        raise errors[0]
    try:
        report(_pct(done["rows"], total), {"tables": tables, "records_done": done["rows"], "records_total": total})
    except JobCancelled:                   # every record is out: finish, the runner keeps the cancel
        pass

    requests_total = RequestStats()
    for one in stats:
        for name, value in one.as_dict().items():
            setattr(requests_total, name, getattr(requests_total, name) + value)
    pushed = sum(t["pushed"] for t in tables.values())
    result = {
        "campaign_id": str(campaign_id),
        "campaign_date": campaign["campaign_date"].isoformat(),
        "records_total": total,
        "records_pushed": pushed,
        "already_pushed": stored,
        "waiting": total - stored - pushed - len(rejected),
        "created": sum(t["created"] for t in tables.values()),
        "recovered": sum(t["recovered"] for t in tables.values()),
        "rejected": rejected[:100],
        "rejected_count": len(rejected),
        "tables": tables,
        "tables_created": sorted(tables_created),
        "bases": {b: {"live_before": plan["live"].get(b, 0),
                      "pushed": sum(t["pushed"] for t in tables.values() if t["base_id"] == b),
                      "held": held.get(b)} for b in tenant.base_ids},
        "limits": plan["limits"].as_dict(),
        "airtable_requests": requests_total.as_dict(),
    }
    if rejected:
        reason = f"{len(rejected)} records rejected by Airtable (first: {rejected[0]['error']})"
        _set_campaign(services, tid, campaign_id, "failed", reason[:1000])
        result["status"] = "failed"
        result["error_message"] = reason
    elif held and result["waiting"] > 0:
        reason = "; ".join(held.values())
        _set_campaign(services, tid, campaign_id, "partial", reason[:1000])
        result["status"] = "partial"
        result["error_message"] = reason
    else:
        _set_campaign(services, tid, campaign_id, "pushed", None, utc_now(services, tenant))
        result["status"] = "pushed"
    log.info("campaign %s pushed: %d new, %d already, %d waiting, %d rejected", campaign_id, pushed, stored,
             result["waiting"], len(rejected))
    return result


def _pct(done: int, total: int) -> int:
    return int(99 * done / total) if total else 99


def waiting_campaigns(services, tenant, exclude: UUID | None = None) -> list[UUID]:
    """Ids of the tenant's ``partial`` campaigns (rows waiting for room), oldest date first."""
    with services.db.transaction() as conn:
        rows = conn.execute(
            "SELECT campaign_id FROM campaigns WHERE tenant_id = %s AND status = 'partial'"
            " AND campaign_id IS DISTINCT FROM %s ORDER BY campaign_date, created_at",
            (tenant.tenant_id, exclude)).fetchall()
    return [r["campaign_id"] for r in rows]


def push_waiting_then(services, tenant, campaign_id: UUID | None, report=None) -> dict:
    """Push the tenant's waiting (``partial``) campaigns, oldest first, then ``campaign_id``
    (None: only the waiting ones). Returns :func:`push_campaign`'s result for ``campaign_id``
    (or ``{"skipped": reason, "status"}`` without one) plus ``"earlier_campaigns": [{"campaign_id",
    "campaign_date", "status", "records_pushed", "waiting", "error_message"?}]``; ``status`` is
    ``partial`` / ``failed`` with the earlier campaign's ``error_message`` when one of them
    still waits or failed. Raises as :func:`push_campaign`; a job's cancel (``report`` of a job)
    is checked during the earlier campaigns' pushes too (``JobCancelled`` then carries
    ``earlier_campaigns`` so far)."""
    earlier = []
    for waiting_id in waiting_campaigns(services, tenant, campaign_id):
        try:
            one = push_campaign(services, tenant, waiting_id, checker(report))
        except JobCancelled as exc:
            raise JobCancelled({"earlier_campaigns": [*earlier, exc.result], "status": "cancelled",
                                "records_pushed": 0}) from None
        earlier.append({k: one[k] for k in ("campaign_id", "campaign_date", "status", "records_pushed", "waiting",
                                            "error_message") if k in one})
    if campaign_id is None:
        result: dict = {"skipped": "no campaign today: the pool had no unused profiles", "status": "pushed"}
    else:
        try:
            result = push_campaign(services, tenant, campaign_id, report)
        except JobCancelled as exc:
            exc.result["earlier_campaigns"] = earlier
            raise
    result["earlier_campaigns"] = earlier
    stuck = [e for e in earlier if e["status"] != "pushed"]
    if stuck and result["status"] == "pushed":
        result["status"] = stuck[0]["status"]
        result["error_message"] = f"campaign {stuck[0]['campaign_date']}: {stuck[0].get('error_message')}"
    return result


def push_campaign_job(services, job: dict, report) -> dict:
    """Job ``airtable_push`` (params ``{"campaign_id": "<uuid>"}``): :func:`push_campaign` for
    the job's tenant. Fails the job on ``PushError`` / Airtable errors (campaign ``failed``);
    ``completed_with_errors`` when some records were rejected or wait for room (the reason is
    the job's ``error_message``)."""
    tenant = job_tenant(services, job)
    campaign_id = (job.get("params") or {}).get("campaign_id")
    try:
        campaign_id = UUID(str(campaign_id))
    except ValueError:
        raise JobFailed(f"invalid campaign_id {campaign_id!r}") from None
    result = run_airtable_call(lambda: push_campaign(services, tenant, campaign_id, report))
    if result["rejected_count"] or result["status"] == "partial":
        result["_status"] = "completed_with_errors"
    return result
