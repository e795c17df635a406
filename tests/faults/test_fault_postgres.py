"""Fault 1: Postgres drops the service's connections (``pg_terminate_backend``, as a Supabase or
Heroku maintenance or failover does) while clients keep calling. No request answers 500 or
waits out a 30 s pool timeout: each is served, or answered 503 with ``Retry-After`` within
``DB_POOL_TIMEOUT_SECONDS``; the next request works on a fresh connection; the worker's job
completes with exact counts."""
from __future__ import annotations

import threading
import time
import uuid

import psycopg

from tests.conftest import auth
from tests.faults.conftest import assert_scrape_matches_truth, submit_scrape


def _terminate_all_backends(database_url: str) -> int:
    """Terminate every other session on the test database; returns how many."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]


def test_dropped_connections_under_load_give_503_or_200_never_500(stack, private):
    _, key = private.new_tenant()
    stack.apify_control("faults", {"run_seconds": 1})
    worker = private.worker(concurrency=2)
    try:
        accounts = [f"pgdrop{uuid.uuid4().hex[:6]}_{i}" for i in range(3)]
        job = submit_scrape(private.client, key, accounts)
        answers: list[tuple[int, str | None, dict | None]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client_loop():
            client = private.app.test_client()
            while not stop.is_set():
                response = client.get(f"/api/job-status/{job['job_id']}", headers=auth(key))
                with lock:
                    answers.append((response.status_code, response.headers.get("Retry-After"),
                                    response.get_json()))

        threads = [threading.Thread(target=client_loop) for _ in range(8)]
        for thread in threads:
            thread.start()
        killed = 0
        for _ in range(6):
            time.sleep(0.3)
            killed += _terminate_all_backends(stack.env["DATABASE_URL"])
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(60)
        assert killed > 0
        statuses = {status for status, _, _ in answers}
        assert statuses <= {200, 503}, [a for a in answers if a[0] not in (200, 503)][:3]
        for status, retry_after, body in answers:
            if status == 503:
                assert retry_after and int(retry_after) > 0
                assert body["error"]["code"] == "DATABASE_UNAVAILABLE"
        after = private.client.get(f"/api/job-status/{job['job_id']}", headers=auth(key))
        assert after.status_code == 200  # a fresh connection, not the dropped one
        assert_scrape_matches_truth(stack, private.client, private.db, key, job["job_id"], accounts)
    finally:
        worker.stop()
