"""Celery tasks: thin wrappers that take ids and call one domain function each.

Every task is idempotent: it claims its work in Postgres with a conditional UPDATE, so a
redelivered, retried or duplicated message does no harm (DESIGN.md §2).
"""
from __future__ import annotations

import logging
from uuid import UUID

import psycopg
from celery import shared_task

from server.utils.jobs import broker_generation, reaper, retention
from server.utils.jobs import runner as job_runner
from server.utils.jobs import table as jobs
from server.utils.jobs.handlers import handler_for
from server.utils.scrape import create as scrape_jobs
from server.utils.scrape.runner import ChunkRunner
from server.utils.scrape.runs import abort_job_runs

log = logging.getLogger(__name__)



def _services(task):
    return task.app.services


@shared_task(bind=True, name="scrape.start", max_retries=5, default_retry_delay=10)
def start_scrape_job(self, job_id: str) -> int:
    """Mark the job processing and send its first ``CHUNK_DISPATCH_WINDOW`` chunk messages
    (ids only, never accounts); each finished chunk sends the next one, so jobs share the
    workers instead of one big job filling the queue. Returns how many were sent."""
    services = _services(self)
    with services.db.transaction() as conn:
        if not jobs.mark_processing(conn, UUID(job_id)):
            return 0
    return dispatch_chunks(self.app, services, job_id, services.settings.chunk_dispatch_window)


def dispatch_chunks(celery_app, services, job_id: str, count: int) -> int:
    """Send ``scrape.run_chunk`` for up to ``count`` not-yet-sent queued chunks of the job."""
    with services.db.transaction() as conn:
        indexes = scrape_jobs.claim_for_dispatch(conn, UUID(job_id), count)
    return enqueue_chunks(celery_app, job_id, indexes)


def enqueue_chunks(celery_app, job_id: str, indexes: list[int]) -> int:
    """Send one ``scrape.run_chunk`` message per chunk index (args ``[job_id, index]`` only)
    over one producer. Returns the number sent."""
    with celery_app.producer_or_acquire() as producer:
        for index in indexes:
            celery_app.send_task("scrape.run_chunk", args=[job_id, index], producer=producer)
    return len(indexes)


@shared_task(bind=True, name="scrape.run_chunk", max_retries=None)
def run_chunk(self, job_id: str, chunk_index: int) -> str:
    """Process one chunk; re-schedules itself while its Apify run is still going, while another
    worker holds the chunk, or after a transient failure (bounded by ``CHUNK_MAX_ATTEMPTS``).
    A chunk it finishes frees a place in the job's window: the next chunk is sent."""
    services = _services(self)
    try:
        outcome = ChunkRunner(services, UUID(job_id), chunk_index).run()
    except Exception as exc:
        base = services.settings.chunk_retry_backoff_seconds
        raise self.retry(exc=exc, countdown=min(300, base * 2 ** min(self.request.retries, 6)))
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    if outcome.finished:
        dispatch_chunks(self.app, services, job_id, 1)
    if outcome.follow_up_job_id:  # committed with the job's completion (autoIngest)
        self.app.send_task("jobs.run", args=[outcome.follow_up_job_id])
    log.info("chunk %s/%s: %s %s", job_id, chunk_index, outcome.status, outcome.detail)
    return outcome.status


@shared_task(bind=True, name="jobs.abort_runs", max_retries=5, default_retry_delay=5,
             autoretry_for=(psycopg.OperationalError,), retry_backoff=True)
def abort_runs(self, job_id: str) -> int:
    """Abort the Apify runs still going for a cancelled job; returns how many were aborted."""
    return abort_job_runs(_services(self), UUID(job_id))


@shared_task(bind=True, name="jobs.reap_stale")
def reap_stale(self) -> dict:
    """Beat task: re-send chunks whose worker died or whose message was lost (also all of them
    when Redis lost its data), start jobs the API could not send, and fail jobs that stopped
    making progress. Returns counts of what it did."""
    services = _services(self)
    found = reaper.find_stale(services)
    for job_id, indexes in found.chunks_to_resend.items():
        enqueue_chunks(self.app, str(job_id), indexes)
    for job_id in found.jobs_to_refill:
        dispatch_chunks(self.app, services, str(job_id), services.settings.chunk_dispatch_window)
    for job_id in found.jobs_to_start:
        self.app.send_task("scrape.start", args=[str(job_id)])
    for job_id in found.jobs_to_rerun:
        self.app.send_task("jobs.run", args=[str(job_id)])
    broker_generation.clear_unsent(services.db, found.unsent_jobs)
    if found.broker_lost:
        log.warning("broker generation marker missing: re-sent %s", found.summary())
        broker_generation.write_marker(services)
    return found.summary()


@shared_task(bind=True, name="jobs.purge_raw_profiles")
def purge_raw_profiles(self) -> int:
    """Beat task (hourly): delete raw profile history older than ``RAW_RETENTION_DAYS``;
    returns the rows deleted."""
    return retention.purge_raw_profiles(_services(self))


@shared_task(bind=True, name="jobs.run", max_retries=3, default_retry_delay=10)
def run_job(self, job_id: str) -> str:
    """Run a single-step job (ingest, Airtable push, status sync, lifecycle, run-daily, base
    setup) by its kind; returns the final status."""
    return job_runner.run_job(_services(self), UUID(job_id), handler_for)


@shared_task(bind=True, name="daily.schedule_due_runs")
def schedule_due_runs(self) -> list[str]:
    """Beat task (every minute): create today's run-daily job for each tenant whose
    ``daily_run_utc`` has passed, then enqueue them. Returns the job ids created."""
    from server.utils.outreach.schedule import schedule_due_runs as create_due_runs

    created = create_due_runs(_services(self))
    for job_id in created:
        self.app.send_task("jobs.run", args=[job_id])
    return created
