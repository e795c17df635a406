"""Daily selection and distribution: one transaction, SKIP LOCKED, idempotent, set-based."""
from __future__ import annotations

import threading
import uuid
from datetime import date

from server.utils.clock import utc_now
from server.utils.outreach.selection import select_for_tenant
from tests.conftest import auth
from tests.support.daily import day, fill_pool, new_tenant, query


def select(client, key, **body):
    return client.post("/api/daily-selection", json=body, headers=auth(key))


def distribute(client, key, campaign_id):
    return client.post(f"/api/distribute/{campaign_id}", headers=auth(key))


def assignments(app, campaign_id):
    return query(app, "SELECT profile_id, global_username_id, va_table_number, position FROM daily_assignments"
                      " WHERE campaign_id = %s ORDER BY global_username_id", (campaign_id,))


def test_selection_claims_the_target_and_the_same_date_returns_the_same_campaign(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 150)
    response = select(client, key, campaign_date=day(1))
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True and body["existing"] is False
    assert (body["campaign_date"], body["total_selected"], body["target"]) == (day(1), 100, 100)
    assert (body["va_tables"], body["profiles_per_table"], body["status"]) == (4, 25, "selected")
    assert "warning" not in body
    used = query(app, "SELECT count(*) FILTER (WHERE used) AS used, count(*) FILTER (WHERE used AND used_at IS NULL)"
                      " AS no_time FROM global_usernames WHERE tenant_id = %s", (t.tenant_id,))[0]
    assert used == {"used": 100, "no_time": 0}
    rows = assignments(app, body["campaign_id"])
    assert len(rows) == 100 and len({r["profile_id"] for r in rows}) == 100
    again = select(client, key, campaign_date=day(1), profiles_per_table=5).get_json()
    assert again["campaign_id"] == body["campaign_id"] and again["existing"] is True
    assert again["total_selected"] == 100 and again["profiles_per_table"] == 25
    assert query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s AND used",
                 (t.tenant_id,))[0]["n"] == 100
    # The next day gets the other 50 profiles, never one of the first 100.
    next_day = select(client, key, campaign_date=day(2)).get_json()
    assert next_day["total_selected"] == 50
    first = {r["profile_id"] for r in rows}
    assert not first & {r["profile_id"] for r in assignments(app, next_day["campaign_id"])}


def test_default_date_is_today_and_profiles_per_table_overrides(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 50)
    body = select(client, key, profiles_per_table=10).get_json()
    assert body["campaign_date"] == utc_now(app.extensions["services"]).date().isoformat()
    assert (body["target"], body["profiles_per_table"], body["total_selected"]) == (40, 10, 40)


def test_small_pool_gives_a_partial_campaign_with_a_warning(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 30)
    body = select(client, key, campaign_date=day(3)).get_json()
    assert (body["total_selected"], body["target"]) == (30, 100)
    assert "30" in body["warning"] and "100" in body["warning"]
    stored = query(app, "SELECT warning, total_selected FROM campaigns WHERE campaign_id = %s", (body["campaign_id"],))
    assert stored[0]["total_selected"] == 30 and stored[0]["warning"] == body["warning"]


def test_empty_pool_stores_no_campaign(client, app, tenant):
    t, key = tenant
    response = select(client, key, campaign_date=day(4))
    assert response.status_code == 200
    body = response.get_json()
    assert body["campaign_id"] is None and body["total_selected"] == 0 and body["status"] == "empty"
    assert "no unused profiles" in body["warning"]
    assert query(app, "SELECT count(*) AS n FROM campaigns WHERE tenant_id = %s", (t.tenant_id,))[0]["n"] == 0
    fill_pool(app, t, 10)   # the same date can still be selected once the pool has profiles
    later = select(client, key, campaign_date=day(4)).get_json()
    assert later["campaign_id"] and later["total_selected"] == 10


def _concurrently(*calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    errors = []

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    return results


def test_concurrent_selections_for_two_dates_share_no_profile(app, tenant):
    t, _ = tenant
    services = app.extensions["services"]
    fill_pool(app, t, 150)
    for attempt in range(3):
        days = [date(2031, 1, 1 + 2 * attempt), date(2031, 1, 2 + 2 * attempt)]
        a, b = _concurrently(lambda: select_for_tenant(services, t, days[0]),
                             lambda: select_for_tenant(services, t, days[1]))
        ids_a = {r["profile_id"] for r in assignments(app, a.campaign_id)} if a.campaign_id else set()
        ids_b = {r["profile_id"] for r in assignments(app, b.campaign_id)} if b.campaign_id else set()
        assert not ids_a & ids_b
        assert len(ids_a) == a.total_selected and len(ids_b) == b.total_selected
        if attempt == 0:
            assert a.total_selected + b.total_selected == 150
    total = query(app, "SELECT count(*) AS n, count(DISTINCT global_username_id) AS d FROM daily_assignments"
                       " WHERE tenant_id = %s", (t.tenant_id,))[0]
    assert total["n"] == total["d"] == 150


def test_concurrent_calls_through_the_api_with_separate_clients(app, tenant):
    t, key = tenant
    fill_pool(app, t, 200)
    c1, c2 = app.test_client(), app.test_client()
    r1, r2 = _concurrently(lambda: select(c1, key, campaign_date=day(5)).get_json(),
                           lambda: select(c2, key, campaign_date=day(6)).get_json())
    assert r1["total_selected"] == r2["total_selected"] == 100
    assert not ({r["profile_id"] for r in assignments(app, r1["campaign_id"])}
                & {r["profile_id"] for r in assignments(app, r2["campaign_id"])})


def test_concurrent_selections_of_the_same_date_return_one_campaign(app, tenant):
    t, _ = tenant
    services = app.extensions["services"]
    fill_pool(app, t, 300)
    day = date(2033, 6, 6)
    a, b = _concurrently(lambda: select_for_tenant(services, t, day), lambda: select_for_tenant(services, t, day))
    assert a.campaign_id == b.campaign_id and {a.existing, b.existing} == {True, False}
    assert query(app, "SELECT count(*) AS n FROM global_usernames WHERE tenant_id = %s AND used",
                 (t.tenant_id,))[0]["n"] == 100


def test_distribution_gives_each_table_positions_1_to_n_in_random_order(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 100)
    campaign = select(client, key, campaign_date=day(7)).get_json()["campaign_id"]
    response = distribute(client, key, campaign)
    assert response.status_code == 200
    body = response.get_json()
    assert body["va_tables"] == 4 and body["total_distributed"] == 100
    assert body["assigned_per_table"] == {"1": 25, "2": 25, "3": 25, "4": 25}
    assert body["status"] == "distributed"
    rows = assignments(app, campaign)
    for table in range(1, 5):
        assert sorted(r["position"] for r in rows if r["va_table_number"] == table) == list(range(1, 26))
    # Random: the pool order (global_username_id) is not simply cut into slices.
    in_pool_order = [(r["va_table_number"], r["position"]) for r in rows]
    assert in_pool_order != sorted(in_pool_order)
    # Idempotent: a second call changes nothing and answers the same counts.
    again = distribute(client, key, campaign).get_json()
    assert again["assigned_per_table"] == body["assigned_per_table"] and again["total_distributed"] == 100
    assert assignments(app, campaign) == rows
    stored = query(app, "SELECT status, distributed_at FROM campaigns WHERE campaign_id = %s", (campaign,))[0]
    assert stored["status"] == "distributed" and stored["distributed_at"] is not None


def test_two_distributions_differ(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 200)
    layouts = []
    for date in (day(8), day(9)):
        campaign = select(client, key, campaign_date=date).get_json()["campaign_id"]
        distribute(client, key, campaign)
        layouts.append([(r["va_table_number"], r["position"]) for r in assignments(app, campaign)])
    assert layouts[0] != layouts[1]


def test_partial_campaign_fills_tables_in_order_and_the_last_is_shorter(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 60)
    campaign = select(client, key, campaign_date=day(10)).get_json()["campaign_id"]
    body = distribute(client, key, campaign).get_json()
    assert body["assigned_per_table"] == {"1": 25, "2": 25, "3": 10, "4": 0}
    rows = assignments(app, campaign)
    assert sorted(r["position"] for r in rows if r["va_table_number"] == 3) == list(range(1, 11))


def test_campaign_detail_counts_per_table(client, app, tenant):
    t, key = tenant
    fill_pool(app, t, 100)
    campaign = select(client, key, campaign_date=day(11)).get_json()["campaign_id"]
    before = client.get(f"/api/campaigns/{campaign}", headers=auth(key)).get_json()
    assert before["unplaced"] == 100 and before["status"] == "selected"
    distribute(client, key, campaign)
    after = client.get(f"/api/campaigns/{campaign}", headers=auth(key)).get_json()
    assert after["unplaced"] == 0
    assert after["tables"]["1"] == {"pending": 25, "followed": 0, "unfollow": 0, "completed": 0, "archived": 0}


def test_other_tenants_and_unknown_campaigns_are_404_and_bad_ids_400(client, app, tenant):
    t, key = tenant
    other, other_key = new_tenant(app)
    fill_pool(app, other, 10)
    theirs = select(client, other_key, campaign_date=day(12)).get_json()["campaign_id"]
    for campaign_id, status in ((theirs, 404), (str(uuid.uuid4()), 404), ("not-a-uuid", 400)):
        for response in (client.post(f"/api/distribute/{campaign_id}", headers=auth(key)),
                         client.get(f"/api/campaigns/{campaign_id}", headers=auth(key)),
                         client.post(f"/api/airtable-sync/{campaign_id}", headers=auth(key))):
            assert response.status_code == status
            if status == 404:
                assert response.get_json()["error"]["code"] == "NOT_FOUND"
            else:
                assert response.get_json()["error"]["details"] == {"campaign_id": ["not a valid UUID"]}
    stored = query(app, "SELECT status FROM campaigns WHERE campaign_id = %s", (theirs,))[0]
    assert stored["status"] == "selected"
