"""The service's notion of "now", from one injectable place.

Production uses the real UTC clock. In ``development`` and ``test`` environments an offset
stored in Redis (``clock:offset_seconds``) is added, so the demo and the tests can jump a week
ahead and watch unfollows come due in every process (web and workers) at once.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

OFFSET_KEY = "clock:offset_seconds"


def utc_now(services) -> datetime:
    """Current UTC time, shifted by the stored offset outside production."""
    now = datetime.now(timezone.utc)
    if services.settings.environment == "production":
        return now
    offset = services.redis.get(OFFSET_KEY)
    return now + timedelta(seconds=float(offset)) if offset else now


def advance(services, seconds: float) -> float:
    """Move the clock forward by ``seconds`` (non-production only); returns the new offset.

    Raises ``RuntimeError`` in production.
    """
    if services.settings.environment == "production":
        raise RuntimeError("the clock can only be moved outside production")
    return float(services.redis.incrbyfloat(OFFSET_KEY, seconds))


def reset(services) -> None:
    """Back to the real clock."""
    services.redis.delete(OFFSET_KEY)
