"""Tenants (one agency client each), their Airtable plan and bases, and their API keys.

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
import re
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
AIRTABLE_PLANS = ("free", "team", "business", "enterprise")
BASE_ID_PATTERN = re.compile(r"^app[A-Za-z0-9]{14}$")

# Columns of a Tenant, read from ``tenants t``; the extra bases come in their order.
_COLUMNS = """t.tenant_id, t.name, t.airtable_base_id, t.num_va_tables, t.profiles_per_table, t.target_gender,
       t.airtable_plan, t.airtable_max_records_per_base, t.airtable_max_api_calls_per_month, t.airtable_workspace,
       ARRAY(SELECT b.base_id FROM tenant_airtable_bases b WHERE b.tenant_id = t.tenant_id
             ORDER BY b.position) AS extra_base_ids"""


class TenantBaseError(ValueError):
    """A base cannot be added to or removed from a tenant (the message says why)."""


@dataclass(frozen=True)
class Tenant:
    """One agency client: its Airtable bases and plan, and its daily campaign size.

    ``airtable_base_id`` is the first base; ``extra_base_ids`` the further ones in order
    (:attr:`base_ids` is all of them). ``airtable_plan`` is one of :data:`AIRTABLE_PLANS`;
    ``airtable_max_records_per_base`` / ``airtable_max_api_calls_per_month`` override the plan's
    limits when set. ``airtable_workspace`` names the Airtable workspace whose monthly API calls
    the tenant's bases share (None: a workspace of its own)."""

    tenant_id: UUID
    name: str
    airtable_base_id: str | None
    num_va_tables: int
    profiles_per_table: int
    target_gender: str
    airtable_plan: str = "team"
    airtable_max_records_per_base: int | None = None
    airtable_max_api_calls_per_month: int | None = None
    airtable_workspace: str | None = None
    extra_base_ids: tuple[str, ...] = ()

    @property
    def base_ids(self) -> tuple[str, ...]:
        """Every Airtable base of the tenant, the first one first (empty without a base)."""
        if not self.airtable_base_id:
            return ()
        return (self.airtable_base_id, *self.extra_base_ids)

    @property
    def workspace_key(self) -> str:
        """Key of the workspace whose monthly API calls are counted: ``airtable_workspace`` or
        ``tenant:<tenant_id>``."""
        return self.airtable_workspace or f"tenant:{self.tenant_id}"


def _tenant(row: dict | None) -> Tenant | None:
    if row is None:
        return None
    return Tenant(**{**row, "extra_base_ids": tuple(row["extra_base_ids"] or ())})


def hash_api_key(key: str) -> str:
    """Hex SHA-256 of an API key, as stored in ``api_keys.key_hash``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def upsert_tenant(conn: Connection, name: str, airtable_base_id: str | None, num_va_tables: int,
                  profiles_per_table: int, daily_run_utc: time = time(6, 0), airtable_plan: str | None = None) -> Tenant:
    """Create the tenant ``name`` or update its first Airtable base, campaign size, the UTC time
    of its daily run and (when given) its Airtable plan; returns it. A new tenant without
    ``airtable_plan`` gets ``team``. Raises ``TenantBaseError`` when the base is already one of
    the tenant's extra bases or another tenant's extra base, or when it would replace a first
    base that still holds live records of the tenant (the lifecycle would lose them, as with
    ``remove_base``); ``ValueError`` for an unknown plan."""
    if airtable_plan is not None and airtable_plan not in AIRTABLE_PLANS:
        raise ValueError(f"airtable_plan must be one of {', '.join(AIRTABLE_PLANS)}")
    if airtable_base_id and conn.execute(
            "SELECT 1 FROM tenant_airtable_bases WHERE base_id = %s", (airtable_base_id,)).fetchone():
        raise TenantBaseError(f"base {airtable_base_id} is already an extra base of a tenant")
    current = conn.execute("SELECT tenant_id, airtable_base_id FROM tenants WHERE name = %s FOR UPDATE",
                           (name,)).fetchone()
    if current and current["airtable_base_id"] and current["airtable_base_id"] != airtable_base_id:
        live = _live_records(conn, current["tenant_id"], current["airtable_base_id"])
        if live:
            raise TenantBaseError(f"base {current['airtable_base_id']} still holds {live} live records of tenant "
                                  f"{name}; keep it as the first base until the lifecycle has deleted them")
    row = conn.execute(
        """
        INSERT INTO tenants (name, airtable_base_id, num_va_tables, profiles_per_table, daily_run_utc, airtable_plan)
        VALUES (%s, %s, %s, %s, %s, coalesce(%s, 'team'))
        ON CONFLICT (name) DO UPDATE SET airtable_base_id = EXCLUDED.airtable_base_id,
            num_va_tables = EXCLUDED.num_va_tables, profiles_per_table = EXCLUDED.profiles_per_table,
            daily_run_utc = EXCLUDED.daily_run_utc,
            airtable_plan = coalesce(%s, tenants.airtable_plan), updated_at = now()
        RETURNING tenant_id
        """,
        (name, airtable_base_id, num_va_tables, profiles_per_table, daily_run_utc, airtable_plan, airtable_plan),
    ).fetchone()
    return load_tenant(conn, row["tenant_id"])


def set_airtable_limits(conn: Connection, tenant_id: UUID, plan: str | None = None,
                        max_records_per_base: int | None = None, max_api_calls_per_month: int | None = None,
                        workspace: str | None = None, clear_overrides: bool = False) -> Tenant:
    """Change the tenant's Airtable plan, explicit limits (``clear_overrides`` drops both
    overrides first, so the plan's limits apply again) and workspace; arguments left None stay
    as they are. Returns the tenant. Raises ``ValueError`` for an unknown plan or a limit < 1."""
    if plan is not None and plan not in AIRTABLE_PLANS:
        raise ValueError(f"airtable_plan must be one of {', '.join(AIRTABLE_PLANS)}")
    for label, value in (("max_records_per_base", max_records_per_base),
                         ("max_api_calls_per_month", max_api_calls_per_month)):
        if value is not None and value < 1:
            raise ValueError(f"{label} must be at least 1")
    conn.execute(
        """
        UPDATE tenants SET airtable_plan = coalesce(%(plan)s, airtable_plan),
            airtable_max_records_per_base = coalesce(%(records)s,
                CASE WHEN %(clear)s THEN NULL ELSE airtable_max_records_per_base END),
            airtable_max_api_calls_per_month = coalesce(%(calls)s,
                CASE WHEN %(clear)s THEN NULL ELSE airtable_max_api_calls_per_month END),
            airtable_workspace = coalesce(%(workspace)s, airtable_workspace), updated_at = now()
        WHERE tenant_id = %(tenant)s
        """, {"plan": plan, "records": max_records_per_base, "calls": max_api_calls_per_month,
              "workspace": workspace, "clear": clear_overrides, "tenant": tenant_id})
    return load_tenant(conn, tenant_id)


def add_base(conn: Connection, tenant: Tenant, base_id: str) -> Tenant:
    """Append ``base_id`` to the tenant's bases; returns the tenant. Raises ``TenantBaseError``
    for a malformed id, a tenant without a first base, or a base some tenant already uses."""
    if not BASE_ID_PATTERN.match(base_id or ""):
        raise TenantBaseError("a base id is app + 14 letters or digits")
    if not tenant.airtable_base_id:
        raise TenantBaseError(f"tenant {tenant.name} has no first base; set it with create-tenant --base-id")
    conn.execute("SELECT 1 FROM tenants WHERE tenant_id = %s FOR UPDATE", (tenant.tenant_id,))
    used = conn.execute(
        "SELECT name FROM tenants WHERE airtable_base_id = %s"
        " UNION ALL SELECT t.name FROM tenant_airtable_bases b JOIN tenants t USING (tenant_id) WHERE b.base_id = %s",
        (base_id, base_id)).fetchone()
    if used:
        raise TenantBaseError(f"base {base_id} is already used by tenant {used['name']}")
    conn.execute(
        "INSERT INTO tenant_airtable_bases (tenant_id, base_id, position)"
        " SELECT %s, %s, coalesce(max(position), 0) + 1 FROM tenant_airtable_bases WHERE tenant_id = %s",
        (tenant.tenant_id, base_id, tenant.tenant_id))
    return load_tenant(conn, tenant.tenant_id)


def remove_base(conn: Connection, tenant: Tenant, base_id: str) -> Tenant:
    """Remove the extra base ``base_id`` from the tenant; returns the tenant. Raises
    ``TenantBaseError`` for the first base (change it with create-tenant), a base the tenant
    does not have, or a base that still holds live records of the tenant (they would be lost
    to the lifecycle: wait until they are deleted or expired)."""
    if base_id == tenant.airtable_base_id:
        raise TenantBaseError(f"{base_id} is the tenant's first base; change it with create-tenant --base-id")
    if base_id not in tenant.extra_base_ids:
        raise TenantBaseError(f"tenant {tenant.name} has no base {base_id}")
    live = _live_records(conn, tenant.tenant_id, base_id)
    if live:
        raise TenantBaseError(f"base {base_id} still holds {live} live records of tenant {tenant.name}; "
                              "remove it once the lifecycle has deleted them")
    conn.execute("DELETE FROM tenant_airtable_bases WHERE tenant_id = %s AND base_id = %s",
                 (tenant.tenant_id, base_id))
    return load_tenant(conn, tenant.tenant_id)


def _live_records(conn: Connection, tenant_id: UUID, base_id: str) -> int:
    """How many of the tenant's assignments still have a record in Airtable base ``base_id``."""
    return conn.execute(
        "SELECT count(*) AS n FROM daily_assignments WHERE tenant_id = %s AND airtable_base_id = %s"
        " AND archived_at IS NULL AND airtable_record_id IS NOT NULL", (tenant_id, base_id)).fetchone()["n"]


def ensure_default_tenant(conn: Connection, settings) -> Tenant:
    """The tenant described by ``DEFAULT_TENANT_NAME``, ``AIRTABLE_BASE_ID``, ``NUM_VA_TABLES``,
    ``PROFILES_PER_TABLE``, created or brought up to date."""
    return upsert_tenant(conn, settings.default_tenant_name, settings.airtable_base_id,
                         settings.num_va_tables, settings.profiles_per_table, settings.daily_run_utc,
                         settings.airtable_plan)


def get_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    """The tenant called ``name``, or None."""
    return _tenant(conn.execute(f"SELECT {_COLUMNS} FROM tenants t WHERE t.name = %s", (name,)).fetchone())


def load_tenant(conn: Connection, tenant_id: UUID) -> Tenant | None:
    """The tenant ``tenant_id``, or None."""
    return _tenant(conn.execute(f"SELECT {_COLUMNS} FROM tenants t WHERE t.tenant_id = %s", (tenant_id,)).fetchone())


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
        RETURNING t.tenant_id
        """,
        (hash_api_key(key),),
    ).fetchone()
    return load_tenant(conn, row["tenant_id"]) if row else None


def revoke_api_key(conn: Connection, key_prefix: str) -> int:
    """Revoke every active key starting with ``key_prefix``; returns how many were revoked."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_prefix = %s AND revoked_at IS NULL",
        (key_prefix[:10],))
    return cur.rowcount


def api_key_for_key(conn: Connection, key: str) -> tuple[UUID, Tenant] | None:
    """``(api_key_id, tenant)`` of a valid, unrevoked tenant key (admin keys have no tenant and
    give None), recording its use; None for an unknown or revoked key."""
    row = conn.execute(
        """
        UPDATE api_keys k SET last_used_at = now()
        FROM tenants t
        WHERE k.key_hash = %s AND k.revoked_at IS NULL AND t.tenant_id = k.tenant_id AND t.is_active
        RETURNING k.api_key_id, t.tenant_id, t.name, t.airtable_base_id, t.num_va_tables,
                  t.profiles_per_table, t.target_gender
        """, (hash_api_key(key),)).fetchone()
    if row is None:
        return None
    key_id = row.pop("api_key_id")
    return key_id, Tenant(**row)


def tenant_for_key_id(conn: Connection, api_key_id: UUID, tenant_id: UUID) -> Tenant | None:
    """The tenant of key ``api_key_id`` while that key is unrevoked, belongs to ``tenant_id``
    and the tenant is active; None otherwise (a console session of a revoked key ends)."""
    row = conn.execute(
        """
        SELECT t.tenant_id, t.name, t.airtable_base_id, t.num_va_tables, t.profiles_per_table, t.target_gender
          FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id
         WHERE k.api_key_id = %s AND k.tenant_id = %s AND k.revoked_at IS NULL AND t.is_active
        """, (api_key_id, tenant_id)).fetchone()
    return Tenant(**row) if row else None


def tenant_settings(conn: Connection, tenant_id: UUID) -> dict | None:
    """The tenant's editable settings: ``name``, ``airtable_base_id``, ``num_va_tables``,
    ``profiles_per_table``, ``target_gender``, ``daily_run_utc`` (a ``time``); None if unknown."""
    return conn.execute(
        "SELECT name, airtable_base_id, num_va_tables, profiles_per_table, target_gender, daily_run_utc"
        " FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone()


def update_tenant_settings(conn: Connection, tenant_id: UUID, num_va_tables: int, profiles_per_table: int,
                           daily_run_utc: time) -> None:
    """Change the tenant's number of VA tables (1–999), profiles per table (1–10,000) and daily
    run time (UTC); the database checks the ranges. Applies from the next campaign on."""
    conn.execute(
        "UPDATE tenants SET num_va_tables = %s, profiles_per_table = %s, daily_run_utc = %s, updated_at = now()"
        " WHERE tenant_id = %s", (num_va_tables, profiles_per_table, daily_run_utc, tenant_id))


def list_api_keys(conn: Connection, tenant_id: UUID) -> list[dict]:
    """The tenant's keys, newest first: ``api_key_id``, ``name``, ``key_prefix`` (first 10
    characters), ``created_at``, ``last_used_at``, ``revoked_at``. Never the key or its hash."""
    return conn.execute(
        "SELECT api_key_id, name, key_prefix, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE tenant_id = %s ORDER BY created_at DESC", (tenant_id,)).fetchall()


def revoke_tenant_key(conn: Connection, tenant_id: UUID, api_key_id: UUID) -> bool:
    """Revoke the tenant's key ``api_key_id``; False when it is unknown, another tenant's or
    already revoked."""
    cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE api_key_id = %s AND tenant_id = %s"
                       " AND revoked_at IS NULL", (api_key_id, tenant_id))
    return cur.rowcount == 1
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
