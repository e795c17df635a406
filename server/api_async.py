"""Endpoints that create background jobs, and job status, results and cancel (DESIGN.md §4).

Handlers stay thin: validate, call one domain function, serialise. Every job is committed to
Postgres before its first message is sent, and every query is scoped to ``g.tenant``.
"""
from __future__ import annotations

import base64
import logging
from datetime import datetime
from math import ceil
from uuid import UUID

from flask import Response, current_app, g, stream_with_context
from marshmallow import RAISE

from server.api_async_schemas import (JobListSchema, JobSchema, JobsQuerySchema, ResultsPageSchema,
                                      ResultsQuerySchema, ScrapeAcceptedSchema, ScrapeRequestSchema)
from server.api_common import (IDEMPOTENCY_KEY_PARAMETER, LOCATION_HEADER, ApiBlueprint, ApiError, EmptyRequestSchema,
                               accepted, decode_cursor, encode_cursor, enqueue, idempotency_key,
                               request_fingerprint)
from server.request_db import request_connection, request_transaction
from server.utils.accounts import normalise_accounts, normalise_username
from server.utils.jobs import table as jobs
from server.utils.jobs.listing import list_jobs
from server.utils.scrape.create import create_scrape_job, scrape_params
from server.utils.scrape.results import iter_results_csv, results_page
from server.utils.scrape.source_report import accounts_to_exclude, below_target, job_with_status_counts

log = logging.getLogger(__name__)

blp = ApiBlueprint("jobs", __name__, url_prefix="/api", description="Scrape jobs and job status")

RESULTS_READY = jobs.TERMINAL  # failed and cancelled jobs keep what they stored
REJECTS_SHOWN = 100


def _services():
    return current_app.extensions["services"]


@blp.post("/scrape-followers")
@blp.arguments(ScrapeRequestSchema)
@blp.response(202, ScrapeAcceptedSchema, headers=LOCATION_HEADER)
@blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
@blp.alt_response(400, description="A field is invalid; error.details names it")
def scrape_followers(body: dict):
    """Start a scrape of the followers of ``accounts``; answers at once with the job id."""
    settings = _services().settings
    norm = normalise_accounts(body["accounts"])
    if not norm.accepted:
        reasons = sorted({r["reason"] for r in norm.rejected})
        raise ApiError(400, "VALIDATION_ERROR", "no valid Instagram account in accounts",
                       {"accounts": [f"no valid account ({', '.join(reasons)})"]})
    excluded = _exclude_by_last_status(norm, body["accounts"], body["excludeSourceStatuses"])
    max_profiles = body.get("totalScrapeCount")
    params = scrape_params(body, len(norm.accepted), len(norm.rejected), norm.duplicates,
                           settings.apify_max_followers_per_account)
    params.update(excludeSourceStatuses=body["excludeSourceStatuses"], accounts_excluded=excluded)
    # Outside the request's transaction (none is open unless excludeSourceStatuses needed one)
    # create_scrape_job commits the job itself, one statement for a small job, and the message
    # below is sent at once; inside it, after the request's commit.
    new = create_scrape_job(request_connection(), g.tenant.tenant_id, norm.accepted, params, settings.chunk_size,
                            max_profiles, idempotency_key(), request_fingerprint(body))
    if new.created:
        enqueue("scrape.start", str(new.job["job_id"]))
    return accepted(new.job, accounts_accepted=len(norm.accepted), accounts_rejected=len(norm.rejected),
                    accounts_excluded=excluded, duplicates_removed=norm.duplicates,
                    rejected=norm.rejected[:REJECTS_SHOWN])


def _exclude_by_last_status(norm, raw_accounts: list[str], statuses: list[str]) -> int:
    """Move the accepted accounts whose last known status is one of ``statuses`` to
    ``norm.rejected`` (with that status as the reason), so they are never scraped or paid for;
    returns how many. 400 when no account is left."""
    if not statuses:
        return 0
    with request_transaction() as conn:  # a server-side cursor: the request's transaction
        found = accounts_to_exclude(conn, g.tenant.tenant_id, norm.accepted, statuses)
    if not found:
        return 0
    excluded = len(found)
    norm.accepted = [a for a in norm.accepted if a not in found]
    for index, raw in enumerate(raw_accounts):
        username, _ = normalise_username(raw)
        last = found.pop(username, None)
        if last:
            norm.rejected.append({"index": index, "value": raw[:100], "reason": (
                f"excluded: last status {last['status']} (job {last['job_id']}, {last['at']})")})
        if not found:
            break
    if not norm.accepted:
        raise ApiError(400, "VALIDATION_ERROR", "every account was excluded by excludeSourceStatuses",
                       {"accounts": ["every account's last known status is in excludeSourceStatuses"]})
    return excluded


def job_or_404(conn, job_id: UUID) -> dict:
    """The caller's job ``job_id``; ``ApiError`` 404 when unknown or another tenant's."""
    job = jobs.get_job(conn, g.tenant.tenant_id, job_id)
    if job is None:
        raise ApiError(404, "NOT_FOUND", "job not found")
    return job


@blp.get("/jobs")
@blp.arguments(JobsQuerySchema, location="query", unknown=RAISE)
@blp.response(200, JobListSchema)
@blp.alt_response(400, description="A query parameter is invalid; error.details names it")
def list_tenant_jobs(query: dict):
    """The tenant's jobs, newest first, filtered by ``kind``, ``status`` and creation time;
    keyset-paginated: pass ``next_cursor`` as ``cursor`` for the next page."""
    after = decode_cursor(query["cursor"], datetime.fromisoformat, UUID) if query.get("cursor") else None
    with _services().db.transaction() as conn:
        rows, next_key = list_jobs(conn, g.tenant.tenant_id, kind=query.get("kind"),
                                   statuses=query.get("status"), created_after=query.get("created_after"),
                                   created_before=query.get("created_before"), limit=query["limit"],
                                   after=after)
    return {"success": True, "jobs": [jobs.job_to_json(r) for r in rows],
            "next_cursor": encode_cursor(*next_key) if next_key else None}


@blp.get("/job-status/<job_id:job_id>")
@blp.response(200, JobSchema)
@blp.alt_response(404, description="Unknown job, or another tenant's")
def job_status(job_id: UUID):
    """Status, progress, counters and cost of one of the tenant's jobs."""
    found = job_with_status_counts(request_connection(), g.tenant.tenant_id, job_id)
    if found is None:
        raise ApiError(404, "NOT_FOUND", "job not found")
    job, counts = found
    body = jobs.job_to_json(job)
    if counts is not None:  # a scrape job: per-source counts, and why a capped job fell short
        body["sources"] = counts
        shortfall = below_target(job, counts)
        if shortfall:
            body["result"] = {**body["result"], "below_target": shortfall}
    return {"success": True, **body}


@blp.get("/job-results/<job_id:job_id>")
@blp.arguments(ResultsQuerySchema, location="query", unknown=RAISE)
@blp.response(200, ResultsPageSchema)
@blp.alt_response(409, description="The job has not finished yet")
@blp.doc(description="With format=csv the answer is text/csv with the columns of ProfileSchema, streamed.")
def job_results(query: dict, job_id: UUID):
    """Kept profiles of a finished scrape job: a page (``page``/``limit`` or keyset ``cursor``),
    or every row as CSV with ``format=csv`` (streamed)."""
    conn = request_connection()  # an ended job's rows no longer change: no transaction needed
    job = job_or_404(conn, job_id)
    if job["kind"] != "scrape":
        raise ApiError(409, "NO_RESULTS", f"only scrape jobs have profile results; this job's kind is {job['kind']}")
    if job["status"] not in RESULTS_READY:
        raise ApiError(409, "JOB_NOT_FINISHED", f"job is {job['status']}; results are ready when it ends",
                       {"status": job["status"], "progress": job["progress"]})
    if query["format"] == "csv":
        return _csv_response(job_id)
    after_id = _decode_cursor(query.get("cursor"))
    rows, next_id = results_page(conn, job_id, query["page"], query["limit"], after_id)
    total = job["profiles_scraped"]
    return {"success": True, "profiles": rows, "page": query["page"], "limit": query["limit"],
            "total": total, "pages": ceil(total / query["limit"]),
            "next_cursor": _encode_cursor(next_id)}


def _csv_response(job_id: UUID) -> Response:
    db = _services().db
    headers = {"Content-Disposition": f'attachment; filename="job-{job_id}.csv"'}
    return Response(stream_with_context(iter_results_csv(db, job_id)), mimetype="text/csv",
                    headers=headers)


def _encode_cursor(result_id: int | None) -> str | None:
    return base64.urlsafe_b64encode(str(result_id).encode()).decode() if result_id else None


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "invalid cursor",
                       {"cursor": ["not a next_cursor value from a previous page"]}) from None


@blp.post("/jobs/<job_id:job_id>/cancel")
@blp.arguments(EmptyRequestSchema)
@blp.response(202, JobSchema)
@blp.alt_response(409, description="The job had already finished")
def cancel_job(body: dict, job_id: UUID):
    """Cancel a queued or running job: queued chunks stop, running Apify runs are aborted. Other
    jobs (ingest, Airtable push, status sync, lifecycle, base setup, run-daily) start no further
    step and stop at their next safe point (between Airtable batches, tables or ingest batches);
    the job stays ``cancelled`` and, once the worker has stopped, its ``result`` tells what was
    done (``cancel_outcome``: ``stopped`` part way, or ``finished`` before the cancel landed)."""
    with request_transaction() as conn:
        job_or_404(conn, job_id)
        job = jobs.request_cancel(conn, g.tenant.tenant_id, job_id)
        if job is None:  # already ended, or a concurrent cancel won
            status = jobs.get_job(conn, g.tenant.tenant_id, job_id)["status"]
            raise ApiError(409, "JOB_FINISHED", f"job already {status}", {"status": status})
    if job["kind"] == "scrape":
        enqueue("jobs.abort_runs", str(job_id))
    return {"success": True, **jobs.job_to_json(job)}

