"""Noticing that the broker lost its messages, and work that never reached it.

Redis restarted without persistence (Heroku Redis, a failover) forgets every queued message;
a chunk sent before would wait for ``BROKER_VISIBILITY_TIMEOUT`` (hours) to be re-sent. So the
reaper keeps a *generation marker* in the broker's Redis (``broker-generation:<queue>``): when
it is missing, everything sent before may be gone, and the reaper re-sends every piece of work
Postgres says is in the broker - chunks sent and not yet claimed, jobs stored but not started -
then writes a new marker. Re-sending is always safe: tasks claim their work in Postgres first,
so a message that did survive only finds its work taken.

A job whose first message could not be sent at all (Redis unreachable during the POST) is
stamped ``enqueue_failed_at``; the reaper sends it on its next run once Redis answers.
"""
from __future__ import annotations

import logging
import time
import uuid
from uuid import UUID

log = logging.getLogger(__name__)


def marker_key(queue: str) -> str:
    """Redis key of the generation marker of Celery queue ``queue``."""
    return f"broker-generation:{queue}"


def marker_missing(services) -> bool:
    """True when the broker has no generation marker for ``CELERY_QUEUE``: its messages may be
    lost (or this is the first reaper run ever; re-sending is harmless then too). Raises
    ``redis.RedisError`` when Redis does not answer."""
    return not services.redis.exists(marker_key(services.settings.celery_queue))


def write_marker(services) -> str:
    """Start a new broker generation (after the lost work was re-sent); returns its id. The
    value says when and by what process it was written, for operators reading Redis."""
    generation = f"{uuid.uuid4().hex} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    services.redis.set(marker_key(services.settings.celery_queue), generation)
    return generation


def work_in_broker(conn, limit: int = 5000) -> tuple[dict[UUID, list[int]], list[UUID], list[UUID]]:
    """What Postgres says is (or should be) in the broker: ``(chunks, scrape_jobs, other_jobs)``.

    ``chunks`` maps a processing job to the indexes of its chunks sent and not yet claimed
    (``queued`` with ``enqueued_at`` set, first sends and retries alike); ``scrape_jobs`` are
    scrape jobs still ``queued`` (``scrape.start`` not yet run); ``other_jobs`` are single-step
    jobs still ``queued`` (``jobs.run`` not yet run). Running chunks are in a worker, not in
    the broker; a worker that dies with one is the lease reaper's case."""
    chunks: dict[UUID, list[int]] = {}
    for row in conn.execute(
            """
            SELECT c.job_id, c.chunk_index FROM scrape_job_chunks c
              JOIN scrape_jobs j ON j.job_id = c.job_id AND j.status = 'processing'
             WHERE c.status = 'queued' AND c.enqueued_at IS NOT NULL
             ORDER BY c.job_id, c.chunk_index LIMIT %s
            """, (limit,)).fetchall():
        chunks.setdefault(row["job_id"], []).append(row["chunk_index"])
    queued = conn.execute("SELECT job_id, kind FROM scrape_jobs WHERE status = 'queued'"
                          " ORDER BY created_at LIMIT %s", (limit,)).fetchall()
    return (chunks, [r["job_id"] for r in queued if r["kind"] == "scrape"],
            [r["job_id"] for r in queued if r["kind"] != "scrape"])


def unsent_jobs(conn, limit: int = 1000) -> tuple[list[UUID], list[UUID]]:
    """Queued jobs whose first message could not be sent: ``(scrape_jobs, other_jobs)``."""
    rows = conn.execute("SELECT job_id, kind FROM scrape_jobs WHERE status = 'queued'"
                        " AND enqueue_failed_at IS NOT NULL ORDER BY created_at LIMIT %s", (limit,)).fetchall()
    return ([r["job_id"] for r in rows if r["kind"] == "scrape"],
            [r["job_id"] for r in rows if r["kind"] != "scrape"])


def mark_unsent(db, job_id: UUID | str) -> None:
    """Stamp ``enqueue_failed_at`` on a queued job whose message could not be sent. Best effort:
    a failure here is logged (the 5-minute stuck-job rule of the reaper still applies)."""
    try:
        with db.transaction() as conn:
            conn.execute("UPDATE scrape_jobs SET enqueue_failed_at = now() WHERE job_id = %s"
                         " AND status = 'queued'", (UUID(str(job_id)),))
    except Exception:  # the database may be the thing that is down
        log.exception("could not record that job %s was not sent", job_id)


def clear_unsent(db, job_ids: list[UUID]) -> None:
    """Forget ``enqueue_failed_at`` of jobs whose message the reaper has now sent."""
    if job_ids:
        with db.transaction() as conn:
            conn.execute("UPDATE scrape_jobs SET enqueue_failed_at = NULL WHERE job_id = ANY(%s)",
                         (list(job_ids),))
