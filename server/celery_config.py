"""The Celery app and its settings (DESIGN.md §2, field reports B01–B06).

Long, paid tasks need: late acks so a killed worker's task is redelivered, rejection on worker
loss, prefetch 1 so a busy worker does not hoard queued chunks, a Redis visibility timeout longer
than any task can run, soft and hard time limits, JSON only, results ignored (Postgres owns job
state), and child recycling to keep memory bounded.
"""
from __future__ import annotations

import ssl

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_init, worker_process_init

from server.services import Services
from server.settings import Settings

WORKER_PROC_ALIVE_SECONDS = 60.0


def create_celery(settings: Settings, services: Services | None = None) -> Celery:
    """A configured Celery app whose tasks find ``app.services`` (built lazily per process)."""
    app = Celery("server", set_as_current=True, include=["server.tasks"])
    app.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        # Priority lists per queue (0 first): run starts and run-end confirmations overtake
        # dataset reads, so the run budget stays full (tasks.URGENT).
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout,
                                  "priority_steps": list(range(10)), "sep": ":",
                                  "queue_order_strategy": "priority"},
        task_default_priority=5,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child,
        # A new pool process must report ready within this (Celery's default, 4 s, is shorter
        # than a start on a loaded machine; the pool then kills it and tries again, in a loop).
        worker_proc_alive_timeout=WORKER_PROC_ALIVE_SECONDS,
        worker_hijack_root_logger=False,
        task_default_queue=settings.celery_queue,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "reap-stale-chunks": {"task": "jobs.reap_stale", "schedule": 60.0},
            "poll-apify-runs": {"task": "scrape.poll_runs", "schedule": settings.apify_poll_seconds},
            "schedule-daily-runs": {"task": "daily.schedule_due_runs", "schedule": crontab(minute="*")},
            "purge-raw-profiles": {"task": "jobs.purge_raw_profiles", "schedule": crontab(minute=17)},
        },
    )
    tls = settings.redis_ssl_options()
    if tls:  # rediss://: verify as REDIS_SSL_CERT_REQS says, never Celery's silent fallback
        use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED if tls["ssl_cert_reqs"] == "required" else ssl.CERT_NONE}
        if "ssl_ca_certs" in tls:
            use_ssl["ssl_ca_certs"] = tls["ssl_ca_certs"]
        app.conf.broker_use_ssl = use_ssl
        app.conf.redis_backend_use_ssl = use_ssl
    app.services = services or Services(settings)
    worker_init.connect(_warm_up, weak=False)  # the main process, before it forks the pool
    worker_process_init.connect(_warm_up, weak=False)
    return app


def _warm_up(**_kwargs) -> None:
    """Load the gender name tables before a process takes a task, so the first dataset read
    does not pay for it: in the worker's main process, so the pool processes forked from it
    (and their replacements after ``worker_max_tasks_per_child``) start with them loaded, and
    again in each pool process, where it costs nothing unless the pool does not fork."""
    from server.utils.gender import detect_gender

    detect_gender("Warm Up", "warm.up")
