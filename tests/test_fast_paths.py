"""The request path's shortcuts keep their promises: a cached key is refused once its cache
entry expires after revocation, a pooled connection the server killed is never handed to a
request, each rate limit is counted by one script call whose answer also gives the
``X-RateLimit`` headers, a job's status and source counts read in one statement match the
separate reads, a small job's chunks stored with the job match COPY's, and results follow their
job when it is deleted (no foreign key does it any more)."""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import redis

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


@pytest.mark.parametrize("look_first", [False, True], ids=["copy-first", "lookup-first"])
def test_batches_sharing_profiles_with_stored_ones_count_exactly_and_respect_the_cap(stack, app, tenant, look_first):
    from server.utils.jobs.table import mark_processing
    from server.utils.scrape import chunks
    from server.utils.scrape.create import create_scrape_job
    from server.utils.scrape.writer import write_batch

    def collecting(conn, job_id, index):
        """Take chunk ``index`` through its lifecycle to a ``collecting`` claim (run ended)."""
        chunks.mark_starting(conn, [(job_id, index)], 60)
        start = chunks.claim_start(conn, job_id, index, 60)
        chunks.record_run(conn, start, f"run-{job_id}-{index}", f"ds-{job_id}-{index}", "SUCCEEDED",
                          None, 10, 0.0, 60)
        return chunks.claim_collect(conn, job_id, index, 60)

    t, _ = tenant
    db = app.extensions["services"].db
    with db.transaction() as conn:
        job = create_scrape_job(conn, t.tenant_id, ["a", "b"], {}, 1, 6, None).job
        mark_processing(conn, job["job_id"])
        first = collecting(conn, job["job_id"], 0)
        second = collecting(conn, job["job_id"], 1)
    with db.transaction() as conn:
        outcome = write_batch(conn, first, _kept(1, 2, 3), 3, 3, 60, look_first=look_first)
    assert (outcome.inserted, outcome.had_stored) == (3, False)
    with db.transaction() as conn:  # 2 and 3 came through the other chunk too
        outcome = write_batch(conn, second, _kept(2, 3, 4, 5), 4, 4, 60, look_first=look_first)
    assert (outcome.inserted, outcome.cap_reached, outcome.had_stored) == (2, False, True)
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


def test_each_rate_limit_is_one_script_call_and_the_headers_need_no_read(stack, tenant):
    _, key = tenant
    limited = create_app(Settings.from_env(ratelimit_default="3 per minute", ratelimit_per_address="50 per minute",
                                           trusted_proxy_hops=1))
    from server.ratelimit import _HIT_LUA
    redis.Redis.from_url(Settings.from_env().limiter_storage_url).script_load(_HIT_LUA)  # no NOSCRIPT retry below
    commands = []
    original = redis.Redis.execute_command

    def counting(self, *args, **options):
        if any(isinstance(a, str) and a.startswith("LIMITS") for a in args):  # the limiter's keys
            commands.append(args[0])
        return original(self, *args, **options)

    client = limited.test_client()
    headers = {**auth(key), "X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 200 + 1}"}
    path = f"/api/job-status/{uuid.uuid4()}"
    redis.Redis.execute_command = counting
    try:
        answers = [client.get(path, headers=headers) for _ in range(4)]
    finally:
        redis.Redis.execute_command = original
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert commands == ["EVALSHA"] * 8  # two rules, four requests; no read for the headers
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    reset = int(answers[0].headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60  # the fixed window ends within one window


def test_status_and_source_counts_in_one_statement_match_separate_reads(stack, app, tenant):
    from server.utils.jobs.table import get_job
    from server.utils.scrape.create import create_scrape_job
    from server.utils.scrape.source_report import job_with_status_counts, status_counts

    t, _ = tenant
    db = app.extensions["services"].db
    with db.transaction() as conn:
        job = create_scrape_job(conn, t.tenant_id, ["a", "b", "c"], {}, 1, None, None).job
        conn.execute("INSERT INTO scrape_job_sources (job_id, tenant_id, source_account, chunk_index, status)"
                     " VALUES (%s, %s, 'a', 0, 'ok'), (%s, %s, 'b', 1, 'private')",
                     (job["job_id"], t.tenant_id, job["job_id"], t.tenant_id))
        other = conn.execute("INSERT INTO scrape_jobs (tenant_id, kind, params) VALUES (%s, 'ingest', '{}')"
                             " RETURNING job_id", (t.tenant_id,)).fetchone()["job_id"]
        for status in ("processing", "completed"):
            conn.execute("UPDATE scrape_jobs SET status = %s WHERE job_id = %s", (status, job["job_id"]))
            row, counts = job_with_status_counts(conn, t.tenant_id, job["job_id"])
            assert row.pop("sources_at_limit") is None  # no totalScrapeCount
            assert row == get_job(conn, t.tenant_id, job["job_id"])
            assert counts == status_counts(conn, row)
        assert job_with_status_counts(conn, t.tenant_id, other)[1] is None
        assert job_with_status_counts(conn, t.tenant_id, uuid.uuid4()) is None


@pytest.mark.parametrize("accounts", [1, 3, 45])
def test_small_job_chunks_stored_with_the_job_match_copy(stack, app, tenant, monkeypatch, accounts):
    from server.utils.scrape import create

    t, _ = tenant
    names = ["null", "n.u_l.l"][:accounts] + [f"acct_{i}" for i in range(accounts - 2)]  # no NULL elements
    db = app.extensions["services"].db
    stored = []
    for inline in (create.INLINE_CHUNKS, 0):
        monkeypatch.setattr(create, "INLINE_CHUNKS", inline)
        with db.transaction() as conn:
            job = create.create_scrape_job(conn, t.tenant_id, names, {}, 10, None, None).job
            stored.append([(r["chunk_index"], r["tenant_id"], r["accounts"], r["status"]) for r in conn.execute(
                "SELECT * FROM scrape_job_chunks WHERE job_id = %s ORDER BY chunk_index", (job["job_id"],))])
    assert stored[0] == stored[1] and len(stored[0]) == -(-accounts // 10)
    assert [a for _, _, chunk, _ in stored[0] for a in chunk] == names
