"""Which tenants' daily run is due now (beat task ``daily.schedule_due_runs``, every minute).

A tenant is due once the real UTC clock has passed its ``daily_run_utc`` today (never a
tenant's simulated clock, see ``server.utils.clock``), it is active,
it existed at that time (a tenant created in the afternoon starts tomorrow) and it has no
run-daily job with the key ``run-daily-<date>`` yet. The job is created with that idempotency
key, so two beats (or a beat racing a restart) never create two runs for one tenant and day;
a beat that was down at the scheduled minute catches up when it comes back.
"""
from __future__ import annotations

import logging
from uuid import UUID

from server.utils.clock import real_now
from server.utils.outreach.run_daily import RunInProgress, create_run_daily_job

log = logging.getLogger(__name__)


def run_daily_key(day) -> str:
    """Idempotency key of the scheduled run of ``day`` (a date)."""
    return f"run-daily-{day.isoformat()}"


def due_tenants(conn, now) -> list[UUID]:
    """Ids of active tenants whose run for ``now``'s date is due and not yet created."""
    return [r["tenant_id"] for r in conn.execute(
        """
        SELECT t.tenant_id FROM tenants t
         WHERE t.is_active AND t.daily_run_utc <= %(time)s
           AND t.created_at <= (%(day)s::date + t.daily_run_utc) AT TIME ZONE 'UTC'
           AND NOT EXISTS (SELECT 1 FROM scrape_jobs j
                            WHERE j.tenant_id = t.tenant_id AND j.kind = 'run_daily'
                              AND j.idempotency_key = %(key)s)
         ORDER BY t.daily_run_utc, t.tenant_id
        """, {"time": now.time().replace(tzinfo=None), "day": now.date(),
              "key": run_daily_key(now.date())}).fetchall()]


def schedule_due_runs(services) -> list[str]:
    """Create today's run-daily job for every due tenant (one transaction per tenant); returns
    the ids of the jobs created, for the caller to enqueue after this returns (committed).
    A tenant with a run already in progress is skipped this minute and retried the next."""
    now = real_now()      # the real schedule: no tenant's simulated clock moves it
    with services.db.transaction() as conn:
        tenant_ids = due_tenants(conn, now)
    created = []
    for tenant_id in tenant_ids:
        try:
            with services.db.transaction() as conn:
                new = create_run_daily_job(conn, tenant_id, now.date(), None, run_daily_key(now.date()))
        except RunInProgress as exc:
            log.info("tenant %s: %s; scheduled run postponed", tenant_id, exc)
            continue
        if new.created:
            created.append(str(new.job["job_id"]))
    return created
