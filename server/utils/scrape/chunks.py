"""Chunk state in ``scrape_job_chunks``: claim with a lease, fenced updates, finishing.

A worker owns a chunk while it holds an unexpired lease; every write it makes later is fenced by
the random ``lease_token`` it got at claim time, so a worker that lost its lease (it was killed,
paused or too slow) can never overwrite the work of the worker that took over.
Finishing a chunk and counting it on the job happen in one transaction that first locks the job
row, so exactly one finisher sees the last chunk and completes the job.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from psycopg import Connection

from server.utils.jobs.table import finish_job
from server.utils.outreach.ingest import create_auto_ingest_job
from server.utils.scrape.sources import finish_chunk_sources

CHUNK_TERMINAL = ("done", "failed", "skipped", "cancelled")


class LeaseLost(Exception):
    """Another worker holds the chunk now; stop without writing anything more."""


@dataclass(frozen=True)
class Claim:
    """A claimed chunk: its row and the fencing token for later writes."""

    chunk: dict
    token: UUID


def claim_chunk(conn: Connection, job_id: UUID, chunk_index: int, lease_seconds: int) -> Claim | None:
    """Claim a queued chunk, or a running one whose lease expired; None if not claimable."""
    token = uuid4()
    row = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET status = 'running', attempts = attempts + 1, lease_token = %s,
               lease_until = now() + make_interval(secs => %s),
               started_at = coalesce(started_at, now()), updated_at = now()
         WHERE job_id = %s AND chunk_index = %s
           AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
        RETURNING *
        """,
        (token, lease_seconds, job_id, chunk_index)).fetchone()
    return Claim(row, token) if row else None


def load_chunk(conn: Connection, job_id: UUID, chunk_index: int) -> dict | None:
    """The chunk row with ``lease_seconds_left`` (float, may be negative), or None."""
    return conn.execute(
        "SELECT *, extract(epoch FROM lease_until - now())::float AS lease_seconds_left"
        " FROM scrape_job_chunks WHERE job_id = %s AND chunk_index = %s",
        (job_id, chunk_index)).fetchone()


def fenced_update(conn: Connection, claim: Claim, lease_seconds: int, **columns) -> None:
    """Set ``columns`` on the claimed chunk and renew its lease; raises ``LeaseLost``."""
    sets = "".join(f", {name} = %s" for name in columns)
    cur = conn.execute(
        f"UPDATE scrape_job_chunks SET lease_until = now() + make_interval(secs => %s),"
        f" updated_at = now(){sets} WHERE job_id = %s AND chunk_index = %s AND lease_token = %s"
        f" AND status = 'running'",
        (lease_seconds, *columns.values(), claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))
    if cur.rowcount != 1:
        raise LeaseLost()


def release_chunk(conn: Connection, claim: Claim, error_message: str | None,
                  count_attempt: bool) -> None:
    """Hand the chunk back to the queue (run id and dataset offset kept, so the next claim
    resumes the same Apify run); the caller sends its retry message now. ``count_attempt=False`` undoes this claim's attempt (a planned
    re-schedule while the run is still going, not a failure)."""
    conn.execute(
        "UPDATE scrape_job_chunks SET status = 'queued', lease_until = NULL, lease_token = NULL,"
        " attempts = attempts - %s, error_message = coalesce(%s, error_message), enqueued_at = now(),"
        " updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'running'",
        (0 if count_attempt else 1, error_message, claim.chunk["job_id"], claim.chunk["chunk_index"],
         claim.token))


def finish_chunk(conn: Connection, job_id: UUID, chunk_index: int, status: str,
                 token: UUID | None, error_message: str | None = None, cost_usd: float = 0.0,
                 run_status: str | None = None) -> dict | None:
    """Make the chunk terminal and count it on the job; completes the job after its last chunk.

    ``token`` fences a running chunk (None finishes a queued one). The chunk's Apify cost is
    added to the job whatever the job's status (money spent is spent, cancelled or not).
    Returns the job's counters after this chunk, or None when the chunk was not ours to finish
    (already terminal, or the lease moved on) or the job is no longer processing. When this
    chunk completes a scrape job whose params have ``autoIngest``, the counters carry
    ``auto_ingest_job_id`` (created in this transaction; the caller enqueues it after commit).
    """
    assert status in CHUNK_TERMINAL
    job = conn.execute("SELECT status, tenant_id, params FROM scrape_jobs WHERE job_id = %s FOR UPDATE",
                       (job_id,)).fetchone()
    cur = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET status = %s, error_message = coalesce(%s, error_message), cost_usd = %s,
               apify_run_status = coalesce(%s, apify_run_status), finished_at = now(),
               lease_until = NULL, updated_at = now()
         WHERE job_id = %s AND chunk_index = %s AND status NOT IN ('done', 'failed', 'skipped', 'cancelled')
           AND lease_token IS NOT DISTINCT FROM %s
        RETURNING *
        """,
        (status, error_message, cost_usd, run_status, job_id, chunk_index, token))
    chunk = cur.fetchone()
    if chunk is None or job is None:
        return None
    # per-source accounting: statuses, cost shares, one more run for sources that gave nothing
    finish_chunk_sources(conn, job, chunk, status, cost_usd, chunk["error_message"])
    if job["status"] != "processing":
        add_cost(conn, job_id, cost_usd)
        return None
    if status == "done":
        conn.execute(
            "INSERT INTO source_profiles (tenant_id, username, last_scraped_at)"
            " SELECT tenant_id, account, now() FROM scrape_job_chunks, unnest(accounts) AS account"
            " WHERE job_id = %s AND chunk_index = %s ORDER BY account"
            " ON CONFLICT (tenant_id, username) DO UPDATE SET last_scraped_at = EXCLUDED.last_scraped_at",
            (job_id, chunk_index))
    return _count_finished(conn, job, job_id, 1, 1 if status == "failed" else 0, cost_usd)


def skip_remaining_chunks(conn: Connection, job_id: UUID, reason: str) -> dict | None:
    """Mark every still-queued chunk of the processing job ``skipped`` at once (its cap was
    reached: no new Apify run may start) and count them; completes the job when no chunk is
    left running. Returns the job's counters, or None if the job is not processing."""
    job = conn.execute("SELECT status, tenant_id, params FROM scrape_jobs WHERE job_id = %s FOR UPDATE",
                       (job_id,)).fetchone()
    if job is None or job["status"] != "processing":
        return None
    skipped = conn.execute(
        "UPDATE scrape_job_chunks SET status = 'skipped', error_message = %s, finished_at = now(),"
        " updated_at = now() WHERE job_id = %s AND status = 'queued'", (reason, job_id)).rowcount
    return _count_finished(conn, job, job_id, skipped, 0, 0.0)


def add_cost(conn: Connection, job_id: UUID, cost_usd: float) -> None:
    """Add Apify spend to the job, whatever its status."""
    if cost_usd:
        conn.execute("UPDATE scrape_jobs SET cost_usd = cost_usd + %s, updated_at = now() WHERE job_id = %s",
                     (cost_usd, job_id))


def _count_finished(conn: Connection, job: dict, job_id: UUID, finished: int, failed: int,
                    cost_usd: float) -> dict:
    """Add ``finished`` chunks (``failed`` of them failed) and their cost to the job (whose row
    the caller holds locked) and complete it when every chunk is finished."""
    counters = conn.execute(
        """
        UPDATE scrape_jobs
           SET current_batch = current_batch + %s,
               chunks_failed = chunks_failed + %s,
               cost_usd = cost_usd + %s,
               progress = LEAST(99, (100 * (current_batch + %s)) / GREATEST(total_batches, 1)),
               updated_at = now(), heartbeat_at = now()
         WHERE job_id = %s
        RETURNING current_batch, chunks_failed, total_batches, profiles_scraped
        """,
        (finished, failed, cost_usd, finished, job_id)).fetchone()
    if counters["current_batch"] >= counters["total_batches"]:
        failed_total, total = counters["chunks_failed"], counters["total_batches"]
        final = ("completed" if failed_total == 0
                 else "failed" if failed_total == total else "completed_with_errors")
        message = None if failed_total == 0 else f"{failed_total} of {total} chunks failed"
        split = {r["gender"]: r["n"] for r in conn.execute(
            "SELECT gender, count(*) AS n FROM scrape_results WHERE job_id = %s GROUP BY gender",
            (job_id,))}
        finish_job(conn, job_id, final, {"chunks_failed": failed_total, "gender_split": split}, message)
        if final != "failed" and job["params"].get("autoIngest"):
            # Created with the completion, in this transaction: exactly one ingest per job.
            ingest_id = create_auto_ingest_job(conn, job["tenant_id"], job_id)
            counters["auto_ingest_job_id"] = ingest_id
            conn.execute("UPDATE scrape_jobs SET result = result || jsonb_build_object('auto_ingest_job_id', %s::text)"
                         " WHERE job_id = %s", (ingest_id, job_id))
    return counters
