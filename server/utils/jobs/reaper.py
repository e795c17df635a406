"""Finding work that stopped moving: scrape jobs that were stored but never dispatched, and
single-step jobs whose worker died (DESIGN.md §10, field report B04). Chunks whose worker died
or whose message was lost are the run poller's (``server.utils.scrape.poll``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class StaleWork:
    """What the reaper should re-send: scrape jobs to start and single-step jobs to run again."""

    jobs_to_start: list[UUID] = field(default_factory=list)
    jobs_to_rerun: list[UUID] = field(default_factory=list)

    def summary(self) -> dict:
        """Counts for logs: ``{"jobs": n, "reruns": n}``."""
        return {"jobs": len(self.jobs_to_start), "reruns": len(self.jobs_to_rerun)}


def find_stale(services, limit: int = 5000) -> StaleWork:
    """Scrape jobs queued for over 5 minutes (their start message was lost); single-step jobs
    queued for over 5 minutes or whose heartbeat is older than twice the hard task time limit
    (no live task can be behind them).

    Re-sending is always safe: job starts and handlers are idempotent.
    """
    s = services.settings
    out = StaleWork()
    with services.db.transaction() as conn:
        out.jobs_to_start = [r["job_id"] for r in conn.execute(
            "SELECT job_id FROM scrape_jobs WHERE kind = 'scrape' AND status = 'queued'"
            " AND created_at < now() - interval '5 minutes' LIMIT 100").fetchall()]
        out.jobs_to_rerun = [r["job_id"] for r in conn.execute(
            "SELECT job_id FROM scrape_jobs WHERE kind <> 'scrape' AND ("
            " (status = 'queued' AND created_at < now() - interval '5 minutes')"
            " OR (status = 'processing' AND heartbeat_at < now() - make_interval(secs => %s)))"
            " LIMIT 100", (2 * s.task_time_limit,)).fetchall()]
    return out
