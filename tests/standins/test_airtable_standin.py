"""End-to-end tests of the Airtable stand-in, driven by the real pyairtable client.

The server runs in a subprocess (``python -m standins airtable --port 0``); each test resets
it through ``/_control/reset``. Functional tests switch the rate limit off; the rate-limit
tests turn it back on with a short penalty.
"""
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from pyairtable import Api
from pyairtable.formulas import AND, EQ, GT, NOT, OR, Field, Formula, match

REPO = Path(__file__).resolve().parents[2]
TOKEN = "patStandinTestToken.0123456789"
BASE = "appStandinTest001"
SELECT_CHOICES = ["pending", "followed", "unfollow", "completed"]
OUTREACH_FIELDS = [
    {"name": "id", "type": "singleLineText"},
    {"name": "username", "type": "singleLineText"},
    {"name": "full_name", "type": "singleLineText"},
    {"name": "profile_url", "type": "url"},
    {"name": "position", "type": "number", "options": {"precision": 0}},
    {"name": "campaign_date", "type": "date", "options": {"dateFormat": {"name": "iso"}}},
    {"name": "progress_status", "type": "singleSelect",
     "options": {"choices": [{"name": c} for c in SELECT_CHOICES]}},
    {"name": "vip", "type": "checkbox", "options": {"color": "greenBright", "icon": "check"}},
]


def _read_line(stream, timeout: float) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


@pytest.fixture(scope="module")
def server_url():
    """Start the stand-in on a free port; yield its base URL; stop it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "standins", "airtable", "--host", "127.0.0.1", "--port", "0",
         "--token", TOKEN, "--base", BASE, "--penalty-seconds", "0.5"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = _read_line(proc.stdout, timeout=20).strip()
        assert line.startswith("airtable stand-in listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        assert not url.endswith(":0")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def url(server_url):
    """A clean server (only BASE, no tables) with the rate limit switched off."""
    requests.post(f"{server_url}/_control/reset", json={"bases": [BASE]}, timeout=5).raise_for_status()
    requests.post(f"{server_url}/_control/config", json={"rate": 0, "penalty_seconds": 0.5,
                                                         "max_records_per_base": None, "max_calls_per_month": None},
                  timeout=5).raise_for_status()
    return server_url


@pytest.fixture()
def api(url):
    return Api(TOKEN, endpoint_url=url, timeout=(5, 30))


@pytest.fixture()
def table(api):
    return api.base(BASE).create_table("Daily_Outreach_Table_01", OUTREACH_FIELDS)


def _rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"{1000 + i}", "username": f"user{i}", "full_name": f"User {i}",
         "profile_url": f"https://instagram.com/user{i}", "position": i + 1,
         "campaign_date": "2024-05-01", "progress_status": "pending"}
        for i in range(start, start + n)
    ]


def _stats(url: str) -> dict:
    return requests.get(f"{url}/_control/stats", params={"base": BASE}, timeout=5).json()


def _error_type(exc: requests.HTTPError) -> str:
    body = exc.response.json()
    return body["error"]["type"] if isinstance(body["error"], dict) else body["error"]


def _set_rate(url: str, rate: int, penalty: float) -> None:
    """Turn the limit on; then wait out the 1 s window that still holds the setup requests."""
    requests.post(f"{url}/_control/config", json={"rate": rate, "penalty_seconds": penalty},
                  timeout=5).raise_for_status()
    time.sleep(1.05)


# --------------------------------------------------------------------------- meta API
def test_create_table_and_schema(api, table):
    base = api.base(BASE)
    assert table.name == "Daily_Outreach_Table_01" and table.id.startswith("tbl")
    schema = table.schema()
    assert schema.primary_field_id == schema.fields[0].id
    assert [f.name for f in schema.fields] == [f["name"] for f in OUTREACH_FIELDS]
    status = schema.field("progress_status")
    assert [c.name for c in status.options.choices] == SELECT_CHOICES
    assert all(c.id.startswith("sel") for c in status.options.choices)
    assert schema.views[0].type == "grid" and schema.views[0].name == "Grid view"
    assert [t.name for t in base.tables(force=True)] == ["Daily_Outreach_Table_01"]

    with pytest.raises(requests.HTTPError) as exc:
        base.create_table("daily_outreach_table_01", [{"name": "x", "type": "singleLineText"}])
    assert exc.value.response.status_code == 422 and _error_type(exc.value) == "DUPLICATE_TABLE_NAME"


def test_create_field(api, table):
    field = table.create_field("notes", "multilineText")
    assert field.id.startswith("fld") and field.name == "notes"
    assert "notes" in [f.name for f in table.schema(force=True).fields]
    table.create({"id": "1", "notes": "line1\nline2"})
    assert table.first(formula=match({"id": "1"}))["fields"]["notes"] == "line1\nline2"


def test_number_field_requires_precision(api):
    with pytest.raises(requests.HTTPError) as exc:
        api.base(BASE).create_table("T", [{"name": "a", "type": "singleLineText"}, {"name": "n", "type": "number"}])
    assert exc.value.response.status_code == 422


# ------------------------------------------------------------------------ records API
def test_batch_create_25_records_in_3_requests(url, table):
    before = _stats(url)["requests"]
    records = table.batch_create(_rows(25))
    assert len(records) == 25
    assert _stats(url)["requests"] - before == 3
    assert [r["fields"]["position"] for r in records] == list(range(1, 26))
    first = records[0]
    assert first["id"].startswith("rec") and len(first["id"]) == 17
    assert first["createdTime"].endswith("Z")
    assert "vip" not in first["fields"]  # empty cells are omitted


def test_all_pages_of_10(url, api, table):
    table.batch_create(_rows(25))
    seen_offsets = []
    pages = list(table.iterate(page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    records = table.all(page_size=10)
    assert [r["fields"]["position"] for r in records] == list(range(1, 26))
    assert len(table.all(max_records=13, page_size=10)) == 13
    # raw offset format
    body = requests.get(f"{url}/v0/{BASE}/{table.name}", params={"pageSize": 10},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    seen_offsets.append(body["offset"])
    itr, rec = body["offset"].split("/")
    assert itr.startswith("itr") and rec.startswith("rec")
    # sort and fields[]
    desc = table.all(sort=["-position"], fields=["username", "position"])
    assert desc[0]["fields"] == {"username": "user24", "position": 25}


def test_page_size_over_100_is_rejected(url, table):
    r = requests.get(f"{url}/v0/{BASE}/{table.name}", params={"pageSize": 101},
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["type"] == "INVALID_REQUEST_UNKNOWN"


def test_formulas(table):
    rows = _rows(5)
    rows[2]["full_name"] = "Seán O'Brien"
    rows[3]["full_name"] = 'back\\slash "quoted"'
    rows[4]["progress_status"] = "followed"
    rows[4]["vip"] = True
    created = table.batch_create(rows)

    assert [r["fields"]["position"] for r in table.all(formula=match({"full_name": "Seán O'Brien"}))] == [3]
    assert [r["fields"]["position"] for r in table.all(formula=match({"full_name": 'back\\slash "quoted"'}))] == [4]
    both = match({"progress_status": "pending", "position": (">=", 3)})
    assert [r["fields"]["position"] for r in table.all(formula=both)] == [3, 4]
    anyof = match({"username": "user0", "position": 5}, match_any=True)
    assert [r["fields"]["position"] for r in table.all(formula=anyof)] == [1, 5]
    assert len(table.all(formula=NOT(EQ(Field("progress_status"), "pending")))) == 1
    assert len(table.all(formula=match({"vip": True}))) == 1
    assert len(table.all(formula="{vip}=FALSE()")) == 4
    rid = created[1]["id"]
    assert [r["id"] for r in table.all(formula=f"RECORD_ID()='{rid}'")] == [rid]
    assert len(table.all(formula=OR(EQ(Field("position"), 1), AND(GT(Field("position"), 4), Field("position").lte(5))))) == 2
    assert len(table.all(formula="{position}!=1")) == 4
    assert len(table.all(formula="{campaign_date}>='2024-05-01'")) == 5
    assert len(table.all(formula="{campaign_date}<'2024-05-01'")) == 0
    assert len(table.all(formula="{vip}=BLANK()")) == 4
    assert len(table.all(formula="{full_name}=''")) == 0
    assert len(table.all(formula="TRUE()")) == 5

    for bad in ["{position}=", "LOWER({username})='x'", "{nope}=1", "'unterminated"]:
        with pytest.raises(requests.HTTPError) as exc:
            table.all(formula=bad)
        assert exc.value.response.status_code == 422
        assert _error_type(exc.value) == "INVALID_FILTER_BY_FORMULA"


def test_long_formula_uses_post_list_records(url, api, table):
    created = table.batch_create(_rows(30))
    wanted = [r["id"] for r in created[:20]]
    ids = wanted + [f"rec{str(i).zfill(14)}" for i in range(880)]
    formula = OR(*(EQ(Formula("RECORD_ID()"), i) for i in ids))
    assert len(str(formula)) > 16000
    calls = []
    original = api.session.request

    def spy(*args, **kwargs):
        calls.append((kwargs["method"], kwargs["url"]))
        return original(*args, **kwargs)

    api.session.request = spy
    records = table.all(formula=formula, page_size=10)
    assert sorted(r["id"] for r in records) == sorted(wanted)
    assert calls and all(m.upper() == "POST" and str(u).endswith("/listRecords") for m, u in calls)
    assert len(calls) == 2
    # the same query as a GET is refused like Airtable refuses URLs of >= 16k characters
    r = requests.get(f"{url}/v0/{BASE}/{table.name}", params={"filterByFormula": str(formula)},
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code in (414, 422)


def test_batch_update_and_replace(table):
    created = table.batch_create(_rows(12))
    updates = [{"id": r["id"], "fields": {"progress_status": "followed"}} for r in created]
    updated = table.batch_update(updates)
    assert len(updated) == 12 and all(r["fields"]["progress_status"] == "followed" for r in updated)
    assert updated[0]["fields"]["username"] == "user0"  # PATCH merges
    replaced = table.batch_update([{"id": created[0]["id"], "fields": {"id": "1000"}}], replace=True)
    assert replaced[0]["fields"] == {"id": "1000"}
    cleared = table.update(created[1]["id"], {"full_name": "", "vip": False})
    assert "full_name" not in cleared["fields"] and "vip" not in cleared["fields"]


def test_batch_upsert(table):
    created = table.batch_create(_rows(3))
    result = table.batch_upsert(
        [{"fields": {"id": "1000", "progress_status": "completed"}},
         {"fields": {"id": "2000", "username": "new", "progress_status": "pending"}}],
        key_fields=["id"],
    )
    assert result["updatedRecords"] == [created[0]["id"]]
    assert len(result["createdRecords"]) == 1 and result["createdRecords"][0] != created[0]["id"]
    assert [r["fields"]["id"] for r in result["records"]] == ["1000", "2000"]
    assert result["records"][0]["fields"]["username"] == "user0"
    assert len(table.all()) == 4
    table.create({"id": "1000"})  # now two records have id 1000
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_upsert([{"fields": {"id": "1000", "progress_status": "followed"}}], key_fields=["id"])
    assert exc.value.response.status_code == 422
    assert len(table.all(formula=match({"progress_status": "followed"}))) == 0


def test_batch_delete_1_and_11(url, table):
    created = table.batch_create(_rows(15))
    assert table.batch_delete([created[0]["id"]]) == [{"id": created[0]["id"], "deleted": True}]
    before = _stats(url)["requests"]
    deleted = table.batch_delete([r["id"] for r in created[1:12]])
    assert len(deleted) == 11 and all(d["deleted"] for d in deleted)
    assert _stats(url)["requests"] - before == 2
    assert len(table.all()) == 3
    assert table.delete(created[12]["id"]) == {"id": created[12]["id"], "deleted": True}
    with pytest.raises(requests.HTTPError) as exc:
        table.delete(created[12]["id"])
    assert exc.value.response.status_code == 404 and _error_type(exc.value) == "MODEL_ID_NOT_FOUND"
    with pytest.raises(requests.HTTPError) as exc:
        table.get(created[0]["id"])
    assert exc.value.response.status_code == 404 and _error_type(exc.value) == "MODEL_ID_NOT_FOUND"


def test_more_than_10_records_per_request_is_rejected(url, table):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(f"{url}/v0/{BASE}/{table.id}", json={"records": [{"fields": {"id": str(i)}} for i in range(11)]},
                      headers=headers, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["type"] == "INVALID_RECORDS"
    r = requests.delete(f"{url}/v0/{BASE}/{table.id}",
                        params={"records[]": [f"rec{str(i).zfill(14)}" for i in range(11)]}, headers=headers, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["type"] == "INVALID_RECORDS"
    assert table.all() == []


def test_unknown_select_option_and_all_or_nothing(table):
    rows = _rows(3)
    rows[2]["progress_status"] = "ghosted"
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_create(rows)
    assert exc.value.response.status_code == 422
    assert _error_type(exc.value) == "INVALID_MULTIPLE_CHOICE_OPTIONS"
    assert "INVALID_MULTIPLE_CHOICE_OPTIONS" in str(exc.value)
    assert table.all() == []  # nothing from the failed request was written
    record = table.create({"id": "1", "progress_status": "ghosted"}, typecast=True)
    assert record["fields"]["progress_status"] == "ghosted"
    choices = [c.name for c in table.schema(force=True).field("progress_status").options.choices]
    assert choices == SELECT_CHOICES + ["ghosted"]


def test_unknown_field_and_bad_value(table):
    with pytest.raises(requests.HTTPError) as exc:
        table.create({"id": "1", "nickname": "x"})
    assert _error_type(exc.value) == "UNKNOWN_FIELD_NAME"
    with pytest.raises(requests.HTTPError) as exc:
        table.create({"id": "1", "position": "seven"})
    assert _error_type(exc.value) == "INVALID_VALUE_FOR_COLUMN"
    assert table.create({"id": "1", "position": "7"}, typecast=True)["fields"]["position"] == 7


def test_row_does_not_exist(table):
    created = table.batch_create(_rows(2))
    table.delete(created[1]["id"])
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_update([{"id": created[0]["id"], "fields": {"progress_status": "followed"}},
                            {"id": created[1]["id"], "fields": {"progress_status": "followed"}}])
    assert exc.value.response.status_code == 422 and _error_type(exc.value) == "ROW_DOES_NOT_EXIST"
    assert table.get(created[0]["id"])["fields"]["progress_status"] == "pending"  # all-or-nothing


def test_auth_unknown_base_and_table(url, table):
    r = requests.get(f"{url}/v0/{BASE}/{table.id}", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401 and r.json() == {"error": {"type": "AUTHENTICATION_REQUIRED",
                                                           "message": "Authentication required"}}
    with pytest.raises(requests.HTTPError) as exc:
        Api(TOKEN, endpoint_url=url).table("appNoSuchBase0001", "X").all()
    assert exc.value.response.status_code == 404 and _error_type(exc.value) == "NOT_FOUND"
    with pytest.raises(requests.HTTPError) as exc:
        Api(TOKEN, endpoint_url=url).table(BASE, "No Such Table").all()
    assert exc.value.response.status_code in (403, 404)
    assert _error_type(exc.value) in ("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "TABLE_NOT_FOUND")


def test_table_name_with_spaces_and_slash(api):
    t = api.base(BASE).create_table("VA list / week 1", [{"name": "Name", "type": "singleLineText"}])
    api.table(BASE, "VA list / week 1").create({"Name": "a"})
    assert [r["fields"]["Name"] for r in t.all()] == ["a"]


# --------------------------------------------------------------------------- rate limit
def test_rate_limit_429_and_penalty(url, table):
    _set_rate(url, 5, 0.5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    session = requests.Session()
    target = f"{url}/v0/{BASE}/{table.id}"
    statuses = [session.get(target, headers=headers, timeout=5).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    r = session.get(target, headers=headers, timeout=5)
    assert r.status_code == 429
    assert r.json() == {"errors": [{"error": "RATE_LIMIT_REACHED",
                                    "message": "Rate limit exceeded. Please try again later"}]}
    # control calls are neither limited nor counted
    assert requests.get(f"{url}/_control/bases/{BASE}/tables/{table.id}/records", timeout=5).status_code == 200
    time.sleep(0.3)
    assert session.get(target, headers=headers, timeout=5).status_code == 429  # penalty still running
    time.sleep(0.6)
    assert session.get(target, headers=headers, timeout=5).status_code == 200  # penalty over
    stats = _stats(url)
    assert stats["rate_limited"] == 3
    assert stats["per_table"]["Daily_Outreach_Table_01"]["rate_limited"] == 3
    assert stats["max_served_in_any_1s_window"] <= 5
    assert stats["max_requests_in_any_1s_window"] >= 6


def test_penalty_lasts_penalty_seconds(url, table):
    _set_rate(url, 5, 1.5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    target = f"{url}/v0/{BASE}/{table.id}"
    with requests.Session() as s:
        codes = [s.get(target, headers=headers, timeout=5).status_code for _ in range(6)]
        assert codes[-1] == 429
        start = time.monotonic()
        while s.get(target, headers=headers, timeout=5).status_code == 429:
            time.sleep(0.05)
        waited = time.monotonic() - start
    assert 1.2 <= waited <= 2.5


def test_pyairtable_retries_through_a_short_penalty(url, table):
    table.batch_create(_rows(20))
    _set_rate(url, 5, 0.5)
    records = table.all(page_size=2)  # 10 requests at full speed
    assert len(records) == 20
    stats = _stats(url)
    assert stats["rate_limited"] >= 1 and stats["max_served_in_any_1s_window"] <= 5


def test_pyairtable_without_retries_sees_http_429(url, table):
    _set_rate(url, 5, 0.5)
    api = Api(TOKEN, endpoint_url=url, retry_strategy=None)
    t = api.table(BASE, table.id)
    with pytest.raises(requests.HTTPError) as exc:
        for _ in range(10):
            t.all()
    assert exc.value.response.status_code == 429


# ---------------------------------------------------------------------- control API
def test_va_control_actions(url, table):
    created = table.batch_create(_rows(3))
    rec = created[0]["id"]
    base_url = f"{url}/_control/bases/{BASE}/tables/Daily_Outreach_Table_01/records"
    r = requests.patch(f"{base_url}/{rec}", json={"fields": {"progress_status": "followed"}}, timeout=5)
    assert r.status_code == 200 and r.json()["fields"]["progress_status"] == "followed"
    assert table.get(rec)["fields"]["progress_status"] == "followed"
    r = requests.patch(f"{base_url}/{rec}", json={"fields": {"progress_status": "maybe"}}, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["type"] == "INVALID_MULTIPLE_CHOICE_OPTIONS"

    r = requests.delete(f"{base_url}/{created[1]['id']}", timeout=5)
    assert r.json() == {"id": created[1]["id"], "deleted": True}
    listing = requests.get(base_url, timeout=5).json()["records"]
    assert [x["id"] for x in listing] == [created[0]["id"], created[2]["id"]]
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_update([{"id": created[1]["id"], "fields": {"progress_status": "completed"}}])
    assert _error_type(exc.value) == "ROW_DOES_NOT_EXIST"
    assert requests.delete(f"{base_url}/{created[1]['id']}", timeout=5).status_code == 404


def test_stats_and_reset(url, table):
    table.batch_create(_rows(12))
    table.all()
    stats = _stats(url)
    assert stats["requests"] >= 4 and stats["rate_limited"] == 0
    assert stats["per_table"]["Daily_Outreach_Table_01"]["requests"] == 3
    assert stats["per_table"]["_meta"]["requests"] >= 1
    r = requests.post(f"{url}/_control/reset", json={"bases": ["appOtherBase00001"]}, timeout=5)
    assert r.status_code == 200
    assert _stats(url)["requests"] == 0
    assert requests.post(f"{url}/_control/bases", json={"id": BASE, "name": "Main"}, timeout=5).json() == \
        {"id": BASE, "name": "Main", "max_records": None, "records": 0}
    assert Api(TOKEN, endpoint_url=url).base(BASE).tables() == []


# --------------------------------------------------------------------------- plan limits
def test_record_limit_per_base_refuses_creates_and_upserts_all_or_nothing(url, api, table):
    requests.post(f"{url}/_control/config", json={"max_records_per_base": 25}, timeout=5).raise_for_status()
    other = api.base(BASE).create_table("Daily_Outreach_Table_02", OUTREACH_FIELDS)
    table.batch_create(_rows(10))
    other.batch_upsert([{"fields": r} for r in _rows(10, 100)], key_fields=["id"])  # 20 in the base, 2 tables
    with pytest.raises(requests.HTTPError) as exc:
        other.batch_create(_rows(6, 200))                            # 26 > 25: the whole request is refused
    assert exc.value.response.status_code == 422 and _error_type(exc.value) == "RECORD_LIMIT_EXCEEDED"
    assert "record limit of 25" in exc.value.response.json()["error"]["message"]
    with pytest.raises(requests.HTTPError) as exc:
        table.batch_upsert([{"fields": r} for r in _rows(6, 300)], key_fields=["id"])
    assert _error_type(exc.value) == "RECORD_LIMIT_EXCEEDED"
    table.batch_upsert([{"fields": r} for r in _rows(10)], key_fields=["id"])  # updates need no room
    table.batch_create(_rows(5, 400))                                # exactly 25
    records = requests.get(f"{url}/_control/records", timeout=5).json()["bases"][BASE]
    assert records == {"records": 25, "max_records": 25}
    table.batch_delete([r["id"] for r in table.all()][:3])          # deleting frees room
    table.batch_create(_rows(3, 500))
    # a base's own limit wins over the store-wide one
    requests.post(f"{url}/_control/bases", json={"id": BASE, "max_records": 30}, timeout=5).raise_for_status()
    table.batch_create(_rows(5, 600))
    assert requests.get(f"{url}/_control/records", timeout=5).json()["bases"][BASE]["records"] == 30


def test_calls_counted_per_token_per_month_and_cap_refuses_data_requests(url, api, table):
    from datetime import datetime, timezone

    month = datetime.now(timezone.utc).strftime("%Y-%m")
    table.batch_create(_rows(25))                                    # 3 requests
    usage = requests.get(f"{url}/_control/usage", params={"token": TOKEN}, timeout=5).json()
    before = usage["months"][month]
    assert before >= 4                                               # create_table + schema read + 3 writes
    requests.post(f"{url}/_control/config", json={"max_calls_per_month": before + 1}, timeout=5).raise_for_status()
    plain = Api(TOKEN, endpoint_url=url, retry_strategy=None).table(BASE, table.id)   # sees the 429 itself
    plain.all()                                                      # the last call the month allows
    with pytest.raises(requests.HTTPError) as exc:
        plain.all()
    assert exc.value.response.status_code == 429
    assert exc.value.response.json()["errors"][0]["error"] == "PUBLIC_API_BILLING_LIMIT_EXCEEDED"
    assert api.base(BASE).schema(force=True).tables                  # the meta API keeps working
    usage = requests.get(f"{url}/_control/usage", params={"token": TOKEN}, timeout=5).json()
    assert usage["months"][month] == before + 3
