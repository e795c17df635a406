"""Demo, part 2: from a finished scrape to a week of VA work, through the public API only.

``run_daily_demo(base_url, api_key, scrape_job_id, tenant=..., airtable_url=..., airtable_base=...)``:
ingest the scrape's kept profiles → create the VA tables → run the daily pipeline → act as VAs
in the Airtable stand-in (follow some rows, complete some, delete one by hand) → sync statuses
→ move the tenant's clock 8 days ahead (``flask --app server.app clock-advance --tenant NAME --days
8``: only this tenant's requests and jobs see it; other tenants and the beat's schedule keep real
time) → sync,
mark unfollow due, delete completed, expire pending → print a per-table summary.

The tenant behind ``api_key`` should have its base ``airtable_base`` in the stand-in (e.g. 4 VA
tables × 25 profiles). The ``flask`` command runs with this process's environment (or
``flask_env``), which must describe the same service (DATABASE_URL, REDIS_URL, ...).

Standalone: ``python -m scripts.demo_daily BASE_URL API_KEY SCRAPE_JOB_ID --tenant NAME
--airtable-url URL --airtable-base appXXXXXXXXXXXXXX``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")
STATUSES = ("pending", "followed", "unfollow", "completed", "archived")
FOLLOW_PER_TABLE, COMPLETE_PER_TABLE, DELETE_PER_TABLE = 6, 4, 1


class DemoError(RuntimeError):
    """A step of the demo did not go as expected."""


class _Api:
    """Tiny client of the service's API (bearer key, JSON, polling)."""

    def __init__(self, base_url: str, api_key: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        response = self.session.request(method, self.base_url + path, json=body, timeout=30)
        if response.status_code != expect:
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def run_job(self, path: str, body: dict | None = None, timeout: float = 600) -> dict:
        """POST ``path`` (202), poll job-status until terminal; the final job (must not fail)."""
        started = self.call("POST", path, body if body is not None else {}, expect=202)
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("GET", started["status_url"])
            if job["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"job {job['job_id']} ({path}) still {job['status']} after {timeout}s")
            time.sleep(0.5)
        if job["status"] not in ("completed", "completed_with_errors"):
            raise DemoError(f"{path}: job {job['job_id']} {job['status']}: {job.get('error_message')}")
        if job["status"] == "completed_with_errors":
            print(f"   (note: {path} completed with errors: {job.get('error_message')})")
        return job


class _Airtable:
    """The Airtable stand-in's control API: what a VA does by hand."""

    def __init__(self, url: str, base_id: str):
        self.url, self.base_id = url.rstrip("/"), base_id

    def _req(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.url}/_control/bases/{self.base_id}/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def va_tables(self) -> list[str]:
        names = [t["name"] for t in self._req("GET", "tables")["tables"]]
        return sorted(n for n in names if n.startswith("Daily_Outreach_Table_"))

    def records(self, table: str) -> list[dict]:
        return self._req("GET", f"tables/{table}/records")["records"]

    def set_status(self, table: str, record_id: str, status: str) -> None:
        self._req("PATCH", f"tables/{table}/records/{record_id}", {"fields": {"progress_status": status}})

    def delete(self, table: str, record_id: str) -> None:
        self._req("DELETE", f"tables/{table}/records/{record_id}")


def _flask(command: list[str], env: dict | None) -> str:
    """Run ``flask --app server.app <command>`` in the repository; its output."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "server.app", *command], cwd=ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise DemoError(f"flask {' '.join(command)} failed: {done.stderr or done.stdout}")
    return done.stdout.strip()


def _act_as_vas(airtable: _Airtable) -> dict:
    """In every VA table (rows by position): follow the first rows, complete the next ones,
    delete one by hand. Returns counts of what was done."""
    done = {"followed": 0, "completed": 0, "deleted": 0}
    for table in airtable.va_tables():
        rows = sorted(airtable.records(table), key=lambda r: r["fields"].get("position") or 0)
        for record in rows[:FOLLOW_PER_TABLE]:
            airtable.set_status(table, record["id"], "followed")
            done["followed"] += 1
        for record in rows[FOLLOW_PER_TABLE:FOLLOW_PER_TABLE + COMPLETE_PER_TABLE]:
            airtable.set_status(table, record["id"], "completed")
            done["completed"] += 1
        start = FOLLOW_PER_TABLE + COMPLETE_PER_TABLE
        for record in rows[start:start + DELETE_PER_TABLE]:
            airtable.delete(table, record["id"])
            done["deleted"] += 1
    return done


def _print_summary(title: str, api: _Api, airtable: _Airtable, campaign_id: str) -> None:
    """Per-table counts from the service (pending/followed/unfollow/completed/archived) next to
    the number of records still in Airtable."""
    campaign = api.call("GET", f"/api/campaigns/{campaign_id}")
    print(f"\n{title} (campaign {campaign['campaign_date']}, status {campaign['status']})")
    print(f"   {'table':<24}" + "".join(f"{s:>10}" for s in STATUSES) + f"{'Airtable':>10}")
    totals = dict.fromkeys(STATUSES, 0)
    in_airtable = 0
    for number, counts in sorted(campaign["tables"].items(), key=lambda kv: int(kv[0])):
        name = f"Daily_Outreach_Table_{int(number):02d}"
        records = len(airtable.records(name)) if name in airtable.va_tables() else 0
        in_airtable += records
        for status in STATUSES:
            totals[status] += counts[status]
        print(f"   {name:<24}" + "".join(f"{counts[s]:>10}" for s in STATUSES) + f"{records:>10}")
    print(f"   {'total':<24}" + "".join(f"{totals[s]:>10}" for s in STATUSES) + f"{in_airtable:>10}")


def run_daily_demo(base_url: str, api_key: str, scrape_job_id: str, *, tenant: str, airtable_url: str,
                   airtable_base: str, flask_env: dict | None = None, reset_clock: bool = True) -> None:
    """Drive the daily pipeline for the tenant of ``api_key`` (named ``tenant``) after scrape
    ``scrape_job_id`` finished, printing what happens. Raises ``DemoError`` when a step fails.
    Only this tenant's clock is moved; with ``reset_clock`` it is put back at the end."""
    api, airtable = _Api(base_url, api_key), _Airtable(airtable_url, airtable_base)

    print("\n== Daily pipeline demo")
    ingest = api.run_job("/api/ingest", {"job_id": scrape_job_id})["result"]
    print(f"1. ingest of scrape {scrape_job_id}: {ingest['added']} added to the pool, "
          f"{ingest['already_known']} already known ({ingest['renamed']} renamed), "
          f"{ingest['rejected_total']} rejected")

    base = api.run_job("/api/airtable/create-base")["result"]
    print(f"2. Airtable base {airtable_base}: VA tables {', '.join(airtable.va_tables()) or 'none'}"
          f" ({_short(base)})")

    run = api.run_job("/api/run-daily", {})["result"]
    steps = run["steps"]
    select, push = steps["select"], steps["push"]
    print(f"3. run-daily {run['campaign_date']}: selected {select['total_selected']}/{select['target']} "
          f"({select['va_tables']} tables x {select['profiles_per_table']}), "
          f"distributed {steps['distribute'].get('total_distributed', 0)}, "
          f"pushed {push.get('records_pushed', 0)} records to Airtable")
    if run.get("warning"):
        print(f"   warning: {run['warning']}")
    campaign_id = run["campaign_id"]
    if campaign_id is None:
        raise DemoError("run-daily selected nothing (is the pool empty?)")
    _print_summary("After the push", api, airtable, campaign_id)

    acted = _act_as_vas(airtable)
    print(f"\n4. VAs at work in Airtable: {acted['followed']} followed, {acted['completed']} completed, "
          f"{acted['deleted']} deleted by hand")
    sync = api.run_job("/api/sync-airtable-statuses")["result"]
    print(f"5. status sync: {sync.get('records_read')} records read, {sync.get('updated')} updated, "
          f"{sync.get('deleted_by_va_count')} deleted by a VA")
    _print_summary("After the VAs' day", api, airtable, campaign_id)

    try:
        print(f"\n6. {_flask(['clock-advance', '--tenant', tenant, '--days', '8'], flask_env)}")
        for label, path in (("status sync", "/api/sync-airtable-statuses"),
                            ("mark unfollow due", "/api/mark-unfollow-due"),
                            ("delete completed", "/api/delete-completed-after-delay"),
                            ("expire pending", "/api/expire-pending")):
            result = api.run_job(path)["result"]
            print(f"   {label}: {_short(result)}")
        _print_summary("Eight days later", api, airtable, campaign_id)
    finally:
        if reset_clock:
            print(f"\n7. {_flask(['clock-reset', '--tenant', tenant], flask_env)}")


def _short(result: dict, limit: int = 6) -> str:
    """The scalar entries of a job result, for one line of output."""
    items = [(k, v) for k, v in result.items() if isinstance(v, (int, float, str)) and not k.startswith("_")]
    return ", ".join(f"{k}={v}" for k, v in items[:limit]) or "done"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("api_key")
    parser.add_argument("scrape_job_id")
    parser.add_argument("--tenant", required=True, help="Name of the tenant of API_KEY (its clock moves).")
    parser.add_argument("--airtable-url", required=True)
    parser.add_argument("--airtable-base", required=True)
    parser.add_argument("--keep-clock", action="store_true", help="Leave the tenant's clock 8 days ahead.")
    args = parser.parse_args(argv)
    run_daily_demo(args.base_url, args.api_key, args.scrape_job_id, tenant=args.tenant, airtable_url=args.airtable_url,
                   airtable_base=args.airtable_base, reset_clock=not args.keep_clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
