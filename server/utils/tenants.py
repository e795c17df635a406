"""Tenants (one agency client each) and their API keys.

Keys are 32 random bytes shown once; only their SHA-256 is stored (a key has 256 bits of
entropy, so a fast hash is enough and lookups stay one indexed query).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import time
from uuid import UUID

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
