#!/usr/bin/env python3
"""Measure the Airtable push rate against its ceiling, with one base and with two (DESIGN.md §11).

Airtable allows 5 requests/s per base and 10 records per write, so no client can push more than
50 records/s into one base (shared/reference/airtable.md §2); a tenant whose VA tables are
spread over two bases has two such budgets, a ceiling of 100 records/s. This benchmark pushes
one campaign of N records (default 2,000 in 10 VA tables) with
``server.utils.airtable.push.push_campaign`` into a local Airtable stand-in enforcing the real
limit (5 req/s per base, 30 s penalty), first for a tenant with one base, then for a tenant with
two (tables 1-5 and 6-10), and prints each rate ÷ its ceiling, the two-base ÷ one-base speed-up,
and what the stand-in saw per base (requests, 429s, the most requests in any 1 s window). The VA
tables are created before the clock starts.

Needs Postgres and Redis (the test defaults, or ``--database-url`` / ``--redis-url``); the schema
is migrated (idempotent), a throw-away tenant is created and deleted afterwards.

Usage: .venv/bin/python bench/airtable_push_rate.py [--records 2000] [--tables 10] [--margin 0.1] [--bases 1,2]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import date

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from server.migrate import apply_migrations  # noqa: E402
from server.services import Services  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.utils.airtable.push import push_campaign  # noqa: E402
from server.utils.airtable.schema import ensure_va_tables  # noqa: E402
from server.utils.tenants import add_base, set_airtable_limits, upsert_tenant  # noqa: E402

CEILING = 50.0   # 5 requests/s per base x 10 records per request
TOKEN = "bench-airtable-token"


def start_standin() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "standins", "airtable", "--host", "127.0.0.1", "--port", "0",
                             "--token", TOKEN, "--rate", "5", "--penalty-seconds", "30"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"stand-in did not start: {line}")
    return proc, match.group(1)


def seed(services, tenant, records: int, tables: int) -> uuid.UUID:
    per_table = -(-records // tables)
    prefix = uuid.uuid4().hex[:8]
    with services.db.transaction() as conn:
        campaign_id = conn.execute(
            "INSERT INTO campaigns (tenant_id, campaign_date, status, va_tables, profiles_per_table, target_count,"
            " total_selected) VALUES (%s, %s, 'distributed', %s, %s, %s, %s) RETURNING campaign_id",
            (tenant.tenant_id, date(2031, 1, 1), tables, per_table, records, records)).fetchone()["campaign_id"]
        conn.execute(
            """
            WITH u AS (
                INSERT INTO global_usernames (tenant_id, profile_id, username, full_name, used, used_at)
                SELECT %s, '8' || %s || lpad(g::text, 7, '0'), 'bench_' || %s || '_' || g, 'Bench Person ' || g,
                       true, now()
                FROM generate_series(0, %s - 1) g
                RETURNING global_username_id, profile_id, username, full_name
            ), n AS (SELECT u.*, row_number() OVER (ORDER BY profile_id) - 1 AS i FROM u)
            INSERT INTO daily_assignments (tenant_id, campaign_id, global_username_id, profile_id, username,
                                           full_name, va_table_number, position)
            SELECT %s, %s, global_username_id, profile_id, username, full_name, 1 + i / %s, 1 + i %% %s FROM n
            """, (tenant.tenant_id, prefix, prefix, records, tenant.tenant_id, campaign_id, per_table, per_table))
    return campaign_id


def push_once(services, url: str, bases: int, records: int, tables: int) -> dict:
    """Push one campaign for a throw-away tenant with ``bases`` bases; returns the figures."""
    base_ids = ["appBench" + uuid.uuid4().hex[:9] for _ in range(bases)]
    for base_id in base_ids:
        requests.post(f"{url}/_control/bases", json={"id": base_id, "name": "bench"}, timeout=10).raise_for_status()
    with services.db.transaction() as conn:
        tenant = upsert_tenant(conn, f"bench-{base_ids[0]}", base_ids[0], tables, -(-records // tables))
        tenant = set_airtable_limits(conn, tenant.tenant_id, plan="enterprise")
        for base_id in base_ids[1:]:
            tenant = add_base(conn, tenant, base_id)
    try:
        campaign_id = seed(services, tenant, records, tables)
        ensure_va_tables(services, tenant)
        time.sleep(1.2)                                   # start with empty 1 s windows
        started = time.perf_counter()
        result = push_campaign(services, tenant, campaign_id)
        elapsed = time.perf_counter() - started
        stats = {b: requests.get(f"{url}/_control/stats", params={"base": b}, timeout=10).json() for b in base_ids}
        return {"bases": bases, "records": result["records_pushed"], "elapsed": elapsed,
                "rate": result["records_pushed"] / elapsed, "ceiling": CEILING * bases, "status": result["status"],
                "client": result["airtable_requests"], "stats": stats}
    finally:
        with services.db.transaction() as conn:
            conn.execute("DELETE FROM tenants WHERE tenant_id = %s", (tenant.tenant_id,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--margin", type=float, default=None,
                        help="AIRTABLE_RATE_MARGIN_SECONDS for this run (default: the setting's default)")
    parser.add_argument("--bases", default="1,2", help="base counts to measure, comma-separated (default 1,2)")
    args = parser.parse_args()

    proc, url = start_standin()
    services = None
    try:
        apply_migrations(args.database_url)
        settings = Settings.from_env(
            environment="development", database_url=args.database_url, redis_url=args.redis_url,
            apify_api_key="unused", airtable_access_token=TOKEN, airtable_api_url=url,
            airtable_base_id="appBenchDefault01", airtable_penalty_seconds=30,
            **({} if args.margin is None else {"airtable_rate_margin_seconds": args.margin}))
        services = Services(settings)
        runs = [push_once(services, url, int(n), args.records, args.tables) for n in args.bases.split(",")]
        print(f"limiter window: 1 s + {settings.airtable_rate_margin_seconds} s margin")
        for run in runs:
            print(f"{run['bases']} base(s): pushed {run['records']} records into {args.tables} tables in "
                  f"{run['elapsed']:.2f} s: {run['rate']:.1f} records/s = {100 * run['rate'] / run['ceiling']:.1f}% "
                  f"of the {run['ceiling']:.0f}/s ceiling ({run['bases']} x 5 requests/s x 10 records)")
            for base_id, stats in run["stats"].items():
                print(f"  stand-in {base_id}: requests={stats['requests']} rate_limited={stats['rate_limited']} "
                      f"max_requests_in_any_1s_window={stats['max_requests_in_any_1s_window']}")
            print(f"  client: {run['client']}")
        if len(runs) >= 2:
            print(f"speed-up {runs[-1]['bases']} bases / {runs[0]['bases']} base: "
                  f"{runs[-1]['rate'] / runs[0]['rate']:.2f}x (ceiling ratio "
                  f"{runs[-1]['ceiling'] / runs[0]['ceiling']:.2f}x)")
        return 0 if all(r["status"] == "pushed" for r in runs) else 1
    finally:
        if services is not None:
            services.db.close()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
