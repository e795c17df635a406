"""Fault 4: a Heroku deploy restart. The worker runs with the Procfile's exact command line
(``REMAP_SIGTERM=SIGQUIT``); every process of the dyno gets SIGTERM mid-job, and SIGKILL if
it is still there 30 s later; a new worker starts with the same line. The job completes with
exact counts and no second paid Apify run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from tests.faults.conftest import assert_scrape_matches_truth, submit_scrape, wait_until
from tests.support.processes import ROOT

PROCFILE = ROOT / "server" / "Procfile"


def procfile_command(process_type: str) -> str:
    """The command line of ``process_type`` in the Procfile, exactly as Heroku runs it."""
    for line in PROCFILE.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process_type:
            return command.strip()
    raise AssertionError(f"no {process_type} line in {PROCFILE}")


def start_dyno(env: dict, log_path) -> subprocess.Popen:
    """Run the Procfile's worker line through a shell, as a dyno does (own process group)."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    full_env = {**os.environ, **env, "PATH": path, "WORKER_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(["/bin/sh", "-c", procfile_command("worker")], cwd=ROOT, env=full_env,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_dyno(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """Heroku's shutdown: SIGTERM to every process of the dyno, SIGKILL after ``grace`` s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    try:  # children the shell left behind get the same treatment
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_procfile_worker_restarted_mid_job_completes_without_a_second_run(stack, private):
    assert "REMAP_SIGTERM=SIGQUIT" in procfile_command("worker")
    _, key = private.new_tenant()
    stack.apify_control("faults", {"run_seconds": 3})
    log_path = private.logs / "dyno.log"
    dyno = start_dyno(private.env, log_path)
    try:
        wait_until(lambda: " ready." in log_path.read_text(errors="replace"), timeout=60)
        accounts = [f"deploy{uuid.uuid4().hex[:6]}_{i}" for i in range(4)]
        job = submit_scrape(private.client, key, accounts)

        def runs_going():
            with private.db.transaction() as conn:
                return conn.execute("SELECT count(*) AS n FROM scrape_job_chunks WHERE job_id = %s"
                                    " AND status = 'running' AND apify_run_id IS NOT NULL",
                                    (job["job_id"],)).fetchone()["n"] >= 1

        wait_until(runs_going)
        stop_dyno(dyno)
        time.sleep(0.5)
        dyno = start_dyno(private.env, log_path)  # the new release's dyno
        with private.beat():  # beat keeps running across a worker restart
            assert_scrape_matches_truth(stack, private.client, private.db, key, job["job_id"], accounts,
                                        timeout=150)
    finally:
        stop_dyno(dyno, grace=10)
