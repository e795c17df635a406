"""HTTP contract of the scrape endpoints: status codes, envelope, validation, auth, tenancy."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import auth, wait_for_job


def post_scrape(client, key, body, **headers):
    return client.post("/api/scrape-followers", json=body, headers={**auth(key), **headers})


def test_scrape_post_returns_202_with_location_and_job(client, tenant):
    _, key = tenant
    response = post_scrape(client, key, {"accounts": ["@Nike", "https://www.instagram.com/adidas/", "nike"],
                                         "targetGender": "female", "totalScrapeCount": 40})
    assert response.status_code == 202
    body = response.get_json()
    assert body["success"] is True
    assert response.headers["Location"] == body["status_url"] == f"/api/job-status/{body['job_id']}"
    assert body["results_url"] == f"/api/job-results/{body['job_id']}"
    assert body["total_batches"] == 1
    assert body["accounts_accepted"] == 2 and body["duplicates_removed"] == 1
    wait_for_job(client, key, body["job_id"])


def test_missing_or_wrong_key_is_401(client, tenant):
    response = client.post("/api/scrape-followers", json={"accounts": ["nike"]})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    response = client.get(f"/api/job-status/{uuid.uuid4()}", headers=auth("fp_not-a-key"))
    assert response.status_code == 401


def test_x_api_key_header_is_accepted(client, tenant):
    _, key = tenant
    response = client.get(f"/api/job-status/{uuid.uuid4()}", headers={"X-API-Key": key})
    assert response.status_code == 404


def test_unknown_job_and_other_tenants_job_are_404(client, app, tenant):
    _, key = tenant
    assert client.get(f"/api/job-status/{uuid.uuid4()}", headers=auth(key)).status_code == 404
    job_id = post_scrape(client, key, {"accounts": ["nike"], "totalScrapeCount": 5}).get_json()["job_id"]
    other = _other_key(app)
    for path in (f"/api/job-status/{job_id}", f"/api/job-results/{job_id}"):
        response = client.get(path, headers=auth(other))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=auth(other)).status_code == 404
    wait_for_job(client, key, job_id)


def _other_key(app):
    from server.utils import tenants
    suffix = uuid.uuid4().hex[:11]
    with app.extensions["services"].db.transaction() as conn:
        t = tenants.upsert_tenant(conn, f"other-{suffix}", f"app{suffix}BBB", 2, 10)
        return tenants.create_api_key(conn, t)


@pytest.mark.parametrize("body, field", [
    ({}, "accounts"),
    ({"accounts": []}, "accounts"),
    ({"accounts": "nike"}, "accounts"),
    ({"accounts": [123]}, "accounts"),
    ({"accounts": ["not a valid name!"]}, "accounts"),
    ({"accounts": ["nike"], "targetGender": "other"}, "targetGender"),
    ({"accounts": ["nike"], "totalScrapeCount": 0}, "totalScrapeCount"),
    ({"accounts": ["nike"], "totalScrapeCount": "10"}, "totalScrapeCount"),
    ({"accounts": ["nike"], "includeUnknown": "maybe"}, "includeUnknown"),
    ({"accounts": ["nike"], "includeUnknown": "yes"}, "includeUnknown"),
    ({"accounts": ["nike"], "autoIngest": 1}, "autoIngest"),
    ({"accounts": ["nike"], "minGenderProbability": 0.4}, "minGenderProbability"),
    ({"accounts": ["nike"], "minGenderProbability": 1.5}, "minGenderProbability"),
    ({"accounts": ["nike"], "minGenderProbability": "0.9"}, "minGenderProbability"),
    ({"accounts": ["nike"], "minGenderProbability": True}, "minGenderProbability"),
    ({"accounts": ["https://www.instagram.com/p/Cabc123/"]}, "accounts"),
    ({"accounts": ["nike"], "platform": "tiktok"}, "platform"),
    ({"accounts": ["nike"], "surprise": 1}, "surprise"),
])
def test_each_bad_field_is_400_naming_it_and_stores_nothing(client, app, tenant, body, field):
    t, key = tenant
    response = post_scrape(client, key, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    with app.extensions["services"].db.transaction() as conn:
        count = conn.execute("SELECT count(*) AS n FROM scrape_jobs WHERE tenant_id = %s",
                             (t.tenant_id,)).fetchone()["n"]
    assert count == 0


@pytest.mark.parametrize("data", ["{not json", b"\xff\xfe"])
def test_malformed_json_is_400_naming_the_body(client, tenant, data):
    _, key = tenant
    response = client.post("/api/scrape-followers", data=data,
                           headers={**auth(key), "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_JSON" and "body" in error["details"]


def test_json_sent_as_text_is_415_naming_the_content_type(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers", data='{"accounts": ["nike"]}',
                           headers={**auth(key), "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Content-Type" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("path, field", [
    ("/api/job-status/not-a-uuid", "job_id"), ("/api/job-results/123", "job_id"),
    ("/api/jobs/x/cancel", "job_id"), ("/api/distribute/nope", "campaign_id"),
])
def test_ids_in_the_path_that_are_not_uuids_are_400_naming_them(client, tenant, path, field):
    _, key = tenant
    method = client.post if path.startswith(("/api/jobs", "/api/distribute")) else client.get
    response = method(path, headers=auth(key))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {field: ["not a valid UUID"]}


def test_idempotency_key_with_another_request_is_409(client, tenant):
    _, key = tenant
    first = post_scrape(client, key, {"accounts": ["nike"], "totalScrapeCount": 5}, **{"Idempotency-Key": "k-9"})
    assert first.status_code == 202
    again = post_scrape(client, key, {"totalScrapeCount": 5, "accounts": ["nike"]}, **{"Idempotency-Key": "k-9"})
    assert again.get_json()["job_id"] == first.get_json()["job_id"]  # same request, other key order
    other = post_scrape(client, key, {"accounts": ["adidas"], "targetGender": "male"}, **{"Idempotency-Key": "k-9"})
    assert other.status_code == 409
    assert other.get_json()["error"]["details"] == {"Idempotency-Key": ["already used with a different request"]}
    wait_for_job(client, key, first.get_json()["job_id"])


def test_success_answers_carry_no_retry_after(client, tenant):
    _, key = tenant
    response = client.get(f"/api/job-status/{uuid.uuid4()}", headers=auth(key))
    assert "Retry-After" not in response.headers and "X-RateLimit-Limit" in response.headers


def test_partly_invalid_accounts_are_reported_and_the_rest_accepted(client, tenant):
    _, key = tenant
    response = post_scrape(client, key, {"accounts": ["nike", "bad name", "x" * 31], "totalScrapeCount": 5})
    assert response.status_code == 202
    body = response.get_json()
    assert body["accounts_accepted"] == 1 and body["accounts_rejected"] == 2
    assert {r["index"] for r in body["rejected"]} == {1, 2}
    wait_for_job(client, key, body["job_id"])


def test_idempotency_key_returns_the_same_job(client, tenant):
    _, key = tenant
    body = {"accounts": ["nike"], "totalScrapeCount": 5}
    first = post_scrape(client, key, body, **{"Idempotency-Key": "abc-123"}).get_json()
    second = post_scrape(client, key, body, **{"Idempotency-Key": "abc-123"}).get_json()
    assert first["job_id"] == second["job_id"]
    third = post_scrape(client, key, body, **{"Idempotency-Key": "abc-124"}).get_json()
    assert third["job_id"] != first["job_id"]
    wait_for_job(client, key, first["job_id"])
    wait_for_job(client, key, third["job_id"])


def test_results_are_409_until_the_job_finishes(client, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 3})
    job_id = post_scrape(client, key, {"accounts": ["nike"], "totalScrapeCount": 5}).get_json()["job_id"]
    response = client.get(f"/api/job-results/{job_id}", headers=auth(key))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "JOB_NOT_FINISHED"
    assert wait_for_job(client, key, job_id)["status"] == "completed"
    assert client.get(f"/api/job-results/{job_id}", headers=auth(key)).status_code == 200


def test_results_query_is_validated(client, tenant):
    _, key = tenant
    job_id = post_scrape(client, key, {"accounts": ["nike"], "totalScrapeCount": 5}).get_json()["job_id"]
    wait_for_job(client, key, job_id)
    for query, field in (("limit=1001", "limit"), ("page=0", "page"), ("format=xml", "format"),
                         ("cursor=%%%", "cursor"), ("page=92233720368547758", "page"),
                         ("cursor=MTIz&page=3", "cursor"), ("foo=bar", "foo")):
        response = client.get(f"/api/job-results/{job_id}?{query}", headers=auth(key))
        assert response.status_code == 400, query
        assert field in response.get_json()["error"]["details"]


def test_health_endpoints(client):
    assert client.get("/healthz").data == b"ok"
    body = client.get("/health").get_json()
    assert body["checks"] == {"postgres": "ok", "redis": "ok"}
    assert body["version"]


def test_openapi_description_lists_the_endpoints(client):
    spec = client.get("/api/docs/openapi.json").get_json()
    for path in ("/api/scrape-followers", "/api/job-status/{job_id}", "/api/job-results/{job_id}",
                 "/api/jobs/{job_id}/cancel", "/api/ingest", "/api/daily-selection",
                 "/api/distribute/{campaign_id}", "/api/campaigns/{campaign_id}",
                 "/api/airtable-sync/{campaign_id}", "/api/airtable/create-base",
                 "/api/sync-airtable-statuses", "/api/mark-unfollow-due",
                 "/api/delete-completed-after-delay", "/api/expire-pending", "/api/run-daily",
                 "/api/jobs/{job_id}/sources", "/api/source-accounts"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"].values()
    scrape = next(s for s in schemas if "minGenderProbability" in s.get("properties", {}))
    field = scrape["properties"]["minGenderProbability"]
    assert field["type"] == "number" and (field["minimum"], field["maximum"]) == (0.5, 1.0)
    excluded = scrape["properties"]["excludeSourceStatuses"]
    assert excluded["items"]["enum"] == ["ok", "private", "not_found", "empty", "failed"]
    source = next(s for s in schemas if "kept_female_per_usd" in s.get("properties", {}) and "runs" in s["properties"])
    assert {"status", "followers_read", "kept", "kept_female", "kept_male", "kept_unknown", "duplicates", "cost_usd",
            "error"} <= set(source["properties"])
    job = next(s for s in schemas if "failed_batches" in s.get("properties", {}))
    assert "sources" in job["properties"] and "below_target" in job["properties"]["result"]["description"]


def test_absurdly_nested_json_is_400_not_a_crash(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers", data="[" * 100_000 + "]" * 100_000,
                           headers={**auth(key), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "INVALID_JSON"


def test_query_parameters_on_a_post_are_400_naming_them(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers?totalScrapeCount=5", json={"accounts": ["nike"]},
                           headers=auth(key))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {"totalScrapeCount": ["Unknown field."]}


def test_concurrent_cancels_accept_exactly_one(client, app, stack, tenant):
    from concurrent.futures import ThreadPoolExecutor
    _, key = tenant
    stack.apify_control("faults", {"run_seconds": 5})
    job_id = post_scrape(client, key, {"accounts": ["slowpoke"]}).get_json()["job_id"]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: app.test_client().post(f"/api/jobs/{job_id}/cancel",
                                                               headers=auth(key)).status_code, range(8)))
    assert sorted(codes) == [202] + [409] * 7


def test_results_of_a_failed_job_are_served(client, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"run_status": "FAILED"})
    job_id = post_scrape(client, key, {"accounts": ["broken_one"], "totalScrapeCount": 30}).get_json()["job_id"]
    assert wait_for_job(client, key, job_id)["status"] == "failed"
    page = client.get(f"/api/job-results/{job_id}", headers=auth(key))
    assert page.status_code == 200 and page.get_json()["total"] == len(page.get_json()["profiles"])
