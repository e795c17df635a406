"""Operator console through Flask's test client: sign-in, the session cookie, CSRF, revoked
keys, tenant scoping and every page rendering. The browser tests (test_console_browser.py)
drive the same pages in Chromium."""
from __future__ import annotations

import csv
import io
import re

import pytest
from flask import request

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


def test_session_is_opened_only_under_the_console_path(app):
    """API and health requests never carry the /console cookie: they get Flask's null session."""
    interface = app.session_interface
    for path, opened in (("/console/jobs", True), ("/console", True), ("/api/jobs", False),
                         ("/healthz", False), ("/consoleX", False)):
        with app.test_request_context(path):
            session = interface.open_session(app, request)
            assert (session is not None) is opened, path


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


def scrape_job_with_sources(app, tenant_id, sources: list[tuple], never_started: tuple[str, ...] = (),
                            target: str = "female") -> str:
    """A finished scrape job whose ``scrape_job_sources`` rows are ``sources``: tuples of
    (account, status, followers_read, kept_female, kept_male, kept_unknown, duplicates, over_cap,
    cost_usd, error), plus a chunk of the accounts ``never_started`` (skipped, no rows)."""
    with app.extensions["services"].db.transaction() as conn:
        job = insert_job(conn, tenant_id, "scrape", {"targetGender": target},
                         accounts_total=len(sources) + len(never_started)).job
        mark_processing(conn, job["job_id"])
        if never_started:
            conn.execute("INSERT INTO scrape_job_chunks (job_id, chunk_index, tenant_id, accounts, status)"
                         " VALUES (%s, 1, %s, %s, 'skipped')", (job["job_id"], tenant_id, list(never_started)))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO scrape_job_sources (job_id, source_account, tenant_id, chunk_index, status, runs,"
                " followers_read, kept, kept_female, kept_male, kept_unknown, duplicates, over_cap, cost_usd, error)"
                " VALUES (%s, %s, %s, 0, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(job["job_id"], s[0], tenant_id, s[1], s[2], s[3] + s[4] + s[5], *s[3:]) for s in sources])
        finish_job(conn, job["job_id"], "completed_with_errors")
    return str(job["job_id"])


def source_rows(html: str) -> list[str]:
    """The source accounts of the page's Sources table, in order."""
    return re.findall(r'<tr data-source="([^"]+)">', html)


def test_job_page_shows_the_per_source_report(app, tenant):
    t, key = tenant
    job_id = scrape_job_with_sources(app, t.tenant_id, [
        ("cheap_good", "ok", 400, 120, 30, 10, 5, 0, 0.10, None),      # 1,200 female per $
        ("pricey_good", "ok", 900, 300, 90, 20, 40, 12, 1.50, None),    # 200 female per $
        ("locked_down", "private", 0, 0, 0, 0, 0, 0, 0.002, "This account is private"),
        ("broken_run", "failed", 0, 0, 0, 0, 0, 0, 0.004, "<script>alert(1)</script> run FAILED"),
        ("=cmd", "empty", 0, 0, 0, 0, 0, 0, 0, "no follower and no error item in two runs"),
    ], never_started=("late_one", "late_two"))
    client = signed_in(app, key)
    html = client.get(f"/console/jobs/{job_id}").get_data(as_text=True)
    assert 'id="sources-table"' in html
    # best kept-female-per-dollar first; the sources that kept nothing (0 per $) after them
    assert source_rows(html)[:2] == ["cheap_good", "pricey_good"]
    assert set(source_rows(html)) == {"cheap_good", "pricey_good", "locked_down", "broken_run", "=cmd",
                                      "late_one", "late_two"}
    row = re.search(r'<tr data-source="pricey_good">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["@pricey_good", "ok", "900", "300 of 410", "40", "12", "$1.50", "200.0", ""]
    assert "Kept female per $" in html
    # every status with its count (the two accounts whose chunk never started are skipped), errors escaped
    for status, count in (("ok", 2), ("private", 1), ("failed", 1), ("empty", 1), ("skipped", 2)):
        assert re.search(rf'data-status="{status}"\s+href="[^"]*sources_status={status}#sources">'
                         rf'.*?<b>{count}</b>', html, re.S), status
    assert re.search(r'<tr data-source="late_one">.*?skipped', html, re.S)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; run FAILED" in html
    assert "showing 1–7 of 7 source accounts" in html

    failed = client.get(f"/console/jobs/{job_id}?sources_status=failed").get_data(as_text=True)
    assert source_rows(failed) == ["broken_run"] and "showing 1–1 of 1 failed source accounts" in failed
    by_name = client.get(f"/console/jobs/{job_id}?sources_sort=source_account").get_data(as_text=True)
    assert source_rows(by_name) == ["=cmd", "broken_run", "cheap_good", "late_one", "late_two", "locked_down",
                                    "pricey_good"]
    assert 'aria-sort="ascending"' in by_name
    # the current sort column's header flips the direction
    assert re.search(r'data-sort="source_account" href="[^"]*sources_order=desc', by_name)
    by_read = client.get(f"/console/jobs/{job_id}?sources_sort=followers_read&sources_order=asc")
    assert source_rows(by_read.get_data(as_text=True))[-2:] == ["cheap_good", "pricey_good"]

    for bad, field in (("sources_status=nope", "sources_status"), ("sources_sort=error", "sources_sort"),
                       ("sources_order=up", "sources_order"), ("sources_page=0", "sources_page")):
        response = client.get(f"/console/jobs/{job_id}?{bad}")
        assert response.status_code == 400 and field in response.get_data(as_text=True), bad


def test_sources_csv_has_every_matching_source_from_the_api_report(app, tenant):
    t, key = tenant
    job_id = scrape_job_with_sources(app, t.tenant_id, [
        ("src_a", "ok", 10, 4, 1, 0, 0, 0, 0.01, None), ("=cmd", "failed", 0, 0, 0, 0, 0, 0, 0, "=HYPERLINK(x)")])
    client = signed_in(app, key)
    html = client.get(f"/console/jobs/{job_id}?sources_status=failed").get_data(as_text=True)
    link = re.search(r'id="sources-csv" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link == f"/console/jobs/{job_id}/sources.csv?sources_status=failed"
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'job-{job_id}-sources.csv' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["source_account"], r["status"], r["error"]) for r in rows] == [("'=cmd", "failed", "'=HYPERLINK(x)")]
    from tests.conftest import auth
    api = app.test_client().get(f"/api/jobs/{job_id}/sources?format=csv&status=failed", headers=auth(key))
    assert api.get_data(as_text=True) == response.get_data(as_text=True)  # one report, two doors
    everything = client.get(f"/console/jobs/{job_id}/sources.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(everything)))) == 2
    assert client.get(f"/console/jobs/{job_id}/sources.csv?sources_sort=nope").status_code == 400


def test_large_job_sources_are_paged_with_a_count(app, tenant):
    from server.console.source_section import SOURCES_PER_PAGE
    t, key = tenant
    many = [(f"src_{i:04d}", "ok", 10, i % 7, 0, 0, 0, 0, 0.01, None) for i in range(SOURCES_PER_PAGE * 2 + 30)]
    job_id = scrape_job_with_sources(app, t.tenant_id, many)
    client = signed_in(app, key)
    total = len(many)
    first = client.get(f"/console/jobs/{job_id}?sources_sort=source_account").get_data(as_text=True)
    assert len(source_rows(first)) == SOURCES_PER_PAGE
    assert f"showing 1–{SOURCES_PER_PAGE} of {total:,} source accounts" in first
    assert f"All {total:,} as CSV" in first and 'id="sources-next"' in first and 'id="sources-prev"' not in first
    next_url = re.search(r'id="sources-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).get_data(as_text=True)
    assert source_rows(second)[0] == f"src_{SOURCES_PER_PAGE:04d}" and 'id="sources-prev"' in second
    last = client.get(f"/console/jobs/{job_id}?sources_sort=source_account&sources_page=99").get_data(as_text=True)
    assert len(source_rows(last)) == 30 and f"showing {2 * SOURCES_PER_PAGE + 1}–{total} of {total}" in last
    csv_text = client.get(f"/console/jobs/{job_id}/sources.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(csv_text)))) == total


def test_only_scrape_jobs_have_a_sources_section(app, tenant):
    t, key = tenant
    with app.extensions["services"].db.transaction() as conn:
        ingest = insert_job(conn, t.tenant_id, "ingest", {}).job["job_id"]
    client = signed_in(app, key)
    assert 'id="sources"' not in client.get(f"/console/jobs/{ingest}").get_data(as_text=True)
    assert client.get(f"/console/jobs/{ingest}/sources.csv").status_code == 302
    other, _ = new_tenant(app)
    theirs = scrape_job_with_sources(app, other.tenant_id, [("src_a", "ok", 1, 1, 0, 0, 0, 0, 0.01, None)])
    assert client.get(f"/console/jobs/{theirs}/sources.csv").status_code == 404


def test_odd_forms_and_query_values_never_fail_with_500(app, tenant):
    """Each console form posted with its fields missing or junk, and each page with extreme
    query values, answers with a page, a redirect or a 4xx naming nothing internal; never 500."""
    _, key = tenant
    client = signed_in(app, key)
    token = csrf(client, "/console/settings")
    forms = ("/console/settings", "/console/settings/keys", "/console/scrape/check", "/console/scrape/start",
             "/console/daily-runs/run")
    bodies = ({}, {"num_va_tables": "x" * 5000, "profiles_per_table": "-1", "daily_run_utc": "25:99",
                   "accounts": "\x00", "campaign_date": "9999-12-31", "name": "é" * 500})
    for path in forms:
        for body in bodies:
            response = client.post(path, data={"csrf_token": token, **body})
            assert response.status_code < 500, (path, body, response.status_code)
    pages = ("/console/jobs?from=0001-01-01&to=9999-12-31", "/console/jobs?to=9999-12-31",
             "/console/jobs?from=9999-12-31", "/console/jobs?cursor=%00", "/console/campaigns?date=9999-12-31",
             "/console/campaigns?date=0001-01-01", "/console/live/jobs.json?to=9999-12-31")
    for path in pages:
        assert client.get(path).status_code < 500, path
    assert client.get("/console/settings").status_code == 200  # the session survived all of it


def test_console_paths_answer_errors_with_pages_and_api_paths_with_json(app, tenant):
    _, key = tenant
    client = signed_in(app, key)
    bad_id = client.get("/console/jobs/not-a-uuid")
    assert bad_id.status_code == 400 and bad_id.mimetype == "text/html"
    assert "invalid job_id: not a valid UUID" in bad_id.get_data(as_text=True)
    unknown = client.get("/console/no-such-page")
    assert unknown.status_code == 404 and "There is no such page" in unknown.get_data(as_text=True)
    wrong_method = client.get("/console/sign-out")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    from tests.conftest import auth
    api = client.get("/api/job-status/not-a-uuid", headers=auth(key))
    assert api.status_code == 400 and api.get_json()["error"]["details"] == {"job_id": ["not a valid UUID"]}
    assert client.get("/api/no-such-endpoint", headers=auth(key)).get_json()["error"]["code"] == "NOT_FOUND"
