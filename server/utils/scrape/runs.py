"""Apify runs of a job as a whole: stopping them when the job is cancelled or its cap is reached."""
from __future__ import annotations

import logging
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.utils.scrape.adopt import abort_started_runs
from server.utils.scrape.chunks import add_cost, finish_chunk
from server.utils.scrape.sources import finish_chunk_sources, settle_cancelled_chunks

log = logging.getLogger(__name__)

STOPPABLE = {"cancelled": ("queued", "starting", "running", "collecting"), "skipped": ("running",)}


def abort_job_runs(services, job_id: UUID, status: str = "cancelled",
                   message: str = "job cancelled; Apify run aborted", follow_ups: list | None = None) -> int:
    """Abort the Apify run of every unfinished chunk of the job and mark those chunks ``status``
    (``cancelled`` for a cancelled job: every open chunk; ``skipped`` once ``totalScrapeCount``
    is reached: only chunks whose run is still going, collected ones keep their profiles), adding
    what each run cost to the job (the money is spent either way). A chunk finished first by its
    own task keeps that outcome and cost. A job completed by the last skipped chunk appends its
    auto-ingest job id to ``follow_ups`` (the caller enqueues it). A chunk cancelled while queued
    after a start attempt that died before recording its run gets that run found and aborted too
    (``adopt.abort_started_runs``). Returns how many runs were aborted."""
    open_statuses = list(STOPPABLE[status])
    strays = []
    with services.db.transaction() as conn:
        if status == "cancelled":  # chunks the cancel request stopped before they started
            settle_cancelled_chunks(conn, job_id)
            strays = conn.execute(
                "SELECT * FROM scrape_job_chunks WHERE job_id = %s AND status = 'cancelled'"
                " AND apify_run_id IS NULL AND run_started_at IS NOT NULL", (job_id,)).fetchall()
        rows = conn.execute(
            "SELECT chunk_index, apify_run_id FROM scrape_job_chunks WHERE job_id = %s"
            " AND apify_run_id IS NOT NULL AND status = ANY(%s)", (job_id, open_statuses)).fetchall()
    aborted = sum(abort_started_runs(services, chunk) for chunk in strays)
    client = services.apify()
    for row in rows:
        run_client = client.run(row["apify_run_id"])
        try:
            run_client.abort()
            run = run_client.get()
        except ApifyApiError as exc:
            log.warning("abort of run %s failed: %s", row["apify_run_id"], exc)
            continue
        aborted += 1
        cost = float(getattr(run, "usage_total_usd", None) or 0.0)
        with services.db.transaction() as conn:
            if status == "skipped":
                counters = finish_chunk(conn, job_id, row["chunk_index"], "skipped", None, message, cost, "ABORTED")
                if counters and counters.get("auto_ingest_job_id") and follow_ups is not None:
                    follow_ups.append(str(counters["auto_ingest_job_id"]))
                continue
            # job row first, like every chunk task, so the two never deadlock
            job = conn.execute("SELECT status FROM scrape_jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone()
            chunk = conn.execute(
                "UPDATE scrape_job_chunks SET status = 'cancelled', cost_usd = %s, apify_run_status = 'ABORTED',"
                " lease_until = NULL, lease_token = NULL, finished_at = now(), updated_at = now()"
                " WHERE job_id = %s AND chunk_index = %s AND status = ANY(%s) RETURNING *",
                (cost, job_id, row["chunk_index"], open_statuses)).fetchone()
            if chunk:
                add_cost(conn, job_id, cost)
                finish_chunk_sources(conn, job, chunk, "cancelled", cost, None)
    return aborted
