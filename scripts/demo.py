"""The main job end to end, as an operator would run it (``make demo``).

Starts the local stack unless it is already up, creates a fresh demo tenant (4 VA tables × 25)
with its own Airtable base and API key, scrapes the followers of the 120 source accounts in
``demo/source_accounts.txt`` (``totalScrapeCount`` 5000, ``targetGender`` female) while showing
a progress bar, prints the summary and the five best and five worst source accounts by kept
female followers per dollar, continues with the daily outreach week, and stops what it started.
It prints the console URL and the demo's API key first, so the scrape and the week can be
watched in the console while they run.
"""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import stack  # noqa: E402

ROOT = stack.ROOT
ACCOUNTS_FILE = ROOT / "demo" / "source_accounts.txt"
TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}


def flask_cli(env: dict, *args: str) -> str:
    """Run ``flask --app server.app ARGS`` and return its last output line."""
    flask = str(Path(sys.executable).parent / "flask")
    out = subprocess.run([flask, "--app", "server.app", *args], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def create_demo_tenant(env: dict) -> tuple[str, str, str]:
    """A fresh tenant, its Airtable base in the stand-in, and an API key: (name, base, key)."""
    stamp = datetime.now(timezone.utc).strftime("%m%d%H%M%S")
    name, base = f"demo-{stamp}", f"appDemo{stamp}"
    airtable_url = env["AIRTABLE_API_URL"]
    requests.post(f"{airtable_url}/_control/bases", json={"id": base, "name": name}, timeout=10).raise_for_status()
    flask_cli(env, "create-tenant", name, "--base-id", base, "--tables", "4", "--per-table", "25")
    return name, base, flask_cli(env, "create-api-key", "--tenant", name, "--name", "demo")


def poll(session: requests.Session, base_url: str, job_id: str, label: str) -> dict:
    """Poll job-status with a progress bar until the job ends; returns the final job."""
    with tqdm(total=100, desc=label, bar_format="{desc}: {bar} {n:3.0f}% [{elapsed}] {postfix}") as bar:
        while True:
            job = session.get(f"{base_url}/api/job-status/{job_id}", timeout=10).json()
            bar.update(job["progress"] - bar.n)
            bar.set_postfix_str(f"{job['status']}, {job['profiles_scraped']} kept, "
                                f"chunk {job['current_batch']}/{job['total_batches']}")
            if job["status"] in TERMINAL:
                return job
            time.sleep(0.5)


def scrape(session: requests.Session, base_url: str) -> dict:
    """Submit the demo scrape, follow it, print the summary; returns the final job."""
    accounts = [line.strip() for line in ACCOUNTS_FILE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    started = time.monotonic()
    response = session.post(f"{base_url}/api/scrape-followers", timeout=30, json={
        "accounts": accounts, "totalScrapeCount": 5000, "targetGender": "female"})
    response.raise_for_status()
    accepted = response.json()
    print(f"scrape job {accepted['job_id']}: {accepted['accounts_accepted']} accounts in "
          f"{accepted['total_batches']} chunks")
    job = poll(session, base_url, accepted["job_id"], "scrape")
    elapsed = time.monotonic() - started
    results = session.get(f"{base_url}/api/job-results/{job['job_id']}?limit=10", timeout=10).json()
    split = job["result"].get("gender_split", {})
    print("\n== Scrape summary ==")
    print(f"status        {job['status']}")
    print(f"kept          {job['profiles_scraped']} of {job['items_read']} followers read")
    print("gender split  " + ", ".join(f"{g} {n}" for g, n in sorted(split.items())))
    print(f"cost          ${job['cost_usd']:.2f}")
    print(f"elapsed       {elapsed:.1f}s")
    print("first results:")
    for p in results["profiles"]:
        print(f"  {p['username']:<28} {p['full_name'][:30]:<30} {p['gender']:<8} "
              f"{p['gender_probability']:.2f}  from @{p['source_account']}")
    print_source_ranking(lambda path, params: session.get(f"{base_url}{path}", params=params, timeout=30).json(),
                         job["job_id"])
    return job


def print_source_ranking(get, job_id: str, count: int = 5) -> tuple[list[dict], list[dict]]:
    """Print the ``count`` best and worst source accounts of the job by kept target-gender
    followers per dollar (``GET /api/jobs/<job_id>/sources``); ``get(path, params)`` returns the
    decoded JSON. Sources never read (skipped) are left out. Returns (best, worst)."""
    path = f"/api/jobs/{job_id}/sources"
    page = get(path, {"sort": "kept_target_per_usd", "order": "desc", "limit": 1000})
    read = [s for s in page["sources"] if s["status"] not in ("skipped", "pending")]
    complete = [s for s in read if not s["over_cap"]]  # not cut short by totalScrapeCount
    target = page["target_gender"]
    what = f"kept {target} followers" if target != "any" else "kept followers"
    best, worst = read[:count], list(reversed(complete[-count:]))
    counts = ", ".join(f"{k} {v}" for k, v in page["counts"].items() if v)
    print(f"\n== Source accounts ({counts}) by {what} per dollar ==")
    for title, rows in (("best", best), ("worst", worst)):
        print(title)
        for s in rows:
            per_usd = "-" if s["kept_target_per_usd"] is None else f"{s['kept_target_per_usd']:.0f}"
            note = f"  {s['error'][:60]}" if s["error"] and s["status"] != "ok" else ""
            print(f"  @{s['source_account']:<26} {s['status']:<9} {per_usd:>6} per $  {s['kept_target']:>4} of "
                  f"{s['followers_read']:>4} read, {s['duplicates']:>3} duplicates, ${s['cost_usd']:.4f}{note}")
    if len(read) > len(complete):
        print(f"({len(read) - len(complete)} sources read after totalScrapeCount was reached are not ranked worst)")
    return best, worst


def print_console_hint(base_url: str, key: str) -> None:
    """Where to watch the demo: the console URL and the key to sign in with, Swagger UI and the CLI."""
    print("\n== Watch it live ==")
    print(f"console       {base_url}/console/")
    print(f"API key       {key}   (sign in with it; it is revoked when the demo ends)")
    print(f"Swagger UI    {base_url}/api/docs/swagger-ui")
    print(f"CLI           FOLLOWER_API_URL={base_url} FOLLOWER_API_KEY={key} .venv/bin/follower jobs\n")


def main() -> int:
    """Run the demo; returns the exit code."""
    started_here = not stack.running()
    if started_here and stack.up() != 0:
        return 1
    env = stack.stack_env()  # after up: the URLs of embedded servers it may have started
    base_url = stack.web_url(env)
    key = None
    try:
        name, base, key = create_demo_tenant(env)
        print(f"demo tenant {name} (Airtable base {base})")
        print_console_hint(base_url, key)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        job = scrape(session, base_url)
        if job["status"] not in ("completed", "completed_with_errors"):
            print(f"scrape ended {job['status']}: {job['error_message']}", file=sys.stderr)
            return 1
        from scripts.demo_daily import run_daily_demo

        run_daily_demo(base_url, key, job["job_id"], tenant=name, airtable_url=env["AIRTABLE_API_URL"],
                       airtable_base=base, flask_env=env)
        return 0
    finally:
        if key:
            flask_cli(env, "revoke-api-key", key[:10])  # the demo's key does not outlive it
        if started_here:
            stack.down()

if __name__ == "__main__":
    sys.exit(main())
