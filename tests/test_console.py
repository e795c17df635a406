"""Operator console through Flask's test client: sign-in, the session cookie, CSRF, revoked
keys, tenant scoping and every page rendering. The browser tests (test_console_browser.py)
drive the same pages in Chromium."""
from __future__ import annotations

import re

import pytest

from server.utils import tenants
from server.utils.jobs.table import finish_job, insert_job, mark_processing
from tests.support.daily import day, fill_pool, new_tenant

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client, path: str = "/console/sign-in") -> str:
    """The CSRF token of the form on ``path``."""
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def signed_in(app, key: str):
    """A new test client signed in with ``key``."""
    client = app.test_client()
    response = client.post("/console/sign-in", data={"api_key": key, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def test_pages_need_a_session(client):
    response = client.get("/console/jobs")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]
    assert client.get("/console/live/jobs.json").status_code == 401


def test_bad_key_is_refused_with_401(client):
    token = csrf(client)
    response = client.post("/console/sign-in", data={"api_key": "fp_not-a-key", "csrf_token": token})
    assert response.status_code == 401
    assert "not valid" in response.get_data(as_text=True)
    assert client.get("/console/jobs").status_code == 302


def test_sign_in_without_csrf_token_is_refused(client, tenant):
    _, key = tenant
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"api_key": key})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/console/jobs").status_code == 302


def test_session_cookie_is_httponly_strict_and_scoped(app, tenant):
    _, key = tenant
    client = app.test_client()
    token = csrf(client)
    response = client.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert key not in cookie


def test_forms_without_csrf_token_are_refused(app, tenant):
    t, key = tenant
    client = signed_in(app, key)
    with app.extensions["services"].db.transaction() as conn:
        job = insert_job(conn, t.tenant_id, "ingest", {}).job
    assert client.post(f"/console/jobs/{job['job_id']}/cancel").status_code == 400
    assert client.post("/console/sign-out").status_code == 400
    assert client.post("/console/settings/keys", data={"name": "x"}).status_code == 400
    assert client.get("/console/jobs").status_code == 200  # still signed in


def test_revoking_the_key_ends_the_session(app, tenant):
    t, key = tenant
    client = signed_in(app, key)
    assert client.get("/console/jobs").status_code == 200
    with app.extensions["services"].db.transaction() as conn:
        tenants.revoke_api_key(conn, key[:10])
    response = client.get("/console/jobs")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    assert client.get("/console/jobs").status_code == 302


def test_sign_out_ends_the_session(app, tenant):
    _, key = tenant
    client = signed_in(app, key)
    token = csrf(client, "/console/jobs")
    assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/jobs").status_code == 302


def test_another_tenants_job_is_not_found(app, tenant):
    t, key = tenant
    other, _ = new_tenant(app)
    with app.extensions["services"].db.transaction() as conn:
        theirs = insert_job(conn, other.tenant_id, "ingest", {}).job["job_id"]
    client = signed_in(app, key)
    assert client.get(f"/console/jobs/{theirs}").status_code == 404
    assert client.get(f"/console/jobs/{theirs}/results.csv").status_code == 404
    token = csrf(client, "/console/jobs")
    assert client.post(f"/console/jobs/{theirs}/cancel", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/console/live/jobs.json?id={theirs}").get_json() == {"jobs": {}}


def test_every_page_renders(app, tenant):
    t, key = tenant
    fill_pool(app, t, 120)
    with app.extensions["services"].db.transaction() as conn:
        run = insert_job(conn, t.tenant_id, "run_daily", {"campaign_date": day(0)}).job
        mark_processing(conn, run["job_id"])
        finish_job(conn, run["job_id"], "completed", {"steps": {"select": {"total_selected": 100}}})
    client = signed_in(app, key)
    from tests.conftest import auth
    selected = client.post("/api/daily-selection", json={"campaign_date": day(0)}, headers=auth(key)).get_json()
    client.post(f"/api/distribute/{selected['campaign_id']}", headers=auth(key))
    for path, text in (("/console/jobs", "Daily run"), ("/console/scrape/new", "Source accounts"),
                       ("/console/campaigns", "Table 04"), (f"/console/campaigns?date={day(0)}", "Campaign"),
                       ("/console/daily-runs", "distribute"), ("/console/settings", "API keys"),
                       (f"/console/jobs/{run['job_id']}", "Steps"), ("/console/jobs?kind=run_daily", "Daily run")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert text in response.get_data(as_text=True), path
    headers = client.get("/console/jobs").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert client.get("/console/jobs?status=nope").status_code == 400
    assert client.get("/console/jobs?from=yesterday").status_code == 400
    listed = client.get(f"/console/jobs?from={day(0)}&to={day(0)}").get_data(as_text=True)
    assert str(run["job_id"]) in listed and 'id="jobs-overview"' in listed
    assert str(run["job_id"]) not in client.get(f"/console/jobs?to={day(-1)}").get_data(as_text=True)


def test_scrape_check_shows_rejects_and_start_creates_one_job(app, tenant):
    t, key = tenant
    client = signed_in(app, key)
    token = csrf(client, "/console/scrape/new")
    check = client.post("/console/scrape/check", data={
        "csrf_token": token, "accounts": "nike\n@Adidas\nhttps://www.instagram.com/puma/\nnot a name!\nnike",
        "target_gender": "female", "count": "300"})
    html = check.get_data(as_text=True)
    assert check.status_code == 200
    assert re.search(r'id="accepted-count">3<', html) and re.search(r'id="rejected-count">1<', html)
    assert "not a name!" in html
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert form["accounts"] == "nike\nadidas\npuma"
    first = client.post("/console/scrape/start", data=form)
    again = client.post("/console/scrape/start", data=form)
    assert first.status_code == 302 and first.headers["Location"] == again.headers["Location"]
    job_id = first.headers["Location"].rsplit("/", 1)[1]
    from tests.support.daily import query
    job = query(app, "SELECT kind, accounts_total, max_profiles, params FROM scrape_jobs WHERE job_id = %s", (job_id,))[0]
    assert (job["kind"], job["accounts_total"], job["max_profiles"]) == ("scrape", 3, 300)
    assert job["params"]["targetGender"] == "female"
    assert (job["params"]["accounts_rejected"], job["params"]["duplicates_removed"]) == (1, 1)


@pytest.mark.parametrize("data, field", [
    ({"accounts": ""}, "accounts"),
    ({"accounts": "!!!"}, "accounts"),
    ({"accounts": "nike", "count": "lots"}, "count"),
    ({"accounts": "nike", "target_gender": "robot"}, "target_gender"),
])
def test_scrape_form_names_the_bad_field(app, tenant, data, field):
    _, key = tenant
    client = signed_in(app, key)
    response = client.post("/console/scrape/check", data={"csrf_token": csrf(client, "/console/scrape/new"), **data})
    assert response.status_code == 400
    assert f'id="error-{field}"' in response.get_data(as_text=True)


def test_settings_save_and_keys_create_once_and_revoke(app, tenant):
    t, key = tenant
    client = signed_in(app, key)
    token = csrf(client, "/console/settings")
    bad = client.post("/console/settings", data={"csrf_token": token, "num_va_tables": "0",
                                                 "profiles_per_table": "25", "daily_run_utc": "07:30"})
    assert bad.status_code == 400 and 'id="error-num_va_tables"' in bad.get_data(as_text=True)
    ok = client.post("/console/settings", data={"csrf_token": token, "num_va_tables": "6",
                                                "profiles_per_table": "40", "daily_run_utc": "07:30"})
    assert ok.status_code == 302
    from tests.support.daily import query
    row = query(app, "SELECT num_va_tables, profiles_per_table, daily_run_utc::text AS at FROM tenants"
                     " WHERE tenant_id = %s", (t.tenant_id,))[0]
    assert row == {"num_va_tables": 6, "profiles_per_table": 40, "at": "07:30:00"}
    created = client.post("/console/settings/keys", data={"csrf_token": token, "name": "scheduler"})
    new_key = re.search(r'id="new-key">([^<]+)<', created.get_data(as_text=True)).group(1)
    assert new_key.startswith("fp_")
    assert new_key not in client.get("/console/settings").get_data(as_text=True)
    from tests.conftest import auth
    assert app.test_client().get("/api/jobs", headers=auth(new_key)).status_code == 200
    key_id = query(app, "SELECT api_key_id FROM api_keys WHERE name = 'scheduler' AND tenant_id = %s",
                   (t.tenant_id,))[0]["api_key_id"]
    assert client.post(f"/console/settings/keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 302
    assert app.test_client().get("/api/jobs", headers=auth(new_key)).status_code == 401


def test_status_colours_come_from_one_mapping_and_new_states_fall_back():
    from server.console.formatting import CHUNK_TONES, duration, explain_job, tone
    assert tone("done", CHUNK_TONES) == "ok" and tone("failed", CHUNK_TONES) == "bad"
    assert tone("some_new_dispatch_state", CHUNK_TONES) == "other"
    assert (duration(None), duration(42), duration(185), duration(8040)) == ("—", "42s", "3m 05s", "2h 14m")
    job = {"status": "completed_with_errors", "chunks_failed": 2, "error_message": "actor run FAILED",
           "kind": "scrape"}
    assert explain_job(job).startswith("2 chunk(s) of source accounts could not be scraped")
    assert explain_job({"status": "failed", "error_message": "tenant not found", "kind": "ingest"}) == \
        "The job stopped: tenant not found."
    assert explain_job({"status": "processing", "error_message": None, "kind": "scrape"}) is None


def test_templates_have_no_inline_script_the_policy_would_block():
    """The Content-Security-Policy allows only the console's own script files: no inline event
    handlers and no inline ``<script>`` other than JSON data blocks."""
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "server" / "console" / "templates" / "console"
    for template in folder.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
