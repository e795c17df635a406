"""Test fixtures: real Postgres, real Redis, a real Celery worker process and both stand-ins
over HTTP. Nothing is faked: the stack is the one `make up` runs, on free ports and a test
database.

Environment: ``TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``: the
server on which each run creates, and finally drops, its own database ``test_<run id>``) and
``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``; each run uses its own queue, so two
runs on one machine never take each other's tasks).
"""
from __future__ import annotations

import os
import time
import uuid

import psycopg
import pytest
import redis
import requests

from server.app import create_app
from server.migrate import apply_migrations
from server.settings import Settings
from server.utils import tenants
from tests.support.processes import ManagedProcess, start_standin, start_worker

RUN_ID = uuid.uuid4().hex[:8]
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE_URL = SERVER_URL.rsplit("/", 1)[0] + f"/test_{RUN_ID}"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
APIFY_TOKEN = "test-apify-token"
AIRTABLE_TOKEN = "test-airtable-token"
DEFAULT_BASE = "appTestDefault000"


class Stack:
    """The running test stack: URLs, the environment given to every process, and helpers."""

    def __init__(self, env: dict, apify: ManagedProcess, airtable: ManagedProcess, worker: ManagedProcess):
        self.env, self.apify, self.airtable, self.worker = env, apify, airtable, worker
        self.apify_url, self.airtable_url = apify.url, airtable.url

    def apify_control(self, path: str, payload: dict | None = None, method: str = "POST"):
        """Call the Apify stand-in's control API; returns the decoded JSON."""
        response = requests.request(method, f"{self.apify_url}/_control/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def airtable_control(self, path: str, payload: dict | None = None, method: str = "POST"):
        """Call the Airtable stand-in's control API; returns the decoded JSON."""
        response = requests.request(method, f"{self.airtable_url}/_control/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()


def _create_database() -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "test_{RUN_ID}"')
    apply_migrations(DATABASE_URL)


def _drop_database() -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "test_{RUN_ID}" WITH (FORCE)')


def _require_services() -> None:
    """Stop the run with the command to type when Postgres or Redis is not running."""
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.exit(f"Postgres is not reachable at {SERVER_URL}: {exc}\nStart it with: "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", returncode=3)
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis is not reachable at {REDIS_URL}: {exc}\nStart it with: redis-server "
                    "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no", returncode=3)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Start the stand-ins and one Celery worker (2 processes) against a fresh schema."""
    _require_services()
    _create_database()
    logs = tmp_path_factory.mktemp("logs")
    apify = start_standin("apify", logs, ["--token", APIFY_TOKEN, "--run-seconds", "0.3"])
    airtable = start_standin("airtable", logs, ["--token", AIRTABLE_TOKEN, "--base", DEFAULT_BASE,
                                                "--penalty-seconds", "2"])
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": f"test-{RUN_ID}",
        "APIFY_API_KEY": APIFY_TOKEN,
        "APIFY_API_URL": apify.url,
        "APIFY_MAX_RETRIES": "2",
        "APIFY_WAIT_SECONDS": "5",
        "AIRTABLE_ACCESS_TOKEN": AIRTABLE_TOKEN,
        "AIRTABLE_API_URL": airtable.url,
        "AIRTABLE_BASE_ID": DEFAULT_BASE,
        "AIRTABLE_PENALTY_SECONDS": "2",
        "NUM_VA_TABLES": "4",
        "PROFILES_PER_TABLE": "25",
        "CHUNK_LEASE_SECONDS": "6",
        "CHUNK_DISPATCH_WINDOW": "4",
        "CHUNK_RETRY_BACKOFF_SECONDS": "0.5",
        "RATELIMIT_DEFAULT": "100000 per minute",
        "RATELIMIT_PER_ADDRESS": "100000 per minute",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    worker = start_worker(logs, env)
    try:
        yield Stack(env, apify, airtable, worker)
    finally:
        worker.stop()
        apify.stop()
        airtable.stop()
        redis.Redis.from_url(REDIS_URL).delete(env["CELERY_QUEUE"])
        _drop_database()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def _clean_faults(request):
    """Every test starts with the Apify stand-in's fault switches off."""
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").apify_control("faults", {
            "run_status": None, "fail_next_runs": 0, "http_429": 0, "http_500": 0, "run_seconds": 0.3,
            "error_item_share": 0.0, "short_pages": False, "page_limit_cap": None, "private_accounts": None,
            "not_found_accounts": None, "rate_limited_accounts": None, "empty_accounts": None,
            "empty_once_accounts": None})
    yield


@pytest.fixture(scope="session")
def app(stack):
    """The Flask app built from the test stack's environment."""
    return create_app(Settings.from_env())


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def tenant(app):
    """A fresh tenant with its own Airtable base id and an API key: ``(Tenant, key)``."""
    services = app.extensions["services"]
    suffix = uuid.uuid4().hex[:11]
    with services.db.transaction() as conn:
        t = tenants.upsert_tenant(conn, f"tenant-{suffix}", f"app{suffix}AAA", 4, 25)
        key = tenants.create_api_key(conn, t)
    return t, key


def auth(key: str) -> dict:
    """Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def wait_for_job(client, key: str, job_id: str, timeout: float = 90.0, statuses=None) -> dict:
    """Poll job-status until the job is terminal (or in ``statuses``); returns the last body."""
    statuses = statuses or ("completed", "completed_with_errors", "failed", "cancelled")
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/job-status/{job_id}", headers=auth(key)).get_json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout}s: {body}")
        time.sleep(0.2)
