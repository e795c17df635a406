"""The reaper re-sends work whose message was lost or whose worker died, so no job stays stuck."""
from __future__ import annotations

from server.utils.jobs.table import mark_processing
from server.utils.scrape.create import create_scrape_job
from tests.conftest import wait_for_job


def _stored_job(app, tenant, accounts, created_minutes_ago=10):
    params = {"targetGender": "any", "includeUnknown": True, "per_account_limit": 20}
    with app.extensions["services"].db.transaction() as conn:
        job = create_scrape_job(conn, tenant.tenant_id, accounts, params, 50, None, None).job
        conn.execute("UPDATE scrape_jobs SET created_at = now() - make_interval(mins => %s) WHERE job_id = %s",
                     (created_minutes_ago, job["job_id"]))
    return job


def test_lost_and_orphaned_work_is_resent_and_completes(client, app, tenant):
    t, key = tenant
    never_dispatched = _stored_job(app, t, ["lost_start"])
    lost_dispatch = _stored_job(app, t, ["lost_chunk"])
    dead_starter = _stored_job(app, t, ["dead_worker"])
    db = app.extensions["services"].db
    with db.transaction() as conn:
        for job in (lost_dispatch, dead_starter):
            mark_processing(conn, job["job_id"])
        # a worker died after taking the slot, before starting the run: its lease expired
        conn.execute("UPDATE scrape_job_chunks SET status = 'starting', attempts = 1, lease_token = gen_random_uuid(),"
                     " lease_until = now() - interval '2 minutes' WHERE job_id = %s", (dead_starter["job_id"],))
    # the reaper starts the never-started job; the run poller (every 0.5 s here) gives the
    # dead worker's slot back and hands the queued chunks their slots
    app.extensions["celery"].send_task("jobs.reap_stale")
    for job in (never_dispatched, lost_dispatch, dead_starter):
        final = wait_for_job(client, key, str(job["job_id"]))
        assert final["status"] == "completed" and final["profiles_scraped"] == 20, final
