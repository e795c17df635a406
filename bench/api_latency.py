#!/usr/bin/env python3
"""HTTP latency and throughput of the API against ``/healthz``, measured side by side (DESIGN.md §11).

Drives a running web server with ``hey`` (Debian package ``hey``: ``apt-get install hey``) at
1 and at many concurrent clients and prints, for each endpoint, requests/s, p50 and p99, and its
throughput divided by ``/healthz``'s at the same concurrency, measured just before it (a
``/healthz`` line precedes each endpoint's, so a change of machine load between runs does not
skew the ratio):

- ``GET /api/job-status/<id>`` (one job of the key's tenant),
- ``GET /api/job-results/<id>?limit=100`` (one page of a finished job),
- ``POST /api/scrape-followers`` with 3 accounts (a new job each time; no worker consumes it).

With its own stack (below) it also prints the web workers' CPU per answered request (user +
system time of the gunicorn worker processes over the run, from ``/proc``, ÷ answers) and that
÷ ``/healthz``'s: unlike requests/s, CPU per request barely moves with the machine's other load,
so it shows what a change saved when throughput ratios are noisy.

By default the benchmark starts its own stack on free ports: a scratch database (created,
migrated and dropped), a Celery queue of its own on ``--redis-url`` that no worker listens to
(deleted afterwards, so the worker is idle), and gunicorn with 2 workers × 8 threads as in
``scripts/stack.py``. The rate limits are raised so they count every request without refusing
any. ``--url URL --api-key KEY --job-id ID`` measures a stack that is already running instead
(``ID``: a finished scrape job of the key's tenant).

Usage: ``.venv/bin/python bench/api_latency.py [--seconds 5] [--clients 32] [--post-clients 8]``
with Postgres and Redis running (``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` as for the tests).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.services import Services  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.utils import tenants  # noqa: E402
from server.utils.scrape.create import create_scrape_job  # noqa: E402
from tests.support.scratch_db import create_scratch_database, drop_database  # noqa: E402

RESULT_ROWS = 5000
UNLIMITED = "100000000 per minute"


@dataclass
class Run:
    """One ``hey`` run: requests/s, p50 and p99 in ms, and answers by status code."""

    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: int


def hey(url: str, clients: int, seconds: float, method: str = "GET", headers: dict | None = None,
        body: str | None = None) -> Run:
    """Run ``hey`` for ``seconds`` with ``clients`` concurrent clients and parse its summary."""
    args = ["hey", "-z", f"{seconds}s", "-c", str(clients), "-m", method, "-disable-compression"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["-T", "application/json", "-d", body]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    if "99% in" not in out:
        raise RuntimeError(f"hey gave no latency distribution for {method} {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000
    statuses = {m.group(1): int(m.group(2)) for m in re.finditer(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors_block = out.split("Error distribution:", 1)
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]", errors_block[1])) if len(errors_block) > 1 else 0
    return Run(rps, p50, p99, statuses, errors)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (Linux ``/proc/<pid>/stat``,
    fields 14 and 15, in clock ticks); a process that has exited counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def warm_up(url: str, method: str = "GET", headers: dict | None = None, body: str | None = None) -> None:
    """One second of ``hey`` with 8 clients, output ignored."""
    args = ["hey", "-z", "1s", "-c", "8", "-m", method]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["-T", "application/json", "-d", body]
    subprocess.run(args + [url], capture_output=True, check=True)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnStack:
    """Scratch database + gunicorn (2 workers × 8 threads) on a free port; ``stop()`` removes all."""

    def __init__(self, server_url: str, redis_url: str):
        self.server_url = server_url
        self.redis_url = redis_url
        self.db_url: str | None = None  # the scratch database, once start() created it
        self.queue = f"bench-api-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-api-", suffix=".log", delete=False)
        self.url = ""

    def env(self) -> dict:
        return {**os.environ, "DATABASE_URL": self.db_url, "REDIS_URL": self.redis_url,
                "ENVIRONMENT": "development", "APIFY_API_KEY": "bench", "APIFY_API_URL": "http://127.0.0.1:9",
                "AIRTABLE_ACCESS_TOKEN": "bench", "AIRTABLE_API_URL": "http://127.0.0.1:9",
                "AIRTABLE_BASE_ID": "appBenchBench0001", "CELERY_QUEUE": self.queue,
                "RATELIMIT_DEFAULT": UNLIMITED, "RATELIMIT_PER_ADDRESS": UNLIMITED,
                "SENTRY_DSN": "", "PYTHONUNBUFFERED": "1"}

    def start(self) -> tuple[str, str, str]:
        """Create and seed the database, start gunicorn; returns (url, api key, finished job id)."""
        self.db_url = create_scratch_database("bench_api", self.server_url)
        key, job_id = seed(self.db_url, self.redis_url)
        port = free_port()
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [gunicorn, "server.wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
             "--timeout", "60"], cwd=ROOT, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited; log: {self.log.name}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self.url, key, job_id
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn not ready after 60 s; log: {self.log.name}")

    def worker_pids(self) -> list[int]:
        """The pids of the gunicorn worker processes (the master's children)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        """Stop gunicorn, drop the database, delete the benchmark's queue and its Redis keys."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        client = redis.Redis.from_url(self.redis_url)  # the queue, its priority lists and bindings
        names = [*client.scan_iter(match=f"{self.queue}*"), *client.scan_iter(match=f"_kombu.binding*.{self.queue}")]
        if names:
            client.delete(*names)
        if self.db_url:
            drop_database(self.db_url, self.server_url)


def seed(db_url: str, redis_url: str) -> tuple[str, str]:
    """A tenant, its API key and a completed scrape job with ``RESULT_ROWS`` results."""
    settings = Settings.from_env(database_url=db_url, redis_url=redis_url, apify_api_key="bench",
                                 airtable_access_token="bench", airtable_base_id="appBenchBench0001",
                                 environment="test")
    services = Services(settings)
    with services.db.transaction() as conn:
        tenant = tenants.upsert_tenant(conn, "bench", None, 1, 1)
        key = tenants.create_api_key(conn, tenant, "bench")
        job = create_scrape_job(conn, tenant.tenant_id, ["bench_a", "bench_b", "bench_c"],
                                {"targetGender": "any", "includeUnknown": True}, 50, None, None).job
        conn.execute(
            """INSERT INTO scrape_results (job_id, tenant_id, profile_id, username, full_name, gender,
                                            gender_probability, gender_source, source_account)
               SELECT %s, %s, (1000000 + g)::text, 'bench_user_' || g, 'Bench Person ' || g, 'female', 0.9,
                      'bench', 'bench_a' FROM generate_series(1, %s) g""",
            (job["job_id"], tenant.tenant_id, RESULT_ROWS))
        conn.execute("UPDATE scrape_jobs SET status = 'completed', progress = 100, profiles_scraped = %s,"
                     " completed_at = now() WHERE job_id = %s", (RESULT_ROWS, job["job_id"]))
    services.db.close()
    return key, str(job["job_id"])


def main() -> int:
    """Run the benchmark and print its table; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each hey run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients of the GET runs")
    parser.add_argument("--post-clients", type=int, default=8, help="concurrent clients of the POST run")
    parser.add_argument("--url", help="measure this running stack instead of starting one")
    parser.add_argument("--api-key")
    parser.add_argument("--job-id", help="a finished scrape job of the key's tenant (with --url)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed: apt-get install hey")

    stack = None
    try:
        if args.url:
            if not (args.api_key and args.job_id):
                raise SystemExit("--url needs --api-key and --job-id")
            url, key, job_id = args.url.rstrip("/"), args.api_key, args.job_id
        else:
            stack = OwnStack(args.database_url, args.redis_url)
            url, key, job_id = stack.start()
        auth = {"Authorization": f"Bearer {key}"}
        post_body = json.dumps({"accounts": ["nasa", "natgeo", "instagram"], "targetGender": "female"})
        scenarios = [
            ("job-status", "GET", f"/api/job-status/{job_id}", None),
            ("job-results page (100 rows)", "GET", f"/api/job-results/{job_id}?limit=100", None),
            ("POST scrape-followers (3 accounts)", "POST", "/api/scrape-followers", post_body),
        ]
        for _, method, path, body in scenarios:  # warm up every worker and pool (too few answers
            warm_up(url + path, method, auth, body)  # in 1 s for a latency distribution: not parsed)
        warm_up(url + "/healthz")

        seconds = args.seconds
        workers = stack.worker_pids() if stack is not None else []

        def measured(path: str, clients: int, method: str = "GET", headers: dict | None = None,
                     body: str | None = None) -> tuple[Run, float | None]:
            """One hey run and the web workers' CPU ms per answered request (None without them)."""
            before = cpu_seconds(workers)
            run = hey(url + path, clients, seconds, method, headers, body)
            answers = sum(run.statuses.values())
            return run, (1000 * (cpu_seconds(workers) - before) / answers if workers and answers else None)

        def line(name: str, clients: int, run: Run, ratio: float, cpu: float | None, base_cpu: float | None,
                 extra: str = "") -> None:
            cpu_cols = f"{cpu:>9.3f}{cpu / base_cpu:>9.2f}" if cpu is not None else f"{'-':>9}{'-':>9}"
            print(f"{name:<36}{clients:>8}{run.rps:>10.0f}{run.p50_ms:>9.2f}{run.p99_ms:>9.2f}{ratio:>11.2f}"
                  f"{cpu_cols}  {run.statuses}{extra}")

        print(f"stack: {url}  (each run {seconds:g} s with hey; ratio = requests/s ÷ /healthz requests/s "
              "at the same concurrency; CPU = web workers' CPU ms per request, and ÷ /healthz's)")
        print(f"{'endpoint':<36}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'÷ healthz':>11}"
              f"{'CPU ms':>9}{'÷ hz':>9}  statuses")
        for clients in sorted({1, args.post_clients, args.clients}):
            for name, method, path, body in scenarios:
                if method == "POST" and clients not in (1, args.post_clients):
                    continue
                # /healthz right before each endpoint, so both see the same machine load
                base, base_cpu = measured("/healthz", clients)
                line("/healthz", clients, base, 1.0, base_cpu, base_cpu)
                run, cpu = measured(path, clients, method, auth, body)
                line(name, clients, run, run.rps / base.rps, cpu, base_cpu,
                     f" errors={run.errors}" if run.errors else "")
        return 0
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
