"""API calls counted per token and calendar month (UTC), with an optional monthly cap.

Airtable counts a workspace's calls per month and, past the plan's cap, answers data requests
with 429 ``PUBLIC_API_BILLING_LIMIT_EXCEEDED`` while the meta API keeps working (support
articles on API call limits; public reports of that error). The stand-in has no workspaces, so
it counts per bearer token. Tokens are reported by the first 12 hex digits of their SHA-256.
"""
from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone

BILLING_LIMIT_BODY = {"errors": [{"error": "PUBLIC_API_BILLING_LIMIT_EXCEEDED",
                                  "message": "API billing plan limit exceeded. You've reached the maximum "
                                             "number of requests allowed for this month."}]}


def token_key(token: str) -> str:
    """How a token is named in the usage report."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class CallCounter:
    """Thread-safe per-token monthly counters; ``max_calls_per_month`` None = no cap."""

    def __init__(self, max_calls_per_month: int | None = None, clock=lambda: datetime.now(timezone.utc)):
        self._lock = threading.Lock()
        self._clock = clock
        self.max_calls_per_month = max_calls_per_month
        self._calls: dict[str, dict[str, int]] = {}

    def count(self, token: str) -> bool:
        """Count one call of ``token``; False when it is past the monthly cap (answer 429)."""
        month = self._clock().strftime("%Y-%m")
        with self._lock:
            months = self._calls.setdefault(token_key(token), {})
            months[month] = months.get(month, 0) + 1
            return self.max_calls_per_month is None or months[month] <= self.max_calls_per_month

    def report(self) -> dict:
        """``{"max_calls_per_month", "tokens": {token key: {"YYYY-MM": calls}}}``."""
        with self._lock:
            return {"max_calls_per_month": self.max_calls_per_month,
                    "tokens": {k: dict(v) for k, v in self._calls.items()}}

    def reset(self) -> None:
        """Forget every count (the cap stays)."""
        with self._lock:
            self._calls.clear()
