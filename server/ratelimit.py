"""Rate limits in Redis through Flask-Limiter, keyed by API key (or client address when there is none).

Two rules: ``RATELIMIT_DEFAULT`` per API key on every route, and ``RATELIMIT_PER_ADDRESS`` per
client address across all routes (so guessing keys, each of which would get a bucket of its
own, is limited too); the health checks are exempt. The strategy is the limits library's
sliding-window counter, whose check is one Redis script call per rule, and no ``X-RateLimit-*``
headers are computed (each would cost more round trips on every request): a request costs two
Redis round trips, and only a refused one a third, for its ``Retry-After``.

Storage is shared Redis so every gunicorn worker counts the same bucket (B08), with the TLS
settings of ``rediss://`` URLs; errors of the storage fail open instead of turning every request
into a 500 (B11), and ``/health`` reports them; the client address comes from ``ProxyFix`` with
an exact hop count, never from a client-chosen header (B09, B10).
"""
from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address

from server.auth import presented_key

EXEMPT_PATHS = ("/health", "/healthz")


def client_address() -> str:
    """The client's address as the trusted proxy saw it (``ProxyFix``), else the peer's."""
    return get_remote_address() or "unknown"


def rate_limit_key() -> str:
    """``key:<hash prefix>`` for requests carrying an API key, else ``ip:<address>``."""
    key = presented_key()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24]
    return "ip:" + client_address()


def init_limiter(app: Flask, settings) -> Limiter:
    """Attach Flask-Limiter with the two rules above to ``app``; a refused request is a 429 in
    the error envelope with ``Retry-After`` (seconds until the refusing rule has room)."""
    limiter = Limiter(
        key_func=rate_limit_key,
        storage_uri=settings.limiter_storage_url,
        storage_options=settings.redis_ssl_options(settings.limiter_storage_url),
        default_limits=[settings.ratelimit_default],
        application_limits=[ApplicationLimit(settings.ratelimit_per_address,
                                             key_function=lambda: "ip:" + client_address(),
                                             exempt_when=lambda: request.path in EXEMPT_PATHS)],
        headers_enabled=False,
        swallow_errors=True,
        strategy="sliding-window-counter",
    )

    @app.after_request
    def _retry_after_when_limited(response):
        if response.status_code == 429 and "Retry-After" not in response.headers:
            limit = limiter.current_limit
            seconds = math.ceil(limit.reset_at - time.time()) if limit is not None else 1
            response.headers["Retry-After"] = str(max(1, seconds))
        return response

    limiter.init_app(app)
    limiter.exempt(app.blueprints["health"])
    return limiter
