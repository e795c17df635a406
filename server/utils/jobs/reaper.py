"""Finding work that stopped moving: scrape jobs that were stored but never dispatched, and
single-step jobs whose worker died or whose message the broker lost (DESIGN.md §10, field
report B04). Chunks whose worker died
or whose message was lost are the run poller's (``server.utils.scrape.poll``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from server.utils.jobs import broker_generation


@dataclass
class StaleWork:
    """What the reaper should re-send: scrape jobs to start and single-step jobs to run again."""

    jobs_to_start: list[UUID] = field(default_factory=list)
    jobs_to_rerun: list[UUID] = field(default_factory=list)
    broker_lost: bool = False  # the generation marker was missing: write a new one after sending
    unsent_jobs: list[UUID] = field(default_factory=list)  # had enqueue_failed_at; clear it after

    def summary(self) -> dict:
        """Counts for logs: ``{"jobs", "reruns", "broker_lost"}``."""
        return {"jobs": len(self.jobs_to_start), "reruns": len(self.jobs_to_rerun), "broker_lost": self.broker_lost}

    def add(self, scrape_jobs: list[UUID], other_jobs: list[UUID]) -> None:
        """Merge more jobs to re-send, without sending anything twice in one run."""
        self.jobs_to_start += [j for j in scrape_jobs if j not in self.jobs_to_start]
        self.jobs_to_rerun += [j for j in other_jobs if j not in self.jobs_to_rerun]


def find_stale(services, limit: int = 5000) -> StaleWork:
    """Scrape jobs queued for over 5 minutes (their start message was lost); single-step jobs
    queued for over 5 minutes or whose heartbeat is older than twice the hard task time limit
    (no live task can be behind them).

    Besides, jobs whose first message the API could not send, and - when the broker's
    generation marker is missing (Redis lost its data) - every job Postgres says is in the
    broker (``server.utils.jobs.broker_generation``). Chunks are not the reaper's: their state
    and leases are in Postgres, and the run poller (``scrape.poll_runs``) gives back every chunk
    whose message or worker was lost.

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
        scrape_unsent, other_unsent = broker_generation.unsent_jobs(conn)
        out.add(scrape_unsent, other_unsent)
        out.unsent_jobs = scrape_unsent + other_unsent
        if broker_generation.marker_missing(services):
            out.broker_lost = True
            out.add(*broker_generation.work_in_broker(conn, limit))
    return out
