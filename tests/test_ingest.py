"""Ingest into the per-tenant pool: counts, renames, rejects, limits, from a scrape job, autoIngest."""
from __future__ import annotations

import uuid

import pytest

from server.app import create_app
from server.settings import Settings
from server.utils.jobs import table as jobs
from tests.conftest import auth, wait_for_job
from tests.support.daily import assert_400_naming, make_profiles, new_tenant, post_job, query


def test_ingest_counts_added_and_rejects_with_reasons(client, app, tenant):
    t, key = tenant
    profiles = make_profiles(5) + [
        {"id": "12ab", "username": "fine_name"},                  # bad id
        {"id": "777", "username": "has space"},                   # bad username
        {"id": "778", "username": "x" * 31},                      # bad username (too long)
        {"id": "1000000", "username": "again"},                   # duplicate id in this request
        {"id": 4242, "username": "  MixedCase.Name ", "full_name": None},  # int id, case folded
    ]
    response = client.post("/api/ingest", json={"profiles": profiles}, headers=auth(key))
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == body["status_url"] == f"/api/job-status/{body['job_id']}"
    assert body["profiles_received"] == 10 and body["profiles_accepted"] == 6
    assert body["rejected_counts"] == {"bad_id": 1, "bad_username": 2, "duplicate": 1}
    assert {r["reason"] for r in body["rejected"]} == {"bad_id", "bad_username", "duplicate"}
    job = wait_for_job(client, key, body["job_id"])
    assert job["status"] == "completed" and job["kind"] == "ingest"
    result = job["result"]
    assert (result["added"], result["already_known"], result["renamed"]) == (6, 0, 0)
    assert result["rejected"] == {"bad_id": 1, "bad_username": 2, "duplicate": 1}
    assert result["received"] == 10 and result["rejected_total"] == 4
    assert "profiles" not in job["params"]
    pool = {r["profile_id"]: r for r in query(app, "SELECT * FROM global_usernames WHERE tenant_id = %s",
                                              (t.tenant_id,))}
    assert len(pool) == 6 and pool["4242"]["username"] == "mixedcase.name"
    assert pool["1000000"]["username"] == "user_1000000" and not pool["1000000"]["used"]
    raw = query(app, "SELECT count(*) AS n FROM raw_scraped_profiles WHERE tenant_id = %s", (t.tenant_id,))
    assert raw[0]["n"] == 6


def test_renamed_account_updates_its_username_and_stays_one_person(client, app, tenant):
    t, key = tenant
    first = post_job(client, key, "/api/ingest", {"profiles": [
        {"id": "9001", "username": "old_name", "full_name": "Ann Lee"},
        {"id": "9002", "username": "steady", "full_name": "Bo"}]})
    assert first["result"]["added"] == 2
    second = post_job(client, key, "/api/ingest", {"profiles": [
        {"id": "9001", "username": "new_name"},   # renamed, no full name this time
        {"id": "9002", "username": "steady"},
        {"id": "9003", "username": "newcomer"}]})
    assert (second["result"]["added"], second["result"]["already_known"], second["result"]["renamed"]) == (1, 2, 1)
    rows = query(app, "SELECT profile_id, username, full_name FROM global_usernames WHERE tenant_id = %s"
                      " ORDER BY profile_id", (t.tenant_id,))
    assert [(r["profile_id"], r["username"]) for r in rows] == [
        ("9001", "new_name"), ("9002", "steady"), ("9003", "newcomer")]
    assert rows[0]["full_name"] == "Ann Lee"   # an empty name does not erase a known one
    raw = query(app, "SELECT username, seen_count FROM raw_scraped_profiles WHERE tenant_id = %s"
                     " AND profile_id = '9001'", (t.tenant_id,))
    assert raw == [{"username": "new_name", "seen_count": 2}]


def test_pools_are_per_tenant(client, app, tenant):
    t, key = tenant
    other, other_key = new_tenant(app)
    post_job(client, key, "/api/ingest", {"profiles": [{"id": "31", "username": "mine"}]})
    job = post_job(client, other_key, "/api/ingest", {"profiles": [{"id": "31", "username": "theirs"}]})
    assert job["result"]["added"] == 1   # the same person is new in another tenant's pool
    rows = query(app, "SELECT tenant_id, username FROM global_usernames WHERE profile_id = '31'"
                      " AND tenant_id = ANY(%s)", ([t.tenant_id, other.tenant_id],))
    assert {(r["tenant_id"], r["username"]) for r in rows} == {(t.tenant_id, "mine"), (other.tenant_id, "theirs")}


def test_large_ingest_uses_batches(client, app, tenant):
    t, key = tenant
    job = post_job(client, key, "/api/ingest", {"profiles": make_profiles(2500, start=7_000_000)})
    assert job["result"]["added"] == 2500
    again = post_job(client, key, "/api/ingest", {"profiles": make_profiles(2500, start=7_001_000)})
    assert (again["result"]["added"], again["result"]["already_known"]) == (1000, 1500)
    count = query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s", (t.tenant_id,))
    assert count[0]["n"] == 3500


def _scrape(client, key, **extra) -> dict:
    response = client.post("/api/scrape-followers", json={"accounts": ["nike"], "totalScrapeCount": 30, **extra},
                           headers=auth(key))
    assert response.status_code == 202
    job = wait_for_job(client, key, response.get_json()["job_id"])
    assert job["status"] == "completed", job
    return job


def test_ingest_from_a_finished_scrape_job(client, app, tenant):
    t, key = tenant
    scrape = _scrape(client, key)
    job = post_job(client, key, "/api/ingest", {"job_id": scrape["job_id"]})
    assert job["status"] == "completed"
    kept = query(app, "SELECT profile_id, username, gender FROM scrape_results WHERE job_id = %s",
                 (scrape["job_id"],))
    assert job["result"]["source"] == "scrape_job" and job["result"]["added"] == len(kept) == scrape["profiles_scraped"]
    pool = query(app, "SELECT profile_id, username, gender FROM global_usernames WHERE tenant_id = %s",
                 (t.tenant_id,))
    assert {(r["profile_id"], r["username"], r["gender"]) for r in pool} == {
        (r["profile_id"], r["username"], r["gender"]) for r in kept}
    raw = query(app, "SELECT DISTINCT last_job_id::text AS j FROM raw_scraped_profiles WHERE tenant_id = %s",
                (t.tenant_id,))
    assert raw == [{"j": scrape["job_id"]}]
    again = post_job(client, key, "/api/ingest", {"job_id": scrape["job_id"]})
    assert (again["result"]["added"], again["result"]["already_known"]) == (0, len(kept))


def test_ingest_job_id_must_be_a_finished_scrape_of_this_tenant(client, app, tenant):
    t, key = tenant
    other, other_key = new_tenant(app)
    with app.extensions["services"].db.transaction() as conn:
        queued = jobs.insert_job(conn, t.tenant_id, "scrape", {}).job    # never enqueued: stays queued
        theirs = jobs.insert_job(conn, other.tenant_id, "scrape", {}).job
        conn.execute("UPDATE scrape_jobs SET status = 'completed' WHERE job_id = %s", (theirs["job_id"],))
        not_scrape = jobs.insert_job(conn, t.tenant_id, "status_sync", {}).job
        conn.execute("UPDATE scrape_jobs SET status = 'completed' WHERE job_id = %s", (not_scrape["job_id"],))
    cases = [(queued["job_id"], 409, "JOB_NOT_FINISHED"), (theirs["job_id"], 404, "NOT_FOUND"),
             (uuid.uuid4(), 404, "NOT_FOUND"), (not_scrape["job_id"], 409, "NO_RESULTS")]
    for job_id, status, code in cases:
        response = client.post("/api/ingest", json={"job_id": str(job_id)}, headers=auth(key))
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"]["code"] == code
    assert query(app, "SELECT count(*) AS n FROM scrape_jobs WHERE tenant_id = %s AND kind = 'ingest'",
                 (t.tenant_id,))[0]["n"] == 0


def test_auto_ingest_creates_exactly_one_ingest_job_when_the_scrape_completes(client, app, tenant):
    t, key = tenant
    scrape = _scrape(client, key, autoIngest=True)
    rows = query(app, "SELECT job_id::text AS job_id, params, idempotency_key FROM scrape_jobs"
                      " WHERE tenant_id = %s AND kind = 'ingest'", (t.tenant_id,))
    assert len(rows) == 1
    assert rows[0]["params"]["job_id"] == scrape["job_id"]
    assert rows[0]["idempotency_key"] == f"auto-ingest-{scrape['job_id']}"
    assert scrape["result"]["auto_ingest_job_id"] == rows[0]["job_id"]  # findable from the scrape
    job = wait_for_job(client, key, rows[0]["job_id"])
    assert job["status"] == "completed" and job["result"]["added"] == scrape["profiles_scraped"] > 0
    pool = query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s", (t.tenant_id,))
    assert pool[0]["n"] == scrape["profiles_scraped"]


def test_scrape_without_auto_ingest_creates_no_ingest_job(client, app, tenant):
    t, key = tenant
    _scrape(client, key)
    assert query(app, "SELECT count(*) AS n FROM scrape_jobs WHERE tenant_id = %s AND kind = 'ingest'",
                 (t.tenant_id,))[0]["n"] == 0


@pytest.mark.parametrize("body, field", [
    ({}, "profiles"),
    ({"profiles": []}, "profiles"),
    ({"profiles": "nope"}, "profiles"),
    ({"profiles": [{"username": "a"}]}, "profiles"),                       # id missing
    ({"profiles": [{"id": "1"}]}, "profiles"),                             # username missing
    ({"profiles": [{"id": True, "username": "a"}]}, "profiles"),
    ({"profiles": [{"id": ["1"], "username": "a"}]}, "profiles"),
    ({"profiles": [{"id": "1", "username": 5}]}, "profiles"),
    ({"profiles": [{"id": "1", "username": "a", "gender": "f"}]}, "profiles"),  # unknown item field
    ({"profiles": [{"id": "x", "username": "a"}, {"id": "1", "username": "b c"}]}, "profiles"),  # none valid
    ({"profiles": [{"id": "1", "username": "a"}], "job_id": str(uuid.uuid4())}, "job_id"),
    ({"job_id": "not-a-uuid"}, "job_id"),
    ({"job_id": str(uuid.uuid4()), "extra": 1}, "extra"),
])
def test_bad_ingest_bodies_are_400_naming_the_field_and_store_nothing(client, app, tenant, body, field):
    t, key = tenant
    assert_400_naming(client.post("/api/ingest", json=body, headers=auth(key)), field)
    assert query(app, "SELECT count(*) AS n FROM scrape_jobs WHERE tenant_id = %s", (t.tenant_id,))[0]["n"] == 0


def test_too_many_profiles_is_400_naming_profiles(stack, tenant):
    t, key = tenant
    small = create_app(Settings.from_env(max_profiles_per_ingest=3)).test_client()
    assert_400_naming(small.post("/api/ingest", json={"profiles": make_profiles(4)}, headers=auth(key)), "profiles")
    ok = small.post("/api/ingest", json={"profiles": make_profiles(3)}, headers=auth(key))
    assert ok.status_code == 202
    wait_for_job(small, key, ok.get_json()["job_id"])
