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

from server.services import Services
from server.settings import Settings


def create_celery(settings: Settings, services: Services | None = None) -> Celery:
    """A configured Celery app whose tasks find ``app.services`` (built lazily per process)."""
    app = Celery("server", set_as_current=True, include=["server.tasks"])
    app.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
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
        worker_hijack_root_logger=False,
        task_default_queue=settings.celery_queue,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "reap-stale-chunks": {"task": "jobs.reap_stale", "schedule": 60.0},
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
    return app
