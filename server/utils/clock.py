"""The service's notion of "now", from one injectable place.

Production uses the real UTC clock. In ``development`` and ``test`` environments one tenant's
clock can be moved ahead (``flask --app server.app clock-advance --tenant NAME --days 8``, used
by ``make demo``): an offset stored in Redis under ``clock:offset_seconds:<tenant id>`` is added
to "now" wherever the service acts for that tenant (its API requests, its jobs, in every web and
worker process), so the demo can jump a week ahead and watch unfollows come due.

The offset never leaks beyond its tenant: ``utc_now(services)`` without a tenant is always the
real time, and what decides *when* things happen for everyone — the beat's daily scheduler
(due tenants, the ``run-daily-<date>`` keys), raw-profile retention, Airtable's monthly API-call
budget — uses real time. Other tenants never see a simulated clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

OFFSET_KEY_PREFIX = "clock:offset_seconds:"
LEGACY_OFFSET_KEY = "clock:offset_seconds"  # the old stack-wide offset: no longer read, removed by reset


def real_now() -> datetime:
    """The real current UTC time (aware), whatever any tenant's simulated clock says."""
    return datetime.now(timezone.utc)


def _tenant_id(tenant) -> str:
    """The id of ``tenant`` (a ``Tenant``, a row dict, a UUID or its string) as text."""
    if isinstance(tenant, (UUID, str)):
        return str(tenant)
    if isinstance(tenant, dict):
        return str(tenant["tenant_id"])
    return str(tenant.tenant_id)


def offset_seconds(services, tenant) -> float:
    """Seconds ``tenant``'s clock is ahead of real time (0.0 in production or when not moved)."""
    if services.settings.environment == "production" or tenant is None:
        return 0.0
    value = services.redis.get(OFFSET_KEY_PREFIX + _tenant_id(tenant))
    return float(value) if value else 0.0


def utc_now(services, tenant=None) -> datetime:
    """Current UTC time (aware). With ``tenant`` (a ``Tenant``, row dict or tenant id) and outside
    production, shifted by that tenant's simulated offset; without one, the real time."""
    now = real_now()
    shift = offset_seconds(services, tenant)
    return now + timedelta(seconds=shift) if shift else now


def advance(services, seconds: float, tenant) -> float:
    """Move ``tenant``'s clock forward by ``seconds`` (non-production only); returns its new
    offset in seconds. No other tenant and no schedule is affected.

    Raises ``RuntimeError`` in production, ``ValueError`` without a tenant.
    """
    if services.settings.environment == "production":
        raise RuntimeError("the clock can only be moved outside production")
    if tenant is None:
        raise ValueError("the clock is moved for one tenant only: name the tenant")
    return float(services.redis.incrbyfloat(OFFSET_KEY_PREFIX + _tenant_id(tenant), seconds))


def reset(services, tenant=None) -> int:
    """Put ``tenant``'s clock back to real time; without a tenant, every tenant's (and the old
    stack-wide offset). Returns the number of offsets removed."""
    if tenant is not None:
        return int(services.redis.delete(OFFSET_KEY_PREFIX + _tenant_id(tenant)))
    keys = list(services.redis.scan_iter(match=OFFSET_KEY_PREFIX + "*", count=500))
    return int(services.redis.delete(*keys, LEGACY_OFFSET_KEY)) if keys else int(services.redis.delete(LEGACY_OFFSET_KEY))
