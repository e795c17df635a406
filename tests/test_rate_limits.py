"""Rate limits live in Redis, are keyed by API key (or the address the trusted proxy saw) and
never apply to the liveness probe."""
from __future__ import annotations

import uuid

from server.app import create_app
from server.settings import Settings
from tests.conftest import auth


def _limited_app(**overrides):
    settings = {"ratelimit_default": "3 per minute", "trusted_proxy_hops": 1, **overrides}
    return create_app(Settings.from_env(**settings))


def test_limit_is_per_key_and_answers_429_in_the_envelope(stack, tenant, app):
    limited = _limited_app().test_client()
    _, key = tenant
    path = f"/api/job-status/{uuid.uuid4()}"
    codes = [limited.get(path, headers=auth(key)).status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    refused = limited.get(path, headers=auth(key))
    body = refused.get_json()
    assert body["success"] is False and body["error"]["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60  # the fixed window ends within one window (a minute)
    from tests.test_scrape_api import _other_key
    assert limited.get(path, headers=auth(_other_key(app))).status_code == 404  # its own bucket


def test_forged_forwarded_for_does_not_reset_the_limit(stack):
    limited = _limited_app().test_client()
    address = f"198.51.100.{uuid.uuid4().int % 200 + 1}"
    codes = []
    for i in range(4):
        # the client forges the first entry; Heroku's router appends the real address last
        headers = {"X-Forwarded-For": f"10.0.0.{i}, {address}"}
        codes.append(limited.post("/api/scrape-followers", json={}, headers=headers).status_code)
    assert codes == [401, 401, 401, 429]


def test_liveness_probe_is_never_limited(stack):
    limited = _limited_app().test_client()
    assert all(limited.get("/healthz").status_code == 200 for _ in range(10))


def test_guessing_keys_is_limited_per_address(stack):
    limited = _limited_app(ratelimit_default="1000 per minute", ratelimit_per_address="5 per minute").test_client()
    address = f"203.0.113.{uuid.uuid4().int % 200 + 1}"
    codes = [limited.post("/api/scrape-followers", json={}, headers={
        "X-Forwarded-For": address, "X-API-Key": f"fp_guess_{i}"}).status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2
