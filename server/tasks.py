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
from server.utils.scrape.collect import CAP_REACHED, collect_chunk, confirm_run_end
from server.utils.scrape.dispatch import run_budget, stop_capped_jobs, take_slots
from server.utils.scrape.poll import poll_runs
from server.utils.scrape.runs import abort_job_runs
from server.utils.scrape.start import start_chunk_run

log = logging.getLogger(__name__)

# Redis priority lists (celery_config): 0 is served first. Starting runs and confirming run
# ends go ahead of dataset reads, so a freed run slot is refilled within moments.
URGENT = 0



def _services(task):
    return task.app.services


@shared_task(bind=True, name="scrape.start", max_retries=5, default_retry_delay=10)
def start_scrape_job(self, job_id: str) -> int:
    """Mark the job processing and hand it its fair share of the free run slots (ids only in
    messages, never accounts). Returns how many chunk starts were sent."""
    services = _services(self)
    with services.db.transaction() as conn:
        if not jobs.mark_processing(conn, UUID(job_id)):
            return 0
    return dispatch(self.app, services)


def dispatch(celery_app, services, start_here: bool = False) -> int:
    """End the jobs whose caps are reached (``scrape.dispatch.stop_capped_jobs``, sending the
    follow-up job of each one it completes), give the free slots of the run budget to queued
    chunks, fairly across tenants and jobs (``scrape.dispatch.take_slots``), and send one
    ``scrape.run_chunk`` per chunk picked; with
    ``start_here`` the first one is started in this task instead (a slot freed by a run's end is
    refilled without a round trip through the broker). Returns the number of chunks picked."""
    s = services.settings
    with services.db.transaction() as conn:  # jobs at their caps end first, outside the budget lock
        follow_ups = stop_capped_jobs(conn, s.apify_price_per_result_usd)
    with services.db.transaction() as conn:
        picks = take_slots(conn, run_budget(s, services.apify_account_limits), s.apify_price_per_result_usd,
                           s.apify_max_followers_per_account, max(60.0, 2.0 * s.chunk_lease_seconds))
    here, rest = (picks[:1], picks[1:]) if start_here else ([], picks)
    with celery_app.producer_or_acquire() as producer:
        for follow_up in follow_ups:  # committed with the completion of a capped job (autoIngest)
            celery_app.send_task("jobs.run", args=[follow_up], producer=producer)
        for job_id, index, _ in rest:
            celery_app.send_task("scrape.run_chunk", args=[str(job_id), index], producer=producer, priority=URGENT)
    for job_id, index, _ in here:
        try:
            _after_start(celery_app, services, str(job_id), index)
        except Exception:  # its lease expires and the poller gives the slot back
            log.exception("inline start of chunk %s/%s failed", job_id, index)
    return len(picks)


def _after_start(celery_app, services, job_id: str, chunk_index: int) -> str:
    """Start the chunk's run and act on the outcome (hand a freed slot on, send a follow-up)."""
    outcome = start_chunk_run(services, UUID(job_id), chunk_index)
    if outcome.slot_freed:
        dispatch(celery_app, services)
    if outcome.follow_up_job_id:
        celery_app.send_task("jobs.run", args=[outcome.follow_up_job_id])
    log.info("chunk %s/%s start: %s %s", job_id, chunk_index, outcome.status, outcome.detail)
    return outcome.status


def enqueue_chunks(celery_app, job_id: str, indexes: list[int], task: str = "scrape.run_chunk") -> int:
    """Send one ``task`` message per chunk index (args ``[job_id, index]`` only) over one
    producer. Returns the number sent."""
    with celery_app.producer_or_acquire() as producer:
        for index in indexes:
            celery_app.send_task(task, args=[job_id, index], producer=producer)
    return len(indexes)


@shared_task(bind=True, name="scrape.dispatch", max_retries=5, default_retry_delay=2,
             autoretry_for=(psycopg.OperationalError,))
def dispatch_task(self) -> int:
    """Hand free run slots to queued chunks; returns how many starts were sent."""
    return dispatch(self.app, _services(self))


@shared_task(bind=True, name="scrape.run_chunk", max_retries=5, default_retry_delay=2,
             autoretry_for=(psycopg.OperationalError,))
def run_chunk(self, job_id: str, chunk_index: int) -> str:
    """Start (or resume) the chunk's Apify run and return: no worker waits on a run. A start
    that freed its slot (refused, failed, back in line) hands the slot on."""
    return _after_start(self.app, _services(self), job_id, chunk_index)


@shared_task(bind=True, name="scrape.collect_chunk", max_retries=5, default_retry_delay=2,
             autoretry_for=(psycopg.OperationalError,))
def collect_chunk_task(self, job_id: str, chunk_index: int) -> str:
    """A webhook or the poller says the chunk's run ended: confirm it with Apify, hand the freed
    run slot on, and send the read step (``scrape.read_dataset``)."""
    services = _services(self)
    outcome = confirm_run_end(services, UUID(job_id), chunk_index)
    if outcome.status == "ended":
        dispatch(self.app, services, start_here=True)
        self.app.send_task("scrape.read_dataset", args=[job_id, chunk_index])
    return outcome.status


@shared_task(bind=True, name="scrape.read_dataset", max_retries=5, default_retry_delay=2,
             autoretry_for=(psycopg.OperationalError,))
def read_dataset_task(self, job_id: str, chunk_index: int) -> str:
    """Read, parse, gender and write the dataset of a run that ended, then finish the chunk."""
    services = _services(self)
    outcome = collect_chunk(services, UUID(job_id), chunk_index,
                            slot_freed=lambda: dispatch(self.app, services, start_here=True))
    if outcome.cap_reached:
        follow_ups: list[str] = []
        abort_job_runs(services, UUID(job_id), "skipped", CAP_REACHED, follow_ups)
        for follow_up in follow_ups:
            self.app.send_task("jobs.run", args=[follow_up])
    if outcome.queued_more:  # sources asked once more: their new chunk takes a free slot now
        dispatch(self.app, services, start_here=True)
    if outcome.follow_up_job_id:  # committed with the job's completion (autoIngest)
        self.app.send_task("jobs.run", args=[outcome.follow_up_job_id])
    log.info("chunk %s/%s collect: %s %s", job_id, chunk_index, outcome.status, outcome.detail)
    return outcome.status


@shared_task(bind=True, name="scrape.poll_runs")
def poll_runs_task(self) -> dict:
    """Beat task (every ``APIFY_POLL_SECONDS``): recover expired leases, collect runs whose end
    was not reported, abort the runs still going of jobs no longer processing (a lost
    ``jobs.abort_runs`` included) and collect them, and refill free slots. Returns counts."""
    services = _services(self)
    found = poll_runs(services)
    with self.app.producer_or_acquire() as producer:
        for job_id, index in found.to_collect:
            self.app.send_task("scrape.collect_chunk", args=[str(job_id), index], producer=producer, priority=URGENT)
        for job_id, index in found.to_read:
            self.app.send_task("scrape.read_dataset", args=[str(job_id), index], producer=producer)
    found.counts["started"] = dispatch(self.app, services)
    return found.counts


@shared_task(bind=True, name="jobs.abort_runs", max_retries=5, default_retry_delay=5,
             autoretry_for=(psycopg.OperationalError,), retry_backoff=True)
def abort_runs(self, job_id: str) -> int:
    """Abort the Apify runs still going for a cancelled job; returns how many were aborted.
    Their slots go to the next chunks in line. Sent by the cancel request; when that message is
    lost the run poller (``scrape.poll_runs``) aborts the runs instead."""
    services = _services(self)
    aborted = abort_job_runs(services, UUID(job_id))
    dispatch(self.app, services)
    return aborted


@shared_task(bind=True, name="jobs.reap_stale")
def reap_stale(self) -> dict:
    """Beat task: re-send scrape jobs never started and single-step jobs whose worker died or
    whose message was lost (all queued jobs when Redis lost its data; chunks are the run
    poller's: ``scrape.poll_runs``), and start jobs the API could not send. Returns counts of
    what it did."""
    services = _services(self)
    found = reaper.find_stale(services)
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
