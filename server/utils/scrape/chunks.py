"""Chunk state in ``scrape_job_chunks``: the lifecycle of one chunk and every transition of it.

Lifecycle (the only place the statuses and their transitions are defined)::

    queued ──dispatch (a run slot is free, fair share)──▶ starting
    starting ──run_chunk claims it, starts the Apify run──▶ running      (``record_run``)
    starting ──an earlier attempt's run is found at Apify (it died before recording it)──▶ running
             (``adopt_run``; nothing is started again)
    starting ──start refused (account memory/concurrency limit)──▶ queued, attempt not counted
    starting ──transient start error──▶ queued (attempt counted, ``not_before`` backoff)
    starting ──lease expired (worker died / message lost)──▶ running if a run id is recorded, else queued
    running  ──webhook or poller: the run ended──▶ collecting                (``claim_collect``)
    collecting ──the run was not really over (the body is only a hint)──▶ running
    collecting ──run end confirmed; the slot is handed on──▶ collecting, unowned (``hand_over``)
    collecting (unowned or lease expired) ──read step claims it──▶ collecting (``claim_read``)
    collecting ──dataset read, parsed, gendered and written──▶ done | failed
    (a read that dies half-way is claimed again after its lease and resumes at ``dataset_offset``)
    queued/starting/running/collecting ──job cancelled / cap reached──▶ cancelled | skipped
    (new) ──a finished chunk's sources gave nothing (empty, rate-limited): asked once more──▶ queued
          (``sources.finish_chunk_sources`` appends it with ``retry_of`` and adds it to the
          job's ``total_batches``; the dispatcher picks it like any queued chunk)

Every transition to a terminal status settles the chunk's per-source accounting in its
transaction (``sources.finish_chunk_sources``): ``finish_chunk``, ``skip_remaining_chunks``,
``runs.abort_job_runs`` and, for chunks a cancel request stopped while queued,
``sources.settle_cancelled_chunks``.

A chunk in ``starting`` or ``running`` holds one slot of the service-wide run budget
(``server.utils.scrape.dispatch``); a slot comes back as soon as the chunk leaves those statuses,
so a crashed worker's slot returns when the poller recovers its expired lease. No worker holds a
chunk while its run is going: only ``starting`` and ``collecting`` carry a lease.

A worker owns a ``starting`` or ``collecting`` chunk while it holds an unexpired lease; every write
it makes later is fenced by the random ``lease_token`` it got at claim time, so a worker that lost
its lease (it was killed, paused or too slow) can never overwrite the work of the one that took over.
Finishing a chunk and counting it on the job happen in one transaction that first locks the job
row, so exactly one finisher sees the last chunk and completes the job.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from psycopg import Connection

from server.utils.jobs.table import finish_job
from server.utils.outreach.ingest import create_auto_ingest_job
from server.utils.scrape.sources import finish_chunk_sources, settle_unstarted_chunks

CHUNK_TERMINAL = ("done", "failed", "skipped", "cancelled")
CHUNK_OPEN = ("queued", "starting", "running", "collecting")
HOLDS_SLOT = ("starting", "running")


class LeaseLost(Exception):
    """Another worker holds the chunk now; stop without writing anything more."""


@dataclass(frozen=True)
class Claim:
    """A claimed chunk: its row and the fencing token for later writes."""

    chunk: dict
    token: UUID


def mark_starting(conn: Connection, picks: list[tuple], grace_seconds: float) -> int:
    """``queued`` → ``starting`` for the dispatcher's picks (``(job_id, chunk_index)`` or
    ``(job_id, chunk_index, per_account)``; the dispatcher holds the budget lock). A pick's
    ``per_account`` grant is stored as the chunk's ``max_items`` (per_account × its accounts):
    the most its run may ask for (``start.py``) and what the run counts as until it is started
    (``dispatch.fair_picks``); without one ``max_items`` is NULL (the job's own limit). The
    lease is unowned (no token) until ``claim_start``; if the start message is lost, the poller
    returns the chunk to the queue after ``grace_seconds``."""
    if not picks:
        return 0
    return conn.execute(
        """
        UPDATE scrape_job_chunks c SET status = 'starting', lease_token = NULL, enqueued_at = now(),
               lease_until = now() + make_interval(secs => %s), updated_at = now(),
               max_items = p.per_account * array_length(c.accounts, 1)
          FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS p(job_id, chunk_index, per_account)
         WHERE c.job_id = p.job_id AND c.chunk_index = p.chunk_index AND c.status = 'queued'
        """, (grace_seconds, [p[0] for p in picks], [p[1] for p in picks],
              [p[2] if len(p) > 2 else None for p in picks])).rowcount


def claim_start(conn: Connection, job_id: UUID, chunk_index: int, lease_seconds: int) -> Claim | None:
    """Claim a ``starting`` chunk to start its run (counts an attempt); None when it is not
    ``starting`` or another worker holds a live lease on it."""
    token = uuid4()
    row = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET attempts = attempts + 1, lease_token = %s, lease_until = now() + make_interval(secs => %s),
               started_at = coalesce(started_at, now()), updated_at = now()
         WHERE job_id = %s AND chunk_index = %s AND status = 'starting'
           AND (lease_token IS NULL OR lease_until < now())
        RETURNING *
        """, (token, lease_seconds, job_id, chunk_index)).fetchone()
    return Claim(row, token) if row else None


def mark_start_sent(conn: Connection, claim: Claim, secret_sha256: str | None) -> None:
    """Note, just before the start request goes to Apify, that a run may exist for the claimed
    ``starting`` chunk from now on: ``run_started_at`` (kept from the first attempt that sent one)
    and the digest of the webhook secret the run carries. A later claim that finds
    ``run_started_at`` set and no run id looks for that run at Apify before starting another
    (``adopt.adopt_started_run``). Raises ``LeaseLost`` (then nothing may be sent)."""
    cur = conn.execute(
        "UPDATE scrape_job_chunks SET run_started_at = coalesce(run_started_at, now()),"
        " webhook_secret_sha256 = %s, updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'starting'",
        (secret_sha256, claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))
    if cur.rowcount != 1:
        raise LeaseLost()


def adopt_run(conn: Connection, claim: Claim, run_id: str, dataset_id: str, run_status: str,
              max_items: int, cost_estimate_usd: float, first_poll_seconds: float) -> bool:
    """``starting`` → ``running`` with ``run_id``, a run an earlier attempt started at Apify but
    died before recording: recorded as ``record_run`` does (keeping the webhook digest stored by
    ``mark_start_sent``), and this claim's attempt is not counted (nothing was started). Returns
    False, writing nothing, when another chunk owns the run already. Raises ``LeaseLost``."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('apify-run:' || %s))", (run_id,))
    if conn.execute("SELECT 1 FROM scrape_job_chunks WHERE apify_run_id = %s", (run_id,)).fetchone():
        return False
    record_run(conn, claim, run_id, dataset_id, run_status, claim.chunk["webhook_secret_sha256"], max_items,
               cost_estimate_usd, first_poll_seconds)
    conn.execute("UPDATE scrape_job_chunks SET attempts = attempts - 1 WHERE job_id = %s AND chunk_index = %s",
                 (claim.chunk["job_id"], claim.chunk["chunk_index"]))
    return True


def record_run(conn: Connection, claim: Claim, run_id: str, dataset_id: str, run_status: str,
               secret_sha256: str | None, max_items: int, cost_estimate_usd: float,
               first_poll_seconds: float) -> None:
    """``starting`` → ``running``: the Apify run is started; record it (before anything else
    can fail, so it is never started twice) and drop the lease: no worker waits on it.
    ``first_poll_seconds`` is when the poller first looks at it. Raises ``LeaseLost``."""
    cur = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET status = 'running', apify_run_id = %s, apify_dataset_id = %s, apify_run_status = %s,
               webhook_secret_sha256 = %s, max_items = %s, cost_estimate_usd = %s, dataset_offset = 0,
               run_started_at = now(), next_poll_at = now() + make_interval(secs => %s),
               lease_token = NULL, lease_until = NULL, not_before = NULL, updated_at = now()
         WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'starting'
        """, (run_id, dataset_id, run_status, secret_sha256, max_items, cost_estimate_usd, first_poll_seconds,
              claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))
    if cur.rowcount != 1:
        raise LeaseLost()


def resume_run(conn: Connection, claim: Claim) -> None:
    """``starting`` → ``running`` for a chunk whose run was already recorded (a redelivered
    start message): nothing is started again; the poller looks at the run now."""
    conn.execute(
        "UPDATE scrape_job_chunks SET status = 'running', next_poll_at = now(), lease_token = NULL,"
        " lease_until = NULL, attempts = attempts - 1, updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'starting'",
        (claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))


def requeue(conn: Connection, claim: Claim, error_message: str | None, count_attempt: bool,
            delay_seconds: float) -> None:
    """``starting`` → ``queued``: the start did not happen (refused or failed); the chunk waits
    ``delay_seconds`` before the dispatcher may pick it again. ``count_attempt=False`` undoes this
    claim's attempt (a refused start is not a failure; Apify answered that no run was started, so
    ``run_started_at`` is cleared too: the next attempt need not look for one)."""
    conn.execute(
        "UPDATE scrape_job_chunks SET status = 'queued', lease_until = NULL, lease_token = NULL,"
        " attempts = attempts - %s, error_message = coalesce(%s, error_message),"
        " run_started_at = CASE WHEN %s THEN run_started_at END,"
        " not_before = now() + make_interval(secs => %s), updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'starting'",
        (0 if count_attempt else 1, error_message, count_attempt, delay_seconds, claim.chunk["job_id"],
         claim.chunk["chunk_index"], claim.token))


def claim_collect(conn: Connection, job_id: UUID, chunk_index: int, lease_seconds: int) -> Claim | None:
    """``running`` → ``collecting``. The conditional UPDATE is what makes a duplicate webhook, a
    redelivered one and the poller racing it collect once: only one caller gets the claim; the
    others get None."""
    token = uuid4()
    row = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET status = 'collecting', lease_token = %s, lease_until = now() + make_interval(secs => %s),
               updated_at = now()
         WHERE job_id = %s AND chunk_index = %s AND apify_run_id IS NOT NULL AND status = 'running'
        RETURNING *
        """, (token, lease_seconds, job_id, chunk_index)).fetchone()
    return Claim(row, token) if row else None


def hand_over(conn: Connection, claim: Claim, grace_seconds: float) -> None:
    """Drop the lease of a ``collecting`` chunk whose run end is confirmed so the read step
    (another message) can claim it; if that message is lost the poller re-sends it after
    ``grace_seconds``."""
    conn.execute(
        "UPDATE scrape_job_chunks SET lease_token = NULL, lease_until = now() + make_interval(secs => %s),"
        " updated_at = now() WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'collecting'",
        (grace_seconds, claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))


def claim_read(conn: Connection, job_id: UUID, chunk_index: int, lease_seconds: int) -> Claim | None:
    """Claim a ``collecting`` chunk for the read step: one handed over (no owner) or one whose
    reader's lease expired (it resumes at ``dataset_offset``); None otherwise."""
    token = uuid4()
    row = conn.execute(
        """
        UPDATE scrape_job_chunks
           SET lease_token = %s, lease_until = now() + make_interval(secs => %s), updated_at = now()
         WHERE job_id = %s AND chunk_index = %s AND status = 'collecting'
           AND (lease_token IS NULL OR lease_until < now())
        RETURNING *
        """, (token, lease_seconds, job_id, chunk_index)).fetchone()
    return Claim(row, token) if row else None


def back_to_running(conn: Connection, claim: Claim, run_status: str, next_poll_seconds: float) -> None:
    """``collecting`` → ``running``: the run is still going (a webhook body is only a hint)."""
    conn.execute(
        "UPDATE scrape_job_chunks SET status = 'running', apify_run_status = %s, lease_token = NULL,"
        " lease_until = NULL, next_poll_at = now() + make_interval(secs => %s), updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'collecting'",
        (run_status, next_poll_seconds, claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token))


def load_chunk(conn: Connection, job_id: UUID, chunk_index: int) -> dict | None:
    """The chunk row with ``lease_seconds_left`` (float, may be negative), or None."""
    return conn.execute(
        "SELECT *, extract(epoch FROM lease_until - now())::float AS lease_seconds_left"
        " FROM scrape_job_chunks WHERE job_id = %s AND chunk_index = %s",
        (job_id, chunk_index)).fetchone()


def chunk_for_run(conn: Connection, run_id: str) -> dict | None:
    """The chunk whose Apify run is ``run_id``, or None."""
    return conn.execute("SELECT * FROM scrape_job_chunks WHERE apify_run_id = %s", (run_id,)).fetchone()


def fenced_update(conn: Connection, claim: Claim, lease_seconds: int, status: str = "collecting",
                  **columns) -> None:
    """Set ``columns`` on the claimed chunk (in ``status``) and renew its lease; raises ``LeaseLost``."""
    sets = "".join(f", {name} = %s" for name in columns)
    cur = conn.execute(
        f"UPDATE scrape_job_chunks SET lease_until = now() + make_interval(secs => %s),"
        f" updated_at = now(){sets} WHERE job_id = %s AND chunk_index = %s AND lease_token = %s"
        f" AND status = %s",
        (lease_seconds, *columns.values(), claim.chunk["job_id"], claim.chunk["chunk_index"], claim.token,
         status))
    if cur.rowcount != 1:
        raise LeaseLost()


def add_worker_seconds(conn: Connection, job_id: UUID, chunk_index: int, seconds: float) -> None:
    """Add worker busy time (seconds, dataset read and inserts excluded) to the chunk."""
    conn.execute("UPDATE scrape_job_chunks SET worker_seconds = worker_seconds + %s"
                 " WHERE job_id = %s AND chunk_index = %s", (seconds, job_id, chunk_index))


def recover_expired(conn: Connection) -> dict:
    """Give back what dead workers and lost messages left behind: ``starting`` chunks whose
    lease expired go to ``running`` when their run id is recorded (the run is polled, never
    started again) and to ``queued`` otherwise (their slot returns). Returns the counts."""
    resumed = conn.execute(
        "UPDATE scrape_job_chunks SET status = 'running', next_poll_at = now(), lease_token = NULL,"
        " lease_until = NULL, updated_at = now()"
        " WHERE status = 'starting' AND lease_until < now() AND apify_run_id IS NOT NULL").rowcount
    requeued = conn.execute(
        "UPDATE scrape_job_chunks SET status = 'queued', lease_token = NULL, lease_until = NULL,"
        " updated_at = now() WHERE status = 'starting' AND lease_until < now() AND apify_run_id IS NULL").rowcount
    orphaned = conn.execute(  # 'running' without a run (left by an older release): start it again
        "UPDATE scrape_job_chunks SET status = 'queued', lease_token = NULL, lease_until = NULL,"
        " updated_at = now() WHERE status = 'running' AND apify_run_id IS NULL").rowcount
    return {"resumed": resumed, "requeued": requeued + orphaned}


def finish_chunk(conn: Connection, job_id: UUID, chunk_index: int, status: str,
                 token: UUID | None, error_message: str | None = None, cost_usd: float = 0.0,
                 run_status: str | None = None) -> dict | None:
    """Make the chunk terminal and count it on the job; completes the job after its last chunk.

    ``token`` fences a claimed (``starting``/``collecting``) chunk; None finishes it whatever its
    open status (a queued chunk, or a running one being stopped). The chunk's Apify cost is
    added to the job whatever the job's status (money spent is spent, cancelled or not).
    The chunk's sources are settled in the same transaction (``sources.finish_chunk_sources``);
    sources that gave nothing are asked once more in a new ``queued`` chunk, whose accounts the
    counters list as ``retried_sources`` (the caller dispatches after commit).
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
           AND (%s::uuid IS NULL OR lease_token = %s)
        RETURNING *
        """,
        (status, error_message, cost_usd, run_status, job_id, chunk_index, token, token))
    chunk = cur.fetchone()
    if chunk is None or job is None:
        return None
    # per-source accounting: statuses, cost shares, one more run for sources that gave nothing
    retried = finish_chunk_sources(conn, job, chunk, status, cost_usd, chunk["error_message"])
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
    counters = _count_finished(conn, job, job_id, 1, 1 if status == "failed" else 0, cost_usd)
    counters["retried_sources"] = retried
    return counters


def skip_remaining_chunks(conn: Connection, job_id: UUID, reason: str,
                          stopped_by: str | None = None, wait: bool = True) -> dict | None:
    """Mark every still-queued chunk of the processing job ``skipped`` at once (its cap was
    reached: no new Apify run may start), settle their sources and count them; completes the
    job when no chunk is left running. ``stopped_by`` (``"cost_cap"``, ``"total_scrape_count"``)
    is recorded in the job's ``result`` and names the reason given to the skipped sources.
    Set-based: a few statements whatever the number of chunks (a 500,000-account job has
    10,000). ``wait=False`` gives up at once (returns None) when another transaction holds the
    job row. Returns the job's counters (with ``auto_ingest_job_id`` when this completed a job
    with ``autoIngest``: the caller enqueues it after commit), or None if the job is not
    processing."""
    lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
    job = conn.execute(f"SELECT status, tenant_id, params FROM scrape_jobs WHERE job_id = %s {lock}",
                       (job_id,)).fetchone()
    if job is None or job["status"] != "processing":
        return None
    if stopped_by:
        conn.execute("UPDATE scrape_jobs SET result = result || jsonb_build_object('stopped_by', %s::text)"
                     " WHERE job_id = %s", (stopped_by, job_id))
    indexes = [r["chunk_index"] for r in conn.execute(
        "UPDATE scrape_job_chunks SET status = 'skipped', error_message = %s, finished_at = now(),"
        " lease_until = NULL, updated_at = now() WHERE job_id = %s AND status = 'queued' RETURNING chunk_index",
        (reason, job_id))]
    settle_unstarted_chunks(conn, job_id, indexes, "skipped",
                            "maxCostUsd reached" if stopped_by == "cost_cap" else "totalScrapeCount reached")
    return _count_finished(conn, job, job_id, len(indexes), 0, 0.0)


def add_cost(conn: Connection, job_id: UUID, cost_usd: float) -> None:
    """Add Apify spend to the job, whatever its status."""
    if cost_usd:
        conn.execute("UPDATE scrape_jobs SET cost_usd = cost_usd + %s, updated_at = now() WHERE job_id = %s",
                     (cost_usd, job_id))


def _failed_chunks_message(conn: Connection, job_id: UUID, failed: int, total: int) -> str:
    """``"2 of 4 chunks failed (first, chunk 0: <its error>)"``: the count and one cause."""
    first = conn.execute("SELECT chunk_index, error_message FROM scrape_job_chunks WHERE job_id = %s"
                         " AND status = 'failed' ORDER BY chunk_index LIMIT 1", (job_id,)).fetchone()
    cause = f" (first, chunk {first['chunk_index']}: {first['error_message']})" if first and first["error_message"] else ""
    return f"{failed} of {total} chunks failed{cause}"


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
        message = None if failed_total == 0 else _failed_chunks_message(conn, job_id, failed_total, total)
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
