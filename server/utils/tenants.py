"""Tenants (one agency client each) and their API keys.

Keys are 32 random bytes shown once; only their SHA-256 is stored (a key has 256 bits of
entropy, so a fast hash is enough and lookups stay one indexed query).

``ApiKeyCache`` keeps key → tenant in-process for ``API_KEY_CACHE_SECONDS`` (default 5 s), so
an authenticated request needs no key query: a revoked key, or a key of a tenant that was
deactivated, is refused by every process within that time. Only valid keys are cached (a new
key works at once; an invalid one is looked up every time and limited per address). Keys are
held by their SHA-256 hash, never in clear text.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import time
from time import monotonic
from typing import Callable
from uuid import UUID

from cachetools import TTLCache
from psycopg import Connection

KEY_PREFIX = "fp_"


@dataclass(frozen=True)
class Tenant:
    """One agency client: its Airtable base and daily campaign size."""

    tenant_id: UUID
    name: str
    airtable_base_id: str | None
    num_va_tables: int
    profiles_per_table: int
    target_gender: str


def hash_api_key(key: str) -> str:
    """Hex SHA-256 of an API key, as stored in ``api_keys.key_hash``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def upsert_tenant(conn: Connection, name: str, airtable_base_id: str | None, num_va_tables: int,
                  profiles_per_table: int, daily_run_utc: time = time(6, 0)) -> Tenant:
    """Create the tenant ``name`` or update its Airtable base, campaign size and the UTC time
    of its daily run; returns it."""
    row = conn.execute(
        """
        INSERT INTO tenants (name, airtable_base_id, num_va_tables, profiles_per_table, daily_run_utc)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (name) DO UPDATE SET airtable_base_id = EXCLUDED.airtable_base_id,
            num_va_tables = EXCLUDED.num_va_tables, profiles_per_table = EXCLUDED.profiles_per_table,
            daily_run_utc = EXCLUDED.daily_run_utc, updated_at = now()
        RETURNING tenant_id, name, airtable_base_id, num_va_tables, profiles_per_table, target_gender
        """,
        (name, airtable_base_id, num_va_tables, profiles_per_table, daily_run_utc),
    ).fetchone()
    return Tenant(**row)


def ensure_default_tenant(conn: Connection, settings) -> Tenant:
    """The tenant described by ``DEFAULT_TENANT_NAME``, ``AIRTABLE_BASE_ID``, ``NUM_VA_TABLES``,
    ``PROFILES_PER_TABLE``, created or brought up to date."""
    return upsert_tenant(conn, settings.default_tenant_name, settings.airtable_base_id,
                         settings.num_va_tables, settings.profiles_per_table, settings.daily_run_utc)


def get_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    """The tenant called ``name``, or None."""
    row = conn.execute(
        "SELECT tenant_id, name, airtable_base_id, num_va_tables, profiles_per_table, target_gender"
        " FROM tenants WHERE name = %s", (name,)).fetchone()
    return Tenant(**row) if row else None


def load_tenant(conn: Connection, tenant_id: UUID) -> Tenant | None:
    """The tenant ``tenant_id``, or None."""
    row = conn.execute(
        "SELECT tenant_id, name, airtable_base_id, num_va_tables, profiles_per_table, target_gender"
        " FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone()
    return Tenant(**row) if row else None


def create_api_key(conn: Connection, tenant: Tenant, name: str = "") -> str:
    """Create a key for ``tenant`` and return it in clear text (the only time it exists)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) VALUES (%s, %s, %s, %s)",
        (tenant.tenant_id, name, key[:10], hash_api_key(key)),
    )
    return key


def tenant_for_api_key(conn: Connection, key: str) -> Tenant | None:
    """The tenant of a valid, unrevoked key, or None; records the key's last use."""
    row = conn.execute(
        """
        UPDATE api_keys k SET last_used_at = now()
        FROM tenants t
        WHERE k.key_hash = %s AND k.revoked_at IS NULL AND t.tenant_id = k.tenant_id AND t.is_active
        RETURNING t.tenant_id, t.name, t.airtable_base_id, t.num_va_tables, t.profiles_per_table,
                  t.target_gender
        """,
        (hash_api_key(key),),
    ).fetchone()
    return Tenant(**row) if row else None


def revoke_api_key(conn: Connection, key_prefix: str) -> int:
    """Revoke every active key starting with ``key_prefix``; returns how many were revoked."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s AND revoked_at IS NULL",
        (key_prefix[:10],))
    return cur.rowcount


MAX_KEYS = 10_000


class ApiKeyCache:
    """Thread-safe TTL cache in front of ``tenant_for_api_key``; ``ttl_seconds`` 0 disables it.
    ``timer`` (seconds, monotonic) is the clock of the entries."""

    def __init__(self, ttl_seconds: float, timer: Callable[[], float] = monotonic):
        self.ttl_seconds = ttl_seconds
        self._cache: TTLCache | None = TTLCache(MAX_KEYS, ttl_seconds, timer=timer) if ttl_seconds > 0 else None
        self._lock = threading.Lock()

    def tenant(self, key: str, connect: Callable[[], Connection]) -> Tenant | None:
        """The tenant of the valid, unrevoked ``key`` or None; ``connect()`` gives the connection
        for a lookup and is called only on a miss (the lookup records the key's last use, so
        ``api_keys.last_used_at`` is exact to within the cache's lifetime)."""
        digest = hash_api_key(key)
        if self._cache is not None:
            with self._lock:
                cached = self._cache.get(digest)
            if cached is not None:
                return cached
        tenant = tenant_for_api_key(connect(), key)
        if tenant is not None and self._cache is not None:
            with self._lock:
                self._cache[digest] = tenant
        return tenant

    def clear(self) -> None:
        """Forget every entry (tests, key rotation tooling)."""
        if self._cache is not None:
            with self._lock:
                self._cache.clear()
