"""Console pages of the daily outreach: the pool with its growth chart, a campaign with one
progress bar per VA table, and the run-daily history with a button to run now."""
from __future__ import annotations

from datetime import date, datetime

from flask import abort, flash, g, redirect, render_template, request, url_for

from server.api_common import enqueue
from server.console.blueprint import bp
from server.console.charts import pool_chart
from server.console.session import services
from server.utils.clock import utc_now
from server.utils.jobs.listing import list_jobs
from server.utils.outreach import overview
from server.utils.outreach.campaigns import STATUSES
from server.utils.outreach.run_daily import RunInProgress, create_run_daily_job

RECENT_CAMPAIGNS = 14
RUNS_SHOWN = 30


@bp.get("/campaigns")
def campaigns_page():
    """Pool size over time and a campaign (``?date=YYYY-MM-DD``; default today's, else the
    latest) with per-VA-table progress, push status and last status sync."""
    today = utc_now(services(), g.tenant).date()
    wanted = None
    if request.args.get("date"):
        try:
            wanted = date.fromisoformat(request.args["date"])
        except ValueError:
            abort(400)
    with services().db.transaction() as conn:
        pool = overview.pool_stats(conn, g.tenant.tenant_id, today)
        recent, _ = overview.list_campaigns(conn, g.tenant.tenant_id, limit=RECENT_CAMPAIGNS)
        if wanted:
            rows, _ = overview.list_campaigns(conn, g.tenant.tenant_id, limit=1, campaign_date=wanted)
        else:
            rows = [r for r in recent if r["campaign_date"] == today] or recent[:1]
        campaign = overview.campaign_summaries(conn, g.tenant.tenant_id, rows)[0] if rows else None
    return render_template("console/campaigns.html", pool=pool, chart=pool_chart(pool["per_day"]),
                           campaign=campaign, recent=recent, today=today, wanted=wanted,
                           statuses=(*STATUSES, "archived"))


@bp.get("/daily-runs")
def daily_runs_page():
    """The run-daily history, newest first, with each step's outcome."""
    with services().db.transaction() as conn:
        rows, _ = list_jobs(conn, g.tenant.tenant_id, kind="run_daily", limit=RUNS_SHOWN)
    runs = [overview.run_summary(r) for r in rows]
    for run, row in zip(runs, rows):
        run["created"] = row["created_at"]
        run["elapsed"] = ((row["completed_at"] or datetime.now(row["created_at"].tzinfo))
                          - (row["started_at"] or row["created_at"])).total_seconds()
    return render_template("console/daily_runs.html", runs=runs, has_base=bool(g.tenant.airtable_base_id))


@bp.post("/daily-runs/run")
def run_daily_now():
    """Start today's run-daily job now (refused while one is running or without a base)."""
    if not g.tenant.airtable_base_id:
        flash("This tenant has no Airtable base configured, so there is nothing to push to.", "bad")
        return redirect(url_for("console.daily_runs_page"))
    try:
        with services().db.transaction() as conn:
            new = create_run_daily_job(conn, g.tenant.tenant_id, utc_now(services(), g.tenant).date(), None, None)
    except RunInProgress as exc:
        flash(f"A daily run is already {exc.job['status']}; it is shown below.", "warn")
        return redirect(url_for("console.job_page", job_id=exc.job["job_id"]))
    enqueue("jobs.run", str(new.job["job_id"]))
    flash("Daily run started.", "ok")
    return redirect(url_for("console.job_page", job_id=new.job["job_id"]))
