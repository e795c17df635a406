"""The polling fallback: one beat task that finds runs whose end nobody reported.

Every ``APIFY_POLL_SECONDS`` it (1) gives back what dead workers and lost messages left
(``chunks.recover_expired``), (2) re-sends the read step of chunks whose reader died or whose read message was lost,
and (3) reads, with ``waitForFinish=0``, every ``running`` run that is past its expected time
(``next_poll_at``: ``APIFY_WEBHOOK_WAIT_SECONDS`` after its start when webhooks are on, every
``APIFY_POLL_SECONDS`` without them); those that ended get a collect message, the others a later
``next_poll_at``. A service without ``PUBLIC_BASE_URL`` runs on this alone.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.utils.scrape.chunks import recover_expired
from server.utils.scrape.collect import RUN_TERMINAL
from server.utils.scrape.start import run_status

log = logging.getLogger(__name__)

POLL_THREADS = 8


@dataclass
class PollResult:
    """Chunks ``(job_id, chunk_index)`` whose run end to confirm (``to_collect``) or whose
    dataset to read again (``to_read``: their reader died or the read message was lost), and
    counts for the log."""

    to_collect: list[tuple[UUID, int]] = field(default_factory=list)
    to_read: list[tuple[UUID, int]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def poll_runs(services, limit: int = 1000) -> PollResult:
    """One poller pass (module docstring). Returns what to collect; the caller sends the
    messages. Apify errors on one run are logged and that run is polled again next pass."""
    settings = services.settings
    out = PollResult()
    with services.db.transaction() as conn:
        out.counts = recover_expired(conn)
        stale = conn.execute(
            "SELECT job_id, chunk_index FROM scrape_job_chunks"
            " WHERE status = 'collecting' AND lease_until < now() LIMIT %s", (limit,)).fetchall()
        due = conn.execute(
            "SELECT job_id, chunk_index, apify_run_id FROM scrape_job_chunks"
            " WHERE status = 'running' AND apify_run_id IS NOT NULL"
            " AND (next_poll_at IS NULL OR next_poll_at <= now()) ORDER BY next_poll_at NULLS FIRST LIMIT %s",
            (limit,)).fetchall()
    out.to_read.extend((r["job_id"], r["chunk_index"]) for r in stale)
    if not due:
        out.counts.update(polled=0, ended=0, stale_collects=len(stale))
        return out
    client = services.apify()

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
    out.counts.update(polled=len(due), ended=len(ended), stale_collects=len(stale))
    return out
