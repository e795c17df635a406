"""Running a single-step background job (ingest, Airtable push, status sync, lifecycle, ...).

A handler is ``handler(services, job, report) -> dict``: ``job`` is the ``scrape_jobs`` row,
``report(progress, partial_result)`` records progress (0–99) and merges keys into the job's
``result``; the dict it returns is merged into ``result`` when the job completes. A handler
raises ``JobFailed`` for an expected failure (its message becomes ``error_message``); any other
exception fails the job too and is re-raised for logging and Sentry.
"""
from __future__ import annotations

import logging
from typing import Callable
from uuid import UUID

from server.utils.jobs.table import TERMINAL, finish_job, load_job, mark_processing, set_progress

log = logging.getLogger(__name__)

Report = Callable[[int, dict], None]
Handler = Callable[..., dict]


class JobFailed(Exception):
    """The job cannot succeed; ``result`` (optional) is kept on the job."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


def run_job(services, job_id: UUID, handler_for: Callable[[str], Handler]) -> str:
    """Claim the queued job, run its kind's handler, record the outcome; returns the final
    status, or ``"noop"`` when the job was already taken or finished (a redelivered message)."""
    with services.db.transaction() as conn:
        job = load_job(conn, job_id)
        if job is None or job["status"] in TERMINAL or not mark_processing(conn, job_id):
            return "noop"
        job = load_job(conn, job_id)
    handler = handler_for(job["kind"])

    def report(progress: int, partial: dict | None = None) -> None:
        with services.db.transaction() as conn:
            set_progress(conn, job_id, progress, partial)

    try:
        result = handler(services, job, report) or {}
    except JobFailed as exc:
        with services.db.transaction() as conn:
            finish_job(conn, job_id, "failed", exc.result, str(exc))
        return "failed"
    except Exception as exc:
        with services.db.transaction() as conn:
            finish_job(conn, job_id, "failed", {}, f"{type(exc).__name__}: {exc}"[:1000])
        raise
    status = result.pop("_status", "completed")
    with services.db.transaction() as conn:
        finish_job(conn, job_id, status, result, result.get("error_message"))
    return status
