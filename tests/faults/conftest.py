"""Fixtures of the fault suite: a private Redis (its own ``redis-server`` on a free port, that a
scenario may kill or restart empty) with its own Celery queue and worker, on the shared test
database and stand-ins; and the checks every scenario ends with."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest

from server.app import create_app
from server.settings import Settings
from server.utils import tenants
from standins.followers import generate_followers
from tests.conftest import auth, wait_for_job
from tests.faults.redis_server import RedisServer
from tests.support import waiting
from tests.support.beat import send_on_beat
from tests.support.processes import ManagedProcess, start_worker


@dataclass
class PrivateStack:
    """A private Redis, the environment for processes using it, an app and client on it."""

    redis: RedisServer
    env: dict
    app: object
    client: object
    logs: object

    @property
    def db(self):
        return self.app.extensions["services"].db

    def worker(self, name: str = "fault-worker", concurrency: int = 1) -> ManagedProcess:
        """Start a Celery worker on the private Redis (stopped by the caller)."""
        return start_worker(self.logs, self.env, concurrency=concurrency, name=name)

    def revive(self, worker: ManagedProcess, concurrency: int = 1) -> ManagedProcess:
        """``worker`` if it still runs, else a new one, as the platform restarts a crashed dyno
        (kombu can exit with an unrecoverable error when the broker vanishes under a message
        the worker holds; the message itself is in Postgres' hands, not lost)."""
        deadline = time.monotonic() + 15
        while worker.proc.poll() is None and "Unrecoverable error" in worker.log() and time.monotonic() < deadline:
            time.sleep(0.2)  # the worker is on its way out
        if worker.proc.poll() is None and "Unrecoverable error" not in worker.log():
            return worker
        worker.stop()
        return self.worker(name="fault-worker-restarted", concurrency=concurrency)

    def reap(self) -> None:
        """Send ``jobs.reap_stale`` as beat does every minute."""
        self.app.extensions["celery"].send_task("jobs.reap_stale")

    def beat(self, every: float = 5.0):
        """A context manager: while inside, send ``jobs.reap_stale`` every ``every`` seconds
        (beat's minute, compressed so a scenario stays short)."""
        return send_on_beat(self.app.extensions["celery"], "jobs.reap_stale", every)

    def new_tenant(self):
        suffix = uuid.uuid4().hex[:11]
        with self.db.transaction() as conn:
            t = tenants.upsert_tenant(conn, f"fault-{suffix}", f"app{suffix}FLT", 2, 10)
            return t, tenants.create_api_key(conn, t)


PER_ACCOUNT = 30  # followers asked per source account (APIFY_MAX_FOLLOWERS_PER_ACCOUNT)


@pytest.fixture
def private(stack, tmp_path):
    """A ``PrivateStack`` with its own redis-server and queue; one chunk per account."""
    server = RedisServer(tmp_path).start()
    # No PUBLIC_BASE_URL: Apify's webhooks would reach the shared stack's app and queue, so the
    # private stack learns run ends from its own poller, as a service without a public URL does.
    env = {**stack.env, "REDIS_URL": server.url, "CELERY_QUEUE": f"fault-{uuid.uuid4().hex[:8]}",
           "CHUNK_SIZE": "1", "DB_POOL_SIZE": "2", "DB_POOL_TIMEOUT_SECONDS": "2", "PUBLIC_BASE_URL": "",
           "APIFY_MAX_FOLLOWERS_PER_ACCOUNT": str(PER_ACCOUNT)}
    app = create_app(Settings.from_env(**{k.lower(): v for k, v in env.items()}))
    try:
        # scrape.poll_runs as beat sends it, on the private broker; a Redis down on purpose only skips ticks
        with send_on_beat(app.extensions["celery"], "scrape.poll_runs", 0.5):
            yield PrivateStack(server, env, app, app.test_client(), tmp_path)
    finally:
        app.extensions["services"].db.close()
        server.stop()


def submit_scrape(client, key, accounts) -> dict:
    """POST a scrape of ``accounts`` keeping everyone (``any``, unknown included, no cap);
    returns the 202 body."""
    response = client.post("/api/scrape-followers", headers=auth(key), json={
        "accounts": accounts, "targetGender": "any"})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def wait_until(check, timeout: float = 60.0, every: float = 0.1):
    """``tests.support.waiting.wait_until`` with the longer patience of fault scenarios."""
    return waiting.wait_until(check, timeout, every)


def assert_scrape_matches_truth(stack, client, db, key, job_id, accounts, timeout: float = 120) -> dict:
    """The scenario's end checks: the job completes; the stored rows are exactly the stand-in's
    followers of ``accounts`` (everyone kept), each once; Apify runs paid = chunks."""
    final = wait_for_job(client, key, job_id, timeout=timeout)
    assert final["status"] == "completed", final
    per_account = final["params"]["per_account_limit"]
    expected = {f.id for a in accounts for f in generate_followers(a, per_account)}
    with db.transaction() as conn:
        rows = conn.execute("SELECT profile_id FROM scrape_results WHERE job_id = %s", (job_id,)).fetchall()
        chunks = conn.execute("SELECT count(*) AS n FROM scrape_job_chunks WHERE job_id = %s",
                              (job_id,)).fetchone()["n"]
    ids = [r["profile_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate rows"
    assert set(ids) == expected and final["profiles_scraped"] == len(expected)
    paid = [r for r in stack.apify_control("runs", method="GET")
            if set(_run_accounts(r.get("input") or {})) & set(accounts)]
    assert len(paid) == chunks, paid
    return final


def _run_accounts(run_input: dict) -> list[str]:
    for field in ("usernames", "Account", "username"):
        if isinstance(run_input.get(field), list):
            return run_input[field]
    return []
