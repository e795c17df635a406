"""Background jobs in ``scrape_jobs``: creation, lookup, status transitions, JSON shape.

Postgres owns job state; every transition is a conditional UPDATE so a redelivered task or a
racing cancel can never move a job backwards or out of a terminal status.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")
ACTIVE = ("queued", "processing")


class IdempotencyKeyReused(Exception):
    """The ``Idempotency-Key`` was used before by this tenant with a different request."""


@dataclass(frozen=True)
class NewJob:
    """A job row and whether this call created it (False: an ``Idempotency-Key`` repeat)."""

    job: dict
    created: bool


def insert_job(conn: Connection, tenant_id: UUID, kind: str, params: dict,
               idempotency_key: str | None = None, fingerprint: str | None = None,
               *, children: tuple[str, list] | None = None, **columns) -> NewJob:
    """Insert a ``queued`` job; with an idempotency key already used, return the existing job
    instead. ``fingerprint`` identifies a client's request (endpoint and body): a client key is
    one per tenant across every endpoint, and reusing it with another fingerprint raises
    ``IdempotencyKeyReused``. Without a fingerprint (keys the service makes itself, e.g.
    ``auto-ingest-<job id>``) the key is unique per tenant and kind. ``columns`` sets counter
    columns (e.g. ``total_batches``). ``children`` is ``(sql, parameters)`` of an ``INSERT …
    SELECT … FROM job`` run by the same statement, where ``job`` is the new row (none when the
    key was used before), so a job and its rows cost one round trip."""
    if idempotency_key and fingerprint:
        existing = job_for_idempotency_key(conn, tenant_id, kind, idempotency_key, fingerprint)
        if existing:
            return NewJob(existing, False)
    names = ["tenant_id", "kind", "params", "idempotency_key", "request_fingerprint", *columns]
    values = [tenant_id, kind, Jsonb(params), idempotency_key, fingerprint, *columns.values()]
    placeholders = ", ".join(["%s"] * len(values))
    statement = (f"INSERT INTO scrape_jobs ({', '.join(names)}) VALUES ({placeholders})"
                 " ON CONFLICT (tenant_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL"
                 " DO NOTHING RETURNING *")
    if children is not None:
        statement = f"WITH job AS ({statement}), children AS ({children[0]}) SELECT * FROM job"
        values += children[1]
    row = conn.execute(statement, values).fetchone()
    if row:
        return NewJob(row, True)
    return NewJob(job_for_idempotency_key(conn, tenant_id, kind, idempotency_key, fingerprint), False)


def job_for_idempotency_key(conn: Connection, tenant_id: UUID, kind: str, key: str,
                            fingerprint: str | None) -> dict | None:
    """The job the tenant created with ``key``, or None.

    With a ``fingerprint`` (a client's request) the key is looked up across every kind, under a
    transaction-scoped advisory lock on (tenant, key) so two concurrent requests with one key
    cannot both create a job; it raises ``IdempotencyKeyReused`` when the job was created by a
    request with another fingerprint or on another endpoint (another kind). Without one, only
    the tenant's ``kind`` jobs are searched."""
    if not fingerprint:
        return conn.execute(
            "SELECT * FROM scrape_jobs WHERE tenant_id = %s AND kind = %s AND idempotency_key = %s",
            (tenant_id, kind, key)).fetchone()
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('idempotency:' || %s::text || ':' || %s))",
                 (tenant_id, key))
    job = conn.execute(
        "SELECT * FROM scrape_jobs WHERE tenant_id = %s AND idempotency_key = %s"
        " ORDER BY (kind = %s) DESC, created_at LIMIT 1", (tenant_id, key, kind)).fetchone()
    if job and (job["kind"] != kind or job["request_fingerprint"] not in (None, fingerprint)):
        raise IdempotencyKeyReused(key)
    return job


def get_job(conn: Connection, tenant_id: UUID, job_id: UUID, for_update: bool = False) -> dict | None:
    """The tenant's job ``job_id`` or None (another tenant's job is None too)."""
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(f"SELECT * FROM scrape_jobs WHERE job_id = %s AND tenant_id = %s{lock}",
                        (job_id, tenant_id)).fetchone()


def load_job(conn: Connection, job_id: UUID) -> dict | None:
    """The job ``job_id`` whatever its tenant (workers act on ids they were given)."""
    return conn.execute("SELECT * FROM scrape_jobs WHERE job_id = %s", (job_id,)).fetchone()


def mark_processing(conn: Connection, job_id: UUID) -> bool:
    """``queued`` → ``processing``; True if this call moved it (or it already was processing)."""
    cur = conn.execute(
        "UPDATE scrape_jobs SET status = 'processing', started_at = coalesce(started_at, now()),"
        " updated_at = now(), heartbeat_at = now() WHERE job_id = %s AND status IN ('queued', 'processing')",
        (job_id,))
    return cur.rowcount == 1


def set_progress(conn: Connection, job_id: UUID, progress: int, result: dict | None = None) -> bool:
    """Record progress (0–99 while running) and optionally merge keys into ``result``; False
    (nothing written) when the job is no longer ``processing`` (e.g. cancelled)."""
    cur = conn.execute(
        "UPDATE scrape_jobs SET progress = LEAST(%s, 99), result = result || %s, updated_at = now(),"
        " heartbeat_at = now() WHERE job_id = %s AND status = 'processing'",
        (max(0, progress), Jsonb(result or {}), job_id))
    return cur.rowcount == 1


def is_processing(conn: Connection, job_id: UUID) -> bool:
    """True while the job is ``processing`` (a worker's cancel checkpoint)."""
    row = conn.execute("SELECT status FROM scrape_jobs WHERE job_id = %s", (job_id,)).fetchone()
    return row is not None and row["status"] == "processing"


def record_late_result(conn: Connection, job_id: UUID, result: dict) -> str | None:
    """Merge ``result`` into a job that already ended (a cancel won the race with the worker),
    leaving its status alone, so the row tells what the worker really did. Returns the job's
    terminal status, or None when the job is still active (nothing written) or unknown."""
    row = conn.execute(
        "UPDATE scrape_jobs SET result = result || %s, updated_at = now()"
        " WHERE job_id = %s AND status = ANY(%s) RETURNING status",
        (Jsonb(result), job_id, list(TERMINAL))).fetchone()
    return row["status"] if row else None


def finish_job(conn: Connection, job_id: UUID, status: str, result: dict | None = None,
               error_message: str | None = None) -> bool:
    """Move an active job to the terminal ``status``; False if it was already terminal."""
    assert status in TERMINAL
    cur = conn.execute(
        "UPDATE scrape_jobs SET status = %s, progress = CASE WHEN %s = 'failed' THEN progress ELSE 100 END,"
        " result = result || %s, error_message = coalesce(%s, error_message), completed_at = now(),"
        " updated_at = now() WHERE job_id = %s AND status IN ('queued', 'processing')",
        (status, status, Jsonb(result or {}), error_message, job_id))
    return cur.rowcount == 1


def request_cancel(conn: Connection, tenant_id: UUID, job_id: UUID) -> dict | None:
    """Cancel an active job and its queued chunks; returns the cancelled job row, or None when
    the job is unknown or was already terminal (e.g. a concurrent cancel got there first)."""
    job = get_job(conn, tenant_id, job_id, for_update=True)
    if job is None or job["status"] in TERMINAL:
        return None
    conn.execute(
        "UPDATE scrape_jobs SET status = 'cancelled', completed_at = now(), updated_at = now(),"
        " error_message = 'cancelled by request' WHERE job_id = %s", (job_id,))
    conn.execute(
        "UPDATE scrape_job_chunks SET status = 'cancelled', updated_at = now()"
        " WHERE job_id = %s AND status = 'queued'", (job_id,))
    return get_job(conn, tenant_id, job_id)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def job_to_json(job: dict) -> dict:
    """Public JSON of a job row (DESIGN §4 job-status fields)."""
    cost = job["cost_usd"]
    return {
        "job_id": str(job["job_id"]),
        "kind": job["kind"],
        "status": job["status"],
        "progress": job["progress"],
        "profiles_scraped": job["profiles_scraped"],
        "items_read": job["items_read"],
        "total_batches": job["total_batches"],
        "current_batch": job["current_batch"],
        "failed_batches": job["chunks_failed"],
        "accounts_total": job["accounts_total"],
        "max_profiles": job["max_profiles"],
        "cost_usd": float(cost) if isinstance(cost, Decimal) else cost,
        "error_message": job["error_message"],
        "params": _public_params(job["params"]),
        "result": job["result"],
        "created_at": _iso(job["created_at"]),
        "started_at": _iso(job["started_at"]),
        "completed_at": _iso(job["completed_at"]),
        "updated_at": _iso(job["updated_at"]),
    }


def _public_params(params: dict) -> dict:
    """Job params without bulky inputs (accounts live in chunks, profiles in their tables)."""
    return {k: v for k, v in params.items() if k not in ("profiles",)}

