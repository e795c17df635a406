"""Hostile and malformed input, one test per kind: every one is refused with a clear 4xx in the
error envelope (or cleaned), never a 500, and leaves nothing half-written behind."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid

import pytest

from server.app import create_app
from server.settings import Settings
from server.utils.accounts import canonical_platform_id, normalise_accounts
from server.utils.scrape.results import csv_cell
from standins.followers import generate_followers
from tests.conftest import auth, wait_for_job
from tests.support.daily import assert_400_naming, day, query
from tests.support.processes import ROOT

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _jobs_of(app, tenant) -> int:
    return query(app, "SELECT count(*) AS n FROM scrape_jobs WHERE tenant_id = %s",
                 (tenant.tenant_id,))[0]["n"]


def _envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert body["success"] is False and set(body["error"]) == {"code", "message", "details"}, body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


# -- 5: lone UTF-16 surrogates -----------------------------------------------------------------
def test_lone_surrogate_account_is_rejected_not_a_500(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers", json={"accounts": ["\ud800", "nike"]},
                           headers={**auth(key), "Idempotency-Key": f"sur-{uuid.uuid4()}"})
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["accounts_accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and body["rejected"][0]["value"] == "\ufffd"
    wait_for_job(client, key, body["job_id"])


def test_lone_surrogate_in_ingest_text_is_cleaned(client, app, tenant):
    t, key = tenant
    profiles = [{"id": "31000001", "username": "surrogate_ok", "full_name": "Ann\ud800a"},
                {"id": "31000002", "username": "bad\udfffname"}]
    response = client.post("/api/ingest", json={"profiles": profiles},
                           headers={**auth(key), "Idempotency-Key": f"sur-{uuid.uuid4()}"})
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["profiles_accepted"] == 1 and body["rejected"][0]["reason"] == "bad_username"
    wait_for_job(client, key, body["job_id"])
    rows = query(app, "SELECT full_name FROM global_usernames WHERE tenant_id = %s", (t.tenant_id,))
    assert rows == [{"full_name": "Anna"}]


# -- 6: look-alike characters that case mapping would turn into ASCII ---------------------------
@pytest.mark.parametrize("raw", ["\u212aatgeo", "natgeo\u212a", "instagram.com/\u212aatgeo",
                                 "\u0130nstagram.com/natgeo", "https://\u0131nstagram.com/natgeo",
                                 "nat\u017fgeo"])
def test_case_mapped_look_alikes_are_refused(raw):
    norm = normalise_accounts([raw])
    assert norm.accepted == [] and len(norm.rejected) == 1, norm


def test_kelvin_sign_account_is_400_and_ingest_rejects_it(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers", json={"accounts": ["\u212aatgeo"]}, headers=auth(key))
    assert_400_naming(response, "accounts")
    response = client.post("/api/ingest", json={"profiles": [{"id": "1", "username": "\u212aatgeo"}]},
                           headers=auth(key))
    assert_400_naming(response, "profiles")


# -- 7: one platform id, one form ---------------------------------------------------------------
def test_platform_id_spellings_become_one_pool_row(client, app, tenant):
    t, key = tenant
    assert canonical_platform_id(9200000003) == canonical_platform_id("009200000003") == "9200000003"
    first = client.post("/api/ingest", headers=auth(key), json={"profiles": [
        {"id": 9200000003, "username": "one_person"}, {"id": "09200000003", "username": "one_person"}]})
    assert first.get_json()["rejected_counts"]["duplicate"] == 1
    wait_for_job(client, key, first.get_json()["job_id"])
    second = client.post("/api/ingest", headers=auth(key), json={"profiles": [
        {"id": " 009200000003 ", "username": "one_person_renamed"}]})
    job = wait_for_job(client, key, second.get_json()["job_id"])
    assert job["result"]["already_known"] == 1 and job["result"]["renamed"] == 1
    rows = query(app, "SELECT profile_id, username FROM global_usernames WHERE tenant_id = %s", (t.tenant_id,))
    assert rows == [{"profile_id": "9200000003", "username": "one_person_renamed"}]


# -- 8: a body shorter than its Content-Length ----------------------------------------------------
@pytest.mark.parametrize("terminated", [False, True])  # True: gunicorn hands over the input as it came
def test_truncated_body_is_refused_and_nothing_stored(client, app, tenant, terminated):
    t, key = tenant
    full = json.dumps({"accounts": ["nike", "adidas", "puma"]}).encode()
    cut = full[:full.index(b', "puma"')] + b"]}"  # still valid JSON, but short of Content-Length
    response = client.post("/api/scrape-followers", data=cut, content_type="application/json",
                           headers=auth(key), environ_overrides={"CONTENT_LENGTH": str(len(full)),
                                                                 "wsgi.input_terminated": terminated})
    error = _envelope(response, 400, "INCOMPLETE_BODY")
    assert "body" in error["details"]
    assert _jobs_of(app, t) == 0


# -- 9: Idempotency-Key scoped by endpoint and body ---------------------------------------------
def test_idempotency_key_reused_on_another_endpoint_is_409(client, app, tenant):
    t, key = tenant
    headers = {**auth(key), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = client.post("/api/ingest", json={"profiles": [{"id": "42000001", "username": "idem_one"}]},
                        headers=headers)
    assert first.status_code == 202
    second = client.post("/api/scrape-followers", json={"accounts": ["nike"]}, headers=headers)
    _envelope(second, 409, "IDEMPOTENCY_KEY_REUSED")
    third = client.post("/api/sync-airtable-statuses", json={}, headers=headers)
    _envelope(third, 409, "IDEMPOTENCY_KEY_REUSED")
    assert _jobs_of(app, t) == 1
    wait_for_job(client, key, first.get_json()["job_id"])


def test_empty_object_and_no_body_are_the_same_request(client, app, tenant):
    t, key = tenant
    headers = {**auth(key), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = client.post("/api/sync-airtable-statuses", json={}, headers=headers)
    second = client.post("/api/sync-airtable-statuses", headers=headers)
    assert first.status_code == second.status_code == 202, second.get_json()
    assert first.get_json()["job_id"] == second.get_json()["job_id"]
    assert _jobs_of(app, t) == 1


# -- 10: oversized arrays: count first, capped details -------------------------------------------
def test_count_is_checked_before_items(client, app, tenant):
    _, key = tenant
    limit = app.extensions["services"].settings.max_accounts_per_request
    response = client.post("/api/scrape-followers", headers=auth(key), json={"accounts": [1] * (limit + 1)})
    error = _envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"accounts": [f"at most {limit} items; got {limit + 1}"]}


def test_item_errors_are_capped(client, tenant):
    _, key = tenant
    response = client.post("/api/scrape-followers", headers=auth(key), json={"accounts": [7] * 200_000})
    error = _envelope(response, 400, "VALIDATION_ERROR")
    items = error["details"]["accounts"]
    assert len(items) == 101 and "more" in items
    assert len(response.data) < 20_000
    response = client.post("/api/ingest", headers=auth(key),
                           json={"profiles": [{"id": "x", "username": 5}] * 100_000})
    error = _envelope(response, 400, "VALIDATION_ERROR")
    assert len(error["details"]["profiles"]) == 101 and len(response.data) < 30_000


# -- 11: the smaller ones ---------------------------------------------------------------------------
def test_cancel_refuses_unknown_fields(client, tenant):
    _, key = tenant
    response = client.post(f"/api/jobs/{uuid.uuid4()}/cancel", json={"force": True}, headers=auth(key))
    assert_400_naming(response, "force")


def test_query_parameters_on_reads_that_take_none_are_refused_by_name(app, client, tenant):
    """Every GET under /api/ that declares no query parameters refuses any, naming them; those
    that declare some refuse unknown ones the same way."""
    _, key = tenant
    some_id = uuid.uuid4()
    routes = [rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") and "GET" in rule.methods and not rule.rule.startswith("/api/docs")]
    assert len(routes) >= 10
    for rule in routes:
        path = rule.rule.replace("<job_id:job_id>", str(some_id)).replace("<campaign_id:campaign_id>", str(some_id))
        assert "<" not in path, path
        assert_400_naming(client.get(path, query_string={"verbose": "1"}, headers=auth(key)), "verbose")
    assert client.get("/api/pool", headers=auth(key)).status_code == 200
    assert client.get("/api/docs/openapi.json", query_string={"x": "1"}).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_wrong_method_on_a_post_route_is_405(client, tenant, method):
    _, key = tenant
    response = client.open("/api/scrape-followers", method=method, data="not json",
                           content_type="text/plain", headers=auth(key))
    _envelope(response, 405, "METHOD_NOT_ALLOWED")


def test_body_of_exactly_the_limit_is_not_413(stack, tenant):
    _, key = tenant
    small = create_app(Settings.from_env(max_content_length_mb=1))
    client = small.test_client()
    limit = 1024 * 1024
    path = f"/api/jobs/{uuid.uuid4()}/cancel"
    exact = b"{}" + b" " * (limit - 2)
    _envelope(client.post(path, data=exact, content_type="application/json", headers=auth(key)), 404)
    error = _envelope(client.post(path, data=exact + b" ", content_type="application/json",
                                  headers=auth(key)), 413)
    assert str(limit) in error["message"]


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf" + json.dumps({"accounts": ["nike"]}).encode(),
    json.dumps({"accounts": ["nike"]}).encode("utf-16"),
    json.dumps({"accounts": ["nike"]}).encode("utf-16-le"),
    b'{"accounts": ["nik\xe9"]}',
    b'{"accounts": [',
])
def test_bom_utf16_and_broken_json_share_one_envelope(client, app, tenant, raw):
    t, key = tenant
    response = client.post("/api/scrape-followers", data=raw, content_type="application/json", headers=auth(key))
    error = _envelope(response, 400, "INVALID_JSON")
    assert list(error["details"]) == ["body"]
    assert _jobs_of(app, t) == 0


@pytest.mark.parametrize("value", ["20261201", "2026-W49-2", "2026-335", " 2026-12-01", "2026-12-01T00:00"])
def test_campaign_date_must_be_yyyy_mm_dd(client, tenant, value):
    _, key = tenant
    response = client.post("/api/daily-selection", json={"campaign_date": value}, headers=auth(key))
    assert_400_naming(response, "campaign_date")


def test_campaign_date_in_the_documented_form_still_works(client, tenant):
    _, key = tenant
    response = client.post("/api/daily-selection", json={"campaign_date": day(1)}, headers=auth(key))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("base_id", ["appTOOSHORT", "bad", "app12345678901234!"])
def test_create_tenant_with_a_bad_base_id_is_a_usage_error(app, base_id):
    result = app.test_cli_runner().invoke(args=["create-tenant", "cli-bad", "--base-id", base_id,
                                                "--tables", "1", "--per-table", "1"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--base-id'" in result.output and "Traceback" not in result.output


def test_flask_help_without_environment_lists_commands():
    env = {k: v for k, v in os.environ.items()
           if k not in Settings.model_fields and k.upper() not in {f.upper() for f in Settings.model_fields}}
    env["FLASK_SKIP_DOTENV"] = "1"
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    done = subprocess.run([flask, "--app", "server.app", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "create-tenant" in done.stdout and "db-upgrade" in done.stdout
    assert "invalid configuration" not in done.stdout + done.stderr
    done = subprocess.run([flask, "--app", "server.app", "db-upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "DATABASE_URL is required" in done.stderr
    assert "Traceback" not in done.stderr


# -- 12: CSV formula injection ---------------------------------------------------------------------
def test_csv_cells_are_neutralised_and_numbers_untouched():
    assert csv_cell("full_name", "=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert [csv_cell("username", c + "a") for c in FORMULA_TRIGGERS] == ["'" + c + "a" for c in FORMULA_TRIGGERS]
    assert csv_cell("full_name", "Anna") == "Anna"
    assert csv_cell("gender_probability", -0.5) == -0.5
    assert csv_cell("profile_id", "123") == "123"


def test_csv_export_of_formula_like_names(client, tenant):
    _, key = tenant
    followers = generate_followers("natgeo", 1000)
    risky = {f.full_name.strip() for f in followers if f.full_name.strip().startswith(FORMULA_TRIGGERS)}
    assert risky, "the stand-in must produce formula-like display names"
    response = client.post("/api/scrape-followers", headers=auth(key),
                           json={"accounts": ["natgeo"], "totalScrapeCount": 1000})
    job = wait_for_job(client, key, response.get_json()["job_id"])
    assert job["status"] == "completed", job
    text = client.get(f"/api/job-results/{job['job_id']}?format=csv", headers=auth(key)).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {row["full_name"] for row in rows}
    assert {"'" + name for name in risky} <= names
    for row in rows:
        for column in ("username", "full_name", "gender", "gender_source", "source_account"):
            assert not row[column].startswith(FORMULA_TRIGGERS), row
