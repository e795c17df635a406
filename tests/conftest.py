"""Test fixtures: real Postgres, real Redis, a real Celery worker process and both stand-ins
over HTTP. Nothing is faked: the stack is the one `make up` runs, on free ports and a test
database.

Environment: ``TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``: the
server on which each run creates, and finally drops, its own database ``test_<run id>``) and
``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``; each run uses its own queue, so two
runs on one machine never take each other's tasks). ``EMBEDDED_SERVICES`` (environment, else
``.env``): with ``auto`` (default) a URL left at its default whose server does not answer is
replaced by an embedded server; ``always`` embeds both; ``never`` uses the URLs as they are.
Embedded servers of a run live in ``.run/test-<run id>/`` and are removed at its end.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from dotenv import dotenv_values

from devservices import services as devservices
from werkzeug.serving import WSGIRequestHandler, make_server

from server.app import create_app
from server.celery_config import create_celery
from server.migrate import apply_migrations
from server.settings import Settings
from server.utils import tenants
from tests.support.beat import send_on_beat
from tests.support.processes import ManagedProcess, start_standin, start_worker

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:8]
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
APIFY_TOKEN = "test-apify-token"
AIRTABLE_TOKEN = "test-airtable-token"
DEFAULT_BASE = "appTestDefault000"


@dataclass(frozen=True)
class BackingServices:
    """Postgres and Redis of this run: ``server_url`` (where databases are created and
    dropped), ``database_url`` (this run's database on it) and ``redis_url``."""

    server_url: str
    redis_url: str

    @property
    def database_url(self) -> str:
        """URL of this run's database ``test_<run id>`` on ``server_url``."""
        return self.server_url.rsplit("/", 1)[0] + f"/test_{RUN_ID}"

class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # noqa: D102 - no line per webhook
        pass


POLL_EVERY = 0.5  # seconds between scrape.poll_runs messages (beat's job in production)


class Stack:
    """The running test stack: URLs, the environment given to every process, the Flask app served
    over HTTP (Apify webhooks reach it at ``PUBLIC_BASE_URL``) and helpers."""

    def __init__(self, env: dict, apify: ManagedProcess, airtable: ManagedProcess, worker: ManagedProcess,
                 app=None):
        self.env, self.apify, self.airtable, self.worker = env, apify, airtable, worker
        self.apify_url, self.airtable_url = apify.url, airtable.url
        self.app = app

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


def _create_database(services: BackingServices) -> None:
    with psycopg.connect(services.server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "test_{RUN_ID}"')
    apply_migrations(services.database_url)


def _drop_database(services: BackingServices) -> None:
    with psycopg.connect(services.server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "test_{RUN_ID}" WITH (FORCE)')


def _require_services(server_url: str, redis_url: str) -> None:
    """Stop the run with the command to type when Postgres or Redis is not running."""
    try:
        psycopg.connect(server_url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.exit(f"Postgres is not reachable at {server_url}: {exc}\nStart it with: "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
                    "or leave TEST_DATABASE_URL unset with EMBEDDED_SERVICES=auto|always (embedded Postgres)",
                    returncode=3)
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis is not reachable at {redis_url}: {exc}\nStart it with: redis-server "
                    "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no\n"
                    "or leave TEST_REDIS_URL unset with EMBEDDED_SERVICES=auto|always (embedded Redis)", returncode=3)


def pytest_collection_modifyitems(items):
    """Mark every test that uses Postgres or Redis (through any fixture) with ``services``."""
    for item in items:
        if "backing_services" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def backing_services(request):
    """Postgres and Redis for this run (``BackingServices``): the configured ones, or embedded ones
    started in ``.run/test-<run id>/`` (``EMBEDDED_SERVICES``), stopped and removed at the end."""
    env_file = ROOT / ".env"
    mode = os.environ.get("EMBEDDED_SERVICES") or (dotenv_values(env_file).get("EMBEDDED_SERVICES")
                                                   if env_file.exists() else None)
    run_dir = ROOT / ".run" / f"test-{RUN_ID}"
    try:
        chosen = devservices.use(
            run_dir, mode, devservices.Wanted.from_config(os.environ.get("TEST_DATABASE_URL"), DEFAULT_SERVER_URL),
            devservices.Wanted.from_config(os.environ.get("TEST_REDIS_URL"), DEFAULT_REDIS_URL), durable=False)
    except devservices.EmbeddedError as exc:
        pytest.exit(str(exc), returncode=3)
    try:
        if chosen.embedded:
            capture = request.config.pluginmanager.get_plugin("capturemanager")
            with capture.global_and_fixture_disabled():
                print(f"\nservices: {chosen.summary()}; removed when the run ends")
        _require_services(chosen.database_url, chosen.redis_url)
        yield BackingServices(chosen.database_url, chosen.redis_url)
    finally:
        devservices.stop(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, backing_services):
    """Start the stand-ins and one Celery worker (2 processes) against a fresh schema."""
    _create_database(backing_services)
    logs = tmp_path_factory.mktemp("logs")
    apify = start_standin("apify", logs, ["--token", APIFY_TOKEN, "--run-seconds", "0.3",
                                          "--webhook-retry-seconds", "0.2"])
    holder: dict = {}
    web = make_server("127.0.0.1", 0, lambda environ, respond: holder["app"](environ, respond), threaded=True,
                      request_handler=_QuietHandler)
    airtable = start_standin("airtable", logs, ["--token", AIRTABLE_TOKEN, "--base", DEFAULT_BASE,
                                                "--penalty-seconds", "2"])
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": backing_services.database_url,
        "REDIS_URL": backing_services.redis_url,
        "CELERY_QUEUE": f"test-{RUN_ID}",
        "APIFY_API_KEY": APIFY_TOKEN,
        "APIFY_API_URL": apify.url,
        "APIFY_MAX_RETRIES": "2",
        "APIFY_MAX_CONCURRENT_RUNS": "8",
        "APIFY_POLL_SECONDS": "0.5",
        "APIFY_WEBHOOK_WAIT_SECONDS": "4",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web.server_port}",
        "AIRTABLE_ACCESS_TOKEN": AIRTABLE_TOKEN,
        "AIRTABLE_API_URL": airtable.url,
        "AIRTABLE_BASE_ID": DEFAULT_BASE,
        "AIRTABLE_PENALTY_SECONDS": "2",
        "AIRTABLE_RETRY_BACKOFF_SECONDS": "0.2",
        "NUM_VA_TABLES": "4",
        "PROFILES_PER_TABLE": "25",
        "CHUNK_LEASE_SECONDS": "6",
        "CHUNK_RETRY_BACKOFF_SECONDS": "0.5",
        "RATELIMIT_DEFAULT": "100000 per minute",
        "RATELIMIT_PER_ADDRESS": "100000 per minute",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    worker = start_worker(logs, env)
    holder["app"] = create_app(Settings.from_env())
    threading.Thread(target=web.serve_forever, name="test-web", daemon=True).start()
    try:
        # scrape.poll_runs as celery beat sends it in production
        with send_on_beat(create_celery(Settings.from_env()), "scrape.poll_runs", POLL_EVERY):
            yield Stack(env, apify, airtable, worker, holder["app"])
    finally:
        web.shutdown()
        worker.stop()
        apify.stop()
        airtable.stop()
        broker = redis.Redis.from_url(backing_services.redis_url)
        broker.delete(env["CELERY_QUEUE"], *(f"{env['CELERY_QUEUE']}:{p}" for p in range(1, 10)))
        _drop_database(backing_services)
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
        request.getfixturevalue("stack").apify_control("account", {
            "max_memory_mbytes": 262144, "max_concurrent_runs": 128, "run_seconds_per_item": 0.0,
            "reset_peaks": True})
        request.getfixturevalue("stack").apify_control("webhooks", {"enabled": True})
    yield


@pytest.fixture(scope="session")
def app(stack):
    """The Flask app built from the test stack's environment (the one served over HTTP)."""
    return stack.app


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
