"""The ``follower`` command-line client (installed into .venv/bin by ``make setup``) against a
live gunicorn, the Celery worker and the stand-ins: scrape with --watch, jobs, status, results
as CSV, cancel, run-daily --watch, campaign, pool; --json output and the exit codes."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from server.utils.jobs.table import insert_job
from tests.support.daily import day, make_profiles, new_tenant, post_job
from tests.support.web import web  # noqa: F401  (fixture)

FOLLOWER = Path(sys.executable).parent / "follower"


def follower(web_url: str, key: str | None, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``follower ARGS`` with FOLLOWER_API_URL / FOLLOWER_API_KEY set."""
    if not FOLLOWER.exists():
        pytest.fail(f"{FOLLOWER} is missing: run `make setup` (it installs the command-line client)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWER_")}
    env["FOLLOWER_API_URL"] = web_url
    if key:
        env["FOLLOWER_API_KEY"] = key
    return subprocess.run([str(FOLLOWER), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def accounts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "accounts.txt"
    path.write_text("# sources\nnike\n@adidas\nhttps://www.instagram.com/puma/\nreebok\nnot valid!\n")
    return path


def test_scrape_watch_prints_the_summary_and_exits_0(web, tenant, accounts_file):
    _, key = tenant
    run = follower(web, key, "scrape", str(accounts_file), "--gender", "female", "--count", "150", "--watch",
                   "--interval", "0.3")
    assert run.returncode == 0, run.stderr
    assert "4 accounts in 2 chunks (1 rejected" in run.stdout
    assert "rejected 'not valid!'" in run.stderr
    assert "completed" in run.stdout and "150 of 150" in run.stdout and "gender split" in run.stdout
    assert "100%" in run.stderr  # the progress bar


def test_json_output_jobs_status_and_results_csv(web, tenant, accounts_file, tmp_path):
    _, key = tenant
    run = follower(web, key, "scrape", str(accounts_file), "--count", "60", "--watch", "--json")
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["status"] == "completed" and job["profiles_scraped"] == 60
    listed = json.loads(follower(web, key, "jobs", "--json", "--kind", "scrape").stdout)
    assert job["job_id"] in [j["job_id"] for j in listed["jobs"]]
    text = follower(web, key, "jobs")
    assert text.returncode == 0 and job["job_id"] in text.stdout
    status = follower(web, key, "status", job["job_id"], "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["job_id"] == job["job_id"]
    out = tmp_path / "kept.csv"
    saved = follower(web, key, "results", job["job_id"], "--csv", str(out))
    assert saved.returncode == 0 and "wrote 60 profiles" in saved.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60 and {"username", "gender", "source_account"} <= set(rows[0])
    shown = follower(web, key, "results", job["job_id"], "--limit", "5")
    assert shown.returncode == 0 and "5 of 60 profiles" in shown.stdout


def test_exit_codes_a_script_can_rely_on(web, app, tenant, accounts_file, tmp_path):
    t, key = tenant
    with app.extensions["services"].db.transaction() as conn:  # stored, never sent: stays queued
        queued = str(insert_job(conn, t.tenant_id, "scrape", {}).job["job_id"])
    assert follower(web, "fp_wrong-key", "jobs").returncode == 3
    assert follower(web, key, "status", str(uuid.uuid4())).returncode == 4
    assert follower(web, key, "status", "not-a-uuid").returncode == 2
    running = follower(web, key, "results", queued)
    assert running.returncode == 5 and "queued" in running.stderr
    assert follower(web, key, "status", queued).returncode == 0  # still running: no verdict yet
    cancelled = follower(web, key, "cancel", queued, "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    assert follower(web, key, "cancel", queued).returncode == 5
    assert follower(web, key, "status", queued).returncode == 1
    assert follower("http://127.0.0.1:9", key, "jobs").returncode == 7
    assert follower(web, None, "jobs").returncode == 2  # no key at all
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert follower(web, key, "scrape", str(empty)).returncode == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("!!!\n")
    refused = follower(web, key, "scrape", str(bad))
    assert refused.returncode == 2 and "accounts" in refused.stderr


def test_run_daily_watch_campaign_and_pool(web, app, stack):
    base_id = "app" + uuid.uuid4().hex[:14]
    stack.airtable_control("bases", {"id": base_id, "name": "cli base"})
    _, key = new_tenant(app, tables=4, per_table=25, base_id=base_id)
    client = app.test_client()
    assert post_job(client, key, "/api/ingest", {"profiles": make_profiles(150, start=71_000_000)})["status"] == "completed"
    assert post_job(client, key, "/api/airtable/create-base")["status"] == "completed"
    run = follower(web, key, "run-daily", "--watch", "--interval", "0.3")
    assert run.returncode == 0, run.stderr + run.stdout
    for step in ("status_sync", "select", "distribute", "push"):
        assert step in run.stdout
    shown = follower(web, key, "campaign")
    assert shown.returncode == 0 and f"campaign {day(0)} pushed: 100 of 100 selected" in shown.stdout
    lines = shown.stdout.splitlines()
    for number in ("01", "02", "03", "04"):
        assert any(line.strip().startswith(number) and "25" in line for line in lines), shown.stdout
    assert any(line.strip().startswith("total") and "100" in line for line in lines)
    as_json = json.loads(follower(web, key, "campaign", day(0), "--json").stdout)
    assert as_json["totals"]["pending"] == 100 and set(as_json["tables"]) == {"1", "2", "3", "4"}
    assert follower(web, key, "campaign", "2020-01-01").returncode == 4
    pool = json.loads(follower(web, key, "pool", "--json").stdout)
    assert (pool["size"], pool["unused"]) == (150, 50)
