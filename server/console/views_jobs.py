"""Console pages for jobs: sign-in and sign-out, the jobs list with live progress, a job's
detail (chunk grid, per-chunk counts, per-source report, first results, CSV), cancel, and the
JSON the pages poll."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID

from flask import (Response, abort, flash, g, jsonify, redirect, render_template, request, session,
                   stream_with_context, url_for)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server.api_common import ApiError, decode_cursor, encode_cursor, enqueue
from server.console.blueprint import bp
from server.console.formatting import JOB_TONES, KIND_LABELS, TERMINAL, elapsed_seconds, explain_job, tone
from server.console.session import services, sign_in as start_session
from server.console.source_section import BadView, parse_view, sources_section
from server.utils.jobs import table as jobs
from server.utils.jobs.listing import jobs_overview, list_jobs
from server.utils.outreach.overview import run_summary
from server.utils.scrape.progress import chunk_status_counts, job_chunks
from server.utils.scrape.results import iter_results_csv, results_page
from server.utils.scrape.source_report import iter_job_sources_csv

PAGE_SIZE = 25
OVERVIEW_DAYS = 30
FIRST_RESULTS = 20
CHUNK_ROWS_SHOWN = 200
JOB_STATUSES = tuple(JOB_TONES)


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError):
    return render_template("console/error.html", title="Form refused",
                           message="This form was refused because its security token is missing or out of "
                                   "date (CSRF protection). Reload the page and try again.",
                           signed_in="tenant" in g), 400


@bp.errorhandler(400)
@bp.errorhandler(404)
def error_page(exc: HTTPException):
    """The console's page for an HTTP error: 404 and 400 in plain words (with the reason a 400
    was given), any other code by its name."""
    if exc.code == 404:
        title, message = "Not found", "There is no such page or job for your tenant."
    elif exc.code == 400:
        title, message = "Bad request", "The request was not understood."
        if exc.description != type(exc).description:  # abort(400, description=...), a bad path parameter
            message = f"The request was not understood: {exc.description}."
    else:
        title, message = exc.name, exc.description
    return render_template("console/error.html", title=title, message=message, signed_in="tenant" in g), exc.code


@bp.get("/")
def home():
    """The console starts on the jobs list."""
    return redirect(url_for("console.jobs_page"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Sign in with an API key; a bad key is refused with 401 and the form again."""
    error = None
    if request.method == "POST":
        tenant = start_session(request.form.get("api_key", ""))
        if tenant is not None:
            target = request.args.get("next") or ""
            if not target.startswith("/console/") or target.startswith("//"):
                target = url_for("console.jobs_page")
            return redirect(target)
        error = "That API key is not valid, or it was revoked."
    expired = request.args.get("expired") == "1"
    status = 401 if error else 200
    return render_template("console/sign_in.html", error=error, expired=expired), status


@bp.post("/sign-out")
def sign_out():
    """End the session."""
    session.clear()
    flash("You are signed out.", "ok")
    return redirect(url_for("console.sign_in"))


def _job_row(job: dict) -> dict:
    """A job as the list and the live endpoint show it."""
    cost = job["cost_usd"]
    return {
        "job_id": str(job["job_id"]), "kind": job["kind"], "kind_label": KIND_LABELS.get(job["kind"], job["kind"]),
        "status": job["status"], "tone": tone(job["status"], JOB_TONES), "progress": job["progress"],
        "kept": job["profiles_scraped"], "target": job["max_profiles"], "items_read": job["items_read"],
        "chunks_total": job["total_batches"], "chunks_done": job["current_batch"],
        "chunks_failed": job["chunks_failed"], "cost_usd": float(cost or 0),
        "elapsed": elapsed_seconds(job), "created_at": job["created_at"],
        "active": job["status"] not in TERMINAL, "error_message": job["error_message"],
    }


@bp.get("/jobs")
def jobs_page():
    """The tenant's jobs, newest first, with filters and live progress bars."""
    kind = request.args.get("kind") or None
    status = request.args.get("status") or None
    if kind not in (None, *KIND_LABELS) or status not in (None, *JOB_STATUSES):
        abort(400)
    try:  # dates of the form (UTC days): from the start of ``from`` to the end of ``to``
        day_from = date.fromisoformat(request.args["from"]) if request.args.get("from") else None
        day_to = date.fromisoformat(request.args["to"]) if request.args.get("to") else None
    except ValueError:
        abort(400)
    created_after = datetime.combine(day_from, time(), timezone.utc) if day_from else None
    created_before = (datetime.combine(day_to + timedelta(days=1), time(), timezone.utc)
                      if day_to and day_to < date.max else None)
    after = None
    if request.args.get("cursor"):
        try:
            after = decode_cursor(request.args["cursor"], datetime.fromisoformat, UUID)
        except ApiError:
            abort(400)
    filters = {"kind": kind, "status": status, "from": request.args.get("from") or None,
               "to": request.args.get("to") or None}
    with services().db.transaction() as conn:
        rows, next_key = list_jobs(conn, g.tenant.tenant_id, kind=kind, statuses=[status] if status else None,
                                   created_after=created_after, created_before=created_before,
                                   limit=PAGE_SIZE, after=after)
        overview = jobs_overview(conn, g.tenant.tenant_id,
                                 datetime.now(timezone.utc) - timedelta(days=OVERVIEW_DAYS))
    next_url = url_for("console.jobs_page", **filters, cursor=encode_cursor(*next_key)) if next_key else None
    return render_template("console/jobs.html", jobs=[_job_row(r) for r in rows], filters=filters,
                           kinds=KIND_LABELS, statuses=JOB_STATUSES, next_url=next_url,
                           first_page=after is None, overview=overview, overview_days=OVERVIEW_DAYS)


@bp.get("/live/jobs.json")
def live_jobs():
    """Current progress of the jobs ``id=...`` (repeatable, at most 100) of this tenant."""
    ids = []
    for value in request.args.getlist("id")[:100]:
        try:
            ids.append(UUID(value))
        except ValueError:
            abort(400)
    out = {}
    with services().db.transaction() as conn:
        for job_id in ids:
            job = jobs.get_job(conn, g.tenant.tenant_id, job_id)
            if job is not None:
                out[str(job_id)] = _job_row(job)
    return jsonify({"jobs": out})


def _job_or_404(conn, job_id: UUID) -> dict:
    job = jobs.get_job(conn, g.tenant.tenant_id, job_id)
    if job is None:
        abort(404)
    return job


def _sources_view():
    """The per-source view of the query string; a bad value is a 400 page naming the field."""
    try:
        return parse_view(request.args)
    except BadView as exc:
        abort(400, description=str(exc))


@bp.get("/jobs/<job_id:job_id>")
def job_page(job_id: UUID):
    """One job: progress, chunk grid, per-chunk counts, per-source report (``sources_*`` query
    arguments: see ``source_section``), first results, CSV, errors in plain words."""
    view = _sources_view()
    with services().db.transaction() as conn:
        job = _job_or_404(conn, job_id)
        chunks = job_chunks(conn, g.tenant.tenant_id, job_id) if job["kind"] == "scrape" else []
        sources = sources_section(conn, job, view) if job["kind"] == "scrape" else None
        first = []
        if job["kind"] == "scrape" and job["profiles_scraped"]:
            first, _ = results_page(conn, job_id, 1, FIRST_RESULTS)
    return render_template(
        "console/job.html", job=_job_row(job), raw=job, params=jobs.job_to_json(job)["params"],
        result=job["result"] or {}, chunks=chunks, chunk_counts=chunk_status_counts(chunks),
        chunk_rows=chunks[:CHUNK_ROWS_SHOWN], explanation=explain_job(job), first_results=first,
        sources=sources, run=run_summary(job) if job["kind"] == "run_daily" else None,
        chunk_size=services().settings.chunk_size)


@bp.get("/jobs/<job_id:job_id>/live.json")
def job_live(job_id: UUID):
    """The job's progress and the status of each chunk (index order), for the detail page."""
    with services().db.transaction() as conn:
        job = _job_or_404(conn, job_id)
        chunks = job_chunks(conn, g.tenant.tenant_id, job_id) if job["kind"] == "scrape" else []
    row = _job_row(job)
    row.pop("created_at")
    return jsonify({"job": row, "chunks": [c["status"] for c in chunks],
                    "chunk_counts": chunk_status_counts(chunks)})


@bp.get("/jobs/<job_id:job_id>/results.csv")
def job_csv(job_id: UUID):
    """Every kept profile of a finished scrape job as CSV (streamed)."""
    with services().db.transaction() as conn:
        job = _job_or_404(conn, job_id)
    if job["kind"] != "scrape" or job["status"] not in TERMINAL:
        flash("Results can be downloaded once the scrape has finished.", "warn")
        return redirect(url_for("console.job_page", job_id=job_id))
    return Response(stream_with_context(iter_results_csv(services().db, job_id)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="job-{job_id}.csv"'})


@bp.get("/jobs/<job_id:job_id>/sources.csv")
def job_sources_csv(job_id: UUID):
    """Every source account of a scrape job matching the page's status filter, in its sort
    order, as CSV (streamed; the columns of ``GET /api/jobs/<id>/sources?format=csv``). Live
    while the job runs."""
    view = _sources_view()
    with services().db.transaction() as conn:
        job = _job_or_404(conn, job_id)
    if job["kind"] != "scrape":
        flash("Only scrape jobs have source accounts.", "warn")
        return redirect(url_for("console.job_page", job_id=job_id))
    stream = iter_job_sources_csv(services().db, job, view.status, view.sort, view.order)
    return Response(stream_with_context(stream), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="job-{job_id}-sources.csv"'})


@bp.post("/jobs/<job_id:job_id>/cancel")
def cancel(job_id: UUID):
    """Cancel a queued or running job (running Apify runs of a scrape are aborted)."""
    with services().db.transaction() as conn:
        _job_or_404(conn, job_id)
        job = jobs.request_cancel(conn, g.tenant.tenant_id, job_id)
    if job is None:
        flash("The job had already finished.", "warn")
    else:
        if job["kind"] == "scrape":
            enqueue("jobs.abort_runs", str(job_id))
        flash("Job cancelled.", "ok")
    back = request.form.get("back")
    if back == "list":
        return redirect(url_for("console.jobs_page"))
    return redirect(url_for("console.job_page", job_id=job_id))
