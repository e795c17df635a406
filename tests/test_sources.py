"""Per-source accounting end to end with the real worker: every status, counts equal to the
Apify stand-in's per-source ground truth, redelivery, duplicates between sources, the sources
endpoints (JSON, CSV), the tenant's source accounts and ``excludeSourceStatuses``."""
from __future__ import annotations

import csv
import io
import os
import signal
from collections import Counter

import pytest

from server.utils.gender import detect_gender
from server.utils.scrape.create import create_scrape_job
from tests.conftest import auth, wait_for_job
from tests.support.processes import child_pids
from tests.test_scrape_pipeline import submit, wait_until

STATUS_OF_OUTCOME = {"ok": "ok", "private": "private", "not_found": "not_found", "rate_limited": "failed",
                     "empty": "empty"}


def job_chunks(db, job_id):
    with db.transaction() as conn:
        return conn.execute("SELECT * FROM scrape_job_chunks WHERE job_id = %s ORDER BY chunk_index",
                            (job_id,)).fetchall()


def truth(stack, db, job_id) -> dict:
    """The stand-in's ground truth per source over every run of the job, runs in chunk order:
    ``{source: {outcomes, items, cost, followers, message}}``."""
    out: dict = {}
    for chunk in job_chunks(db, job_id):
        if not chunk["apify_run_id"]:
            continue
        for row in stack.apify_control(f"runs/{chunk['apify_run_id']}/sources", method="GET"):
            agg = out.setdefault(row["source"], {"outcomes": [], "items": 0, "cost": 0.0, "followers": []})
            agg["outcomes"].append(row["outcome"])
            agg["items"] += row["items"]
            agg["cost"] += row["cost_usd"]
            agg["followers"] += row["followers"]
            agg["message"] = row["message"]
    return out


def passes(follower, target, include_unknown=True):
    guess = detect_gender(follower["full_name"], follower["username"])
    ok = target == "any" or guess.gender == target or (include_unknown and guess.gender == "unknown")
    return ok, guess.gender


def simulate(facts: dict, order: list[str], target: str, include_unknown=True) -> dict:
    """Kept by gender and duplicates per source when sources are read one after the other in
    ``order`` (one chunk: the dataset's order)."""
    owner, out = {}, {s: Counter() for s in order}
    for source in order:
        for follower in facts[source]["followers"]:
            ok, gender = passes(follower, target, include_unknown)
            if not ok:
                continue
            if follower["id"] not in owner:
                owner[follower["id"]] = source
                out[source][gender] += 1
                out[source]["kept"] += 1
            elif owner[follower["id"]] != source:
                out[source]["duplicates"] += 1
    return out


def sources_of(client, key, job_id, **query) -> dict:
    body = client.get(f"/api/jobs/{job_id}/sources", query_string={"limit": 1000, **query},
                      headers=auth(key)).get_json()
    assert body["success"], body
    return {s["source_account"]: s for s in body["sources"]}


def assert_matches_truth(reported: dict, facts: dict):
    """Status, followers read, runs, cost and error of every source equal the stand-in's truth."""
    assert set(reported) == set(facts)
    for source, fact in facts.items():
        row = reported[source]
        assert row["status"] == STATUS_OF_OUTCOME[fact["outcomes"][-1]], (source, row, fact["outcomes"])
        assert row["followers_read"] == len(fact["followers"]), source
        assert row["runs"] == len(fact["outcomes"]), source
        assert row["cost_usd"] == pytest.approx(fact["cost"], abs=1e-6), source
        if fact["message"]:
            assert fact["message"] in row["error"], (source, row["error"])


def test_every_status_with_counts_equal_to_the_standin_truth(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"empty_once_accounts": ["late_bloomer"], "not_found_accounts": ["gone_account"]})
    accounts = ["src_alpha", "private_club", "gone_account", "empty_shop", "ratelimited_star", "late_bloomer",
                "src_beta"]
    job = submit(client, key, accounts, targetGender="female")
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    db = app.extensions["services"].db
    assert final["status"] == "completed"
    chunks = job_chunks(db, job["job_id"])
    # the empty, the rate-limited and the empty-once sources were asked once more, in a later run
    assert len(chunks) == final["total_batches"] == 2 and chunks[1]["retry_of"] == 0
    assert sorted(chunks[1]["accounts"]) == ["empty_shop", "late_bloomer", "ratelimited_star"]

    facts = truth(stack, db, job["job_id"])
    reported = sources_of(client, key, job["job_id"])
    assert_matches_truth(reported, facts)
    assert {s: r["status"] for s, r in reported.items()} == {
        "src_alpha": "ok", "private_club": "private", "gone_account": "not_found", "empty_shop": "empty",
        "ratelimited_star": "failed", "late_bloomer": "ok", "src_beta": "ok"}
    assert "private" not in reported["empty_shop"]["error"]  # empty is never called private
    assert "429" in reported["ratelimited_star"]["error"]

    # read order: the first run's sources, then the retry run's (which gave nothing the first time)
    order = [a for a in chunks[0]["accounts"] if a not in chunks[1]["accounts"]] + list(chunks[1]["accounts"])
    expected = simulate(facts, order, "female")
    for source, row in reported.items():
        exp = expected[source]
        assert (row["kept"], row["kept_female"], row["kept_male"], row["kept_unknown"], row["duplicates"]) == (
            exp["kept"], exp["female"], exp["male"], exp["unknown"], exp["duplicates"]), source
        assert row["kept_target"] == row["kept_female"]
        if row["cost_usd"]:
            assert row["kept_female_per_usd"] == pytest.approx(row["kept_female"] / row["cost_usd"], abs=0.01)
    assert sum(r["kept"] for r in reported.values()) == final["profiles_scraped"]
    assert final["sources"] == {"ok": 3, "private": 1, "not_found": 1, "empty": 1, "failed": 1, "skipped": 0,
                                "pending": 0}
    assert final["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in reported.values()), abs=1e-5)
    assert "below_target" not in final["result"]  # no totalScrapeCount


def test_a_follower_of_two_sources_is_kept_once_and_a_duplicate_once(client, app, stack, tenant):
    _, key = tenant
    accounts = ["shared_one", "shared_two"]
    job = submit(client, key, accounts, targetGender="any")
    wait_for_job(client, key, job["job_id"])
    db = app.extensions["services"].db
    facts = truth(stack, db, job["job_id"])
    first = {f["id"] for f in facts["shared_one"]["followers"]}
    shared = [f["id"] for f in facts["shared_two"]["followers"] if f["id"] in first]
    assert shared, "the stand-in's lists share followers"
    reported = sources_of(client, key, job["job_id"])
    assert reported["shared_two"]["duplicates"] == len(shared)
    assert reported["shared_one"]["duplicates"] == 0
    assert reported["shared_one"]["kept"] == len(first)
    assert reported["shared_two"]["kept"] == len(facts["shared_two"]["followers"]) - len(shared)
    with db.transaction() as conn:
        owners = {r["profile_id"]: r["source_account"] for r in conn.execute(
            "SELECT profile_id, source_account FROM scrape_results WHERE job_id = %s AND profile_id = ANY(%s)",
            (job["job_id"], shared))}
    assert owners == {pid: "shared_one" for pid in shared}  # stored once, from the first source


def test_redelivered_chunk_changes_no_count(client, app, stack, tenant):
    _, key = tenant
    # many small pages, so the worker dies with some pages committed and others not
    stack.apify_control("faults", {"page_limit_cap": 50})
    accounts = ["redeliver_a", "private_redeliver", "redeliver_b", "redeliver_c"]
    job = submit(client, key, accounts, targetGender="female", totalScrapeCount=100_000)
    db = app.extensions["services"].db
    celery = app.extensions["celery"]

    def reading():
        chunk = job_chunks(db, job["job_id"])[0]
        return chunk if chunk["status"] == "collecting" and chunk["dataset_offset"] > 0 else None

    wait_until(reading, timeout=60, every=0.01)
    for pid in child_pids(stack.worker.pid):  # SIGKILL the pool mid-read
        os.kill(pid, signal.SIGKILL)
    for _ in range(2):  # and the same messages twice more
        celery.send_task("scrape.collect_chunk", args=[job["job_id"], 0])
        celery.send_task("scrape.read_dataset", args=[job["job_id"], 0])
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    assert final["status"] == "completed"
    assert len({c["apify_run_id"] for c in job_chunks(db, job["job_id"]) if c["chunk_index"] == 0}) == 1
    facts = truth(stack, db, job["job_id"])
    reported = sources_of(client, key, job["job_id"])
    assert_matches_truth(reported, facts)
    expected = simulate(facts, accounts, "female")
    for source, row in reported.items():
        assert (row["kept"], row["kept_female"], row["duplicates"]) == (
            expected[source]["kept"], expected[source]["female"], expected[source]["duplicates"]), source
    assert sum(r["kept"] for r in reported.values()) == final["profiles_scraped"]
    assert sum(r["followers_read"] + (r["status"] == "private") for r in reported.values()) == final["items_read"]


def test_sources_endpoint_pages_filters_sorts_and_exports_csv(client, app, stack, tenant, capsys):
    _, key = tenant
    accounts = ["rank_a", "rank_b", "rank_c", "private_rank", "missing_rank"]
    job = submit(client, key, accounts, targetGender="female")
    wait_for_job(client, key, job["job_id"])
    url = f"/api/jobs/{job['job_id']}/sources"
    page = client.get(url, query_string={"limit": 2, "page": 2}, headers=auth(key)).get_json()
    assert (page["total"], page["pages"], len(page["sources"])) == (5, 3, 2)
    assert [s["source_account"] for s in page["sources"]] == ["rank_a", "rank_b"]  # by name
    assert page["counts"]["ok"] == 3 and page["target_gender"] == "female"
    ranked = client.get(url, query_string={"sort": "kept_female_per_usd"}, headers=auth(key)).get_json()["sources"]
    values = [s["kept_female_per_usd"] for s in ranked]
    assert values[:3] == sorted(values[:3], reverse=True) and all(v is not None for v in values[:3])
    assert sorted(s["source_account"] for s in ranked[3:]) == ["missing_rank", "private_rank"]  # cost 1 item each
    only = client.get(url, query_string={"status": "private"}, headers=auth(key)).get_json()
    assert [s["source_account"] for s in only["sources"]] == ["private_rank"] and only["total"] == 1

    response = client.get(url, query_string={"format": "csv", "sort": "kept"}, headers=auth(key))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_name = {s["source_account"]: s for s in ranked}
    assert [r["source_account"] for r in rows] == sorted(by_name, key=lambda s: (-by_name[s]["kept"], s))
    for row in rows:
        assert int(row["kept"]) == by_name[row["source_account"]]["kept"]
        assert row["status"] == by_name[row["source_account"]]["status"]

    from scripts.demo import print_source_ranking  # what make demo prints after its summary

    best, worst = print_source_ranking(
        lambda path, params: client.get(path, query_string=params, headers=auth(key)).get_json(), job["job_id"], 2)
    assert [s["source_account"] for s in best] == [s["source_account"] for s in ranked[:2]]
    assert {s["source_account"] for s in worst} == {"missing_rank", "private_rank"}
    printed = capsys.readouterr().out
    assert "best" in printed and "worst" in printed and "@private_rank" in printed

    for bad, field in (({"sort": "nope"}, "sort"), ({"status": "gone"}, "status"), ({"limit": 0}, "limit"),
                       ({"colour": "red"}, "colour")):
        answer = client.get(url, query_string=bad, headers=auth(key))
        assert answer.status_code == 400 and field in answer.get_json()["error"]["details"], bad


def test_accounts_of_chunks_not_started_are_listed_pending_then_skipped(client, app, tenant):
    """A job whose chunks have not started lists every account (zero figures, pending); once
    the job has ended without reading them they are skipped, in the list and in the counts."""
    t, key = tenant
    accounts = [f"waiting_{i:03d}" for i in range(120)]  # 3 chunks
    db = app.extensions["services"].db
    with db.transaction() as conn:  # stored, never sent to a worker: no chunk starts
        job = create_scrape_job(conn, t.tenant_id, accounts, {"targetGender": "any"}, 50, None, None).job
    url = f"/api/jobs/{job['job_id']}/sources"
    page = client.get(url, query_string={"limit": 1000}, headers=auth(key)).get_json()
    assert page["total"] == 120 and page["counts"]["pending"] == 120
    assert sorted(s["source_account"] for s in page["sources"]) == accounts
    assert {(s["status"], s["kept"], s["cost_usd"], s["runs"]) for s in page["sources"]} == {("pending", 0, 0, 0)}
    pending = client.get(url, query_string={"status": "pending", "limit": 10, "page": 12}, headers=auth(key)).get_json()
    assert (pending["total"], len(pending["sources"])) == (120, 10)

    assert client.post(f"/api/jobs/{job['job_id']}/cancel", json={}, headers=auth(key)).status_code in (200, 202)
    wait_for_job(client, key, job["job_id"])
    ended = client.get(url, query_string={"status": "skipped", "limit": 1000}, headers=auth(key)).get_json()
    assert ended["total"] == 120 == ended["counts"]["skipped"]
    csv_rows = list(csv.DictReader(io.StringIO(
        client.get(url, query_string={"format": "csv"}, headers=auth(key)).get_data(as_text=True))))
    assert len(csv_rows) == 120 and {r["status"] for r in csv_rows} == {"skipped"}


def test_source_accounts_and_exclude_by_last_status(client, app, stack, tenant):
    _, key = tenant
    first = submit(client, key, ["keeper_one", "private_skipme", "missing_skipme", "empty_skipme"],
                   targetGender="female")
    wait_for_job(client, key, first["job_id"], timeout=120)
    listing = client.get("/api/source-accounts", query_string={"sort": "kept", "limit": 10},
                         headers=auth(key)).get_json()
    by_name = {s["source_account"]: s for s in listing["source_accounts"]}
    assert {n: s["last_status"] for n, s in by_name.items()} == {
        "keeper_one": "ok", "private_skipme": "private", "missing_skipme": "not_found", "empty_skipme": "empty"}
    assert listing["source_accounts"][0]["source_account"] == "keeper_one" and by_name["keeper_one"]["jobs"] == 1
    assert by_name["keeper_one"]["last_job_id"] == first["job_id"] and by_name["keeper_one"]["last_scraped_at"]
    private_only = client.get("/api/source-accounts", query_string={"status": "private"}, headers=auth(key)).get_json()
    assert [s["source_account"] for s in private_only["source_accounts"]] == ["private_skipme"]

    second = submit(client, key, ["@Private_Skipme", "missing_skipme", "keeper_one", "newcomer"],
                    targetGender="female", excludeSourceStatuses=["private", "not_found"])
    assert second["accounts_accepted"] == 2 and second["accounts_excluded"] == 2
    reasons = {r["value"]: r["reason"] for r in second["rejected"]}
    assert reasons["@Private_Skipme"].startswith("excluded: last status private")
    assert first["job_id"] in reasons["missing_skipme"]
    final = wait_for_job(client, key, second["job_id"])
    db = app.extensions["services"].db
    asked = [a for c in job_chunks(db, second["job_id"]) for a in c["accounts"]]
    assert sorted(asked) == ["keeper_one", "newcomer"]  # never scraped, never paid for
    assert final["params"]["accounts_excluded"] == 2
    again = {s["source_account"]: s for s in client.get("/api/source-accounts", headers=auth(key)).get_json()[
        "source_accounts"]}
    assert again["keeper_one"]["jobs"] == 2
    assert again["keeper_one"]["kept"] == by_name["keeper_one"]["kept"] * 2  # the same followers in both jobs

    everything = client.post("/api/scrape-followers", headers=auth(key), json={
        "accounts": ["private_skipme"], "excludeSourceStatuses": ["private"]})
    assert everything.status_code == 400 and "accounts" in everything.get_json()["error"]["details"]
    wrong = client.post("/api/scrape-followers", headers=auth(key), json={
        "accounts": ["a"], "excludeSourceStatuses": ["sleepy"]})
    assert wrong.status_code == 400 and "excludeSourceStatuses" in wrong.get_json()["error"]["details"]


def test_followers_past_the_cap_count_as_over_cap(client, app, stack, tenant):
    _, key = tenant
    accounts = ["cap_one", "cap_two", "cap_three"]
    job = submit(client, key, accounts, targetGender="any", totalScrapeCount=150)
    final = wait_for_job(client, key, job["job_id"])
    assert final["profiles_scraped"] == 150 and "below_target" not in final["result"]
    facts = truth(stack, app.extensions["services"].db, job["job_id"])
    reported = sources_of(client, key, job["job_id"])
    assert sum(r["kept"] for r in reported.values()) == 150
    assert sum(r["over_cap"] for r in reported.values()) > 0
    for source, row in reported.items():  # target any: every follower read is kept, a duplicate or over the cap
        assert row["followers_read"] == len(facts[source]["followers"]) > 0
        assert row["kept"] + row["duplicates"] + row["over_cap"] == row["followers_read"], source


def test_cost_of_items_not_read_goes_to_the_sources_not_read(client, app, stack, tenant):
    _, key = tenant
    stack.apify_control("faults", {"page_limit_cap": 5})  # 3 followers each; the cap is met around item 42
    accounts = [f"costsplit{i}" for i in range(20)]
    job = submit(client, key, accounts, targetGender="any", totalScrapeCount=40)
    final = wait_for_job(client, key, job["job_id"])
    assert final["profiles_scraped"] == 40 and final["items_read"] < 60
    reported = sources_of(client, key, job["job_id"])
    assert sum(r["cost_usd"] for r in reported.values()) == pytest.approx(final["cost_usd"], abs=1e-5)
    unread = [r for r in reported.values() if r["followers_read"] == 0]
    assert unread and all(r["status"] == "skipped" and r["cost_usd"] > 0 for r in unread)
    read = [r for r in reported.values() if r["followers_read"] == 3]
    per_item = final["cost_usd"] / 60
    assert read and all(r["cost_usd"] == pytest.approx(3 * per_item, abs=1e-5) for r in read)


def test_capped_job_below_target_says_why(client, app, stack, tenant):
    _, key = tenant
    job = submit(client, key, ["lonely_one", "private_lonely"], targetGender="any", totalScrapeCount=5000)
    final = wait_for_job(client, key, job["job_id"])
    below = final["result"]["below_target"]
    # the public source gave all 2,750 followers asked of each source (sized for two delivering
    # sources) and may have more: the per-account limit, not the sources, held the job back
    assert below["reason"] == "per_account_limit" and below["target"] == 5000
    assert (below["sources_at_limit"], below["per_account_limit"]) == (1, 2750)
    assert below["kept"] == final["profiles_scraped"] and below["short_by"] == 5000 - final["profiles_scraped"]
    assert below["sources_without_followers"] == {"private": 1}

    none = submit(client, key, ["private_none", "missing_none"], targetGender="any", totalScrapeCount=50)
    exhausted = wait_for_job(client, key, none["job_id"])["result"]["below_target"]
    assert exhausted["reason"] == "sources_exhausted" and exhausted["kept"] == 0
    assert exhausted["sources_without_followers"] == {"private": 1, "not_found": 1}
    assert "sources_at_limit" not in exhausted

    stack.apify_control("faults", {"run_seconds": 3})
    slow = submit(client, key, ["slow_one"], targetGender="any", totalScrapeCount=5000)
    db = app.extensions["services"].db
    wait_until(lambda: job_chunks(db, slow["job_id"])[0]["apify_run_id"])
    assert client.post(f"/api/jobs/{slow['job_id']}/cancel", headers=auth(key)).status_code == 202
    cancelled = wait_for_job(client, key, slow["job_id"])
    assert cancelled["result"]["below_target"]["reason"] == "cancelled"
    wait_until(lambda: job_chunks(db, slow["job_id"])[0]["status"] == "cancelled", every=0.2)
    row = sources_of(client, key, slow["job_id"])["slow_one"]
    assert row["status"] == "skipped" and row["followers_read"] == 0


def test_sixty_account_case_reports_which_sources_were_private(client, app, stack, tenant, capsys):
    """The 60-account case: a third of the sources private (error_item_share 0.3 plus two
    private_accounts); the job says exactly which delivered and which did not."""
    _, key = tenant
    accounts = [f"brand{i}" for i in range(60)]
    stack.apify_control("faults", {"error_item_share": 0.3, "private_accounts": ["brand7", "brand42"]})
    job = submit(client, key, accounts, targetGender="female", totalScrapeCount=2000)
    final = wait_for_job(client, key, job["job_id"], timeout=120)
    db = app.extensions["services"].db
    facts = truth(stack, db, job["job_id"])
    reported = sources_of(client, key, job["job_id"])
    assert_matches_truth(reported, facts)
    private = sorted(s for s, f in facts.items() if f["outcomes"] == ["private"])
    assert "brand7" in private and "brand42" in private
    assert sorted(s for s, r in reported.items() if r["status"] == "private") == private
    assert final["sources"]["private"] == len(private) and final["sources"]["ok"] == 60 - len(private)
    for source, row in reported.items():  # each passing follower is kept by its source or a duplicate there
        passing = sum(passes(f, "female")[0] for f in facts[source]["followers"])
        assert row["kept"] + row["duplicates"] == passing and row["over_cap"] == 0, source
    with db.transaction() as conn:
        stored = {(r["source_account"], r["gender"]): r["n"] for r in conn.execute(
            "SELECT source_account, gender, count(*) AS n FROM scrape_results WHERE job_id = %s GROUP BY 1, 2",
            (job["job_id"],))}
    for source, row in reported.items():
        assert (row["kept_female"], row["kept_male"], row["kept_unknown"]) == tuple(
            stored.get((source, g), 0) for g in ("female", "male", "unknown")), source
    assert final["profiles_scraped"] < 2000
    below = final["result"]["below_target"]  # every public source gave all it was asked for
    assert below["reason"] == "per_account_limit" and below["sources_at_limit"] == final["sources"]["ok"]
    with capsys.disabled():
        print(f"\n60-account case: {final['status']}, kept {final['profiles_scraped']} of 2000, "
              f"cost ${final['cost_usd']:.4f}, sources {final['sources']}")
        print(f"below_target: {final['result']['below_target']}")
        for source in accounts:
            r = reported[source]
            print(f"  {source:<8} {r['status']:<8} read {r['followers_read']:>3} kept {r['kept']:>3} "
                  f"(f {r['kept_female']:>3} m {r['kept_male']:>2} u {r['kept_unknown']:>2}) dup {r['duplicates']:>2} "
                  f"${r['cost_usd']:.4f} f/$ {r['kept_female_per_usd']}  {r['error'] or ''}")
