"""A tenant's simulated clock (``clock-advance --tenant``, used by ``make demo``) moves "now"
for that tenant only: other tenants' jobs, the beat's daily scheduler and its
``run-daily-<date>`` keys keep real time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from server.utils import clock
from server.utils.outreach.schedule import run_daily_key, schedule_due_runs
from tests.support.daily import new_tenant, post_job, query


@pytest.fixture
def services(app):
    return app.extensions["services"]


def _close(when: str, expected: datetime, slack: float = 120) -> bool:
    return abs((datetime.fromisoformat(when) - expected).total_seconds()) < slack


def test_one_tenants_clock_moves_only_that_tenants_now(app, client, stack, services):
    (a, key_a), (b, key_b) = new_tenant(app), new_tenant(app)
    try:
        clock.advance(services, 8 * 86400, a)
        real = datetime.now(timezone.utc)
        assert _close(clock.utc_now(services, a).isoformat(), real + timedelta(days=8))
        assert _close(clock.utc_now(services, b).isoformat(), real)
        assert _close(clock.utc_now(services).isoformat(), real)        # no tenant: real time
        # The worker (another process) sees the same: a's lifecycle job runs 8 days ahead, b's not.
        job_a = post_job(client, key_a, "/api/mark-unfollow-due")
        job_b = post_job(client, key_b, "/api/mark-unfollow-due")
        assert job_a["status"] == job_b["status"] == "completed"
        assert _close(job_a["result"]["now"], real + timedelta(days=8))
        assert _close(job_b["result"]["now"], real)
    finally:
        clock.reset(services, a)
    assert _close(clock.utc_now(services, a).isoformat(), datetime.now(timezone.utc))


def test_the_daily_scheduler_keeps_real_time_whatever_a_tenant_clock_says(app, services):
    real = datetime.now(timezone.utc)
    if real.hour >= 22:
        pytest.skip("needs two hours of the real day left")
    (ahead, _), (plain, _) = new_tenant(app), new_tenant(app)
    later = (real + timedelta(hours=1)).strftime("%H:%M")
    with services.db.transaction() as conn:
        # ``ahead`` is due in an hour of real time; its simulated clock is already past that.
        conn.execute("UPDATE tenants SET daily_run_utc = %s, created_at = now() - interval '2 days'"
                     " WHERE tenant_id = %s", (later, ahead.tenant_id))
        conn.execute("UPDATE tenants SET daily_run_utc = '00:00', created_at = now() - interval '2 days'"
                     " WHERE tenant_id = %s", (plain.tenant_id,))
    created = []
    try:
        clock.advance(services, 8 * 86400 + 2 * 3600, ahead)
        created = schedule_due_runs(services)
        jobs = {r["tenant_id"]: r["idempotency_key"] for r in query(
            app, "SELECT tenant_id, idempotency_key FROM scrape_jobs WHERE kind = 'run_daily' AND job_id = ANY(%s::uuid[])",
            (created,))}
        assert ahead.tenant_id not in jobs                      # not due yet in real time
        assert jobs[plain.tenant_id] == run_daily_key(real.date())
        future = {(real.date() + timedelta(days=d)).isoformat() for d in range(1, 10)}
        assert not any(key.removeprefix("run-daily-") in future for key in jobs.values())
    finally:
        clock.reset(services, ahead)
        if created:    # jobs made here are never sent to the worker
            query(app, "DELETE FROM scrape_jobs WHERE job_id = ANY(%s::uuid[]) RETURNING 1", (created,))


def test_clock_commands_name_the_tenant(app, services):
    (t, _), (other, _) = new_tenant(app), new_tenant(app)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["clock-advance", "--days", "8"])
    assert refused.exit_code != 0 and "--tenant" in refused.output
    try:
        moved = runner.invoke(args=["clock-advance", "--tenant", t.name, "--days", "8"])
        assert moved.exit_code == 0, moved.output
        assert clock.offset_seconds(services, t) == 8 * 86400
        assert clock.offset_seconds(services, other) == 0.0
        assert runner.invoke(args=["clock-advance", "--tenant", "no-such-tenant", "--days", "1"]).exit_code != 0
    finally:
        reset = runner.invoke(args=["clock-reset", "--tenant", t.name])
    assert reset.exit_code == 0, reset.output
    assert clock.offset_seconds(services, t) == 0.0
