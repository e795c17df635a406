"""The operator console in a real headless Chromium (Selenium) against gunicorn, the Celery
worker and the stand-ins: sign in, start a scrape from the form and watch its bar reach 100 %,
download the CSV, run the day and open the campaign page, sign out; a bad key and a form
without its CSRF token are refused. Screenshots of the main pages are saved by the run
(``.run/screenshots/`` unless ``CONSOLE_SCREENSHOT_DIR`` says otherwise)."""
from __future__ import annotations

import csv
import uuid

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import auth
from tests.support.browser import screenshot, start_chrome, wait_for_file
from tests.support.daily import make_profiles, new_tenant, post_job
from tests.support.web import web  # noqa: F401  (fixture)

SOURCES = ["nike", "adidas", "puma", "@newbalance", "https://www.instagram.com/asics/", "reebok", "underarmour",
           "lululemon", "gymshark", "fila", "vans", "converse"]


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    driver = start_chrome(downloads)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def operator(app, stack):
    """A tenant with its own Airtable base in the stand-in, VA tables created, 600 profiles in
    its pool, and an API key: ``(Tenant, key)``."""
    base_id = "app" + uuid.uuid4().hex[:14]
    stack.airtable_control("bases", {"id": base_id, "name": "Acme Fitness base"})
    tenant, key = new_tenant(app, tables=4, per_table=25, base_id=base_id)
    client = app.test_client()
    assert post_job(client, key, "/api/ingest", {"profiles": make_profiles(600, start=61_000_000)})["status"] == "completed"
    assert post_job(client, key, "/api/airtable/create-base")["status"] == "completed"
    return tenant, key


def wait(browser, timeout: float = 60):
    """A wait that retries while the page reloads itself (the job page does when its job ends)."""
    return WebDriverWait(browser, timeout, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def sign_in(browser, web: str, key: str) -> None:
    browser.get(f"{web}/console/sign-in")
    browser.find_element(By.ID, "api_key").send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "sign-out")))


def test_bad_key_is_refused(browser, web):
    browser.delete_all_cookies()
    browser.get(f"{web}/console/sign-in")
    screenshot(browser, "01-sign-in", full_page=False)
    browser.find_element(By.ID, "api_key").send_keys("fp_this-is-not-a-key")
    browser.find_element(By.ID, "sign-in").click()
    error = wait(browser).until(EC.visibility_of_element_located((By.ID, "sign-in-error")))
    assert "not valid" in error.text
    browser.get(f"{web}/console/jobs")
    assert "/console/sign-in" in browser.current_url


def test_form_without_csrf_token_is_refused(browser, web, operator):
    _, key = operator
    sign_in(browser, web, key)
    browser.execute_script("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    browser.find_element(By.ID, "sign-out").click()
    message = wait(browser).until(EC.visibility_of_element_located((By.ID, "error-message")))
    assert "CSRF" in message.text
    browser.get(f"{web}/console/jobs")
    assert browser.find_element(By.ID, "tenant-name").text == operator[0].name  # still signed in


def test_scrape_from_the_form_reaches_100_percent_and_downloads_csv(browser, web, operator, downloads, app):
    tenant, key = operator
    sign_in(browser, web, key)
    browser.find_element(By.ID, "nav-scrape").click()
    browser.find_element(By.ID, "accounts").send_keys("\n".join(SOURCES + ["not a valid name!", "nike"]))
    browser.find_element(By.CSS_SELECTOR, "label.seg input#gender-female + span").click()
    browser.find_element(By.ID, "count").send_keys("400")
    screenshot(browser, "04-new-scrape", full_page=False)
    browser.find_element(By.ID, "check-accounts").click()
    assert wait(browser).until(EC.visibility_of_element_located((By.ID, "accepted-count"))).text == "12"
    assert browser.find_element(By.ID, "rejected-count").text == "1"
    assert "not a valid name!" in browser.find_element(By.ID, "rejected-list").text
    screenshot(browser, "05-confirm-scrape")
    browser.find_element(By.ID, "start-scrape").click()
    wait(browser).until(EC.url_matches(r"/console/jobs/[0-9a-f-]{36}$"))
    job_id = browser.current_url.rsplit("/", 1)[1]
    # the page polls; it reloads itself once the job has ended
    wait(browser, 180).until(lambda b: b.find_element(By.ID, "job-progress").text == "100%")
    wait(browser, 30).until(lambda b: b.find_element(By.ID, "job-detail").get_attribute("data-active") == "0")
    bar = browser.find_element(By.ID, "job-bar")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert browser.find_element(By.CSS_SELECTOR, "#job-status .badge").get_attribute("data-status") == "completed"
    chunks = browser.find_elements(By.CSS_SELECTOR, "#chunk-grid .chunk")
    assert len(chunks) == 6
    assert all(c.get_attribute("class").split()[1] in ("tone-ok", "tone-warn") for c in chunks)  # done, skipped
    kept = app.test_client().get(f"/api/job-status/{job_id}", headers=auth(key)).get_json()["profiles_scraped"]
    assert kept == 400
    assert browser.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")
    screenshot(browser, "03-job-detail")
    browser.find_element(By.ID, "download-csv").click()
    path = wait_for_file(downloads, ".csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == kept and rows[0]["gender"] in ("female", "unknown")
    check_sources_section(browser, downloads)
    browser.find_element(By.ID, "nav-jobs").click()
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}']")
    assert "100%" in row.text and "400 / 400" in row.text
    screenshot(browser, "02-jobs")


def check_sources_section(browser, downloads) -> None:
    """The job page's Sources section: a status count per account of the job, a status filter
    that keeps only that status's rows, and the CSV of the filtered sources."""
    counts = {chip.get_attribute("data-status"): int(chip.find_element(By.TAG_NAME, "b").text)
              for chip in browser.find_elements(By.CSS_SELECTOR, "#sources-filter a.chip[data-status]:not([data-status=''])")}
    assert sum(counts.values()) == len(SOURCES) and counts.get("ok")
    rows = browser.find_elements(By.CSS_SELECTOR, "#sources-table tbody tr")
    assert rows and len(rows) <= len(SOURCES)
    browser.find_element(By.CSS_SELECTOR, "#sources-filter a.chip[data-status='ok']").click()
    wait(browser).until(EC.url_contains("sources_status=ok"))
    statuses = [b.get_attribute("data-status") for b in browser.find_elements(By.CSS_SELECTOR, "#sources-table .badge")]
    assert statuses == ["ok"] * counts["ok"]
    screenshot(browser, "03b-job-sources")
    browser.find_element(By.ID, "sources-csv").click()
    with open(wait_for_file(downloads, "-sources.csv"), newline="", encoding="utf-8") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["ok"] * counts["ok"]


def act_as_vas(stack, base_id: str) -> None:
    """VAs mark progress in Airtable: in table N, the first 3·N rows followed, the next N completed."""
    for number in range(1, 5):
        name = f"Daily_Outreach_Table_{number:02d}"
        records = stack.airtable_control(f"bases/{base_id}/tables/{name}/records", method="GET")["records"]
        records.sort(key=lambda r: r["fields"]["position"])
        for i, record in enumerate(records[:4 * number]):
            status = "followed" if i < 3 * number else "completed"
            stack.airtable_control(f"bases/{base_id}/tables/{name}/records/{record['id']}",
                                   {"fields": {"progress_status": status}}, method="PATCH")


def test_run_now_and_the_campaign_page(browser, web, operator, stack, app):
    tenant, key = operator
    sign_in(browser, web, key)
    browser.find_element(By.ID, "nav-runs").click()
    browser.find_element(By.ID, "run-now").click()
    wait(browser).until(EC.alert_is_present()).accept()
    wait(browser).until(EC.presence_of_element_located((By.ID, "job-detail")))
    wait(browser, 180).until(lambda b: b.find_element(By.ID, "job-detail").get_attribute("data-active") == "0")
    assert browser.find_element(By.CSS_SELECTOR, "#job-status .badge").get_attribute("data-status") == "completed"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".steps .tone-ok")) == 7
    browser.find_element(By.ID, "nav-runs").click()
    assert "completed" in browser.find_element(By.ID, "runs-table").text
    screenshot(browser, "07-daily-runs")
    act_as_vas(stack, tenant.airtable_base_id)
    assert post_job(app.test_client(), key, "/api/sync-airtable-statuses")["status"] == "completed"
    browser.find_element(By.ID, "nav-campaigns").click()
    assert browser.find_element(By.ID, "pool-size").text == "600"
    assert browser.find_element(By.ID, "pool-unused").text == "500"
    assert browser.find_element(By.ID, "push-status").text.startswith("pushed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#va-tables .va-row")
    assert [r.find_element(By.CSS_SELECTOR, ".va-count").text for r in rows] == [
        "1 / 25 done", "2 / 25 done", "3 / 25 done", "4 / 25 done"]
    assert browser.find_element(By.ID, "last-sync").text != "not synced yet"
    assert browser.find_elements(By.CSS_SELECTOR, "#pool-chart polyline")
    screenshot(browser, "06-campaigns")
    browser.find_element(By.ID, "nav-settings").click()
    screenshot(browser, "08-settings")


def test_sign_out(browser, web, operator):
    _, key = operator
    sign_in(browser, web, key)
    browser.find_element(By.ID, "sign-out").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "api_key")))
    assert "signed out" in browser.page_source
    browser.get(f"{web}/console/jobs")
    assert "/console/sign-in" in browser.current_url


def test_swagger_ui_renders_offline(browser, web):
    browser.get(f"{web}/api/docs/swagger-ui")
    wait(browser).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
    text = browser.find_element(By.ID, "swagger-ui-container").text
    assert "/api/jobs" in text and "/api/scrape-followers" in text
    requested = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested and all(url.startswith(web) for url in requested), requested
    screenshot(browser, "09-swagger-ui", full_page=False)


def test_pages_run_under_the_content_security_policy(browser, web, operator):
    """No page logs a CSP violation or a script error (the policy allows only the console's own
    scripts)."""
    _, key = operator
    sign_in(browser, web, key)
    browser.get_log("browser")  # drop what earlier tests logged (their refused requests)
    for page in ("jobs", "scrape/new", "campaigns", "daily-runs", "settings"):
        browser.get(f"{web}/console/{page}")
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == [], (page, errors)
