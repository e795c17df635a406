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
The same pass stops jobs whose caps are reached: ``totalScrapeCount`` (profiles kept) and
``maxCostUsd`` (money spent; no run starts once spent + the estimate of the runs going reaches
it). Estimates are ``maxItems × APIFY_PRICE_PER_RESULT_USD`` per run, since ``maxItems`` is the
most a pay-per-result actor can charge (Apify API: ``maxItems`` on run start); a run counts as
an estimate until its chunk is finished and its real cost is on the job.
"""
from __future__ import annotations

import logging
import math
from uuid import UUID

from psycopg import Connection

from server.utils.scrape.chunks import mark_starting, skip_remaining_chunks
from server.utils.scrape.create import DUPLICATE_HEADROOM, GENDER_KEEP_RATE

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the run budget (any constant unique within the database).
BUDGET_LOCK_KEY = 7_391_004
COST_CAP_REACHED = "maxCostUsd reached: no further Apify run was started"
PROFILE_CAP_REACHED = "totalScrapeCount reached before this chunk started"


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


def stop_capped_jobs(conn: Connection) -> list[UUID]:
    """Skip the queued chunks of processing jobs whose ``totalScrapeCount`` or ``maxCostUsd`` is
    reached (``result.stopped_by`` = ``total_scrape_count`` / ``cost_cap``); returns their ids.
    Runs already going finish and are collected."""
    rows = conn.execute(
        """
        SELECT j.job_id,
               CASE WHEN j.max_profiles IS NOT NULL AND j.profiles_scraped >= j.max_profiles
                    THEN 'total_scrape_count' ELSE 'cost_cap' END AS why
          FROM scrape_jobs j
         WHERE j.kind = 'scrape' AND j.status = 'processing'
           AND ((j.max_profiles IS NOT NULL AND j.profiles_scraped >= j.max_profiles)
                OR (j.params ? 'maxCostUsd' AND j.cost_usd >= (j.params->>'maxCostUsd')::numeric))
           AND EXISTS (SELECT 1 FROM scrape_job_chunks c WHERE c.job_id = j.job_id AND c.status = 'queued')
        """).fetchall()
    for row in rows:
        reason = PROFILE_CAP_REACHED if row["why"] == "total_scrape_count" else COST_CAP_REACHED
        skip_remaining_chunks(conn, row["job_id"], reason, row["why"])
    return [r["job_id"] for r in rows]


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
           sum(array_length(c.accounts, 1)) AS accounts
      FROM scrape_job_chunks c WHERE c.status IN ('starting', 'running', 'collecting')
     GROUP BY c.job_id, c.tenant_id
), tenant_flight AS (
    SELECT tenant_id, sum(n) AS n FROM flight GROUP BY tenant_id
), jobs AS (
    SELECT l.*, coalesce(f.n, 0) AS job_running, coalesce(f.accounts, 0) AS flight_accounts,
           coalesce(f.accounts, 0) * l.per_account * %(price)s AS running_estimate
      FROM live l LEFT JOIN flight f ON f.job_id = l.job_id
), candidates AS (
    SELECT jb.*, q.chunk_index, q.n_accounts,
           row_number() OVER (PARTITION BY jb.job_id ORDER BY q.chunk_index) AS nth
      FROM jobs jb CROSS JOIN LATERAL (
            SELECT c.chunk_index, array_length(c.accounts, 1) AS n_accounts FROM scrape_job_chunks c
             WHERE c.job_id = jb.job_id AND c.status = 'queued'
               AND (c.not_before IS NULL OR c.not_before <= now())
             ORDER BY c.chunk_index LIMIT %(free)s) q
), affordable AS (
    SELECT * FROM candidates
     WHERE (max_cost IS NULL
            OR cost_usd + running_estimate + (nth - 1) * n_accounts * per_account * %(price)s < max_cost)
       AND (max_profiles IS NULL
            OR profiles_scraped + (flight_accounts + (nth - 1) * n_accounts) * per_account * yield < max_profiles)
), ranked AS (
    SELECT a.*, row_number() OVER (PARTITION BY a.tenant_id
                                   ORDER BY a.job_running + a.nth, a.created_at, a.job_id) AS tenant_turn
      FROM affordable a
)
SELECT r.job_id, r.chunk_index
  FROM ranked r LEFT JOIN tenant_flight t ON t.tenant_id = r.tenant_id
 ORDER BY coalesce(t.n, 0) + r.tenant_turn, r.created_at, r.tenant_id
 LIMIT %(free)s
"""


def fair_picks(conn: Connection, free: int, price_per_result: float, default_per_account: int
               ) -> list[tuple[UUID, int]]:
    """Up to ``free`` queued chunks ``(job_id, chunk_index)`` in fair order (module docstring),
    leaving out chunks waiting out a ``not_before`` delay, chunks a job's ``maxCostUsd`` cannot
    afford (spent + runs going + this chunk's predecessors in this pass), and chunks a job's
    ``totalScrapeCount`` will likely not need (kept so far + what its runs not yet read are
    expected to keep: maxItems × 1 for ``any`` or × 0.5 for a gender, ÷ 1.1 for followers
    shared between accounts, the same rates that size the per-account limit)."""
    if free <= 0:
        return []
    rows = conn.execute(_FAIR_PICKS, {"free": free, "price": price_per_result,
                                      "default_per_account": default_per_account,
                                      "keep_rate": GENDER_KEEP_RATE, "duplicate_headroom": DUPLICATE_HEADROOM}
                        ).fetchall()
    return [(r["job_id"], r["chunk_index"]) for r in rows]


def take_slots(conn: Connection, budget: int, price_per_result: float, default_per_account: int,
               start_grace_seconds: float) -> list[tuple[UUID, int]]:
    """In the caller's transaction: lock the budget, stop capped jobs, and move the fair share of
    the free slots' chunks to ``starting``. Returns the picks; the caller sends one start message
    per pick after commit. Concurrent callers serialise on the advisory lock, so the budget is
    never exceeded."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (BUDGET_LOCK_KEY,))
    stop_capped_jobs(conn)
    free = budget - slots_in_use(conn)
    picks = fair_picks(conn, free, price_per_result, default_per_account)
    mark_starting(conn, picks, start_grace_seconds)
    return picks
