"""Scrape pipeline throughput against Postgres COPY of the same rows (DESIGN.md §11).

Runs a 50-account chunk through the real chunk code (start the run, confirm its end, then the
timed read step: apify-client → the Apify stand-in → item classification → gender → 1000-row
batch inserts with exact counters) in this process, then COPYs the very rows it stored into an
empty table of the same shape, and prints both rates and their ratio, measured side by side in
one run. The whole chunk is timed twice: a fresh worker's first chunk, then a chunk of other
source accounts (a worker that has collected before: its caches of folded name tokens are
warm); the second is the headline. The stand-in runs as a process of its own, as Apify's
servers are not this worker's CPU, and each dataset is read once untimed first: the stand-in
renders items on their first read, while Apify serves stored ones.

Also prints the parts: reading the dataset alone, classification + gender filter alone
(``collect.keep_profiles``) and gender inference alone, the insert path alone (the same rows
written again for another one-chunk job through ``write_batch``, one committed transaction per
1000-row batch, counters and offset included; that chunk goes through the same lifecycle
first: a run slot, its run started and its end confirmed, then ``claim_read``, untimed) and the
raw-profile history + pool upsert of an ingest (``upsert_batch``) of those rows, each ÷ COPY.

Usage: ``python bench/scrape_throughput.py [--followers-per-account 1000]`` with Postgres and
Redis running (``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` as for the tests). A scratch database
is created and dropped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.services import Services  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.utils import tenants  # noqa: E402
from server.utils.gender import detect_gender  # noqa: E402
from server.utils.jobs.table import mark_processing  # noqa: E402
from server.utils.outreach.ingest import BATCH_SIZE, PoolProfile, upsert_batch  # noqa: E402
from server.utils.scrape.chunks import claim_read  # noqa: E402
from server.utils.scrape.collect import collect_chunk, confirm_run_end, keep_profiles  # noqa: E402
from server.utils.scrape.create import create_scrape_job  # noqa: E402
from server.utils.scrape.dispatch import take_slots  # noqa: E402
from server.utils.scrape.start import start_chunk_run  # noqa: E402
from server.utils.scrape.writer import KeptProfile, write_batch  # noqa: E402
from server.utils.scrape.items import Follower, classify_item  # noqa: E402
from server.utils.scrape.pages import PAGE_SIZE, read_pages  # noqa: E402
from tests.support.processes import start_standin  # noqa: E402
from tests.support.scratch_db import create_scratch_database, drop_database  # noqa: E402

COLUMNS = ("job_id", "tenant_id", "profile_id", "username", "full_name", "gender", "gender_probability",
           "gender_source", "source_account", "is_private", "is_verified")


def run_to_collecting(services, job_id) -> None:
    """Take chunk 0 of ``job_id`` (the only queued chunk) through the real lifecycle up to the read
    step: a run slot (``take_slots``), its run started (``start_chunk_run``) and its end
    confirmed (``confirm_run_end``, which hands the chunk over in ``collecting``)."""
    settings = services.settings
    with services.db.transaction() as conn:
        picks = take_slots(conn, 1, settings.apify_price_per_result_usd, 1000, 60)
    assert [(p.job_id, p.chunk_index) for p in picks] == [(job_id, 0)], picks
    assert start_chunk_run(services, job_id, 0).status == "running"
    assert confirm_run_end(services, job_id, 0).status == "ended"


def timed_chunk(services, tenant, prefix: str, params: dict) -> tuple[int, float, dict]:
    """One job of one 50-account chunk (accounts ``{prefix}0`` …) taken to its read step, its
    dataset read once untimed (the stand-in renders items on their first read; Apify serves
    stored ones), then ``collect_chunk`` timed. Returns (rows stored, seconds, job)."""
    accounts = [f"{prefix}{i}" for i in range(services.settings.chunk_size)]
    with services.db.transaction() as conn:
        job = create_scrape_job(conn, tenant.tenant_id, accounts, params, len(accounts), None, None).job
        mark_processing(conn, job["job_id"])
    run_to_collecting(services, job["job_id"])
    with services.db.transaction() as conn:
        dataset_id = conn.execute("SELECT apify_dataset_id FROM scrape_job_chunks WHERE job_id = %s",
                                  (job["job_id"],)).fetchone()["apify_dataset_id"]
    for _page in read_pages(services.apify().dataset(dataset_id), 0):
        pass
    started = time.perf_counter()
    outcome = collect_chunk(services, job["job_id"], 0)
    seconds = time.perf_counter() - started
    assert outcome.status == "done", outcome
    with services.db.transaction() as conn:
        stored = conn.execute("SELECT profiles_scraped FROM scrape_jobs WHERE job_id = %s",
                              (job["job_id"],)).fetchone()["profiles_scraped"]
    return stored, seconds, job


def replay_inserts(services, tenant, rows: list[dict]) -> float:
    """Seconds to write ``rows`` again for a fresh one-chunk job exactly as the read step does:
    ``PAGE_SIZE`` rows per batch, each batch one committed transaction through ``write_batch``
    (job lock, fenced lease renewal, offset, exact counters). The chunk's run is started and
    ended and the read claimed (``claim_read``) before the clock starts."""
    lease = services.settings.chunk_lease_seconds
    with services.db.transaction() as conn:
        params = {"targetGender": "any", "includeUnknown": True, "per_account_limit": 1}
        job = create_scrape_job(conn, tenant.tenant_id, ["replay"], params, 50, None, None).job
        mark_processing(conn, job["job_id"])
    run_to_collecting(services, job["job_id"])
    with services.db.transaction() as conn:
        claim = claim_read(conn, job["job_id"], 0, lease)
    assert claim is not None
    kept = [KeptProfile(r["profile_id"], r["username"], r["full_name"], r["gender"], r["gender_probability"],
                        r["gender_source"], r["source_account"], r["is_private"], r["is_verified"]) for r in rows]
    started = time.perf_counter()
    for start in range(0, len(kept), PAGE_SIZE):
        batch = kept[start:start + PAGE_SIZE]
        with services.db.transaction() as conn:
            write_batch(conn, claim, batch, len(batch), start + len(batch), lease)
    seconds = time.perf_counter() - started
    with services.db.transaction() as conn:
        stored = conn.execute("SELECT profiles_scraped FROM scrape_jobs WHERE job_id = %s",
                              (job["job_id"],)).fetchone()["profiles_scraped"]
    assert stored == len(rows), (stored, len(rows))
    return seconds


def replay_ingest(services, tenant, rows: list[dict]) -> float:
    """Seconds to upsert ``rows`` into the tenant's raw-profile history and pool as an ingest
    does (``upsert_batch``, ``BATCH_SIZE`` rows per committed transaction)."""
    profiles = [PoolProfile(r["profile_id"], r["username"], r["full_name"], r["gender"], r["source_account"])
                for r in rows]
    started = time.perf_counter()
    for start in range(0, len(profiles), BATCH_SIZE):
        with services.db.transaction() as conn:
            upsert_batch(conn, tenant.tenant_id, profiles[start:start + BATCH_SIZE])
    return time.perf_counter() - started


def main() -> int:
    """Run the benchmark and print its table; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers-per-account", type=int, default=1000)
    args = parser.parse_args()
    db_url = create_scratch_database("bench")
    logs = Path(tempfile.mkdtemp(prefix="scrape-throughput-"))
    standin = start_standin("apify", logs, ["--token", "bench", "--run-seconds", "0"])
    try:
        settings = Settings.from_env(
            database_url=db_url, redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
            apify_api_key="bench", apify_api_url=standin.url, airtable_access_token="unused",
            airtable_base_id="appBenchBench0001", environment="test")
        services = Services(settings)
        with services.db.transaction() as conn:
            tenant = tenants.upsert_tenant(conn, "bench", None, 1, 1)
        params = {"targetGender": "any", "includeUnknown": True, "per_account_limit": args.followers_per_account}
        detect_gender("Warm Up", "warm.up")  # a worker loads the name tables once per process
        # a fresh worker's first chunk (its caches of name folding are empty), then another
        # chunk of other source accounts: what a worker that has collected before does
        cold_rows, cold_seconds, _ = timed_chunk(services, tenant, "first", params)
        rows_n, pipeline_seconds, job = timed_chunk(services, tenant, "bench", params)

        with services.db.transaction() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM scrape_results WHERE job_id = %s",
                                (job["job_id"],)).fetchall()
            conn.execute("CREATE TABLE copy_target (LIKE scrape_results INCLUDING ALL)")
        started = time.perf_counter()
        with services.db.transaction() as conn, conn.cursor() as cur:
            with cur.copy(f"COPY copy_target ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in COLUMNS])
        copy_seconds = time.perf_counter() - started

        insert_seconds = replay_inserts(services, tenant, rows)
        ingest_seconds = replay_ingest(services, tenant, rows)

        client = services.apify()
        started = time.perf_counter()
        with services.db.transaction() as conn:
            dataset_id = conn.execute("SELECT apify_dataset_id FROM scrape_job_chunks WHERE job_id = %s",
                                      (job["job_id"],)).fetchone()["apify_dataset_id"]
        items = [item for page in read_pages(client.dataset(dataset_id), 0) for item in page.items]
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        keep_profiles(items, job["params"], None)
        keep_seconds = time.perf_counter() - started
        followers = [f for f in (classify_item(item, None) for item in items) if isinstance(f, Follower)]
        started = time.perf_counter()
        for follower in followers:
            detect_gender(follower.full_name, follower.username)
        gender_seconds = time.perf_counter() - started

        n = len(rows)
        print(f"rows stored: {n} from {len(items)} dataset items ({services.settings.chunk_size} accounts)")
        print(f"{'step':<44}{'rows/s':>12}{'seconds':>10}")
        assert n == rows_n, (n, rows_n)
        print(f"{'pipeline (read+parse+gender+insert+count)':<44}{n / pipeline_seconds:>12,.0f}{pipeline_seconds:>10.2f}")
        print(f"{'  the same, a fresh worker first chunk':<44}{cold_rows / cold_seconds:>12,.0f}{cold_seconds:>10.2f}")
        print(f"{'  of which dataset read over HTTP':<44}{len(items) / read_seconds:>12,.0f}{read_seconds:>10.2f}")
        print(f"{'  of which classify + gender filter':<44}{len(items) / keep_seconds:>12,.0f}{keep_seconds:>10.2f}")
        print(f"{'    of which gender inference':<44}{len(followers) / gender_seconds:>12,.0f}{gender_seconds:>10.2f}")
        print(f"{'insert path (write_batch, 1000-row batches)':<44}{n / insert_seconds:>12,.0f}{insert_seconds:>10.2f}")
        print(f"{'ingest upsert (raw history + pool)':<44}{n / ingest_seconds:>12,.0f}{ingest_seconds:>10.2f}")
        print(f"{'Postgres COPY of the same rows':<44}{n / copy_seconds:>12,.0f}{copy_seconds:>10.2f}")
        print(f"ratio insert path / COPY: {copy_seconds / insert_seconds:.3f}")
        print(f"ratio ingest upsert (raw history + pool) / COPY: {copy_seconds / ingest_seconds:.3f}")
        print(f"ratio whole chunk (read+parse+gender+insert) / COPY: {copy_seconds / pipeline_seconds:.3f} "
              f"(the pipeline runs at {100 * copy_seconds / pipeline_seconds:.1f}% of raw COPY speed)")
        cold_ratio = (cold_rows / cold_seconds) / (n / copy_seconds)
        print(f"ratio whole chunk / COPY, a fresh worker's first chunk: {cold_ratio:.3f}")
        services.db.close()
        return 0
    finally:
        standin.stop()
        shutil.rmtree(logs, ignore_errors=True)
        drop_database(db_url)


if __name__ == "__main__":
    sys.exit(main())
