"""One big scrape against the running local stack (``make up``), measured: wall time, peak Apify
runs going at once (the stand-in's own count) and profiles stored.

Usage: ``python scripts/scale_check.py [--accounts 2000] [--total 36000] [--run-seconds 20]``.
Sets the stand-in's run time through ``POST /_control/faults {"run_seconds": N}``, resets its
peak counters, creates a tenant and an API key, submits ``targetGender: any`` and polls the job
until it ends. Prints one line of figures; exits 1 when the job did not complete.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import stack  # noqa: E402
from scripts.demo import create_demo_tenant  # noqa: E402

TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--total", type=int, default=36000, help="totalScrapeCount")
    parser.add_argument("--run-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    env = stack.stack_env()
    web = stack.web_url(env)
    apify = env["APIFY_API_URL"]
    requests.post(f"{apify}/_control/faults", json={"run_seconds": args.run_seconds}, timeout=10).raise_for_status()
    requests.post(f"{apify}/_control/account", json={"reset_peaks": True}, timeout=10).raise_for_status()
    _name, _base, key = create_demo_tenant(env)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    accounts = [f"scale{i:06d}" for i in range(args.accounts)]
    started = time.monotonic()
    answer = session.post(f"{web}/api/scrape-followers", timeout=60, json={
        "accounts": accounts, "targetGender": "any", "totalScrapeCount": args.total})
    answer.raise_for_status()
    job_id = answer.json()["job_id"]
    peak_seen = 0
    while True:
        job = session.get(f"{web}/api/job-status/{job_id}", timeout=10).json()
        peak_seen = max(peak_seen, requests.get(f"{apify}/_control/account", timeout=10).json()["running"])
        if job["status"] in TERMINAL:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    account = requests.get(f"{apify}/_control/account", timeout=10).json()
    print(f"accounts={args.accounts} chunks={job['total_batches']} run_seconds={args.run_seconds} "
          f"status={job['status']} seconds={elapsed:.1f} peak_runs_going={account['peak_running']} "
          f"(sampled {peak_seen}) profiles_stored={job['profiles_scraped']} "
          f"stopped_by={job['result'].get('stopped_by')} cost_usd={job['cost_usd']:.2f}")
    return 0 if job["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
