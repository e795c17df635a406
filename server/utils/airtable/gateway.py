"""The one way this service talks to Airtable: a ``pyairtable.Api`` with explicit timeouts whose
HTTP session goes through a Redis-shared rate limiter and waits out Airtable's 429 penalty.

Facts followed (shared/reference/airtable.md §2, §5; field report B20):
- Airtable allows 5 requests/s per base (shared by every token and process) and 50 requests/s per
  token across bases; exceeding it answers 429 and the base refuses everything for 30 s. No
  ``Retry-After`` header is sent; the 429 body varies, so only the status code is trusted.
- pyairtable 3.x does no client-side throttling and its default retry (urllib3, 429 only) gives up
  after ~3 s, long before the penalty ends. So pyairtable's retry is switched off
  (``retry_strategy=None``) and every request — records, pagination and meta API alike — passes
  through :class:`LimitedAdapter`, mounted on ``api.session``:
    1. wait until the base's penalty (a Redis key with a TTL) is over;
    2. take a slot in the base's sliding window (at most ``AIRTABLE_REQUESTS_PER_SECOND`` requests
       in any ``1 s + AIRTABLE_RATE_MARGIN_SECONDS`` window, counted in Redis with Redis's own
       clock, so every worker on every machine shares one budget) and in the token's window;
    3. send, and once the answer is in, move the slot's time to "now" (Redis's clock again).
       Airtable counted the request when it arrived, somewhere between taking the slot and the
       answer; recording the later bound means a new slot is only granted a full window after
       the latest moment Airtable can have seen the old request, however long the request was
       delayed on the way (a thread scheduled late, a slow network). So the margin only has to
       cover clock rounding, not jitter, and the push runs at the ceiling without 429s;
       on 429 record the penalty in Redis (``AIRTABLE_PENALTY_SECONDS``) so every worker stops, then send the same request again (at most ``AIRTABLE_MAX_RATE_LIMIT_WAITS`` times,
       then :class:`AirtableRateLimited`);
    4. connection errors, timeouts and 500/502/503/504 are retried (``AIRTABLE_TRANSIENT_RETRIES``
       times, backoff from ``AIRTABLE_RETRY_BACKOFF_SECONDS`` doubling to at most 30 s)
       unless the request is a record-creating POST, which could duplicate records.
  Before it is sent, every request (a retry too) takes one call from the workspace's monthly
  budget (``usage.ApiCallBudget``); a 429 ``PUBLIC_API_BILLING_LIMIT_EXCEEDED`` (the month's
  calls are spent) is not a rate limit: it raises ``AirtableCallsExhausted`` at once.

Nothing connects at import; :func:`airtable_api` builds a client per call (cheap).
"""
from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

import requests
from pyairtable import Api, Base
from requests.adapters import HTTPAdapter

from server.utils.airtable.plans import tenant_limits
from server.utils.airtable.usage import AirtableCallsExhausted, ApiCallBudget, month_of
from server.utils.clock import real_now

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = (500, 502, 503, 504)
TRANSIENT_RETRIES = 6  # default of AIRTABLE_TRANSIENT_RETRIES
TRANSIENT_BACKOFF_SECONDS = 1.0  # default of AIRTABLE_RETRY_BACKOFF_SECONDS; doubles per retry
MAX_TRANSIENT_BACKOFF_SECONDS = 30.0
MAX_LIMITER_WAIT_SECONDS = 600.0
_RECORD_ID = re.compile(r"\brec[A-Za-z0-9]{14}\b")

# KEYS[1]: penalty key; KEYS[2..]: sliding-window sorted sets.
# ARGV[1]: window in microseconds; ARGV[2]: unique member; ARGV[3..]: limit of each window key.
# Returns 0 when a slot was taken in every window, else the milliseconds to wait before retrying.
_ACQUIRE_LUA = """
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then return pttl end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local wait_us = 0
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local limit = tonumber(ARGV[i + 1])
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local entry = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(entry[2]) + window - now
    if w > wait_us then wait_us = w end
  end
end
if wait_us > 0 then return math.max(1, math.ceil(wait_us / 1000)) end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000) + 1000)
end
return 0
"""


# KEYS: the sliding-window sorted sets of a slot taken with member ARGV[1]; moves the slot's
# time to Redis's "now" (only where the slot is still counted).
_CONFIRM_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
end
return 0
"""


class AirtableError(RuntimeError):
    """Base class of this service's Airtable failures (pyairtable raises ``requests`` errors)."""


class AirtableNotConfigured(AirtableError):
    """The tenant has no ``airtable_base_id``."""


class AirtableRateLimited(AirtableError):
    """The base kept answering 429 after ``AIRTABLE_MAX_RATE_LIMIT_WAITS`` penalty waits."""


@dataclass
class RequestStats:
    """What one client did: ``requests`` sent (429s included), ``rate_limited`` 429 answers,
    ``penalty_waits`` penalties waited out, ``waited_seconds`` spent waiting for slots and
    penalties (float seconds), ``transient_retries`` retried connection errors / 5xx."""

    requests: int = 0
    rate_limited: int = 0
    penalty_waits: int = 0
    waited_seconds: float = 0.0
    transient_retries: int = 0

    def as_dict(self) -> dict:
        """JSON-able copy (``waited_seconds`` rounded to ms)."""
        out = asdict(self)
        out["waited_seconds"] = round(self.waited_seconds, 3)
        return out


class RateLimiter:
    """Sliding-window request budget per base (and per token) kept in Redis, plus the base's 429
    penalty. ``rate``: requests per window per base; ``window_seconds``: 1 s plus a safety margin
    against network jitter; ``token_rate``: requests per window across all bases of the token."""

    def __init__(self, redis_client, rate: int, window_seconds: float, penalty_seconds: float,
                 token: str, token_rate: int):
        self.redis = redis_client
        self.rate = rate
        self.window_us = int(window_seconds * 1_000_000)
        self.penalty_ms = max(1, int(penalty_seconds * 1000))
        self.token_key = "airtable:rl:token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        self.token_rate = token_rate
        self._script = redis_client.register_script(_ACQUIRE_LUA)
        self._confirm = redis_client.register_script(_CONFIRM_LUA)

    @staticmethod
    def penalty_key(base_id: str) -> str:
        """Redis key whose TTL is the remaining penalty of ``base_id``."""
        return f"airtable:penalty:{base_id}"

    def _window_keys(self, base_id: str | None) -> tuple[list[str], list[int]]:
        keys, limits = [], []
        if base_id:
            keys.append(f"airtable:rl:base:{base_id}")
            limits.append(self.rate)
        keys.append(self.token_key)
        limits.append(self.token_rate)
        return keys, limits

    def acquire(self, base_id: str | None) -> tuple[float, str]:
        """Block until a request to ``base_id`` (None: a base-less meta call) may be sent and take
        its slot; returns the seconds waited and the slot's id for ``sent``. Raises
        ``AirtableRateLimited`` after ``MAX_LIMITER_WAIT_SECONDS``."""
        windows, limits = self._window_keys(base_id)
        keys = [self.penalty_key(base_id or "-"), *windows]
        started = time.monotonic()
        member = uuid.uuid4().hex
        while True:
            wait_ms = int(self._script(keys=keys, args=[self.window_us, member, *limits]))
            if wait_ms <= 0:
                return time.monotonic() - started, member
            if time.monotonic() - started > MAX_LIMITER_WAIT_SECONDS:
                raise AirtableRateLimited(f"no Airtable request slot for base {base_id} within "
                                          f"{MAX_LIMITER_WAIT_SECONDS:.0f} s")
            time.sleep(wait_ms / 1000 + random.uniform(0, 0.005))

    def sent(self, base_id: str | None, member: str) -> None:
        """The request of slot ``member`` has been answered (or failed): count the slot from now,
        the latest moment Airtable can have received it."""
        self._confirm(keys=self._window_keys(base_id)[0], args=[member])

    def penalize(self, base_id: str | None) -> None:
        """Record that ``base_id`` answered 429: every worker waits ``penalty_seconds`` from now
        (an already recorded penalty is not extended)."""
        self.redis.set(self.penalty_key(base_id or "-"), "1", px=self.penalty_ms, nx=True)


def base_id_of(url: str) -> str | None:
    """The base id a request URL addresses (``/v0/{base}/…`` or ``/v0/meta/bases/{base}/…``),
    None for base-less meta calls (``/v0/meta/whoami``, ``/v0/meta/bases``)."""
    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    if "v0" not in parts:
        return None
    parts = parts[parts.index("v0") + 1:]
    if parts[:2] == ["meta", "bases"] and len(parts) >= 3:
        return parts[2]
    if parts and parts[0] != "meta":
        return parts[0]
    return None


def _retry_safe(request: requests.PreparedRequest) -> bool:
    """False for a POST that creates records (a lost response + retry could duplicate them)."""
    if request.method != "POST":
        return True
    path = urlsplit(request.url).path
    return path.endswith("/listRecords") or "/v0/meta/" in path


class LimitedAdapter(HTTPAdapter):
    """``requests`` adapter that rate-limits, waits out penalties and retries (module docstring)."""

    def __init__(self, limiter: RateLimiter, stats: RequestStats, max_penalty_waits: int,
                 budget: ApiCallBudget | None = None, transient_retries: int = TRANSIENT_RETRIES,
                 backoff_seconds: float = TRANSIENT_BACKOFF_SECONDS):
        super().__init__(max_retries=0)
        self.limiter = limiter
        self.stats = stats
        self.max_penalty_waits = max_penalty_waits
        self.budget = budget
        self.transient_retries = transient_retries
        self.backoff_seconds = backoff_seconds
        self._lock = threading.Lock()

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before transient retry ``attempt`` (1-based): doubling, capped."""
        return min(MAX_TRANSIENT_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))

    def _count(self, **deltas) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def send(self, request, **kwargs):  # noqa: D102 - see class docstring
        base_id = base_id_of(request.url)
        penalties = transient = 0
        while True:
            if self.budget is not None:
                self.budget.take()
            waited, slot = self.limiter.acquire(base_id)
            self._count(waited_seconds=waited, requests=1)
            try:
                response = super().send(request, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.limiter.sent(base_id, slot)
                if transient >= self.transient_retries or not _retry_safe(request):
                    raise
                transient += 1
                self._count(transient_retries=1)
                log.warning("airtable %s %s: %s; retry %d", request.method, base_id, type(exc).__name__,
                            transient)
                time.sleep(self._backoff(transient))
                continue
            except BaseException:
                self.limiter.sent(base_id, slot)
                raise
            self.limiter.sent(base_id, slot)
            if response.status_code == 429:
                if _billing_limit(response):
                    response.close()
                    raise AirtableCallsExhausted(
                        f"Airtable refused base {base_id}: the workspace's API calls for the month are spent "
                        "(429 PUBLIC_API_BILLING_LIMIT_EXCEEDED)")
                response.close()
                self.limiter.penalize(base_id)
                self._count(rate_limited=1)
                if penalties >= self.max_penalty_waits:
                    raise AirtableRateLimited(
                        f"Airtable base {base_id} still answers 429 after {penalties} penalty waits")
                penalties += 1
                self._count(penalty_waits=1)
                log.warning("airtable base %s answered 429; waiting out the penalty (%d)", base_id, penalties)
                continue
            if response.status_code in TRANSIENT_STATUSES and transient < self.transient_retries \
                    and _retry_safe(request):
                response.close()
                transient += 1
                self._count(transient_retries=1)
                log.warning("airtable %s %s answered %d; retry %d", request.method, base_id,
                            response.status_code, transient)
                time.sleep(self._backoff(transient))
                continue
            return response


def _billing_limit(response) -> bool:
    """True for Airtable's 429 ``PUBLIC_API_BILLING_LIMIT_EXCEEDED`` (monthly calls spent)."""
    try:
        return b"PUBLIC_API_BILLING_LIMIT_EXCEEDED" in (response.content or b"")[:2000]
    except Exception:  # body unreadable: treat as an ordinary rate limit
        return False


def airtable_api(services, stats: RequestStats | None = None, budget: ApiCallBudget | None = None) -> Api:
    """A ``pyairtable.Api`` for ``AIRTABLE_ACCESS_TOKEN`` at ``AIRTABLE_API_URL`` (no ``/v0``),
    with (connect ≤ 10 s, read ``AIRTABLE_TIMEOUT_SECONDS``) timeouts, pyairtable's own retry off
    and :class:`LimitedAdapter` on its session. ``stats`` (created if None) is at
    ``api.request_stats`` and counts what this client does; ``budget`` (optional) counts and
    caps the workspace's monthly calls."""
    s = services.settings
    stats = stats if stats is not None else RequestStats()
    api = Api(s.airtable_access_token, timeout=(min(10.0, s.airtable_timeout_seconds), s.airtable_timeout_seconds),
              retry_strategy=None, endpoint_url=s.airtable_api_url)
    limiter = RateLimiter(services.redis, s.airtable_requests_per_second, 1.0 + s.airtable_rate_margin_seconds,
                          s.airtable_penalty_seconds, s.airtable_access_token, s.airtable_token_requests_per_second)
    adapter = LimitedAdapter(limiter, stats, s.airtable_max_rate_limit_waits, budget, s.airtable_transient_retries,
                             s.airtable_retry_backoff_seconds)
    api.session.mount("https://", adapter)
    api.session.mount("http://", adapter)
    api.request_stats = stats
    return api


def call_budget(services, tenant) -> ApiCallBudget:
    """The monthly API-call budget of ``tenant``'s workspace (this real UTC month: Airtable counts
    real calls, whatever a tenant's simulated clock says; the cap of its plan or explicit limit)."""
    limits = tenant_limits(tenant, services.settings.airtable_capacity_margin)
    return ApiCallBudget(services.redis, tenant.workspace_key, month_of(real_now()),
                         limits.api_calls_per_month, f"tenant {tenant.name}", services.db)


def open_base(services, tenant, stats: RequestStats | None = None, base_id: str | None = None) -> Base:
    """One of the tenant's Airtable bases (``base_id``, default its first) through
    :func:`airtable_api`, counting calls in the workspace's :func:`call_budget`; its
    ``api.request_stats`` counts requests. Raises ``AirtableNotConfigured`` when the tenant has
    no base id or ``base_id`` is not one of its bases."""
    if not tenant.airtable_base_id:
        raise AirtableNotConfigured(f"tenant {tenant.name} has no Airtable base id")
    base_id = base_id or tenant.airtable_base_id
    if base_id not in tenant.base_ids:
        raise AirtableNotConfigured(f"base {base_id} is not one of tenant {tenant.name}'s bases")
    return airtable_api(services, stats, call_budget(services, tenant)).base(base_id)


def error_type(exc: BaseException) -> str | None:
    """Airtable's error ``type`` of a failed request (``{"error": {"type"}}``, ``{"error": "TYPE"}``
    or ``{"errors": [{"error": "TYPE"}]}``), None when the body says nothing (reference §3)."""
    body = _error_body(exc)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("type")
    if isinstance(error, str):
        return error
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0].get("error")
    return None


def error_message(exc: BaseException) -> str:
    """A short readable reason for a failed Airtable call: ``"<status> <TYPE>: <message>"``."""
    response = getattr(exc, "response", None)
    body = _error_body(exc)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if response is None:
        return f"{type(exc).__name__}: {exc}"[:500]
    parts = [str(response.status_code), error_type(exc) or response.reason or ""]
    text = " ".join(p for p in parts if p)
    return (f"{text}: {message}" if message else text)[:500]


def status_code(exc: BaseException) -> int | None:
    """HTTP status of a failed request, None for connection errors and non-HTTP failures."""
    response = getattr(exc, "response", None)
    return response.status_code if response is not None else None


def record_ids_in(exc: BaseException) -> list[str]:
    """Record ids (``rec`` + 14) named in the error message of a failed request, e.g. the missing
    row of 422 ``ROW_DOES_NOT_EXIST`` "Record ID recX does not exist in this table"."""
    body = _error_body(exc)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return _RECORD_ID.findall(message or "")


def _error_body(exc: BaseException):
    response = getattr(exc, "response", None)
    if response is None:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}
