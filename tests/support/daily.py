"""Helpers for the daily-pipeline tests: profiles, pool filling, extra tenants, job polling."""
from __future__ import annotations

import uuid

from server.utils import tenants
from server.utils.outreach.ingest import PoolProfile, upsert_batch
from tests.conftest import auth, wait_for_job


def make_profiles(n: int, start: int = 1_000_000, prefix: str = "user") -> list[dict]:
    """``n`` valid request items ``{"id", "username", "full_name"}`` with consecutive ids."""
    return [{"id": str(start + i), "username": f"{prefix}_{start + i}", "full_name": f"Person {i}"}
            for i in range(n)]


def fill_pool(app, tenant, n: int, start: int = 5_000_000) -> list[str]:
    """Put ``n`` fresh profiles straight into the tenant's pool; returns their ids."""
    profiles = [PoolProfile(str(start + i), f"pool_{start + i}", f"Pool {i}") for i in range(n)]
    with app.extensions["services"].db.transaction() as conn:
        for i in range(0, n, 1000):
            upsert_batch(conn, tenant.tenant_id, profiles[i:i + 1000])
    return [p.profile_id for p in profiles]


def new_tenant(app, tables: int = 4, per_table: int = 25, base_id: str | None = None):
    """Another tenant with an API key: ``(Tenant, key)``."""
    suffix = uuid.uuid4().hex[:11]
    with app.extensions["services"].db.transaction() as conn:
        t = tenants.upsert_tenant(conn, f"daily-{suffix}", base_id or f"app{suffix}CCC", tables, per_table)
        return t, tenants.create_api_key(conn, t)


def query(app, sql: str, params=()) -> list[dict]:
    """Rows of ``sql`` (test assertions only)."""
    with app.extensions["services"].db.transaction() as conn:
        return conn.execute(sql, params).fetchall()


def post_job(client, key: str, path: str, body: dict | None = None, timeout: float = 120.0) -> dict:
    """POST ``path`` (expects 202), wait for the job; returns the final job-status body."""
    response = client.post(path, json=body if body is not None else {}, headers=auth(key))
    assert response.status_code == 202, response.get_json()
    return wait_for_job(client, key, response.get_json()["job_id"], timeout=timeout)


def assert_400_naming(response, field: str) -> None:
    """The response is the validation envelope and ``error.details`` names ``field``."""
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert field in body["error"]["details"], body


def day(offset: int) -> str:
    """ISO date ``offset`` days after today (UTC): campaign dates the API accepts."""
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc).date() + timedelta(days=offset)).isoformat()
