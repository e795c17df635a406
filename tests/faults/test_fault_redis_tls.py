"""Fault 3: ``rediss://`` (Heroku Redis with a self-signed certificate). One setting,
``REDIS_SSL_CERT_REQS`` (+ ``REDIS_SSL_CA_CERTS``), reaches the Celery broker, the rate-limit
storage and the service's Redis client; start-up refuses a URL and setting that disagree.
Tested against a private ``redis-server`` with TLS and a certificate made here (trustme)."""
from __future__ import annotations

import pytest
import redis
import trustme

from server.app import create_app
from server.settings import Settings, SettingsError
from tests.faults.redis_server import RedisServer

BASE = {"database_url": "postgresql://postgres@127.0.0.1:5432/unused", "apify_api_key": "k",
        "airtable_access_token": "t", "airtable_base_id": "appAAAAAAAAAAAAAA", "celery_queue": "tls-test"}


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A TLS-only redis-server whose certificate is signed by a CA made for this test."""
    workdir = tmp_path_factory.mktemp("redis-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": workdir / "ca.pem", "cert": workdir / "cert.pem", "key": workdir / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    server = RedisServer(workdir, tls={k: str(v) for k, v in paths.items()}).start()
    yield server, str(paths["ca"])
    server.stop()


def _reachable_everywhere(settings: Settings) -> dict:
    """Whether the service client, the Celery broker and the limiter storage reach Redis."""
    app = create_app(settings)
    out = {}
    try:
        out["client"] = bool(app.extensions["services"].redis.ping())
    except redis.RedisError:
        out["client"] = False
    try:
        with app.extensions["celery"].connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
            app.extensions["celery"].send_task("jobs.reap_stale", connection=conn)
        out["broker"] = True
    except Exception:  # kombu wraps the SSL error in several ways
        out["broker"] = False
    limiter = next(iter(app.extensions["limiter"]))
    out["limiter"] = bool(limiter.storage.check())
    return out


def test_rediss_without_the_setting_is_refused_at_start(tls_redis):
    server, _ = tls_redis
    with pytest.raises(SettingsError, match="REDIS_SSL_CERT_REQS"):
        Settings.from_env(**BASE, redis_url=server.url)
    with pytest.raises(SettingsError, match="rediss:// URLs only"):
        Settings.from_env(**BASE, redis_url="redis://127.0.0.1:6379/0", redis_ssl_cert_reqs="none")
    with pytest.raises(SettingsError, match="needs REDIS_SSL_CERT_REQS=required"):
        Settings.from_env(**BASE, redis_url=server.url, redis_ssl_cert_reqs="none", redis_ssl_ca_certs=tls_redis[1])
    with pytest.raises(SettingsError, match="no file"):
        Settings.from_env(**BASE, redis_url=server.url, redis_ssl_cert_reqs="required",
                          redis_ssl_ca_certs="/nonexistent/ca.pem")


def test_required_with_the_ca_verifies_and_every_client_connects(tls_redis):
    server, ca = tls_redis
    settings = Settings.from_env(**BASE, redis_url=server.url, redis_ssl_cert_reqs="required",
                                 redis_ssl_ca_certs=ca)
    assert _reachable_everywhere(settings) == {"client": True, "broker": True, "limiter": True}
    check = redis.Redis.from_url(server.url, ssl_cert_reqs="required", ssl_ca_certs=ca)
    assert check.llen("tls-test") >= 1  # the broker's message went over TLS


def test_required_without_the_ca_refuses_the_self_signed_certificate_everywhere(tls_redis):
    server, _ = tls_redis
    settings = Settings.from_env(**BASE, redis_url=server.url, redis_ssl_cert_reqs="required")
    assert _reachable_everywhere(settings) == {"client": False, "broker": False, "limiter": False}


def test_none_accepts_the_self_signed_certificate_everywhere(tls_redis):
    server, _ = tls_redis
    settings = Settings.from_env(**BASE, redis_url=server.url, redis_ssl_cert_reqs="none")
    assert _reachable_everywhere(settings) == {"client": True, "broker": True, "limiter": True}
