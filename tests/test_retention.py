"""Raw profile history older than RAW_RETENTION_DAYS is purged by the beat task."""
from __future__ import annotations

import time

from tests.support.daily import query


def test_raw_profiles_past_retention_are_purged_by_the_worker(app, tenant):
    t, _ = tenant
    query(app, """
        INSERT INTO raw_scraped_profiles (tenant_id, profile_id, username, last_seen_at) VALUES
            (%(t)s, '1001', 'old_one', now() - interval '120 days'),
            (%(t)s, '1002', 'recent_one', now() - interval '60 days')
        RETURNING 1""", {"t": t.tenant_id})
    app.extensions["celery"].send_task("jobs.purge_raw_profiles")
    deadline = time.monotonic() + 30
    while True:
        left = [r["username"] for r in query(
            app, "SELECT username FROM raw_scraped_profiles WHERE tenant_id = %s ORDER BY username", (t.tenant_id,))]
        if left == ["recent_one"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == ["recent_one"]
