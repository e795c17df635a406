"""The polling fallback: one beat task that finds runs whose end nobody reported.

Every ``APIFY_POLL_SECONDS`` it (1) gives back what dead workers and lost messages left
(``chunks.recover_expired``), (2) re-sends the read step of chunks whose reader died or whose read message was lost,
and (3) reads, with ``waitForFinish=0``, every ``running`` run that is past its expected time
(``next_poll_at``: ``APIFY_WEBHOOK_WAIT_SECONDS`` after its start when webhooks are on, every
``APIFY_POLL_SECONDS`` without them); those that ended get a collect message, the others a later
``next_poll_at``. A service without ``PUBLIC_BASE_URL`` runs on this alone.

(4) Every ``running`` run of a job no longer ``processing`` (cancelled, or ended otherwise) is
aborted here, whatever its ``next_poll_at``, and its chunk gets a collect message (the collect
step settles it as ``cancelled`` with what the run cost, ``collect.confirm_run_end``). The cancel
request's own ``jobs.abort_runs`` message is only the fast path: when it is lost (Redis down
during the request, or restarted empty) the runs would go on and be paid to their end. A run
the poller aborted is recorded as ``ABORTING``/``ABORTED`` and looked at again only after
``APIFY_POLL_SECONDS`` (its collect message was lost too, or the abort did not take).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.utils.scrape.chunks import recover_expired
from server.utils.scrape.collect import RUN_TERMINAL
from server.utils.scrape.sources import settle_cancelled_chunks
from server.utils.scrape.start import run_status

log = logging.getLogger(__name__)

POLL_THREADS = 8
# A run whose abort the poller already asked for (``apify_run_status``) waits for its next_poll_at.
ABORT_ASKED = (*RUN_TERMINAL, "ABORTING")


@dataclass
class PollResult:
    """Chunks ``(job_id, chunk_index)`` whose run end to confirm (``to_collect``: runs that
    ended, and runs of stopped jobs the poller aborted) or whose dataset to read again
    (``to_read``: their reader died or the read message was lost), and counts for the log
    (``aborted``: runs of jobs no longer processing the poller aborted in this pass)."""

    to_collect: list[tuple[UUID, int]] = field(default_factory=list)
    to_read: list[tuple[UUID, int]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def poll_runs(services, limit: int = 1000) -> PollResult:
    """One poller pass (module docstring). Returns what to collect; the caller sends the
    messages. Apify errors on one run are logged and that run is polled (or aborted) again next
    pass."""
    settings = services.settings
    out = PollResult()
    with services.db.transaction() as conn:
        out.counts = recover_expired(conn)
        stale = conn.execute(
            "SELECT job_id, chunk_index FROM scrape_job_chunks"
            " WHERE status = 'collecting' AND lease_until < now() LIMIT %s", (limit,)).fetchall()
        stopping = conn.execute(
            "SELECT c.job_id, c.chunk_index, c.apify_run_id, j.status AS job_status FROM scrape_job_chunks c"
            " JOIN scrape_jobs j ON j.job_id = c.job_id"
            " WHERE c.status = 'running' AND c.apify_run_id IS NOT NULL AND j.status <> 'processing'"
            " AND (c.apify_run_status IS NULL OR c.apify_run_status <> ALL(%s)"
            "      OR c.next_poll_at IS NULL OR c.next_poll_at <= now()) LIMIT %s",
            (list(ABORT_ASKED), limit)).fetchall()
        due = conn.execute(
            "SELECT c.job_id, c.chunk_index, c.apify_run_id FROM scrape_job_chunks c"
            " JOIN scrape_jobs j ON j.job_id = c.job_id AND j.status = 'processing'"
            " WHERE c.status = 'running' AND c.apify_run_id IS NOT NULL"
            " AND (c.next_poll_at IS NULL OR c.next_poll_at <= now()) ORDER BY c.next_poll_at NULLS FIRST LIMIT %s",
            (limit,)).fetchall()
    out.to_read.extend((r["job_id"], r["chunk_index"]) for r in stale)
    out.counts.update(polled=0, ended=0, aborted=0, stale_collects=len(stale))
    if not due and not stopping:
        return out
    client = services.apify()
    if stopping:
        out.counts["aborted"] = _abort_runs_of_stopped_jobs(services, client, stopping)
        out.to_collect.extend((r["job_id"], r["chunk_index"]) for r in stopping)
    if not due:
        return out

    def status_of(row) -> str | None:
        try:
            run = client.run(row["apify_run_id"]).get()  # GET /v2/actor-runs/{id}, waitForFinish=0
        except ApifyApiError as exc:
            log.warning("poll of run %s failed: %s", row["apify_run_id"], exc)
            return None
        return "GONE" if run is None else run_status(run)

    with ThreadPoolExecutor(POLL_THREADS) as pool:
        statuses = list(pool.map(status_of, due))
    ended = [row for row, status in zip(due, statuses) if status in RUN_TERMINAL or status == "GONE"]
    going = [row for row, status in zip(due, statuses) if row not in ended]
    again = settings.apify_webhook_wait_seconds if settings.public_base_url else settings.apify_poll_seconds
    if going:
        with services.db.transaction() as conn:
            conn.execute(
                "UPDATE scrape_job_chunks c SET next_poll_at = now() + make_interval(secs => %s)"
                " FROM unnest(%s::uuid[], %s::int[]) AS p(job_id, chunk_index)"
                " WHERE c.job_id = p.job_id AND c.chunk_index = p.chunk_index AND c.status = 'running'",
                (again, [r["job_id"] for r in going], [r["chunk_index"] for r in going]))
    out.to_collect.extend((r["job_id"], r["chunk_index"]) for r in ended)
    out.counts.update(polled=len(due), ended=len(ended))
    return out


def _abort_runs_of_stopped_jobs(services, client, rows: list[dict]) -> int:
    """Abort the runs ``rows`` (running chunks of jobs no longer processing: ``job_id``,
    ``chunk_index``, ``apify_run_id``, ``job_status``) at Apify, record the status the abort
    answered with and the next look in ``APIFY_POLL_SECONDS``, and settle the sources of chunks
    the cancel request stopped while queued (``sources.settle_cancelled_chunks``: the lost
    ``jobs.abort_runs`` would have). Aborting a run that already ended changes nothing at Apify.
    Returns how many aborts Apify accepted; failures are logged and tried again next pass."""

    def abort(row) -> str | None:
        try:
            run = client.run(row["apify_run_id"]).abort()  # POST /v2/actor-runs/{id}/abort
        except ApifyApiError as exc:
            log.warning("abort of run %s (job %s no longer processing) failed: %s",
                        row["apify_run_id"], row["job_id"], exc)
            return None
        return "GONE" if run is None else run_status(run)

    with ThreadPoolExecutor(POLL_THREADS) as pool:
        statuses = list(pool.map(abort, rows))
    done = [(row, status) for row, status in zip(rows, statuses) if status is not None]
    if done:
        with services.db.transaction() as conn:
            conn.execute(
                "UPDATE scrape_job_chunks c SET apify_run_status = p.run_status, updated_at = now(),"
                " next_poll_at = now() + make_interval(secs => %s)"
                " FROM unnest(%s::uuid[], %s::int[], %s::text[]) AS p(job_id, chunk_index, run_status)"
                " WHERE c.job_id = p.job_id AND c.chunk_index = p.chunk_index AND c.status = 'running'",
                (services.settings.apify_poll_seconds, [r["job_id"] for r, _ in done],
                 [r["chunk_index"] for r, _ in done], [s if s != "GONE" else None for _, s in done]))
    for job_id in {r["job_id"] for r in rows if r["job_status"] == "cancelled"}:
        with services.db.transaction() as conn:
            settle_cancelled_chunks(conn, job_id)
    if done:
        log.info("aborted %s run(s) of jobs no longer processing (their abort message was lost or is late): %s",
                    len(done), sorted({str(r["job_id"]) for r, _ in done}))
    return len(done)
