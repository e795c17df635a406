"""Airtable API calls counted per workspace and calendar month (UTC), in Redis.

Airtable caps the calls a workspace makes in a month (Free 1,000, Team 100,000; Business and
above unlimited; ``plans.PLAN_LIMITS``). Past the cap Airtable answers 429
``PUBLIC_API_BILLING_LIMIT_EXCEEDED`` (or slows the workspace to 2 requests/s) until the month
ends. Every request the gateway sends first takes one call from :class:`ApiCallBudget`: one
``INCR`` of ``airtable:calls:<workspace>:<YYYY-MM>`` shared by every worker; the call that
would pass the cap is not sent and raises :class:`AirtableCallsExhausted`, so the service stops
*before* Airtable does. The key expires 40 days after its month's first call.

Redis is disposable, so the count is also copied to Postgres (``airtable_api_calls``) every
``SYNC_EVERY`` calls, keeping the larger value; when Redis has lost the key, the first call
continues from the stored count. At most ``SYNC_EVERY − 1`` calls can be forgotten that way.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

KEY_TTL_SECONDS = 40 * 86400
SYNC_EVERY = 50


class AirtableCallsExhausted(RuntimeError):
    """The workspace has used its plan's API calls for the month (ours or Airtable's count)."""


def usage_key(workspace: str, month: str) -> str:
    """Redis key counting ``workspace``'s calls in ``month`` (``YYYY-MM``)."""
    return f"airtable:calls:{hashlib.sha256(workspace.encode()).hexdigest()[:20]}:{month}"


def month_of(now: datetime) -> str:
    """``YYYY-MM`` of an aware UTC datetime."""
    return now.strftime("%Y-%m")


class ApiCallBudget:
    """The monthly calls of one workspace. ``cap`` None = unlimited (still counted); ``db`` (a
    ``server.db.Database``, optional) keeps the copy in Postgres."""

    def __init__(self, redis_client, workspace: str, month: str, cap: int | None, label: str = "", db=None):
        self.redis = redis_client
        self.workspace = workspace
        self.month = month
        self.cap = cap
        self.label = label or workspace
        self.key = usage_key(workspace, month)
        self.db = db

    def _stored(self) -> int:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT calls FROM airtable_api_calls WHERE workspace = %s AND month = %s",
                               (self.workspace, self.month)).fetchone()
        return int(row["calls"]) if row else 0

    def _store(self, count: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                """
                INSERT INTO airtable_api_calls (workspace, month, calls) VALUES (%s, %s, %s)
                ON CONFLICT (workspace, month) DO UPDATE
                   SET calls = greatest(airtable_api_calls.calls, EXCLUDED.calls), updated_at = now()
                """, (self.workspace, self.month, count))

    def take(self) -> int:
        """Count one call; returns the month's count. Raises ``AirtableCallsExhausted`` (the
        call is not counted) when it would pass the cap."""
        count = int(self.redis.incr(self.key))
        if count == 1:
            self.redis.expire(self.key, KEY_TTL_SECONDS)
            if self.db is not None:
                stored = self._stored()        # a new month (0), or Redis lost the key
                if stored:
                    count = int(self.redis.incrby(self.key, stored))
        if self.db is not None and count % SYNC_EVERY == 0:
            self._store(count)
        if self.cap is not None and count > self.cap:
            self.redis.decr(self.key)
            raise AirtableCallsExhausted(
                f"Airtable workspace of {self.label} has used {self.cap:,} of its {self.cap:,} API calls "
                f"for {self.month} (plan limit); nothing more is sent until the month ends")
        return count

    def used(self) -> int:
        """Calls counted so far this month (Redis, or the stored copy when Redis has none)."""
        value = self.redis.get(self.key)
        if value is None and self.db is not None:
            return self._stored()
        return int(value or 0)

    def remaining(self) -> int | None:
        """Calls left this month (None = unlimited)."""
        return None if self.cap is None else max(0, self.cap - self.used())
