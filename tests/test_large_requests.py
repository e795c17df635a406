"""A 500,000-account request is accepted, and no broker message carries more than one chunk's
accounts (messages carry ids only). The request is sent to an app whose broker is a Redis
database no worker listens on, so the messages can be read back as they were sent."""
from __future__ import annotations

import json
import time

import pytest
import redis

from server.app import create_app
from server.settings import Settings
from server.tasks import enqueue_chunks
from tests.conftest import auth

ACCOUNTS = 500_000
CHUNK = 50


def _quiet_broker_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + "/14"


def _messages(client: redis.Redis, queue: str = "default") -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


@pytest.mark.slow
def test_half_a_million_accounts_are_accepted_and_messages_stay_small(stack, tenant):
    broker = redis.Redis.from_url(_quiet_broker_url(stack.env["REDIS_URL"]))
    broker.flushdb()
    app = create_app(Settings.from_env(redis_url=_quiet_broker_url(stack.env["REDIS_URL"])))
    _, key = tenant
    accounts = [f"acct_{i:07d}" for i in range(ACCOUNTS)]
    started = time.monotonic()
    response = app.test_client().post("/api/scrape-followers", headers=auth(key),
                                      json={"accounts": accounts, "targetGender": "female"})
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["total_batches"] == ACCOUNTS // CHUNK
    assert body["accounts_accepted"] == ACCOUNTS
    print(f"500k-account POST answered in {elapsed:.1f}s")

    queue = app.extensions["celery"].conf.task_default_queue
    sent = _messages(broker, queue)
    assert [m["headers"]["task"] for m in sent] == ["scrape.start"]
    assert len(sent[0]["body"]) < 1000  # the job id, not the accounts

    services = app.extensions["services"]
    with services.db.transaction() as conn:
        indexes = [r["chunk_index"] for r in conn.execute(
            "SELECT chunk_index FROM scrape_job_chunks WHERE job_id = %s ORDER BY chunk_index",
            (body["job_id"],))]
        stored = conn.execute("SELECT sum(cardinality(accounts)) AS n, max(cardinality(accounts)) AS m"
                              " FROM scrape_job_chunks WHERE job_id = %s", (body["job_id"],)).fetchone()
    assert stored["n"] == ACCOUNTS and stored["m"] == CHUNK
    broker.delete(queue)
    assert enqueue_chunks(app.extensions["celery"], body["job_id"], indexes) == len(indexes)
    chunk_messages = _messages(broker, queue)
    assert len(chunk_messages) == ACCOUNTS // CHUNK
    biggest = max(len(m["body"]) for m in chunk_messages)
    assert biggest < 500, biggest  # [job_id, chunk_index] only; 50 accounts would not fit
    assert {m["headers"]["task"] for m in chunk_messages} == {"scrape.run_chunk"}
    with services.db.transaction() as conn:  # leave nothing for the real worker to pick up
        conn.execute("UPDATE scrape_jobs SET status = 'cancelled' WHERE job_id = %s", (body["job_id"],))
    broker.flushdb()


def test_too_many_accounts_is_400(client, tenant, app):
    _, key = tenant
    limit = app.extensions["services"].settings.max_accounts_per_request
    response = client.post("/api/scrape-followers", headers=auth(key),
                           json={"accounts": ["a"] * (limit + 1)})
    assert response.status_code == 400
    assert "accounts" in response.get_json()["error"]["details"]
