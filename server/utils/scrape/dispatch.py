"""The service-wide Apify run budget and fair share of it (DESIGN.md §5).

One budget for every worker and job: at most ``run_budget()`` chunks are ``starting`` or
``running`` at once (``chunks.HOLDS_SLOT``). ``take_slots`` is the only way a chunk gets a slot;
it runs under a Postgres advisory lock, counts the slots in use from the chunk rows themselves
(so a crashed worker's slot comes back as soon as its chunk leaves those statuses: nothing to
leak) and hands the free ones out fairly:

- round-robin across tenants: the tenant with the fewest runs going gets the next slot;
- then across that tenant's jobs: the job with the fewest runs going, oldest first;
so a 10,000-chunk job cannot starve a one-chunk job submitted after it, and still gets every
slot nobody else asks for.

A job with ``totalScrapeCount`` starts no run its cap will likely not need (``fair_picks``).
A job with ``maxCostUsd`` starts no run whose worst case does not fit what is left of the cap:
a run's worst case is its ``maxItems`` × ``APIFY_PRICE_PER_RESULT_USD`` (``maxItems`` is the
most a pay-per-result actor can charge; Apify API: ``maxItems`` on run start), what is left is
the cap − the money spent − the worst cases of the job's runs going (a run counts as its
estimate until its chunk is finished and its real cost is on the job). A run that would not fit
gets a lower per-account limit (and so ``maxItems``), granted here and stored on the chunk
(``max_items``) for ``start.py``; a run that cannot ask even ``MIN_ITEMS_PER_ACCOUNT`` followers
of each of its accounts is not started. The grants are made under the budget lock, so two
dispatchers never spend the same money twice.

``stop_capped_jobs`` ends jobs whose caps are reached: ``totalScrapeCount`` (profiles kept) or
``maxCostUsd`` (not even the cheapest useful run of the next chunk fits beside the money
already spent): their queued chunks are skipped in a few set-based statements, outside the
budget lock and without waiting on a job row another worker holds.
"""
from __future__ import annotations

import logging
import math
from typing import NamedTuple
from uuid import UUID

from psycopg import Connection

from server.utils.scrape.chunks import mark_starting, skip_remaining_chunks
from server.utils.scrape.create import DUPLICATE_HEADROOM, GENDER_KEEP_RATE

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the run budget (any constant unique within the database).
BUDGET_LOCK_KEY = 7_391_004
COST_CAP_REACHED = "maxCostUsd reached: no further Apify run was started"
PROFILE_CAP_REACHED = "totalScrapeCount reached before this chunk started"
# A run is worth starting only if it may ask at least this many followers of each account.
MIN_ITEMS_PER_ACCOUNT = 1


class Pick(NamedTuple):
    """A chunk given a run slot: ``per_account`` is the follower limit per source account its
    run may ask for (the job's, or lower to fit ``maxCostUsd``)."""

    job_id: UUID
    chunk_index: int
    per_account: int


def run_budget(settings, account_limits: dict | None = None) -> int:
    """Apify runs the service may have going at once: ``APIFY_MAX_CONCURRENT_RUNS``, lowered by
    ``APIFY_MAX_MEMORY_GB`` ÷ ``APIFY_MEMORY_MBYTES`` when set, and by the account's own limits
    when ``account_limits`` (``{"max_concurrent_runs", "max_memory_mbytes"}`` from
    ``GET /v2/users/me/limits``: ``maxConcurrentActorJobs``, ``maxActorMemoryGbytes``) is given.
    At least 1."""
    budget = settings.apify_max_concurrent_runs
    if settings.apify_max_memory_gb:
        budget = min(budget, math.floor(settings.apify_max_memory_gb * 1024 / settings.apify_memory_mbytes))
    if account_limits:
        if account_limits.get("max_concurrent_runs"):
            budget = min(budget, int(account_limits["max_concurrent_runs"]))
        if account_limits.get("max_memory_mbytes"):
            budget = min(budget, int(account_limits["max_memory_mbytes"] // settings.apify_memory_mbytes))
    return max(1, budget)


def slots_in_use(conn: Connection) -> int:
    """Chunks holding a run slot now (``starting`` or ``running``), across all jobs."""
    return conn.execute("SELECT count(*) AS n FROM scrape_job_chunks"
                        " WHERE status IN ('starting', 'running')").fetchone()["n"]


def stop_capped_jobs(conn: Connection, price_per_result: float) -> list[str]:
    """End the queued chunks of processing jobs whose ``totalScrapeCount`` is reached or whose
    ``maxCostUsd`` cannot pay for one more useful run (money spent + ``MIN_ITEMS_PER_ACCOUNT`` ×
    the accounts of the next queued chunk × ``price_per_result`` USD passes the cap):
    ``result.stopped_by`` = ``total_scrape_count`` / ``cost_cap``, chunks and their sources
    ``skipped`` (``chunks.skip_remaining_chunks``, set-based). Runs already going finish and
    are collected. A job whose row another worker holds is left for the next pass (never waited
    on). Returns the ids of the follow-up jobs (autoIngest) created by jobs completed here,
    for the caller to enqueue after commit."""
    rows = conn.execute(
        """
        SELECT j.job_id,
               CASE WHEN j.max_profiles IS NOT NULL AND j.profiles_scraped >= j.max_profiles
                    THEN 'total_scrape_count' ELSE 'cost_cap' END AS why
          FROM scrape_jobs j
          CROSS JOIN LATERAL (SELECT array_length(c.accounts, 1) AS n_accounts FROM scrape_job_chunks c
                               WHERE c.job_id = j.job_id AND c.status = 'queued'
                               ORDER BY c.chunk_index LIMIT 1) nxt
         WHERE j.kind = 'scrape' AND j.status = 'processing'
           AND ((j.max_profiles IS NOT NULL AND j.profiles_scraped >= j.max_profiles)
                OR (j.params ? 'maxCostUsd'
                    AND (j.cost_usd >= (j.params->>'maxCostUsd')::numeric
                         OR j.cost_usd + nxt.n_accounts * %(min_items)s * %(price)s::numeric
                            > (j.params->>'maxCostUsd')::numeric)))
        """, {"min_items": MIN_ITEMS_PER_ACCOUNT, "price": price_per_result}).fetchall()
    follow_ups: list[str] = []
    for row in rows:
        reason = PROFILE_CAP_REACHED if row["why"] == "total_scrape_count" else COST_CAP_REACHED
        counters = skip_remaining_chunks(conn, row["job_id"], reason, row["why"], wait=False)
        if counters and counters.get("auto_ingest_job_id"):
            follow_ups.append(str(counters["auto_ingest_job_id"]))
        if counters is not None:
            log.info("job %s stopped by %s", row["job_id"], row["why"])
    return follow_ups


_FAIR_PICKS = """
WITH live AS (
    SELECT j.job_id, j.tenant_id, j.created_at, j.cost_usd, j.max_profiles, j.profiles_scraped,
           (j.params->>'maxCostUsd')::numeric AS max_cost,
           coalesce((j.params->>'per_account_limit')::int, %(default_per_account)s) AS per_account,
           CASE WHEN j.params->>'targetGender' = 'any' THEN 1.0 ELSE %(keep_rate)s END
               / %(duplicate_headroom)s AS yield
      FROM scrape_jobs j
     WHERE j.kind = 'scrape' AND j.status = 'processing'
       AND EXISTS (SELECT 1 FROM scrape_job_chunks q WHERE q.job_id = j.job_id AND q.status = 'queued'
                      AND (q.not_before IS NULL OR q.not_before <= now()))
), flight AS (  -- runs holding slots; runs whose cost is not on the job yet (collecting too)
    SELECT c.job_id, c.tenant_id, count(*) FILTER (WHERE c.status IN ('starting', 'running')) AS n,
           coalesce(sum(c.max_items), 0) AS granted_items,  -- maxItems granted (or started with)
           coalesce(sum(array_length(c.accounts, 1)) FILTER (WHERE c.max_items IS NULL), 0) AS ungranted_accounts
      FROM scrape_job_chunks c WHERE c.status IN ('starting', 'running', 'collecting')
     GROUP BY c.job_id, c.tenant_id
), tenant_flight AS (
    SELECT tenant_id, sum(n) AS n FROM flight GROUP BY tenant_id
), jobs AS (
    SELECT l.*, coalesce(f.n, 0) AS job_running,
           coalesce(f.granted_items, 0) + coalesce(f.ungranted_accounts, 0) * l.per_account AS flight_items
      FROM live l LEFT JOIN flight f ON f.job_id = l.job_id
), candidates AS (
    SELECT jb.*, q.chunk_index, q.n_accounts,
           sum(q.n_accounts) OVER (PARTITION BY jb.job_id ORDER BY q.chunk_index) - q.n_accounts
               AS before_accounts,  -- accounts of the job's chunks ahead of this one in this pass
           row_number() OVER (PARTITION BY jb.job_id ORDER BY q.chunk_index) AS nth
      FROM jobs jb CROSS JOIN LATERAL (
            SELECT c.chunk_index, array_length(c.accounts, 1) AS n_accounts FROM scrape_job_chunks c
             WHERE c.job_id = jb.job_id AND c.status = 'queued'
               AND (c.not_before IS NULL OR c.not_before <= now())
             ORDER BY c.chunk_index LIMIT %(free)s) q
), granted AS (  -- followers per account this chunk's run may ask for: the job's, or what the money left pays
    SELECT cd.*,
           CASE WHEN cd.max_cost IS NULL OR %(price)s::numeric <= 0 THEN cd.per_account
                ELSE greatest(-1, least(cd.per_account::numeric, floor(
                       (cd.max_cost - cd.cost_usd
                        - (cd.flight_items + cd.before_accounts * cd.per_account) * %(price)s::numeric)
                       / (cd.n_accounts * %(price)s::numeric))))::int END AS grant_per_account
      FROM candidates cd
), affordable AS (  -- predecessors in this pass count at their full estimate: never more than the money left
    SELECT * FROM granted
     WHERE grant_per_account >= %(min_items)s
       AND (max_profiles IS NULL
            OR profiles_scraped + (flight_items + before_accounts * per_account) * yield < max_profiles)
), ranked AS (
    SELECT a.*, row_number() OVER (PARTITION BY a.tenant_id
                                   ORDER BY a.job_running + a.nth, a.created_at, a.job_id) AS tenant_turn
      FROM affordable a
)
SELECT r.job_id, r.chunk_index, r.grant_per_account
  FROM ranked r LEFT JOIN tenant_flight t ON t.tenant_id = r.tenant_id
 ORDER BY coalesce(t.n, 0) + r.tenant_turn, r.created_at, r.tenant_id
 LIMIT %(free)s
"""


def fair_picks(conn: Connection, free: int, price_per_result: float, default_per_account: int) -> list[Pick]:
    """Up to ``free`` queued chunks in fair order (module docstring), each with the per-account
    follower limit its run may ask for, leaving out chunks waiting out a ``not_before`` delay,
    chunks a job's ``maxCostUsd`` cannot pay for (the limit is lowered so that maxItems ×
    ``price_per_result`` fits the cap − spent − runs going − this chunk's predecessors in this
    pass at their full estimate; a chunk whose limit would fall below ``MIN_ITEMS_PER_ACCOUNT``
    is left out), and chunks a job's ``totalScrapeCount`` will likely not need (kept so far +
    what its runs not yet read are expected to keep: maxItems × 1 for ``any`` or × 0.5 for a
    gender, ÷ 1.1 for followers shared between accounts, the same rates that size the
    per-account limit). ``default_per_account`` is the limit of a job whose params name none."""
    if free <= 0:
        return []
    rows = conn.execute(_FAIR_PICKS, {"free": free, "price": price_per_result,
                                      "default_per_account": default_per_account,
                                      "min_items": MIN_ITEMS_PER_ACCOUNT,
                                      "keep_rate": GENDER_KEEP_RATE, "duplicate_headroom": DUPLICATE_HEADROOM}
                        ).fetchall()
    return [Pick(r["job_id"], r["chunk_index"], r["grant_per_account"]) for r in rows]


def take_slots(conn: Connection, budget: int, price_per_result: float, default_per_account: int,
               start_grace_seconds: float) -> list[Pick]:
    """In the caller's transaction: lock the budget and move the fair share of the free slots'
    chunks to ``starting`` with their granted ``max_items`` (per-account limit × accounts).
    Returns the picks; the caller sends one start message per pick after commit. Concurrent
    callers serialise on the advisory lock, so neither the run budget nor a job's
    ``maxCostUsd`` is ever exceeded. Capped jobs are stopped by ``stop_capped_jobs`` (the
    caller's own, earlier transaction: it is no work to do under the lock)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (BUDGET_LOCK_KEY,))
    free = budget - slots_in_use(conn)
    picks = fair_picks(conn, free, price_per_result, default_per_account)
    mark_starting(conn, picks, start_grace_seconds)
    return picks
