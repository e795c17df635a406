"""Rate limits in Redis through Flask-Limiter, keyed by API key (or client address when there is none).

Two rules: ``RATELIMIT_DEFAULT`` per API key on every route, and ``RATELIMIT_PER_ADDRESS`` per
client address across all routes (so guessing keys, each of which would get a bucket of its
own, is limited too); the health checks are exempt. The strategy is the limits library's fixed
window (a counter per rule and client that starts at its first hit and expires one window
later), with one change: its hit is a single Redis script call that also returns the window's
count and end, kept for the request, so the ``X-RateLimit-*`` headers and ``Retry-After`` need
no further read. A request costs one Redis round trip per rule and nothing more. Answers other
than 429 (and the 503 of an unavailable database, which sets its own) carry no
``Retry-After``.

Storage is shared Redis so every gunicorn worker counts the same bucket (B08), with the TLS
settings of ``rediss://`` URLs; errors of the storage fail open instead of turning every request
into a 500 (B11), and ``/health`` reports them; the client address comes from ``ProxyFix`` with
an exact hop count, never from a client-chosen header (B09, B10).
"""
from __future__ import annotations

import hashlib
import threading
import time

import redis
from flask import Flask, g, has_request_context, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from limits.util import WindowStats

from server.auth import presented_key

EXEMPT_PATHS = ("/health", "/healthz")
STRATEGY = "fixed-window-counted"

# KEYS[1]: the rule's counter; ARGV[1]: window in seconds, ARGV[2]: cost. Counts the hit (the
# window starts at the first one) and returns {count, milliseconds until the window ends}.
_HIT_LUA = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[1] * 1000)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1] * 1000)
    ttl = ARGV[1] * 1000
end
return {count, ttl}
"""


class CountedFixedWindow(FixedWindowRateLimiter):
    """The limits library's fixed window whose ``hit`` on Redis storage is one script call
    returning the count and the window's end, remembered for the current request: Flask-Limiter's
    ``get_window_stats`` for the ``X-RateLimit-*`` headers and ``Retry-After`` then needs no
    Redis read. Keys, expiry and the refusal rule (count after the hit > the limit's amount) are
    those of ``FixedWindowRateLimiter``; other storages behave exactly as it does."""

    def __init__(self, storage):
        super().__init__(storage)
        self._redis = isinstance(storage, RedisStorage)
        self._local = threading.local()

    def _script(self):
        """The hit script on this thread's own connection from the storage's pool (a pooled
        client would take and return a connection, and poll its socket, on every call)."""
        script = getattr(self._local, "script", None)
        if script is None:
            pool = self.storage.get_connection().connection_pool
            client = redis.Redis(connection_pool=pool, single_connection_client=True)
            script = self._local.script = client.register_script(_HIT_LUA)
        return script

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        """Count ``cost`` against ``item`` for ``identifiers``; True while within the limit."""
        if not self._redis:
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        count, ttl_ms = self._script()(keys=[self.storage.prefixed_key(key)], args=[item.get_expiry(), cost])
        if has_request_context():
            windows = g.setdefault("_ratelimit_windows", {})
            windows[key] = WindowStats(time.time() + ttl_ms / 1000, max(0, item.amount - count))
        return count <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """(window end as Unix time, hits left) of the window this request counted against,
        read from Redis only when this request did not count against it."""
        if has_request_context():
            known = g.get("_ratelimit_windows", {}).get(item.key_for(*identifiers))
            if known is not None:
                return known
        return super().get_window_stats(item, *identifiers)


STRATEGIES.setdefault(STRATEGY, CountedFixedWindow)  # Flask-Limiter looks strategies up by name


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
    the error envelope with ``Retry-After`` (seconds until the refusing rule has room) and every
    limited answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``."""
    limiter = Limiter(
        key_func=rate_limit_key,
        storage_uri=settings.limiter_storage_url,
        storage_options=settings.redis_ssl_options(settings.limiter_storage_url),
        default_limits=[settings.ratelimit_default],
        application_limits=[ApplicationLimit(settings.ratelimit_per_address,
                                             key_function=lambda: "ip:" + client_address(),
                                             exempt_when=lambda: request.path in EXEMPT_PATHS)],
        headers_enabled=True,
        swallow_errors=True,
        strategy=STRATEGY,
    )

    @app.after_request  # registered first, so it runs after the limiter added its headers
    def _retry_after_only_when_limited(response):
        if response.status_code not in (429, 503):  # 503: the error handler's own Retry-After
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
    limiter.exempt(app.blueprints["health"])
    return limiter
