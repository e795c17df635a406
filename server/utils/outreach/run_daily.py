"""Run-daily: a tenant's whole daily pipeline as one background job (DESIGN.md §4, §6).

Steps, in order: ``status_sync`` (pull VA statuses) → ``mark_unfollow`` → ``delete_completed``
→ ``expire_pending`` → ``select`` → ``distribute`` → ``push`` (campaigns still waiting for room in
Airtable first, then the day's). Each step's summary is stored
under ``result["steps"][name]`` and progress is reported after each step. A step that raises
stops the later ones; the job fails with ``"step <name> failed: <reason>"`` and keeps the
summaries of the steps that ran. An empty pool is not a failure: ``select`` reports it and
``distribute`` / ``push`` are recorded as skipped.

A cancel (``POST /api/jobs/<id>/cancel``) is honoured before every step and inside the steps
that talk to Airtable (between tables and record batches): the job raises ``JobCancelled`` with
the summaries of the steps that ran (the interrupted one marked ``"cancelled": true`` with what
it did), ``"cancelled_in_step"`` and the campaign id, so the cancelled job tells what was done.

Every step is idempotent (the campaign of a date is reused, distribution places nothing twice,
the push updates records it already created), so re-running the job for the same date resumes.
"""
from __future__ import annotations

import logging
from datetime import date
from uuid import UUID

from psycopg import Connection

from server.utils.clock import utc_now
from server.utils.jobs.runner import JobCancelled, JobFailed, checkpoint
from server.utils.jobs.table import ACTIVE, NewJob, insert_job, job_for_idempotency_key
from server.utils.outreach.distribution import distribute_for_tenant
from server.utils.outreach.selection import select_for_tenant
from server.utils.tenants import Tenant, load_tenant

log = logging.getLogger(__name__)

STEPS = ("status_sync", "mark_unfollow", "delete_completed", "expire_pending", "select",
         "distribute", "push")


class RunInProgress(Exception):
    """The tenant already has a queued or processing run-daily job (``job``)."""

    def __init__(self, job: dict):
        super().__init__(f"run-daily job {job['job_id']} is already {job['status']}")
        self.job = job


def create_run_daily_job(conn: Connection, tenant_id: UUID, campaign_date: date,
                         profiles_per_table: int | None, idempotency_key: str | None,
                         fingerprint: str | None = None) -> NewJob:
    """Insert a queued ``run_daily`` job for ``campaign_date`` in the caller's transaction.

    A repeated ``idempotency_key`` returns the job it created (``created`` False). Otherwise
    raises ``RunInProgress`` when the tenant already has an active run-daily job: two runs at
    once would only race for the same campaign. A per-tenant advisory lock serialises the check.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('run_daily:' || %s::text))", (tenant_id,))
    if idempotency_key:
        existing = job_for_idempotency_key(conn, tenant_id, "run_daily", idempotency_key, fingerprint)
        if existing:
            return NewJob(existing, False)
    active = conn.execute(
        "SELECT * FROM scrape_jobs WHERE tenant_id = %s AND kind = 'run_daily' AND status = ANY(%s)"
        " ORDER BY created_at LIMIT 1", (tenant_id, list(ACTIVE))).fetchone()
    if active:
        raise RunInProgress(active)
    params = {"campaign_date": campaign_date.isoformat(), "profiles_per_table": profiles_per_table}
    return insert_job(conn, tenant_id, "run_daily", params, idempotency_key, fingerprint)


def _step_plan(services, tenant: Tenant, params: dict, state: dict, sub_report):
    """``(name, callable)`` per step; callables return JSON-able summaries. ``state`` carries the
    campaign id from ``select`` to ``distribute`` and ``push``; ``sub_report(name)`` is the
    progress callback handed to the long steps (sync, push)."""
    from server.utils.airtable import push as airtable_push
    from server.utils.outreach import lifecycle, status_sync

    now = utc_now(services, tenant)
    check = sub_report("mark_unfollow").check        # the lifecycle steps' cancel checkpoint
    campaign_date = date.fromisoformat(params["campaign_date"]) if params.get("campaign_date") else now.date()

    def select():
        selection = select_for_tenant(services, tenant, campaign_date, params.get("profiles_per_table"))
        state["campaign_id"] = selection.campaign_id
        return selection.to_json()

    def distribute():
        if state.get("campaign_id") is None:
            return {"skipped": "no campaign: the pool had no unused profiles"}
        return distribute_for_tenant(services, tenant, state["campaign_id"]).to_json()

    def push():
        return airtable_push.push_waiting_then(services, tenant, state.get("campaign_id"), sub_report("push"))

    return [
        ("status_sync", lambda: status_sync.sync_statuses(services, tenant, sub_report("status_sync"))),
        ("mark_unfollow", lambda: lifecycle.mark_unfollow_due(services, tenant, now, check)),
        ("delete_completed", lambda: lifecycle.delete_completed(services, tenant, now, check)),
        ("expire_pending", lambda: lifecycle.expire_pending(services, tenant, now, check)),
        ("select", select),
        ("distribute", distribute),
        ("push", push),
    ]


def run_daily_job(services, job: dict, report) -> dict:
    """Job handler of kind ``run_daily``; ``job["params"]`` is ``{"campaign_date": "YYYY-MM-DD"
    | None, "profiles_per_table": int | None}``.

    Returns ``{"steps": {name: summary}, "steps_run": [names in order] (jsonb does not keep key
    order), "campaign_id": str | None, "campaign_date",
    "warning"?}``. A step that raises, or reports a problem (records rejected by Airtable, a
    table it could not read), stops the later ones: ``JobFailed("step <name> failed: ...",
    {"steps": ..., "failed_step": name})``; ``JobFailed`` too when the tenant no longer exists.
    A cancel stops it before the next step or at the running step's next safe point:
    ``JobCancelled({"steps", "steps_run", "campaign_id", "campaign_date", "cancelled_in_step":
    name | None (None: between steps)})``.
    """
    with services.db.transaction() as conn:
        tenant = load_tenant(conn, job["tenant_id"])
    if tenant is None:
        raise JobFailed("tenant not found")
    state: dict = {}
    steps: dict = {}

    def sub_report(name: str):
        """Progress inside step ``name`` mapped onto its share of the job (partials not kept)."""
        index = STEPS.index(name)

        def inner(progress: int, partial: dict | None = None) -> None:
            report(int(99 * (index + max(0, min(progress, 99)) / 100) / len(STEPS)), {})
        inner.check = lambda: checkpoint(report)
        return inner

    def cancelled(step_name: str | None) -> JobCancelled:
        campaign_id = state.get("campaign_id")
        return JobCancelled({"steps": steps, "steps_run": list(steps), "cancelled_in_step": step_name,
                             "campaign_id": str(campaign_id) if campaign_id else None,
                             "campaign_date": (steps.get("select") or {}).get("campaign_date")})

    plan = _step_plan(services, tenant, job["params"], state, sub_report)
    for index, (name, step) in enumerate(plan, start=1):
        try:
            checkpoint(report)
        except JobCancelled:
            raise cancelled(None) from None
        try:
            steps[name] = _jsonable(step())
        except JobCancelled as exc:  # stopped at a safe point inside the step
            steps[name] = {**_jsonable(exc.result), "cancelled": True}
            raise cancelled(name) from None
        except Exception as exc:  # any failure stops the later steps, with a readable reason
            log.warning("run-daily %s: step %s failed: %r", job["job_id"], name, exc)
            steps[name] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
            raise JobFailed(f"step {name} failed: {type(exc).__name__}: {exc}"[:1000],
                            {"steps": steps, "steps_run": list(steps), "failed_step": name}) from exc
        problems = _problems({name: steps[name]})
        if problems:  # e.g. unreadable tables: later steps would act on stale statuses
            raise JobFailed(f"step {name} failed: " + "; ".join(problems)[:1000],
                            {"steps": steps, "steps_run": list(steps), "failed_step": name})
        try:
            report(int(99 * index / len(plan)), {"steps": steps})
        except JobCancelled:
            if index < len(plan):  # after the last step the work is done: the runner keeps the cancel
                raise cancelled(None) from None
    campaign_id = state.get("campaign_id")
    out = {"steps": steps, "steps_run": list(steps), "campaign_id": str(campaign_id) if campaign_id else None,
           "campaign_date": steps["select"].get("campaign_date")}
    if steps["select"].get("warning"):
        out["warning"] = steps["select"]["warning"]
    return out


def _problems(steps: dict) -> list[str]:
    """Readable problems in step summaries that did not raise: a push that ended ``failed``
    (records rejected by Airtable) or ``partial`` (a base or the month's API calls are full:
    the reason names the base and the limit; the rest waits for the next run), or tables a step
    could not read (``errors``)."""
    problems = []
    for name, summary in steps.items():
        if summary.get("status") in ("failed", "partial"):
            problems.append(f"{name}: {summary.get('error_message') or summary['status']}")
        if summary.get("errors"):
            problems.append(f"{name}: {len(summary['errors'])} error(s), first: {summary['errors'][0]}")
    return problems


def _jsonable(value):
    """Step summaries as JSON-able values (UUIDs, dates and the like become strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
