"""List endpoints: GET /api/jobs, /api/campaigns, /api/pool, /api/daily-runs — tenant-scoped,
keyset-paginated, validated, and documented in OpenAPI with every error status."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from server.utils.jobs.table import finish_job, insert_job, mark_processing
from tests.conftest import auth
from tests.support.daily import assert_400_naming, day, fill_pool, new_tenant, query


def _jobs(app, tenant, kinds: list[str]) -> list[str]:
    ids = []
    for kind in kinds:  # one transaction each: now() differs, so the order is known
        with app.extensions["services"].db.transaction() as conn:
            ids.append(str(insert_job(conn, tenant.tenant_id, kind, {}).job["job_id"]))
    return ids


def test_jobs_list_is_newest_first_keyset_paged_filtered_and_tenant_scoped(client, app, tenant):
    t, key = tenant
    ids = _jobs(app, t, ["ingest", "status_sync", "ingest", "mark_unfollow", "ingest"])
    other, other_key = new_tenant(app)
    _jobs(app, other, ["ingest"])
    seen, cursor = [], None
    while True:
        body = client.get("/api/jobs", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=auth(key)).get_json()
        assert body["success"] is True and len(body["jobs"]) <= 2
        seen += [j["job_id"] for j in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    only = client.get("/api/jobs?kind=ingest", headers=auth(key)).get_json()["jobs"]
    assert [j["job_id"] for j in only] == [ids[4], ids[2], ids[0]]
    with app.extensions["services"].db.transaction() as conn:
        mark_processing(conn, ids[1])
        finish_job(conn, ids[1], "failed", error_message="boom")
    failed = client.get("/api/jobs?status=failed,cancelled", headers=auth(key)).get_json()["jobs"]
    assert [(j["job_id"], j["error_message"]) for j in failed] == [(ids[1], "boom")]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert client.get("/api/jobs", query_string={"created_after": future}, headers=auth(key)).get_json()["jobs"] == []
    assert len(client.get("/api/jobs", query_string={"created_before": future},
                          headers=auth(key)).get_json()["jobs"]) == 5


def test_jobs_list_refuses_bad_filters_naming_the_field(client, tenant):
    _, key = tenant
    assert_400_naming(client.get("/api/jobs?kind=nope", headers=auth(key)), "kind")
    assert_400_naming(client.get("/api/jobs?status=done", headers=auth(key)), "status")
    assert_400_naming(client.get("/api/jobs?limit=0", headers=auth(key)), "limit")
    assert_400_naming(client.get("/api/jobs?cursor=garbage", headers=auth(key)), "cursor")
    assert_400_naming(client.get("/api/jobs?colour=red", headers=auth(key)), "colour")
    assert_400_naming(client.get("/api/jobs?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z",
                                 headers=auth(key)), "created_before")
    assert client.get("/api/jobs").status_code == 401


def test_pool_reports_size_unused_gender_and_30_days(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 30)
    query(app, "UPDATE global_usernames SET gender = 'female' WHERE tenant_id = %s AND profile_id::bigint %% 3 = 0"
               " RETURNING 1", (t.tenant_id,))
    query(app, "UPDATE global_usernames SET added_at = now() - interval '3 days' WHERE tenant_id = %s"
               " AND profile_id::bigint %% 2 = 0 RETURNING 1", (t.tenant_id,))
    client.post("/api/daily-selection", json={"campaign_date": day(0), "profiles_per_table": 2}, headers=auth(key))
    body = client.get("/api/pool", headers=auth(key)).get_json()
    assert (body["size"], body["unused"], body["used"]) == (30, 22, 8)
    assert body["by_gender"] == {"female": 10, "unknown": 20}
    assert sum(body["unused_by_gender"].values()) == 22
    assert len(body["per_day"]) == 30
    assert [d["added"] for d in body["per_day"][-4:]] == [15, 0, 0, 15]
    assert [d["size"] for d in body["per_day"][-4:]] == [15, 15, 15, 30]
    assert body["per_day"][0]["size"] == 0


def test_campaigns_list_has_per_table_counts_and_pages(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 300)
    ids = []
    for offset in (-2, -1, 0):
        selected = client.post("/api/daily-selection", json={"campaign_date": day(offset)}, headers=auth(key)).get_json()
        client.post(f"/api/distribute/{selected['campaign_id']}", headers=auth(key))
        ids.append(selected["campaign_id"])
    query(app, "UPDATE daily_assignments SET status = 'followed', last_synced_at = now() WHERE campaign_id = %s"
               " AND va_table_number = 2 AND position <= 5 RETURNING 1", (ids[2],))
    first = client.get("/api/campaigns?limit=2", headers=auth(key)).get_json()
    assert [c["campaign_id"] for c in first["campaigns"]] == [ids[2], ids[1]]
    latest = first["campaigns"][0]
    assert latest["tables"]["2"] == {"pending": 20, "followed": 5, "unfollow": 0, "completed": 0, "archived": 0}
    assert latest["totals"]["pending"] == 95 and latest["last_status_sync"] is not None
    assert latest["status"] == "distributed" and latest["unplaced"] == 0
    rest = client.get("/api/campaigns", query_string={"limit": 2, "cursor": first["next_cursor"]},
                      headers=auth(key)).get_json()
    assert [c["campaign_id"] for c in rest["campaigns"]] == [ids[0]] and rest["next_cursor"] is None
    one = client.get(f"/api/campaigns?campaign_date={day(-1)}", headers=auth(key)).get_json()["campaigns"]
    assert [c["campaign_id"] for c in one] == [ids[1]]
    _, other_key = new_tenant(app)
    assert client.get("/api/campaigns", headers=auth(other_key)).get_json()["campaigns"] == []
    assert_400_naming(client.get("/api/campaigns?campaign_date=yesterday", headers=auth(key)), "campaign_date")


def test_daily_runs_show_each_step_outcome(client, app, tenant):
    t, key = tenant
    with app.extensions["services"].db.transaction() as conn:
        job = insert_job(conn, t.tenant_id, "run_daily", {"campaign_date": day(0)}).job
        mark_processing(conn, job["job_id"])
        finish_job(conn, job["job_id"], "failed", {
            "steps": {"status_sync": {"tables": 4}, "mark_unfollow": {"due": 0},
                      "delete_completed": {"error": "AirtableError: 503"}},
            "failed_step": "delete_completed"}, "step delete_completed failed: AirtableError: 503")
    _jobs(app, t, ["ingest"])
    body = client.get("/api/daily-runs", headers=auth(key)).get_json()
    assert len(body["runs"]) == 1 and body["next_cursor"] is None
    run = body["runs"][0]
    assert run["job_id"] == str(job["job_id"]) and run["status"] == "failed"
    assert run["campaign_date"] == day(0) and run["failed_step"] == "delete_completed"
    assert [(s["name"], s["outcome"]) for s in run["steps"]] == [
        ("status_sync", "ok"), ("mark_unfollow", "ok"), ("delete_completed", "failed"), ("expire_pending", "not_run"),
        ("select", "not_run"), ("distribute", "not_run"), ("push", "not_run")]


def test_openapi_documents_every_error_status_and_the_list_schemas(client):
    spec = client.get("/api/docs/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            assert {"401", "429"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert {"413", "415"} <= codes, (method, path)
            for code, response in operation["responses"].items():
                if code[0] in "45" and "$ref" not in response:
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, code)
    assert spec["paths"]["/api/job-results/{job_id}"]["get"]["responses"]["409"]["description"]
    for path, schema in (("/api/jobs", "JobList"), ("/api/campaigns", "CampaignList"), ("/api/pool", "Pool"),
                         ("/api/daily-runs", "DailyRunList")):
        ok = spec["paths"][path]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    assert spec["components"]["responses"]["TOO_MANY_REQUESTS"]["content"]


def test_swagger_ui_is_served_with_local_assets(client):
    page = client.get("/api/docs/swagger-ui")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/docs/swagger-ui-assets/swagger-ui-bundle.js" in html and "http" not in html.split("<script>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        response = client.get(f"/api/docs/swagger-ui-assets/{asset}")
        assert response.status_code == 200 and len(response.data) > 1000
    assert client.get("/api/docs/swagger-ui-assets/../../app.py").status_code == 404
