"""Rate limits in Redis, counted in one round trip per request.

Two rules, both moving windows: ``RATELIMIT_DEFAULT`` per API key (or per client address when
the request carries none) and ``RATELIMIT_PER_ADDRESS`` per client address across all keys (so
guessing keys, each of which would get a bucket of its own, is limited too). One Lua script
checks both windows and records the request in both only when neither is full, so a refused
request uses no budget. Rules are written as ``limits`` strings (``"600 per minute"``).

Storage is shared Redis (``RATELIMIT_STORAGE_URL``, default ``REDIS_URL``) so every gunicorn
worker counts the same bucket (B08); an error of the storage fails open instead of turning every
request into a 500 (B11); the client address comes from ``ProxyFix`` with an exact hop count,
never from a client-chosen header (B09, B10). The health checks are never limited.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

import redis
from flask import Flask, g, request
from limits import RateLimitItem, parse

from server.api_common import ApiError
from server.auth import presented_key

log = logging.getLogger(__name__)

EXEMPT_PATHS = ("/health", "/healthz")
KEY_PREFIX = "rl:"

# KEYS[i]: one sorted set per rule (member: request id, score: ms). ARGV[1]: request id;
# ARGV[2i], ARGV[2i+1]: limit and window (ms) of rule i.
# Returns {refused rule (0: none), ms until it has room, index of the rule with least room
# left, its remaining requests, ms until its oldest counted request leaves the window}.
_HIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused, retry_ms = 0, 0
local counts = {}
for i = 1, #KEYS do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  counts[i] = count
  if count >= limit and refused == 0 then
    refused = i
    local entry = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    retry_ms = math.max(1, tonumber(entry[2]) + window - now)
  end
end
if refused == 0 then
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
    counts[i] = counts[i] + 1
  end
end
local tightest, remaining = 1, nil
for i = 1, #KEYS do
  local left = tonumber(ARGV[2 * i]) - counts[i]
  if remaining == nil or left < remaining then tightest, remaining = i, left end
end
local oldest = redis.call('ZRANGE', KEYS[tightest], 0, 0, 'WITHSCORES')
local reset_ms = tonumber(ARGV[2 * tightest + 1])
if oldest[2] then reset_ms = math.max(0, tonumber(oldest[2]) + reset_ms - now) end
return {refused, retry_ms, tightest, math.max(0, remaining), reset_ms}
"""


@dataclass(frozen=True)
class Decision:
    """Outcome of one request: ``limit`` is the rule with the least room left (the one refused,
    if any); ``remaining`` requests it still allows; ``reset_seconds`` until its oldest counted
    request leaves the window; ``retry_after`` seconds to wait when refused (else 0)."""

    allowed: bool
    limit: RateLimitItem
    remaining: int
    reset_seconds: float
    retry_after: float


class RequestRateLimiter:
    """The two rules in Redis; ``hit(key_id, address)`` counts one request.

    ``connect()`` makes a Redis client; each thread gets one holding a single connection, so a
    request costs exactly the script's round trip (a pooled client also polls the socket on
    every checkout). redis-py reconnects a broken connection and runs the script again."""

    def __init__(self, connect: Callable[[], redis.Redis], per_key: str, per_address: str):
        self.per_key = parse(per_key)
        self.per_address = parse(per_address)
        self._connect = connect
        self._local = threading.local()
        # Unique request ids without reading the OS's entropy on every request.
        self._member_prefix = secrets.token_hex(4) + ":"
        self._counter = itertools.count()

    def _run(self, keys: list[str], args: list):
        """EVALSHA the script on this thread's connection (EVAL once if Redis lacks it)."""
        script = getattr(self._local, "script", None)
        if script is None:
            script = self._local.script = self._connect().register_script(_HIT_LUA)
        return script(keys=keys, args=args)

    @staticmethod
    def _key(rule: RateLimitItem, who: str) -> str:
        return f"{KEY_PREFIX}{rule.amount}/{rule.get_expiry()}s:{who}"

    def hit(self, key_id: str, address: str) -> Decision:
        """Count a request by ``key_id`` (``key:<hash>`` or ``ip:<address>``) from ``address``
        in both windows, or in neither when one is full. Raises ``redis.RedisError``."""
        rules = [(self.per_key, key_id), (self.per_address, "ip:" + address)]
        args: list = [f"{self._member_prefix}{os.getpid()}:{next(self._counter)}"]
        for rule, _ in rules:
            args += [rule.amount, rule.get_expiry() * 1000]
        refused, retry_ms, tightest, remaining, reset_ms = self._run(
            keys=[self._key(rule, who) for rule, who in rules], args=args)
        limit = rules[(refused or tightest) - 1][0]
        return Decision(refused == 0, limit, int(remaining), reset_ms / 1000, retry_ms / 1000)


def client_address() -> str:
    """The client's address as the trusted proxy saw it (``ProxyFix``), else the peer's."""
    return request.remote_addr or "unknown"


def rate_limit_key() -> str:
    """``key:<hash prefix>`` for requests carrying an API key, else ``ip:<address>``."""
    key = presented_key()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24]
    return "ip:" + client_address()


def init_limiter(app: Flask, settings) -> RequestRateLimiter:
    """Count every request of ``app`` but the health checks against ``RATELIMIT_DEFAULT`` (per
    key) and ``RATELIMIT_PER_ADDRESS``; a refused request is a 429 envelope with
    ``Retry-After``; every counted answer carries ``X-RateLimit-Limit``, ``-Remaining`` and
    ``-Reset`` (Unix time) of the rule with the least room left."""
    def connect() -> redis.Redis:
        return redis.Redis.from_url(settings.limiter_storage_url, socket_timeout=2, socket_connect_timeout=2,
                                    single_connection_client=True)

    limiter = RequestRateLimiter(connect, settings.ratelimit_default, settings.ratelimit_per_address)
    app.extensions["rate_limiter"] = limiter

    @app.before_request
    def _count_request():
        if request.path in EXEMPT_PATHS:
            return None
        try:
            decision = limiter.hit(rate_limit_key(), client_address())
        except redis.RedisError as exc:
            log.warning("rate limit storage unavailable, request allowed: %s", exc)
            return None
        g.rate_limit = decision
        if not decision.allowed:
            raise ApiError(429, "TOO_MANY_REQUESTS", f"rate limit exceeded: {decision.limit}")
        return None

    @app.after_request
    def _rate_limit_headers(response):
        decision = g.get("rate_limit")
        if decision is not None:
            response.headers["X-RateLimit-Limit"] = str(decision.limit.amount)
            response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
            response.headers["X-RateLimit-Reset"] = str(int(time.time() + decision.reset_seconds + 0.999))
            if not decision.allowed:
                response.headers["Retry-After"] = str(max(1, int(decision.retry_after + 0.999)))
        return response

    return limiter
