"""Fault 2 and "Redis unavailable during POST": Redis loses every message (restart without
persistence), or cannot be reached when a job is stored. Either way the job resumes on the
reaper's first run after Redis is back (beat runs it every minute), with nothing lost or doubled."""
from __future__ import annotations

import uuid

from server.utils.jobs.broker_generation import marker_key
from tests.faults.conftest import assert_scrape_matches_truth, submit_scrape, wait_until


def _accounts(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}{tag}_{i}" for i in range(n)]


def test_redis_restarted_empty_mid_job_resumes_on_the_next_reaper_run(stack, private):
    _, key = private.new_tenant()
    stack.apify_control("faults", {"run_seconds": 2})
    worker = private.worker(concurrency=1)
    try:
        private.reap()  # the first run writes the generation marker
        wait_until(lambda: private.redis.client().exists(marker_key(private.env["CELERY_QUEUE"])))
        accounts = _accounts("rloss", 4)
        job = submit_scrape(private.client, key, accounts)

        def runs_going():
            with private.db.transaction() as conn:
                return conn.execute("SELECT count(*) AS n FROM scrape_job_chunks WHERE job_id = %s"
                                    " AND status = 'running'", (job["job_id"],)).fetchone()["n"]

        wait_until(runs_going)  # runs are going at Apify; their ends are not reported yet
        private.redis.restart_empty()  # every queued message is gone, and the marker with it
        private.reap()  # beat's next tick (waits in Redis until the worker has reconnected)
        assert_scrape_matches_truth(stack, private.client, private.db, key, job["job_id"], accounts)
        assert private.redis.client().exists(marker_key(private.env["CELERY_QUEUE"]))
    finally:
        worker.stop()


def test_job_posted_while_redis_is_down_starts_on_the_next_reaper_run(stack, private):
    _, key = private.new_tenant()
    worker = private.worker(concurrency=2)
    try:
        private.redis.stop()
        accounts = _accounts("rdown", 2)
        job = submit_scrape(private.client, key, accounts)  # stored, not sent
        with private.db.transaction() as conn:
            row = conn.execute("SELECT status, enqueue_failed_at FROM scrape_jobs WHERE job_id = %s",
                               (job["job_id"],)).fetchone()
        assert row["status"] == "queued" and row["enqueue_failed_at"] is not None
        private.redis.start()
        private.reap()
        assert_scrape_matches_truth(stack, private.client, private.db, key, job["job_id"], accounts)
        with private.db.transaction() as conn:
            assert conn.execute("SELECT enqueue_failed_at FROM scrape_jobs WHERE job_id = %s",
                                (job["job_id"],)).fetchone()["enqueue_failed_at"] is None
    finally:
        worker.stop()


def test_unreachable_rate_limit_storage_is_reported_by_health(stack):
    from server.app import create_app
    from server.settings import Settings
    from tests.faults.redis_server import free_port

    app = create_app(Settings.from_env(ratelimit_storage_url=f"redis://127.0.0.1:{free_port()}/0"))
    response = app.test_client().get("/health")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["postgres"] == checks["redis"] == "ok"
    assert checks["ratelimit_storage"].startswith("error")
    app.extensions["services"].db.close()
