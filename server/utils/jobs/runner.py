"""Running a single-step background job (ingest, Airtable push, status sync, lifecycle, ...).

A handler is ``handler(services, job, report) -> dict``: ``job`` is the ``scrape_jobs`` row,
``report(progress, partial_result)`` records progress (0–99) and merges keys into the job's
``result``; the dict it returns is merged into ``result`` when the job completes. A handler
raises ``JobFailed`` for an expected failure (its message becomes ``error_message``); any other
exception fails the job too and is re-raised for logging and Sentry.

Cancelling (``POST /api/jobs/<id>/cancel``) moves the row to ``cancelled`` at once; the handler
learns of it at its next safe point: ``report(...)`` and ``report.check()`` (see
:func:`checkpoint`) raise ``JobCancelled`` once the job is no longer ``processing``. Handlers
check before every step and between Airtable batches, and raise ``JobCancelled(result)`` with
what they did before stopping. The worker's last write never changes a terminal status: when
the job was cancelled (or otherwise ended) meanwhile, the handler's result is merged into the
row with ``result["cancel_outcome"]`` = ``"stopped"`` (stopped at a safe point) or
``"finished"`` (all its work was done before the cancel could stop it), and the status stays.
"""
from __future__ import annotations

import logging
from typing import Callable
from uuid import UUID

from server.utils.jobs.table import (TERMINAL, finish_job, is_processing, load_job, mark_processing,
                                     record_late_result, set_progress)

log = logging.getLogger(__name__)

Report = Callable[[int, dict], None]
Handler = Callable[..., dict]


class JobFailed(Exception):
    """The job cannot succeed; ``result`` (optional) is kept on the job."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


class JobCancelled(Exception):
    """The job stopped being ``processing`` (cancelled) while its handler ran; ``result`` holds
    what the handler did before it stopped (merged into the job's result)."""

    def __init__(self, result: dict | None = None):
        super().__init__("cancelled by request")
        self.result = result or {}


class JobReport:
    """The ``report`` handed to a handler: ``report(progress, partial)`` records progress and
    raises ``JobCancelled(partial)`` when the job is no longer ``processing`` (the partial is
    still merged into its result); ``report.check()`` only looks at the status (one indexed
    read) and raises ``JobCancelled()`` the same way."""

    def __init__(self, services, job_id: UUID):
        self.services, self.job_id = services, job_id

    def __call__(self, progress: int, partial: dict | None = None) -> None:
        with self.services.db.transaction() as conn:
            if set_progress(conn, self.job_id, progress, partial):
                return
            if partial:
                record_late_result(conn, self.job_id, partial)
        raise JobCancelled(partial)

    def check(self) -> None:
        with self.services.db.transaction() as conn:
            if is_processing(conn, self.job_id):
                return
        raise JobCancelled()


def checkpoint(report) -> None:
    """A safe point to stop at: raises ``JobCancelled`` when the job behind ``report`` was
    cancelled. ``report`` without a ``check`` method (a plain callback, None) never raises."""
    check = getattr(report, "check", None)
    if check is not None:
        check()


def checker(report):
    """A progress callback that only checks for a cancel (ignores progress), for work run under
    a job whose progress it should not move; None stays None."""
    if report is None:
        return None

    def quiet(progress: int = 0, partial: dict | None = None) -> None:
        checkpoint(report)
    quiet.check = lambda: checkpoint(report)
    return quiet


def run_job(services, job_id: UUID, handler_for: Callable[[str], Handler]) -> str:
    """Claim the queued job, run its kind's handler, record the outcome; returns the final
    status as stored (``"cancelled"`` when a cancel won, whatever the handler did), or
    ``"noop"`` when the job was already taken or finished (a redelivered message)."""
    with services.db.transaction() as conn:
        job = load_job(conn, job_id)
        if job is None or job["status"] in TERMINAL or not mark_processing(conn, job_id):
            return "noop"
        job = load_job(conn, job_id)
    handler = handler_for(job["kind"])

    report = JobReport(services, job_id)
    try:
        result = handler(services, job, report) or {}
    except JobCancelled as exc:
        log.info("job %s stopped after a cancel", job_id)
        return _finish(services, job_id, "cancelled", {**exc.result, "cancel_outcome": "stopped"}, None)
    except JobFailed as exc:
        return _finish(services, job_id, "failed", exc.result, str(exc))
    except Exception as exc:
        _finish(services, job_id, "failed", {}, f"{type(exc).__name__}: {exc}"[:1000])
        raise
    status = result.pop("_status", "completed")
    return _finish(services, job_id, status, result, result.get("error_message"))


def _finish(services, job_id: UUID, status: str, result: dict, error_message: str | None) -> str:
    """Record the handler's outcome; when the job already ended (a cancel won the race), keep
    its status and only merge ``result`` (what was really done). Returns the stored status."""
    with services.db.transaction() as conn:
        if status != "cancelled" and finish_job(conn, job_id, status, result, error_message):
            return status
        late = {**result, "cancel_outcome": result.get("cancel_outcome", "finished")}
        if status == "failed" and error_message:
            late["error_after_cancel"] = error_message
        final = record_late_result(conn, job_id, late)
        if final is None:  # still active: a handler raised JobCancelled without a cancel
            finish_job(conn, job_id, "cancelled", late, "cancelled by request")
            return "cancelled"
    if final != status:
        log.info("job %s was %s before the worker finished (%s); its result is kept", job_id, final, status)
    return final
