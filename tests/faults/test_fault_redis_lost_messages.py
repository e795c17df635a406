"""Messages lost to a Redis outage that would cost money or stall a job: the cancel request's
``jobs.abort_runs`` (the runs must still be aborted, by the run poller, soon after Redis is
back) and the Apify webhook's collect message (the webhook must answer 503 so Apify delivers
it again, never 202 for a message that was dropped)."""
from __future__ import annotations

import hashlib
import logging
import time
import uuid

from server.utils.scrape.start import WEBHOOK_SECRET_HEADER
from tests.conftest import auth
from tests.faults.conftest import submit_scrape, wait_until

RUN_SECONDS = 60  # far longer than the bound below: a run that ends by itself is not "aborted"
ABORT_BOUND_SECONDS = 20  # runs aborted within this time of Redis answering again


def _accounts(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}{tag}_{i}" for i in range(n)]


def _chunks(db, job_id):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM scrape_job_chunks WHERE job_id = %s ORDER BY chunk_index",
                            (job_id,)).fetchall()


def _runs(stack, db, job_id) -> list[dict]:
    run_ids = {c["apify_run_id"] for c in _chunks(db, job_id) if c["apify_run_id"]}
    return [r for r in stack.apify_control("runs", method="GET") if r["id"] in run_ids]


def test_cancel_while_redis_is_down_aborts_the_runs_once_redis_is_back(stack, private, caplog):
    _, key = private.new_tenant()
    stack.apify_control("faults", {"run_seconds": RUN_SECONDS})
    worker = private.worker(concurrency=2)
    try:
        accounts = _accounts("cxdown", 4)  # one chunk per account: 4 runs going at once
        job = submit_scrape(private.client, key, accounts)
        wait_until(lambda: sum(c["status"] == "running" for c in _chunks(private.db, job["job_id"])) == 4 or None)

        private.redis.stop()
        with caplog.at_level(logging.ERROR, logger="server.api_common"):
            response = private.client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key))
        assert response.status_code == 202 and response.get_json()["status"] == "cancelled"
        assert "could not enqueue jobs.abort_runs" in caplog.text
        assert "the run poller will abort the job's runs" in caplog.text
        # (a poller message the worker took before Redis died may already abort them; the
        # abort message itself was never sent and is never re-sent)

        private.redis.start()  # back, empty: the abort message is gone for good
        back = time.monotonic()
        worker = private.revive(worker, concurrency=2)
        runs = wait_until(lambda: (lambda rs: rs if {r["status"] for r in rs} == {"ABORTED"} else None)(
            _runs(stack, private.db, job["job_id"])), timeout=ABORT_BOUND_SECONDS)
        assert time.monotonic() - back < ABORT_BOUND_SECONDS
        assert len(runs) == 4

        chunks = wait_until(lambda: (lambda cs: cs if all(c["status"] == "cancelled" for c in cs) else None)(
            _chunks(private.db, job["job_id"])), timeout=30)
        assert {c["apify_run_status"] for c in chunks} == {"ABORTED"}
        with private.db.transaction() as conn:
            row = conn.execute("SELECT status, cost_usd FROM scrape_jobs WHERE job_id = %s",
                               (job["job_id"],)).fetchone()
            pending = conn.execute("SELECT count(*) AS n FROM scrape_job_sources WHERE job_id = %s"
                                   " AND status = 'pending'", (job["job_id"],)).fetchone()["n"]
        assert row["status"] == "cancelled" and pending == 0
        assert float(row["cost_usd"]) == sum(float(c["cost_usd"] or 0) for c in chunks)
        assert len(_runs(stack, private.db, job["job_id"])) == 4  # nothing started after the cancel
    finally:
        worker.stop()


def test_webhook_answers_503_while_the_broker_is_down_and_202_once_it_is_back(stack, private):
    _, key = private.new_tenant()
    stack.apify_control("faults", {"run_seconds": RUN_SECONDS})
    worker = private.worker(concurrency=1)
    try:
        job = submit_scrape(private.client, key, _accounts("hookdown", 1))
        chunk = wait_until(lambda: next((c for c in _chunks(private.db, job["job_id"])
                                         if c["status"] == "running"), None))
        secret = uuid.uuid4().hex  # the private stack has no public URL: give the run a secret
        with private.db.transaction() as conn:
            conn.execute("UPDATE scrape_job_chunks SET webhook_secret_sha256 = %s WHERE job_id = %s",
                         (hashlib.sha256(secret.encode()).hexdigest(), job["job_id"]))
        run_id = chunk["apify_run_id"]
        body = {"userId": "u", "createdAt": "2026-01-01T00:00:00.000Z", "eventType": "ACTOR.RUN.SUCCEEDED",
                "eventData": {"actorId": "a", "actorRunId": run_id}, "resource": {"id": run_id}}

        private.redis.stop()
        response = private.client.post("/api/webhooks/apify", json=body, headers={WEBHOOK_SECRET_HEADER: secret})
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "BROKER_UNAVAILABLE"
        assert int(response.headers["Retry-After"]) > 0
        assert _chunks(private.db, job["job_id"])[0]["status"] == "running"  # nothing claimed or lost

        private.redis.start()
        worker = private.revive(worker)
        response = private.client.post("/api/webhooks/apify", json=body, headers={WEBHOOK_SECRET_HEADER: secret})
        assert response.status_code == 202, response.get_json()
        assert private.client.post(f"/api/jobs/{job['job_id']}/cancel", headers=auth(key)).status_code == 202
        wait_until(lambda: {r["status"] for r in _runs(stack, private.db, job["job_id"])} == {"ABORTED"} or None,
                   timeout=ABORT_BOUND_SECONDS)
    finally:
        worker.stop()


def test_every_message_the_api_may_lose_is_recovered_by_something():
    """Each ``enqueue`` call in the service names a task whose lost message the reaper or the
    run poller brings back (``api_common.RECOVERED_BY``); any other is refused at once."""
    import re
    from pathlib import Path

    import pytest

    from server.api_common import RECOVERED_BY, enqueue

    root = Path(__file__).resolve().parents[2] / "server"
    sent = {m for path in root.rglob("*.py")
            for m in re.findall(r"""\benqueue\(\s*["']([\w.]+)["']""", path.read_text())}
    assert sent and sent <= set(RECOVERED_BY), sent - set(RECOVERED_BY)
    with pytest.raises(ValueError):
        enqueue("scrape.collect_chunk", "job", 0)
