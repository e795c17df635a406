"""Airtable's per-base rate limit and the request statistics of the control API.

Per base: at most ``rate`` admitted requests in any sliding 1-second window (shared by every
client and token). The request that would exceed it is answered 429 and starts a penalty:
every request to that base is answered 429 until ``penalty_seconds`` have passed (requests
during the penalty do not extend it). ``rate`` of 0 or None disables limiting.
Times are ``time.monotonic()`` seconds.
"""
from collections import deque
from dataclasses import dataclass, field
import threading
import time


@dataclass
class _BaseState:
    admitted: deque = field(default_factory=deque)   # admitted request times, last 1 s
    arrivals: deque = field(default_factory=deque)   # all request times, last 1 s
    penalty_until: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    max_in_window: int = 0
    max_served_in_window: int = 0
    per_table: dict = field(default_factory=dict)


class RateLimiter:
    """Thread-safe per-base limiter plus counters.

    ``rate``: requests per second per base (int, 0/None = unlimited); ``penalty_seconds``:
    how long a base answers 429 after the limit was exceeded (float seconds).
    """

    def __init__(self, rate: int | None = 5, penalty_seconds: float = 30.0, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.rate = rate
        self.penalty_seconds = penalty_seconds
        self._bases: dict[str, _BaseState] = {}

    def configure(self, rate: int | None = None, penalty_seconds: float | None = None, **_ignored) -> dict:
        """Change ``rate`` and/or ``penalty_seconds`` (None keeps the value); returns the config."""
        with self._lock:
            if rate is not None:
                self.rate = int(rate)
            if penalty_seconds is not None:
                self.penalty_seconds = float(penalty_seconds)
            return {"rate": self.rate, "penalty_seconds": self.penalty_seconds}

    def reset(self) -> None:
        """Forget every base's window, penalty and counters (the config stays)."""
        with self._lock:
            self._bases.clear()

    @staticmethod
    def _slide(window: deque, now: float) -> None:
        while window and window[0] <= now - 1.0:
            window.popleft()

    def admit(self, base_id: str, table_label: str) -> bool:
        """Count one request to ``base_id`` (``table_label`` for ``per_table``); False = answer 429."""
        with self._lock:
            now = self._clock()
            state = self._bases.setdefault(base_id, _BaseState())
            state.requests += 1
            per = state.per_table.setdefault(table_label, {"requests": 0, "rate_limited": 0})
            per["requests"] += 1
            self._slide(state.arrivals, now)
            state.arrivals.append(now)
            state.max_in_window = max(state.max_in_window, len(state.arrivals))
            self._slide(state.admitted, now)
            limited = now < state.penalty_until
            if not limited and self.rate and len(state.admitted) >= self.rate:
                limited = True
                state.penalty_until = now + self.penalty_seconds
                state.admitted.clear()
            if limited:
                state.rate_limited += 1
                per["rate_limited"] += 1
                return False
            state.admitted.append(now)
            state.max_served_in_window = max(state.max_served_in_window, len(state.admitted))
            return True

    def stats(self, base_id: str) -> dict:
        """Counters for one base: ``requests`` (every /v0 request that reached it, 429s included),
        ``rate_limited`` (answered 429), ``max_requests_in_any_1s_window`` (all arrivals),
        ``max_served_in_any_1s_window`` (non-429 only), ``per_table`` (label -> {requests,
        rate_limited}), ``penalty_remaining_seconds``."""
        with self._lock:
            state = self._bases.get(base_id, _BaseState())
            return {
                "base": base_id,
                "requests": state.requests,
                "rate_limited": state.rate_limited,
                "max_requests_in_any_1s_window": state.max_in_window,
                "max_served_in_any_1s_window": state.max_served_in_window,
                "per_table": {k: dict(v) for k, v in state.per_table.items()},
                "penalty_remaining_seconds": round(max(0.0, state.penalty_until - self._clock()), 3),
            }

    def base_ids(self) -> list[str]:
        """Bases that have received at least one request."""
        with self._lock:
            return list(self._bases)
