"""Tests of the Apify stand-in, driven by the real ``apify_client`` 3.x, and of the follower generator."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from apify_client import ApifyClient
from apify_client.errors import ApifyApiError

from standins.followers import follower_indices, generate_followers, normalize_account

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-123"
ACTOR = "datadoping/instagram-followers-scraper"
PRICE = 0.0007
PAGINATION_HEADERS = ("X-Apify-Pagination-Total", "X-Apify-Pagination-Offset", "X-Apify-Pagination-Limit",
                      "X-Apify-Pagination-Count", "X-Apify-Pagination-Desc")


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_url():
    """The stand-in started through its CLI on a free port; stopped after the module."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "standins", "apify", "--host", "127.0.0.1", "--port", "0", "--token", TOKEN,
         "--run-seconds", "0.3", "--price-per-result", str(PRICE)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    try:
        assert line and line[0].startswith("apify stand-in listening on http://127.0.0.1:"), \
            (line, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        yield line[0].strip().rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def _reset(server_url):
    requests.post(f"{server_url}/_control/reset", timeout=5).raise_for_status()
    yield


@pytest.fixture
def client(server_url) -> ApifyClient:
    return ApifyClient(TOKEN, api_url=server_url, min_delay_between_retries=timedelta(milliseconds=20))


def set_faults(url: str, **faults) -> dict:
    r = requests.post(f"{url}/_control/faults", json=faults, timeout=5)
    r.raise_for_status()
    return r.json()


def control(url: str, what: str):
    return requests.get(f"{url}/_control/{what}", timeout=5).json()


def raw(url: str, method: str, path: str, token: str | None = TOKEN, **kw) -> requests.Response:
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, url + path, headers=headers, timeout=30, **kw)


def call(client: ApifyClient, run_input: dict, actor: str = ACTOR, **kw):
    return client.actor(actor).call(run_input=run_input, logger=None, **kw)


# -- runs ------------------------------------------------------------------------------------------------
def test_call_succeeds_with_full_run_object(client, server_url):
    run = call(client, {"usernames": ["nike"], "max_count": 120}, memory_mbytes=2048, max_items=100,
               run_timeout=timedelta(seconds=300))
    assert run.status == "SUCCEEDED"
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.options.memory_mbytes == 2048 and run.options.timeout_secs == 300 and run.options.max_items == 100
    assert run.usage_total_usd == pytest.approx(100 * PRICE)
    body = raw(server_url, "GET", f"/v2/actor-runs/{run.id}").json()["data"]
    for key in ("id", "actId", "userId", "status", "startedAt", "finishedAt", "meta", "stats", "options",
                "buildId", "defaultKeyValueStoreId", "defaultDatasetId", "defaultRequestQueueId",
                "usageTotalUsd"):
        assert key in body, key
    assert body["meta"]["origin"] == "API"
    for key in ("build", "timeoutSecs", "memoryMbytes", "diskMbytes"):
        assert key in body["options"]
    actor = client.actor(ACTOR).get()
    assert actor is not None and actor.name == "instagram-followers-scraper" and actor.username == "datadoping"


def test_start_then_wait_for_finish(client, server_url):
    set_faults(server_url, run_seconds=1.0)
    run = client.actor(ACTOR).start(run_input={"usernames": ["adidas"], "max_count": 10})
    assert run.status in ("READY", "RUNNING")
    assert client.dataset(run.default_dataset_id).list_items().total == 0  # items appear at the end
    finished = client.run(run.id).wait_for_finish()
    assert finished.status == "SUCCEEDED"
    assert client.dataset(run.default_dataset_id).list_items().total == 10
    assert client.run("doesNotExist12345").get() is None


def test_wait_for_finish_long_poll_returns_when_terminal(client, server_url):
    set_faults(server_url, run_seconds=1.0)
    run = client.actor(ACTOR).start(run_input={"usernames": ["puma"], "max_count": 5})
    t0 = time.monotonic()
    data = raw(server_url, "GET", f"/v2/actor-runs/{run.id}", params={"waitForFinish": 30}).json()["data"]
    elapsed = time.monotonic() - t0
    assert data["status"] == "SUCCEEDED"
    assert elapsed < 5
    polls = control(server_url, "stats")["requests"]["GET /v2/actor-runs/<run_id>"]
    assert polls == 1


def test_abort_keeps_partial_dataset(client, server_url):
    set_faults(server_url, run_seconds=4.0)
    run = client.actor(ACTOR).start(run_input={"usernames": ["zara"], "max_count": 1000})
    time.sleep(1.0)
    aborted = client.run(run.id).abort()
    assert aborted.status == "ABORTED"
    page = client.dataset(run.default_dataset_id).list_items()
    assert 0 < page.total < 1000
    again = client.run(run.id).abort()  # terminal runs are unchanged
    assert again.status == "ABORTED" and again.finished_at == aborted.finished_at
    done = call(client, {"usernames": ["zara"], "max_count": 3})
    assert client.run(done.id).abort().status == "SUCCEEDED"


def test_failed_run_fault_and_fail_next_runs(client, server_url):
    set_faults(server_url, fail_next_runs=1)
    first = call(client, {"usernames": ["nike"], "max_count": 50})
    second = call(client, {"usernames": ["nike"], "max_count": 50})
    assert first.status == "FAILED" and first.status_message
    assert second.status == "SUCCEEDED"
    set_faults(server_url, run_status="FAILED")
    third = call(client, {"usernames": ["nike"], "max_count": 50})
    assert third.status == "FAILED"
    assert client.dataset(third.default_dataset_id).list_items().total == 25  # failed midway
    assert third.usage_total_usd == pytest.approx(25 * PRICE)


def test_invalid_input_fails_run(client):
    run = call(client, {"something": ["nike"]})
    assert run.status == "FAILED"
    assert "Input" in run.status_message
    assert client.dataset(run.default_dataset_id).list_items().total == 0


def test_timed_out_run(client, server_url):
    set_faults(server_url, run_seconds=2.0)
    run = call(client, {"usernames": ["nike"], "max_count": 100}, run_timeout=timedelta(seconds=1))
    assert run.status == "TIMED-OUT"
    assert client.dataset(run.default_dataset_id).list_items().total == 50
    set_faults(server_url, run_seconds=0.2, run_status="TIMED-OUT")
    assert call(client, {"usernames": ["nike"], "max_count": 10}).status == "TIMED-OUT"


# -- auth, retries, faults -------------------------------------------------------------------------------
def test_bad_or_missing_token_is_401(server_url):
    bad = ApifyClient("wrong-token", api_url=server_url)
    with pytest.raises(ApifyApiError) as exc:
        bad.actor(ACTOR).start(run_input={"usernames": ["nike"]})
    assert exc.value.status_code == 401 and exc.value.type == "invalid-token"
    r = raw(server_url, "GET", "/v2/actors/a~b", token=None)
    assert r.status_code == 401 and r.json()["error"]["type"] == "token-not-provided"
    assert raw(server_url, "GET", f"/v2/actors/a~b?token={TOKEN}", token=None).status_code == 200
    assert control(server_url, "runs") == []


def test_429_then_success(client, server_url):
    set_faults(server_url, http_429=2)
    run = call(client, {"usernames": ["nike"], "max_count": 5})
    assert run.status == "SUCCEEDED"
    stats = control(server_url, "stats")["requests"]
    assert stats["POST /v2/actors/<path:actor_id>/runs"] == 3  # two 429s, then 201
    assert len(control(server_url, "runs")) == 1


def test_persistent_500_raises(server_url):
    set_faults(server_url, http_500=100)
    c = ApifyClient(TOKEN, api_url=server_url, max_retries=2, min_delay_between_retries=timedelta(milliseconds=10))
    with pytest.raises(ApifyApiError) as exc:
        c.actor(ACTOR).get()
    assert exc.value.status_code == 500
    assert control(server_url, "stats")["requests"]["GET /v2/actors/<path:actor_id>"] == 3


def test_fault_api_validates(server_url):
    r = requests.post(f"{server_url}/_control/faults", json={"nope": 1}, timeout=5)
    assert r.status_code == 400
    r = requests.post(f"{server_url}/_control/faults", json={"run_status": "BROKEN"}, timeout=5)
    assert r.status_code == 400
    assert set_faults(server_url, short_pages=True)["short_pages"] is True
    assert set_faults(server_url, short_pages=None)["short_pages"] is False


# -- request formats -------------------------------------------------------------------------------------
def test_gzip_body_and_acts_alias(server_url):
    run_input = {"usernames": ["gzip_account"], "max_count": 7}
    body = gzip.compress(json.dumps(run_input).encode())
    r = raw(server_url, "POST", "/v2/acts/datadoping~instagram-followers-scraper/runs", data=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            params={"waitForFinish": 10})
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/v2/actor-runs/" + r.json()["data"]["id"])
    assert r.json()["data"]["status"] == "SUCCEEDED"
    assert control(server_url, "runs")[0]["input"] == run_input
    r2 = raw(server_url, "POST", "/v2/acts/datadoping%2Finstagram-followers-scraper/runs", json=run_input)
    assert r2.status_code == 201
    runs = control(server_url, "runs")
    assert runs[0]["actId"] == runs[1]["actId"]
    actor = raw(server_url, "GET", "/v2/acts/datadoping~instagram-followers-scraper").json()["data"]
    assert actor["username"] == "datadoping" and actor["stats"]["totalRuns"] == 2
    assert raw(server_url, "POST", "/v2/acts/x~y/runs", data=b"{not json").status_code == 400


def test_large_input_sent_gzipped_by_client(client, server_url):
    accounts = [f"acct_{i:04d}" for i in range(150)]  # > 1024 bytes, so apify-client 3.x gzips it
    run = call(client, {"usernames": accounts, "max_count": 2})
    assert run.status == "SUCCEEDED"
    assert control(server_url, "runs")[0]["input"]["usernames"] == accounts
    assert client.dataset(run.default_dataset_id).list_items().total == 300


# -- datasets --------------------------------------------------------------------------------------------
def test_list_items_paging_headers(client, server_url):
    run = call(client, {"usernames": ["nike"], "max_count": 30})
    ds = run.default_dataset_id
    r = raw(server_url, "GET", f"/v2/datasets/{ds}/items")
    for h in PAGINATION_HEADERS:
        assert h in r.headers, h
    assert r.headers["X-Apify-Pagination-Limit"] == "999999999999"
    assert r.headers["X-Apify-Pagination-Total"] == "30" and r.headers["X-Apify-Pagination-Count"] == "30"
    everything = r.json()
    assert isinstance(everything, list) and len(everything) == 30
    page = client.dataset(ds).list_items(offset=10, limit=5)
    assert (page.total, page.offset, page.limit, page.count) == (30, 10, 5, 5)
    assert page.items == everything[10:15]
    desc = client.dataset(ds).list_items(offset=0, limit=3, desc=True)
    assert desc.items == everything[::-1][:3] and desc.desc is True
    assert client.dataset(ds).list_items(offset=28, limit=5).count == 2
    proj = raw(server_url, "GET", f"/v2/datasets/{ds}/items", params={"fields": "id,username", "limit": 2}).json()
    assert [list(i) for i in proj] == [["id", "username"]] * 2
    omit = raw(server_url, "GET", f"/v2/datasets/{ds}/items", params={"omit": "profile_pic_url", "limit": 1}).json()
    assert "profile_pic_url" not in omit[0]
    info = client.dataset(ds).get()
    assert info.item_count == 30
    assert client.run(run.id).dataset().list_items(limit=2).items == everything[:2]


def test_iterate_items_is_complete(client, server_url):
    run = call(client, {"usernames": ["nike", "adidas", "puma"], "max_count": 900}, max_items=2500)
    assert run.usage_total_usd == pytest.approx(2500 * PRICE)
    items = list(client.dataset(run.default_dataset_id).iterate_items())
    assert len(items) == 2500
    assert Counter(i["source_username"] for i in items) == {"nike": 900, "adidas": 900, "puma": 700}
    assert control(server_url, "stats")["requests"]["GET /v2/datasets/<dataset_id>/items"] == 4


def test_short_pages_and_page_cap_do_not_lose_items(client, server_url):
    run = call(client, {"usernames": ["nike"], "max_count": 2500})
    set_faults(server_url, short_pages=True)
    page = client.dataset(run.default_dataset_id).list_items(offset=0, limit=1000)
    assert page.count < 1000 and page.total == 2500  # short page while more remain
    assert len(list(client.dataset(run.default_dataset_id).iterate_items())) == 2500
    set_faults(server_url, short_pages=False, page_limit_cap=300)
    page = client.dataset(run.default_dataset_id).list_items(limit=1000)
    assert page.count == 300
    ids = [i["id"] for i in client.dataset(run.default_dataset_id).iterate_items()]
    assert len(ids) == 2500 and len(set(ids)) == 2500


# -- actor shapes ----------------------------------------------------------------------------------------
SHAPE_KEYS = {
    "usernames": ["username", "full_name", "id", "is_private", "is_verified", "profile_pic_url", "source_username"],
    "Account": ["username_scrape", "type", "id", "username", "full_name", "is_private", "is_verified",
                "profile_pic_url"],
    "username": ["id", "username", "full_name", "profile_pic_url", "is_private", "is_verified", "source_username"],
}


@pytest.mark.parametrize("run_input,shape,actor", [
    ({"usernames": ["@Nike", "private_club", "missing_ghost", "empty_shop", "ratelimited_star"], "max_count": 20},
     "usernames", ACTOR),
    ({"Account": ["nike", "private_club", "missing_ghost", "empty_shop", "ratelimited_star"], "resultsLimit": 20,
      "dataToScrape": "Followers"}, "Account", "scraping_solutions/instagram-scraper-followers-following-no-cookies"),
    ({"username": ["nike", "private_club", "missing_ghost", "empty_shop", "ratelimited_star"], "type": "followers",
      "maxItem": 20}, "username", "thenetaji/instagram-followers-followings-scraper"),
])
def test_item_shapes_and_error_items(client, run_input, shape, actor):
    run = call(client, run_input, actor=actor)
    items = client.dataset(run.default_dataset_id).list_items().items
    assert len(items) == 23  # 20 followers, one error item each for 3 accounts, none for the empty one
    assert all(list(i) == SHAPE_KEYS[shape] for i in items[:20])
    source_field = "username_scrape" if shape == "Account" else "source_username"
    assert {i[source_field] for i in items[:20]} == {"nike"}
    assert [i[source_field] for i in items[20:]] == ["private_club", "missing_ghost", "ratelimited_star"]
    private, missing, limited = items[20:]
    if shape == "usernames":  # {"error": code, "errorDescription": message}
        assert (private["error"], missing["error"], limited["error"]) == ("private_account", "not_found", "rate_limited")
        assert "does not exist" in missing["errorDescription"]
    elif shape == "Account":  # the source's own profile flagged private; success: false with a message
        assert private["username"] == "private_club" and private["is_private"] is True
        assert missing["success"] is False and "does not exist" in missing["message"]
        assert limited["success"] is False and "429" in limited["message"]
    else:  # {"#error": true, "#debug": {"errorMessages": [...]}}
        assert all(i["#error"] is True for i in items[20:])
        assert "private" in private["#debug"]["errorMessages"][0]
    assert all("truth_gender" not in i for i in items)
    if shape == "Account":
        assert {i["type"] for i in items[:20]} == {"Followers"}


def test_source_truth_route_reports_every_account(client, server_url):
    set_faults(server_url, empty_once_accounts=["shy"], not_found_accounts=["gone"])
    run = call(client, {"usernames": ["nike", "shy", "gone", "private_x"], "max_count": 5})
    truth = {r["source"]: r for r in control(server_url, f"runs/{run.id}/sources")}
    assert {s: (r["outcome"], r["items"]) for s, r in truth.items()} == {
        "nike": ("ok", 5), "shy": ("empty", 0), "gone": ("not_found", 1), "private_x": ("private", 1)}
    assert truth["nike"]["cost_usd"] == pytest.approx(5 * PRICE)
    assert [f["id"] for f in truth["nike"]["followers"]] == [f.id for f in generate_followers("nike", 5)]
    assert "does not exist" in truth["gone"]["message"]
    again = call(client, {"usernames": ["shy"], "max_count": 5})  # empty_once: only the first run
    assert control(server_url, f"runs/{again.id}/sources")[0]["outcome"] == "ok"
    assert requests.get(f"{server_url}/_control/runs/nope/sources", timeout=5).status_code == 404


def test_error_item_share_fault(client, server_url):
    accounts = [f"brand{i}" for i in range(40)]
    set_faults(server_url, error_item_share=0.5, private_accounts=["brand0"])
    run = call(client, {"usernames": accounts, "max_count": 3})
    items = client.dataset(run.default_dataset_id).list_items().items
    private = {i["source_username"] for i in items if i.get("error") == "private_account"}
    assert "brand0" in private and 8 <= len(private) <= 32


# -- generator ------------------------------------------------------------------------------------------
def test_generator_is_deterministic_and_prefix_stable():
    a = generate_followers("nike", 500)
    b = generate_followers("nike", 500)
    assert a == b
    assert generate_followers("nike", 100) == a[:100]
    assert generate_followers("@NIKE", 50) == a[:50]
    assert normalize_account("https://www.instagram.com/nike/") == "nike"
    assert len({f.id for f in a}) == 500
    assert generate_followers("adidas", 50) != a[:50]


def test_followers_shared_between_accounts():
    ids_a = {f.id for f in generate_followers("nike", 2000)}
    ids_b = {f.id for f in generate_followers("adidas", 2000)}
    shared = ids_a & ids_b
    assert 0 < len(shared) < 400
    # a shared person looks the same in both lists
    by_id_b = {f.id: f for f in generate_followers("adidas", 2000)}
    for f in generate_followers("nike", 2000):
        if f.id in shared:
            assert by_id_b[f.id] == f


def test_generator_decorations_look_like_instagram():
    people = generate_followers("fashion_week", 20000)
    genders = Counter(f.truth_gender for f in people)
    assert set(genders) == {"female", "male", "unknown"}
    assert 0.03 < genders["unknown"] / len(people) < 0.07  # business / brand accounts
    empty = sum(1 for f in people if f.full_name == "")
    assert 0.015 < empty / len(people) < 0.05
    names = [f.full_name for f in people]
    assert any("(she/her)" in n for n in names) and any("he/him" in n for n in names)
    assert any(any(0x1D400 <= ord(c) <= 0x1D7FF for c in n) for n in names)  # fancy letters
    assert any(any(ord(c) >= 0x1F300 for c in n) for n in names)  # emoji
    non_latin = sum(1 for n in names if any(0x0400 <= ord(c) <= 0x04FF or 0x0600 <= ord(c) <= 0x06FF
                                            or 0x3040 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7AF
                                            or 0x0370 <= ord(c) <= 0x03FF or 0x0900 <= ord(c) <= 0x097F
                                            for c in n))
    assert 0.04 < non_latin / len(people) < 0.2
    assert all(f.username and f.username.isascii() and len(f.username) <= 30 for f in people)
    assert all(not f.username.startswith(".") and not f.username.endswith(".") for f in people)
    private = sum(f.is_private for f in people) / len(people)
    assert 0.2 < private < 0.45
    assert len({f.username for f in people}) > 0.98 * len(people)


def test_follower_indices_validation():
    assert follower_indices("nike", 0) == []
    with pytest.raises(ValueError):
        follower_indices("nike", -1)


# -- dump-followers CLI ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,run_input,actor", [
    ("usernames", {"usernames": ["nasa"], "max_count": 40}, ACTOR),
    ("Account", {"Account": ["nasa"], "resultsLimit": 40, "dataToScrape": "Followers"}, "s~followers"),
    ("username", {"username": ["nasa"], "type": "followers", "maxItem": 40}, "t~followers"),
])
def test_dump_followers_cli_equals_server_items(client, shape, run_input, actor):
    out = subprocess.run([sys.executable, "-m", "standins", "dump-followers", "nasa", "--count", "40",
                          "--shape", shape], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    dumped = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(dumped) == 40
    assert all(d["truth_gender"] in ("female", "male", "unknown") for d in dumped)
    run = call(client, run_input, actor=actor)
    served = client.dataset(run.default_dataset_id).list_items().items
    stripped = [{k: v for k, v in d.items() if k != "truth_gender"} for d in dumped]
    assert stripped == served
    assert [list(d) for d in stripped] == [list(s) for s in served]  # same key order


def test_control_runs_lists_started_runs(client, server_url):
    for acct in ("a1", "a2", "a3"):
        call(client, {"usernames": [acct], "max_count": 2})
    runs = control(server_url, "runs")
    assert len(runs) == 3
    assert {tuple(r["input"]["usernames"]) for r in runs} == {("a1",), ("a2",), ("a3",)}
    assert all(r["status"] == "SUCCEEDED" and r["itemCount"] == 2 for r in runs)
    assert runs[0]["usageTotalUsd"] == pytest.approx(2 * PRICE)
    truth = control(server_url, f"datasets/{runs[0]['datasetId']}/truth")
    assert len(truth) == 2 and {"id", "username", "truth_gender"} <= set(truth[0])


def test_actor_runs_list_filters_pages_and_inputs_are_readable(client, server_url):
    from datetime import datetime, timezone
    set_faults(server_url, run_seconds=5.0)
    before = datetime.now(timezone.utc)
    first = client.actor(ACTOR).start(run_input={"usernames": ["l1", "l2"], "max_count": 3}, max_items=6)
    time.sleep(0.02)
    middle = datetime.now(timezone.utc)
    second = client.actor(ACTOR).start(run_input={"usernames": ["l3"], "max_count": 3})
    client.actor("someone/other-actor").start(run_input={"usernames": ["x"], "max_count": 1})
    runs = client.actor(ACTOR).runs()
    listed = runs.list()
    assert [r.id for r in listed.items] == [first.id, second.id] and listed.total == 2 and not listed.desc
    item = listed.items[0]
    assert item.default_key_value_store_id == first.default_key_value_store_id
    assert item.default_dataset_id == first.default_dataset_id and item.status in ("READY", "RUNNING")
    assert [r.id for r in runs.list(desc=True).items] == [second.id, first.id]
    assert [r.id for r in runs.list(started_after=middle).items] == [second.id]
    assert [r.id for r in runs.list(started_before=middle).items] == [first.id]
    assert runs.list(started_after=before, offset=1, limit=1).items[0].id == second.id
    assert runs.list(started_after=before, offset=1, limit=1).total == 2
    assert len(client.runs().list().items) == 3  # the user's runs of every actor
    client.run(second.id).abort()
    assert [r.id for r in runs.list(status="ABORTED").items] == [second.id]
    # the run input is the INPUT record of the run's default key-value store, as sent
    record = client.key_value_store(first.default_key_value_store_id).get_record("INPUT")
    assert record["value"] == {"usernames": ["l1", "l2"], "max_count": 3}
    assert record["content_type"].startswith("application/json")
    assert client.key_value_store(first.default_key_value_store_id).get_record("OUTPUT") is None
    assert client.key_value_store("noSuchStore000000").get_record("INPUT") is None
    assert raw(server_url, "GET", "/v2/acts/datadoping~instagram-followers-scraper/runs",
               params={"startedAfter": "yesterday"}).status_code == 400
