"""Endpoints of the daily outreach pipeline: ingest, selection, distribution, Airtable push,
status sync, lifecycle and run-daily (DESIGN.md §4, §6).

Handlers stay thin: validate (marshmallow schemas in ``server.api_outreach_schemas``), call one domain
function, serialise. Endpoints that start work store a job and answer 202 like the scrape
endpoint (``{job_id, status, status_url}`` + ``Location``); the job row is committed before
``jobs.run`` is sent. Every query is scoped to ``g.tenant``: another tenant's campaign or job
is a 404.
"""
from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from flask import current_app, g
from marshmallow import RAISE

from server.api_common import (IDEMPOTENCY_KEY_PARAMETER, LOCATION_HEADER, ApiBlueprint, ApiError, EmptyRequestSchema,
                               accepted, decode_cursor, encode_cursor, enqueue, idempotency_key,
                               request_fingerprint)
from server.api_outreach_schemas import (CampaignListSchema, CampaignSchema, CampaignsQuerySchema, CapacitySchema,
                                         DailyJobAcceptedSchema, DailyRunListSchema, DailyRunsQuerySchema,
                                         DistributionSchema, IngestRequestSchema, PoolSchema, SelectionRequestSchema,
                                         SelectionSchema)
from server.request_db import request_transaction
from server.utils.clock import utc_now
from server.utils.jobs import table as jobs
from server.utils.jobs.listing import list_jobs
from server.utils.outreach import campaigns, capacity, overview
from server.utils.outreach.distribution import CampaignNotFound, distribute_for_tenant
from server.utils.outreach.ingest import REJECTS_KEPT, check_source_job, normalise_profiles
from server.utils.outreach.run_daily import RunInProgress, create_run_daily_job
from server.utils.outreach.selection import select_for_tenant
from server.utils.tenants import load_tenant

blp = ApiBlueprint("daily", __name__, url_prefix="/api", description="Pool, campaigns and Airtable")

PUSHABLE = ("distributed", "pushing", "pushed", "partial", "failed")


def _services():
    return current_app.extensions["services"]


def _require_airtable_base() -> None:
    if not g.tenant.airtable_base_id:
        raise ApiError(409, "NO_AIRTABLE_BASE", "this tenant has no Airtable base configured")


def _start_job(kind: str, params: dict, body: dict, check=None, **extra):
    """Store a ``kind`` job for the validated request ``body`` (``check(conn)`` runs first in the
    same transaction and may raise ``ApiError``), enqueue ``jobs.run`` after commit when it is
    new, answer 202."""
    with request_transaction() as conn:
        if check is not None:
            check(conn)
        new = jobs.insert_job(conn, g.tenant.tenant_id, kind, params, idempotency_key(), request_fingerprint(body))
    if new.created:
        enqueue("jobs.run", str(new.job["job_id"]))
    return accepted(new.job, **extra)


def _campaign_or_404(conn, campaign_id: UUID) -> dict:
    campaign = campaigns.get_campaign(conn, g.tenant.tenant_id, campaign_id)
    if campaign is None:
        raise ApiError(404, "NOT_FOUND", "campaign not found")
    return campaign


# -- pool ------------------------------------------------------------------------------------
@blp.post("/ingest")
@blp.arguments(IngestRequestSchema)
@blp.response(202, DailyJobAcceptedSchema, headers=LOCATION_HEADER)
@blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
@blp.alt_response(400, description="A field is invalid, or no profile is valid; error.details names it")
@blp.alt_response(404, description="job_id is unknown or another tenant's")
@blp.alt_response(409, description="job_id is not a finished scrape job")
def ingest(body: dict):
    """Add profiles to the tenant's pool: ``profiles`` given here, or the kept profiles of the
    finished scrape job ``job_id``. Known ids (also renamed accounts) are updated, never
    duplicated; the job's result counts added / already_known / renamed / rejected."""
    if "job_id" in body:
        def check(conn):
            status, code, message = check_source_job(conn, g.tenant.tenant_id, body["job_id"])
            if status != 200:
                raise ApiError(status, code, message, {"job_id": [message]} if status == 409 else None)
        return _start_job("ingest", {"job_id": str(body["job_id"])}, body, check)
    norm = normalise_profiles(body["profiles"])
    if not norm.accepted:
        reasons = ", ".join(f"{r}: {n}" for r, n in norm.rejected_counts.items() if n)
        raise ApiError(400, "VALIDATION_ERROR", "no valid profile in profiles",
                       {"profiles": [f"no valid profile ({reasons})"]})
    params = {"profiles": [{"profile_id": p.profile_id, "username": p.username, "full_name": p.full_name}
                           for p in norm.accepted],
              "rejected": norm.rejected_counts}
    return _start_job("ingest", params, body, profiles_received=len(body["profiles"]),
                      profiles_accepted=len(norm.accepted), rejected_counts=norm.rejected_counts,
                      rejected=norm.rejected[:REJECTS_KEPT])


@blp.get("/pool")
@blp.response(200, PoolSchema)
def pool():
    """The tenant's pool: size, unused, by gender, and profiles added per day with the pool
    size at the end of each of the last 30 days (UTC)."""
    with _services().db.transaction() as conn:
        stats = overview.pool_stats(conn, g.tenant.tenant_id, utc_now(_services(), g.tenant).date())
    return {"success": True, **stats}


# -- campaigns -------------------------------------------------------------------------------
@blp.get("/campaigns")
@blp.arguments(CampaignsQuerySchema, location="query", unknown=RAISE)
@blp.response(200, CampaignListSchema)
@blp.alt_response(400, description="A query parameter is invalid; error.details names it")
def list_campaigns(query: dict):
    """The tenant's campaigns, newest date first, each with its push status, last status sync
    and per-VA-table counts; keyset-paginated (``next_cursor`` → ``cursor``)."""
    after = decode_cursor(query["cursor"], date.fromisoformat, UUID) if query.get("cursor") else None
    with _services().db.transaction() as conn:
        rows, next_key = overview.list_campaigns(conn, g.tenant.tenant_id, limit=query["limit"], after=after,
                                                 campaign_date=query.get("campaign_date"))
        summaries = overview.campaign_summaries(conn, g.tenant.tenant_id, rows)
    return {"success": True, "campaigns": summaries,
            "next_cursor": encode_cursor(*next_key) if next_key else None}


@blp.get("/daily-runs")
@blp.arguments(DailyRunsQuerySchema, location="query", unknown=RAISE)
@blp.response(200, DailyRunListSchema)
@blp.alt_response(400, description="A query parameter is invalid; error.details names it")
def daily_runs(query: dict):
    """History of the tenant's run-daily jobs, newest first, with each step's outcome (ok,
    failed, skipped, cancelled, not_run) and summary; keyset-paginated (``next_cursor`` → ``cursor``)."""
    after = decode_cursor(query["cursor"], datetime.fromisoformat, UUID) if query.get("cursor") else None
    with _services().db.transaction() as conn:
        rows, next_key = list_jobs(conn, g.tenant.tenant_id, kind="run_daily", limit=query["limit"], after=after)
    return {"success": True, "runs": [overview.run_summary(r) for r in rows],
            "next_cursor": encode_cursor(*next_key) if next_key else None}


@blp.post("/daily-selection")
@blp.arguments(SelectionRequestSchema)
@blp.response(200, SelectionSchema)
@blp.alt_response(400, description="campaign_date or profiles_per_table is invalid")
def daily_selection(body: dict):
    """Create the campaign of ``campaign_date`` (default today, UTC) and claim
    ``num_va_tables × profiles_per_table`` unused profiles for it; the same date again returns
    the existing campaign (``existing: true``). A small pool gives a partial campaign with a
    ``warning``; an empty pool stores nothing and answers ``campaign_id: null``, ``status:
    "empty"`` with a warning."""
    selection = select_for_tenant(_services(), g.tenant, body.get("campaign_date"),
                                  body.get("profiles_per_table"))
    return {"success": True, **selection.to_json()}


@blp.post("/distribute/<campaign_id:campaign_id>")
@blp.arguments(EmptyRequestSchema)
@blp.response(200, DistributionSchema)
@blp.alt_response(404, description="Unknown campaign, or another tenant's")
def distribute(body: dict, campaign_id: UUID):
    """Shuffle the campaign's profiles into its VA tables (positions 1..N); repeating the call
    changes nothing and answers the same counts."""
    try:
        result = distribute_for_tenant(_services(), g.tenant, campaign_id)
    except CampaignNotFound:
        raise ApiError(404, "NOT_FOUND", "campaign not found") from None
    return {"success": True, **result.to_json()}


@blp.get("/campaigns/<campaign_id:campaign_id>")
@blp.response(200, CampaignSchema)
@blp.alt_response(404, description="Unknown campaign, or another tenant's")
def campaign_detail(campaign_id: UUID):
    """A campaign with, per VA table, how many rows are pending / followed / unfollow /
    completed and how many were archived (removed from Airtable)."""
    with request_transaction() as conn:
        return {"success": True, **campaigns.campaign_to_json(conn, _campaign_or_404(conn, campaign_id))}


@blp.get("/capacity")
@blp.response(200, CapacitySchema)
@blp.alt_response(409, description="The tenant has no Airtable base")
def capacity_forecast():
    """The tenant's Airtable capacity: per base the records a day, the steady-state and live
    records against the plan's records per base (with the safety margin), the workspace's API
    calls a day and a month against its monthly cap, ``fits`` and the first day it would stop
    fitting (``stops_fitting``). Live records come from the service's own assignments; the
    share followed and the VAs' times from the last 30 days (defaults before that)."""
    _require_airtable_base()
    with request_transaction() as conn:  # the plan and bases as stored now, not as cached with the key
        tenant = load_tenant(conn, g.tenant.tenant_id)
    return {"success": True, **capacity.forecast(_services(), tenant)}


# -- Airtable and lifecycle jobs -------------------------------------------------------------
@blp.post("/airtable-sync/<campaign_id:campaign_id>")
@blp.arguments(EmptyRequestSchema)
@blp.response(202, DailyJobAcceptedSchema, headers=LOCATION_HEADER)
@blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
@blp.alt_response(404, description="Unknown campaign, or another tenant's")
@blp.alt_response(409, description="The campaign is not distributed yet, or no Airtable base")
def airtable_sync(body: dict, campaign_id: UUID):
    """Push the campaign's rows into the VA tables (resumable: a rerun updates, never duplicates).
    Rows that do not fit in a base's record limit or the month's API calls wait (campaign
    ``partial``, job ``completed_with_errors`` naming the base and the limit); a later push
    sends them."""
    _require_airtable_base()

    def check(conn):
        campaign = _campaign_or_404(conn, campaign_id)
        if campaign["status"] not in PUSHABLE:
            raise ApiError(409, "NOT_DISTRIBUTED",
                           f"campaign is {campaign['status']}; distribute it first",
                           {"status": campaign["status"]})
    return _start_job("airtable_push", {"campaign_id": str(campaign_id)}, body, check)


def _simple_job_endpoint(rule: str, kind: str, endpoint: str, summary: str):
    """Register ``POST /api<rule>``: an empty body, answered 202 with a new ``kind`` job."""

    @blp.post(rule, endpoint=endpoint)
    @blp.arguments(EmptyRequestSchema)
    @blp.response(202, DailyJobAcceptedSchema, headers=LOCATION_HEADER)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.alt_response(409, description="The tenant has no Airtable base")
    def view(body: dict):
        _require_airtable_base()
        return _start_job(kind, {}, body)

    view.__doc__ = summary
    return view


_simple_job_endpoint("/airtable/create-base", "create_base", "create_base",
                     "Create the tenant's missing VA tables (Daily_Outreach_Table_NN) in its base.")
_simple_job_endpoint("/sync-airtable-statuses", "status_sync", "sync_airtable_statuses",
                     "Pull VA progress statuses from Airtable into the database.")
_simple_job_endpoint("/mark-unfollow-due", "mark_unfollow", "mark_unfollow_due",
                     "Rows followed for UNFOLLOW_AFTER_DAYS or more become 'unfollow' (DB and Airtable).")
_simple_job_endpoint("/delete-completed-after-delay", "delete_completed", "delete_completed_after_delay",
                     "Rows completed DELETE_COMPLETED_AFTER_HOURS ago are removed from Airtable and archived.")
_simple_job_endpoint("/expire-pending", "expire_pending", "expire_pending",
                     "Rows still pending after EXPIRE_PENDING_AFTER_DAYS are removed from Airtable and archived.")


@blp.post("/run-daily")
@blp.arguments(SelectionRequestSchema)
@blp.response(202, DailyJobAcceptedSchema, headers=LOCATION_HEADER)
@blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
@blp.alt_response(400, description="campaign_date or profiles_per_table is invalid")
@blp.alt_response(409, description="A run-daily job of this tenant is still running, or no Airtable base")
def run_daily(body: dict):
    """Run the whole day: sync statuses → unfollow due → delete completed → expire pending →
    select → distribute → push. ``campaign_date`` defaults to today (UTC)."""
    _require_airtable_base()
    campaign_date = body.get("campaign_date") or utc_now(_services(), g.tenant).date()
    try:
        with request_transaction() as conn:
            new = create_run_daily_job(conn, g.tenant.tenant_id, campaign_date,
                                       body.get("profiles_per_table"), idempotency_key(),
                                       request_fingerprint(body))
    except RunInProgress as exc:
        raise ApiError(409, "RUN_IN_PROGRESS", str(exc), {"job_id": [str(exc.job["job_id"])]}) from None
    if new.created:
        enqueue("jobs.run", str(new.job["job_id"]))
    return accepted(new.job, campaign_date=campaign_date.isoformat())
