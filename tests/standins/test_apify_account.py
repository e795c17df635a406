"""The Apify stand-in's account (limits, memory refusal, run time per item) and ad-hoc webhook
delivery, driven by the real ``apify_client`` 3.x."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError

from standins.apify.server import BackgroundServer

TOKEN = "account-token"
ACTOR = "datadoping/instagram-followers-scraper"


class Receiver:
    """A tiny HTTP server recording webhook POSTs; answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.calls: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.calls.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls


@pytest.fixture
def standin():
    server = BackgroundServer({"token": TOKEN, "run_seconds": 0.2, "webhook_retry_base_seconds": 0.05,
                               "max_memory_mbytes": 4096, "max_concurrent_runs": 3})
    yield server
    server.stop()


def client(url: str) -> ApifyClient:
    return ApifyClient(TOKEN, api_url=url, max_retries=0)


def test_limits_endpoint_reads_through_apify_client(standin):
    limits = client(standin.url).user().limits()
    assert limits.limits.max_actor_memory_gbytes == 4.0
    assert limits.limits.max_concurrent_actor_jobs == 3
    assert limits.current.active_actor_job_count == 0


def test_start_past_the_memory_limit_is_refused_like_apify(standin):
    api = client(standin.url)
    api.actor(ACTOR).start(run_input={"usernames": ["a"], "max_count": 5}, memory_mbytes=2048)
    api.actor(ACTOR).start(run_input={"usernames": ["b"], "max_count": 5}, memory_mbytes=2048)
    with pytest.raises(ApifyApiError) as caught:
        api.actor(ACTOR).start(run_input={"usernames": ["c"], "max_count": 5}, memory_mbytes=1024)
    assert caught.value.status_code == 402 and caught.value.type == "actor-memory-limit-exceeded"
    account = requests.get(f"{standin.url}/_control/account", timeout=5).json()
    assert account["peak_running"] == 2 and account["peak_memory_mbytes"] == 4096 and account["refused"] == 1
    time.sleep(0.3)  # both runs ended: room again
    api.actor(ACTOR).start(run_input={"usernames": ["c"], "max_count": 5}, memory_mbytes=1024)


def test_concurrent_run_limit_refuses_the_extra_run(standin):
    api = client(standin.url)
    for name in ("a", "b", "c"):
        api.actor(ACTOR).start(run_input={"usernames": [name], "max_count": 5}, memory_mbytes=128)
    with pytest.raises(ApifyApiError) as caught:
        api.actor(ACTOR).start(run_input={"usernames": ["d"], "max_count": 5}, memory_mbytes=128)
    assert caught.value.type == "concurrent-runs-limit-exceeded"


def test_run_time_grows_with_the_items_requested(standin):
    requests.post(f"{standin.url}/_control/account", json={"run_seconds_per_item": 0.01}, timeout=5)
    api = client(standin.url)
    small = api.actor(ACTOR).start(run_input={"usernames": ["a"], "max_count": 10}, memory_mbytes=128)
    big = api.actor(ACTOR).start(run_input={"usernames": ["b"], "max_count": 100}, memory_mbytes=128)
    small_end = api.run(small.id).wait_for_finish()
    assert str(small_end.status) in ("SUCCEEDED", "ActorJobStatus.SUCCEEDED")
    assert "RUNNING" in str(api.run(big.id).get().status)  # 0.2 + 1.0 s against 0.2 + 0.1 s
    assert "SUCCEEDED" in str(api.run(big.id).wait_for_finish().status)


def test_webhook_default_payload_headers_template_and_retries(standin):
    receiver = Receiver(statuses=[500, 503])
    api = client(standin.url)
    run = api.actor(ACTOR).start(
        run_input={"usernames": ["a"], "max_count": 5}, memory_mbytes=128,
        webhooks=[{"event_types": ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED"], "request_url": receiver.url,
                   "headers_template": json.dumps({"X-Secret": "s3cret"})}])
    calls = receiver.wait(3)
    assert len(calls) == 3  # two failures retried with backoff, then delivered
    body = calls[-1]["body"]
    assert body["eventType"] == "ACTOR.RUN.SUCCEEDED"
    assert body["eventData"] == {"actorId": run.act_id, "actorRunId": run.id}
    assert body["resource"]["status"] == "SUCCEEDED" and body["userId"] and body["createdAt"]
    assert calls[-1]["headers"]["X-Secret"] == "s3cret"
    summary = requests.get(f"{standin.url}/_control/webhooks", timeout=5).json()
    assert summary["attempts"] == 3 and summary["delivered"] == 1


def test_webhook_payload_template_abort_event_and_disabled_delivery(standin):
    receiver = Receiver()
    api = client(standin.url)
    requests.post(f"{standin.url}/_control/faults", json={"run_seconds": 30}, timeout=5)
    run = api.actor(ACTOR).start(
        run_input={"usernames": ["a"], "max_count": 5}, memory_mbytes=128,
        webhooks=[{"event_types": ["ACTOR.RUN.ABORTED"], "request_url": receiver.url,
                   "payload_template": '{"run": {{resource.id}}, "event": {{eventType}}}'}])
    api.run(run.id).abort()
    assert receiver.wait(1)[0]["body"] == {"run": run.id, "event": "ACTOR.RUN.ABORTED"}
    requests.post(f"{standin.url}/_control/webhooks", json={"enabled": False}, timeout=5)
    requests.post(f"{standin.url}/_control/faults", json={"run_seconds": 0.1}, timeout=5)
    api.actor(ACTOR).start(run_input={"usernames": ["b"], "max_count": 5}, memory_mbytes=128,
                           webhooks=[{"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": receiver.url}])
    time.sleep(0.5)
    assert len(receiver.calls) == 1


def test_bad_control_values_are_400(standin):
    assert requests.post(f"{standin.url}/_control/account", json={"max_memory_mbytes": 0}, timeout=5).status_code == 400
    assert requests.post(f"{standin.url}/_control/webhooks", json={"nope": 1}, timeout=5).status_code == 400


def test_run_time_jitter_is_stable_per_input(standin):
    requests.post(f"{standin.url}/_control/account", json={"run_seconds_jitter": 0.5, "max_concurrent_runs": 100}, timeout=5)
    store = standin.store
    same = [store.create_run("a~b", {"usernames": ["x"], "max_count": 3}, 10, timeout_secs=0, memory_mbytes=128,
                             max_items=None).run_seconds for _ in range(2)]
    other = [store.create_run("a~b", {"usernames": [f"y{i}"], "max_count": 3}, 10, timeout_secs=0,
                              memory_mbytes=128, max_items=None).run_seconds for i in range(20)]
    assert same[0] == same[1] and all(0.1 <= s <= 0.3 for s in other) and len(set(other)) > 10
