"""Retention of the raw profile history (``raw_scraped_profiles``, DESIGN.md §3): rows not seen
for ``RAW_RETENTION_DAYS`` are deleted, in small batches so no long lock is held."""
from __future__ import annotations

from server.utils.clock import real_now

BATCH = 5000


def purge_raw_profiles(services) -> int:
    """Delete raw profiles last seen more than ``RAW_RETENTION_DAYS`` ago (all tenants);
    returns how many rows were deleted."""
    cutoff_days = services.settings.raw_retention_days
    now = real_now()
    deleted = 0
    while True:
        with services.db.transaction() as conn:
            count = conn.execute(
                """
                DELETE FROM raw_scraped_profiles r USING (
                    SELECT tenant_id, profile_id FROM raw_scraped_profiles
                     WHERE last_seen_at < %s - make_interval(days => %s) LIMIT %s) old
                 WHERE r.tenant_id = old.tenant_id AND r.profile_id = old.profile_id
                """, (now, cutoff_days, BATCH)).rowcount
        deleted += count
        if count < BATCH:
            return deleted
