"""Scrape at scale: the run budget kept full, worker time per chunk, fairness, and a 500,000-account
POST, measured side by side in one run against real processes (DESIGN.md §11).

Starts, on a scratch database: the Apify stand-in (time-compressed runs), the web app under
gunicorn (1 process; Apify webhooks reach it at ``PUBLIC_BASE_URL``), one Celery worker pool of
concurrency 4 and a thread sending ``scrape.poll_runs`` every second (celery beat's job). Then:

1. one job of 200 chunks, run time T, budget B = 32: completion ÷ ideal (ceil(200/B) × T), target
   ≤ 1.2; mean runs going ÷ B while chunks wait in line (sampled from the stand-in), target ≥ 0.9;
2. worker busy seconds per chunk (``scrape_job_chunks.worker_seconds``: start + collect task time
   without dataset reads and inserts), target ≤ 0.2 s;
3. 20 one-chunk jobs alone, then a 2,000-chunk job and the same 20 one-chunk jobs submitted after
   it: each small job's completion ÷ its time alone, target ≤ 2 (run times vary ± 25 % per chunk,
   stable per run input, as real runs do);
4. a 500,000-account ``POST /api/scrape-followers``: accept time (target ≤ 2 s) and the web
   process's RSS growth (target ≤ 50 MB).

Usage: ``python bench/scrape_scale.py [--run-seconds 5]`` with Postgres and Redis running
(``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` as for the tests).
"""
from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
import psycopg.rows
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.celery_config import create_celery  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.utils import tenants  # noqa: E402
from tests.support.processes import ManagedProcess, _spawn, _wait_for, start_standin, start_worker  # noqa: E402
from tests.support.scratch_db import create_scratch_database, drop_database  # noqa: E402

BUDGET = 32
TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    """The running processes and helpers to submit jobs and read their state."""

    def __init__(self, env: dict, web_url: str, apify_url: str, key: str, db_url: str):
        self.env, self.web_url, self.apify_url, self.db_url = env, web_url, apify_url, db_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def submit(self, accounts: list[str]) -> str:
        answer = self.http.post(f"{self.web_url}/api/scrape-followers", timeout=120,
                                json={"accounts": accounts, "targetGender": "any"})
        answer.raise_for_status()
        return answer.json()["job_id"]

    def status(self, job_id: str) -> dict:
        return self.http.get(f"{self.web_url}/api/job-status/{job_id}", timeout=30).json()

    def running_runs(self) -> int:
        return requests.get(f"{self.apify_url}/_control/account", timeout=10).json()["running"]

    def queued_chunks(self, job_id: str) -> int:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute("SELECT count(*) FROM scrape_job_chunks WHERE job_id = %s AND status = 'queued'",
                                (job_id,)).fetchone()[0]

    def wait_all(self, job_ids: list[str], timeout: float = 900) -> dict[str, float]:
        """Seconds (monotonic) at which each job ended."""
        ended: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(ended) < len(job_ids):
            for job_id in job_ids:
                if job_id not in ended and self.status(job_id)["status"] in TERMINAL:
                    ended[job_id] = time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs not finished after {timeout}s")
            time.sleep(0.1)
        return ended


def measure_budget(bench: Bench, run_seconds: float) -> None:
    """Measurements 1 and 2."""
    accounts = [f"wave{uuid.uuid4().hex[:6]}{i}" for i in range(200 * 50)]
    started = time.monotonic()
    job_id = bench.submit(accounts)
    samples: list[int] = []
    while bench.status(job_id)["status"] not in TERMINAL:
        if bench.queued_chunks(job_id) > 0:
            samples.append(bench.running_runs())
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    ideal = math.ceil(200 / BUDGET) * run_seconds
    job = bench.status(job_id)
    print(f"budget: 200 chunks, T={run_seconds:g}s, B={BUDGET}, 4 worker processes: {elapsed:.1f}s vs ideal "
          f"{ideal:.1f}s -> ratio {elapsed / ideal:.2f} (target <= 1.2); mean runs going / B while chunks "
          f"waited {sum(samples) / len(samples) / BUDGET:.2f} over {len(samples)} samples (target >= 0.9); "
          f"status {job['status']}, {job['profiles_scraped']} profiles")
    with psycopg.connect(bench.db_url) as conn:
        per_chunk, worst = conn.execute(
            "SELECT avg(worker_seconds), max(worker_seconds) FROM scrape_job_chunks WHERE job_id = %s",
            (job_id,)).fetchone()
    print(f"worker busy seconds per chunk (start + collect, dataset reads and inserts excluded): "
          f"mean {per_chunk:.3f}s, max {worst:.3f}s (target <= 0.2 s)")


def measure_fairness(bench: Bench, run_seconds: float) -> None:
    """Measurement 3."""
    requests.post(f"{bench.apify_url}/_control/account", json={"run_seconds_jitter": 0.25}, timeout=10)
    small_accounts = [[f"small{uuid.uuid4().hex[:8]}"] for _ in range(20)]
    t0 = time.monotonic()
    alone_ids = [bench.submit(a) for a in small_accounts]
    submitted = {job_id: time.monotonic() for job_id in alone_ids}
    ended = bench.wait_all(alone_ids)
    alone = [ended[j] - submitted[j] for j in alone_ids]
    del t0
    big = bench.submit([f"big{uuid.uuid4().hex[:6]}{i}" for i in range(2000 * 50)])
    while bench.running_runs() < BUDGET:  # the big job holds the whole budget
        time.sleep(0.1)
    time.sleep(1.2 * run_seconds)  # its runs are going and ending at their own pace
    mixed_ids = [bench.submit(a) for a in small_accounts]
    submitted = {job_id: time.monotonic() for job_id in mixed_ids}
    ended = bench.wait_all(mixed_ids)
    mixed = [ended[j] - submitted[j] for j in mixed_ids]
    ratios = [m / a for m, a in zip(mixed, alone)]
    big_state = bench.status(big)
    bench.http.post(f"{bench.web_url}/api/jobs/{big}/cancel", timeout=30)
    requests.post(f"{bench.apify_url}/_control/account", json={"run_seconds_jitter": 0}, timeout=10)
    print(f"fairness: 20 one-chunk jobs after a 2,000-chunk job: completion / time alone max {max(ratios):.2f}, "
          f"mean {sum(ratios) / len(ratios):.2f} (target <= 2); alone mean {sum(alone) / len(alone):.1f}s, "
          f"with the big job mean {sum(mixed) / len(mixed):.1f}s; big job meanwhile {big_state['status']} "
          f"at chunk {big_state['current_batch']}/{big_state['total_batches']}")


def measure_post(bench: Bench, web_pid: int) -> None:
    """Measurement 4."""
    accounts = [f"acct{i:07d}" for i in range(500_000)]
    bench.submit([f"warm{uuid.uuid4().hex[:8]}"])  # the web process has served a scrape before
    before = rss_mb(web_pid)
    started = time.perf_counter()
    answer = bench.http.post(f"{bench.web_url}/api/scrape-followers", timeout=120,
                             json={"accounts": accounts, "targetGender": "any"})
    accept = time.perf_counter() - started
    after = rss_mb(web_pid)
    answer.raise_for_status()
    bench.http.post(f"{bench.web_url}/api/jobs/{answer.json()['job_id']}/cancel", timeout=30)
    print(f"500,000-account POST: accepted in {accept:.2f}s (target <= 2 s), web RSS {before:.0f} -> "
          f"{after:.0f} MB, growth {after - before:.1f} MB (target <= 50 MB), "
          f"{answer.json()['total_batches']} chunks")


def main() -> int:
    """Run the benchmark and print its lines; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-seconds", type=float, default=10.0, help="T: stand-in run time")
    parser.add_argument("--followers-per-account", type=int, default=4)
    parser.add_argument("--skip", action="append", default=[], choices=["budget", "fairness", "post"])
    args = parser.parse_args()
    db_url = create_scratch_database("bench")
    logs = Path(tempfile.mkdtemp(prefix="scrape_scale_"))
    started: list[ManagedProcess] = []
    stop = threading.Event()
    try:
        apify = start_standin("apify", logs, ["--token", "bench", "--run-seconds", str(args.run_seconds),
                                              "--max-concurrent-runs", "10000"])
        started.append(apify)
        port = free_port()
        env = {
            "ENVIRONMENT": "test", "DATABASE_URL": db_url,
            "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "CELERY_QUEUE": f"bench-{db_url.rsplit('/', 1)[1]}", "APIFY_API_KEY": "bench", "APIFY_API_URL": apify.url,
            "APIFY_MAX_CONCURRENT_RUNS": str(BUDGET), "APIFY_MAX_FOLLOWERS_PER_ACCOUNT": str(args.followers_per_account),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "APIFY_POLL_SECONDS": "1",
            "APIFY_WEBHOOK_WAIT_SECONDS": str(max(30, 3 * args.run_seconds)),
            "AIRTABLE_ACCESS_TOKEN": "unused", "AIRTABLE_BASE_ID": "appBenchBench0001",
            "RATELIMIT_DEFAULT": "100000 per minute", "RATELIMIT_PER_ADDRESS": "100000 per minute",
            "MAX_CONTENT_LENGTH_MB": "64",
        }
        os.environ.update(env)
        settings = Settings.from_env()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.row_factory = psycopg.rows.dict_row
            tenant = tenants.upsert_tenant(conn, "bench", None, 1, 1)
            key = tenants.create_api_key(conn, tenant)
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        web_log = logs / "web.log"
        web = ManagedProcess(_spawn([gunicorn, "server.wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                     "--threads", "8", "--timeout", "120"], web_log, env), web_log)
        started.append(web)
        _wait_for(lambda text: "Booting worker" in text, web.proc, web_log, "gunicorn")
        web_url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if requests.get(f"{web_url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        web_pid = int(subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split()[0])
        started.append(start_worker(logs, env, concurrency=4, name="bench-worker"))
        celery = create_celery(settings)

        def beat() -> None:
            while not stop.wait(1.0):
                celery.send_task("scrape.poll_runs")

        threading.Thread(target=beat, daemon=True).start()
        bench = Bench(env, web_url, apify.url, key, db_url)
        if "budget" not in args.skip:
            measure_budget(bench, args.run_seconds)
        if "fairness" not in args.skip:
            measure_fairness(bench, args.run_seconds)
        if "post" not in args.skip:
            measure_post(bench, web_pid)
    finally:
        stop.set()
        for proc in reversed(started):
            proc.stop()
        drop_database(db_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
