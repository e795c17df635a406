"""Apify runs of a job as a whole: aborting them when the job is cancelled."""
from __future__ import annotations

import logging
from uuid import UUID

from apify_client.errors import ApifyApiError

log = logging.getLogger(__name__)


def abort_job_runs(services, job_id: UUID) -> int:
    """Abort every recorded Apify run of the job's unfinished chunks and mark those chunks
    cancelled. Returns how many runs were asked to abort; a run already finished is skipped."""
    with services.db.transaction() as conn:
        rows = conn.execute(
            "SELECT chunk_index, apify_run_id FROM scrape_job_chunks WHERE job_id = %s"
            " AND apify_run_id IS NOT NULL AND status IN ('queued', 'running')", (job_id,)).fetchall()
    client = services.apify()
    aborted = 0
    for row in rows:
        try:
            client.run(row["apify_run_id"]).abort()
            aborted += 1
        except ApifyApiError as exc:
            log.warning("abort of run %s failed: %s", row["apify_run_id"], exc)
    with services.db.transaction() as conn:
        conn.execute(
            "UPDATE scrape_job_chunks SET status = 'cancelled', lease_until = NULL, updated_at = now()"
            " WHERE job_id = %s AND status IN ('queued', 'running')", (job_id,))
    return aborted
