"""Celery tasks: thin wrappers that take ids and call one domain function each.

Every task is idempotent: it claims its work in Postgres with a conditional UPDATE, so a
redelivered, retried or duplicated message does no harm (DESIGN.md §2).
"""
from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from server.utils import job_runner, jobs, reaper, scrape_jobs
from server.utils.apify_runs import abort_job_runs
from server.utils.chunk_runner import ChunkRunner
from server.utils.job_handlers import handler_for

log = logging.getLogger(__name__)

ENQUEUE_BATCH = 500


def _services(task):
    return task.app.services


@shared_task(bind=True, name="scrape.start", max_retries=5, default_retry_delay=10)
def start_scrape_job(self, job_id: str) -> int:
    """Mark the job processing and enqueue one ``scrape.run_chunk`` message per queued chunk
    (ids only, never accounts). Returns how many chunk messages were sent."""
    db = _services(self).db
    with db.transaction() as conn:
        if not jobs.mark_processing(conn, UUID(job_id)):
            return 0
        indexes = scrape_jobs.chunk_indexes(conn, UUID(job_id))
    return enqueue_chunks(self.app, job_id, indexes, db)


def enqueue_chunks(celery_app, job_id: str, indexes: list[int], db) -> int:
    """Send one ``scrape.run_chunk`` message per chunk index (args ``[job_id, index]`` only)
    in batches over one producer, recording when each was sent. Returns the number sent."""
    sent = 0
    for start in range(0, len(indexes), ENQUEUE_BATCH):
        batch = indexes[start:start + ENQUEUE_BATCH]
        with celery_app.producer_or_acquire() as producer:
            for index in batch:
                celery_app.send_task("scrape.run_chunk", args=[job_id, index], producer=producer)
        with db.transaction() as conn:
            scrape_jobs.mark_enqueued(conn, UUID(job_id), batch)
        sent += len(batch)
    return sent


@shared_task(bind=True, name="scrape.run_chunk", max_retries=None)
def run_chunk(self, job_id: str, chunk_index: int) -> str:
    """Process one chunk; re-schedules itself while its Apify run is still going, while another
    worker holds the chunk, or after a transient failure (bounded by ``CHUNK_MAX_ATTEMPTS``)."""
    try:
        outcome = ChunkRunner(_services(self), UUID(job_id), chunk_index).run()
    except Exception as exc:
        base = _services(self).settings.chunk_retry_backoff_seconds
        raise self.retry(exc=exc, countdown=min(300, base * 2 ** min(self.request.retries, 6)))
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    if outcome.follow_up_job_id:  # committed with the job's completion (autoIngest)
        self.app.send_task("jobs.run", args=[outcome.follow_up_job_id])
    log.info("chunk %s/%s: %s %s", job_id, chunk_index, outcome.status, outcome.detail)
    return outcome.status


@shared_task(bind=True, name="jobs.abort_runs", max_retries=5, default_retry_delay=5)
def abort_runs(self, job_id: str) -> int:
    """Abort the Apify runs still going for a cancelled job; returns how many were aborted."""
    return abort_job_runs(_services(self), UUID(job_id))


@shared_task(bind=True, name="jobs.reap_stale")
def reap_stale(self) -> dict:
    """Beat task: re-send chunks whose worker died or whose message was lost, and fail jobs
    that stopped making progress. Returns counts of what it did."""
    services = _services(self)
    found = reaper.find_stale(services)
    for job_id, indexes in found.chunks_to_resend.items():
        enqueue_chunks(self.app, str(job_id), indexes, services.db)
    for job_id in found.jobs_to_start:
        self.app.send_task("scrape.start", args=[str(job_id)])
    for job_id in found.jobs_to_rerun:
        self.app.send_task("jobs.run", args=[str(job_id)])
    return found.summary()


@shared_task(bind=True, name="jobs.run", max_retries=3, default_retry_delay=10)
def run_job(self, job_id: str) -> str:
    """Run a single-step job (ingest, Airtable push, status sync, lifecycle, run-daily, base
    setup) by its kind; returns the final status."""
    return job_runner.run_job(_services(self), UUID(job_id), handler_for)


@shared_task(bind=True, name="daily.schedule_due_runs")
def schedule_due_runs(self) -> list[str]:
    """Beat task (every minute): create today's run-daily job for each tenant whose
    ``daily_run_utc`` has passed, then enqueue them. Returns the job ids created."""
    from server.utils.schedule import schedule_due_runs as create_due_runs

    created = create_due_runs(_services(self))
    for job_id in created:
        self.app.send_task("jobs.run", args=[job_id])
    return created
