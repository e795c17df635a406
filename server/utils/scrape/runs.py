"""Apify runs of a job as a whole: aborting them when the job is cancelled."""
from __future__ import annotations

import logging
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.utils.scrape.chunks import add_cost
from server.utils.scrape.sources import finish_chunk_sources

log = logging.getLogger(__name__)


def abort_job_runs(services, job_id: UUID) -> int:
    """Abort the Apify run of every unfinished chunk of the job, mark those chunks cancelled and
    add what each run cost to the job (the money is spent either way). A chunk whose own task
    finishes it first keeps that task's outcome and cost. Returns how many runs were aborted."""
    with services.db.transaction() as conn:
        rows = conn.execute(
            "SELECT chunk_index, apify_run_id FROM scrape_job_chunks WHERE job_id = %s"
            " AND apify_run_id IS NOT NULL AND status IN ('queued', 'running')", (job_id,)).fetchall()
    client = services.apify()
    aborted = 0
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
            # job row first, like every chunk task, so the two never deadlock
            job = conn.execute("SELECT status FROM scrape_jobs WHERE job_id = %s FOR UPDATE", (job_id,)).fetchone()
            chunk = conn.execute(
                "UPDATE scrape_job_chunks SET status = 'cancelled', cost_usd = %s, apify_run_status = 'ABORTED',"
                " lease_until = NULL, finished_at = now(), updated_at = now()"
                " WHERE job_id = %s AND chunk_index = %s AND status IN ('queued', 'running') RETURNING *",
                (cost, job_id, row["chunk_index"])).fetchone()
            if chunk:
                add_cost(conn, job_id, cost)
                finish_chunk_sources(conn, job, chunk, "cancelled", cost, None)
    return aborted
