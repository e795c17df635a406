"""The request path's shortcuts keep their promises: a cached key is refused once its cache
entry expires after revocation, a pooled connection the server killed is never handed to a
request, both rate limits are counted by one script and a refused request uses no budget, and
results follow their job when it is deleted (no foreign key does it any more)."""
from __future__ import annotations

import time
import uuid

import psycopg

from server.app import create_app
from server.settings import Settings
from server.utils import tenants
from server.utils.tenants import ApiKeyCache
from tests.conftest import auth


def test_cached_key_is_refused_once_its_entry_expires_after_revocation(stack, app, tenant):
    t, key = tenant
    now = [1000.0]
    cache = ApiKeyCache(5.0, timer=lambda: now[0])
    db = app.extensions["services"].db
    with db.transaction() as conn:
        assert cache.tenant(key, lambda: conn).tenant_id == t.tenant_id
        tenants.revoke_api_key(conn, key[:10])
    lookups = []
    with db.transaction() as conn:
        def connect():
            lookups.append(1)
            return conn
        now[0] += 4.9
        assert cache.tenant(key, connect).tenant_id == t.tenant_id  # within its lifetime: no query
        assert lookups == []
        now[0] += 0.2
        assert cache.tenant(key, connect) is None  # expired: looked up again, revoked
        assert lookups == [1]


def test_revoked_key_is_refused_at_once_without_cache(stack, tenant):
    _, key = tenant
    uncached = create_app(Settings.from_env(api_key_cache_seconds=0)).test_client()
    path = f"/api/job-status/{uuid.uuid4()}"
    assert uncached.get(path, headers=auth(key)).status_code == 404
    db = uncached.application.extensions["services"].db
    with db.transaction() as conn:
        tenants.revoke_api_key(conn, key[:10])
    assert uncached.get(path, headers=auth(key)).status_code == 401


def test_connection_killed_by_the_server_is_never_handed_to_a_request(stack, tenant):
    _, key = tenant
    name = f"fast-paths-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env()
    fresh = create_app(settings)
    fresh.extensions["services"].db.application_name = name
    client = fresh.test_client()
    path = f"/api/job-status/{uuid.uuid4()}"
    assert client.get(path, headers=auth(key)).status_code == 404  # the pool now holds a connection
    with psycopg.connect(settings.database_url, autocommit=True) as admin:
        killed = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE application_name = %s) t", (name,)).fetchone()[0]
        assert killed >= 1
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (name,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    for _ in range(3):
        assert client.get(path, headers=auth(key)).status_code == 404
    fresh.extensions["services"].db.close()


def test_results_follow_their_job_when_it_is_deleted(stack, app, tenant):
    t, _ = tenant
    db = app.extensions["services"].db
    with db.transaction() as conn:
        job_id = conn.execute("INSERT INTO scrape_jobs (tenant_id, kind, params) VALUES (%s, 'scrape', '{}')"
                              " RETURNING job_id", (t.tenant_id,)).fetchone()["job_id"]
        conn.execute("INSERT INTO scrape_results (job_id, tenant_id, profile_id, username, gender)"
                     " VALUES (%s, %s, '1', 'a', 'female'), (%s, %s, '2', 'b', 'male')",
                     (job_id, t.tenant_id, job_id, t.tenant_id))
        conn.execute("DELETE FROM tenants WHERE tenant_id = %s", (t.tenant_id,))
        left = conn.execute("SELECT count(*) AS n FROM scrape_results WHERE job_id = %s", (job_id,)).fetchone()
    assert left["n"] == 0


def _kept(*ids):
    from server.utils.scrape.writer import KeptProfile
    return [KeptProfile(str(i), f"user_{i}", f"Name {i}", "female", 0.9, "first_name", "src", False, False)
            for i in ids]


def test_batches_sharing_profiles_with_stored_ones_count_exactly_and_respect_the_cap(stack, app, tenant):
    from server.utils.jobs.table import mark_processing
    from server.utils.scrape.chunks import claim_collect
    from server.utils.scrape.create import create_scrape_job
    from server.utils.scrape.writer import write_batch

    t, _ = tenant
    db = app.extensions["services"].db
    with db.transaction() as conn:
        job = create_scrape_job(conn, t.tenant_id, ["a", "b"], {}, 1, 6, None).job
        mark_processing(conn, job["job_id"])
        conn.execute("UPDATE scrape_job_chunks SET status = 'running', apify_run_id = 'run-' || chunk_index"
                     " WHERE job_id = %s", (job["job_id"],))  # both runs ended: their datasets are read
        first = claim_collect(conn, job["job_id"], 0, 60)
        second = claim_collect(conn, job["job_id"], 1, 60)
    with db.transaction() as conn:
        assert write_batch(conn, first, _kept(1, 2, 3), 3, 3, 60).inserted == 3
    with db.transaction() as conn:  # 2 and 3 came through the other chunk too
        outcome = write_batch(conn, second, _kept(2, 3, 4, 5), 4, 4, 60)
    assert (outcome.inserted, outcome.cap_reached) == (2, False)
    with db.transaction() as conn:  # one place left under totalScrapeCount 6
        outcome = write_batch(conn, first, _kept(5, 6, 7, 8), 4, 7, 60)
    assert (outcome.inserted, outcome.cap_reached) == (1, True)
    with db.transaction() as conn:
        stored = [r["profile_id"] for r in conn.execute(
            "SELECT profile_id FROM scrape_results WHERE job_id = %s ORDER BY profile_id", (job["job_id"],))]
        counters = conn.execute("SELECT profiles_scraped, items_read FROM scrape_jobs WHERE job_id = %s",
                                (job["job_id"],)).fetchone()
        kept = conn.execute("SELECT sum(items_kept) AS k FROM scrape_job_chunks WHERE job_id = %s",
                            (job["job_id"],)).fetchone()["k"]
    assert stored == ["1", "2", "3", "4", "5", "6"]
    assert (counters["profiles_scraped"], counters["items_read"], kept) == (6, 11, 6)
