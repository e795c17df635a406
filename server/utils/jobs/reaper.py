"""Finding work that stopped moving: chunks whose worker died or whose message was lost, and
scrape jobs that were stored but never dispatched (DESIGN.md §10, field report B04)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from uuid import UUID

from server.utils.jobs import broker_generation


@dataclass
class StaleWork:
    """What the reaper should re-send: chunk indexes per job, and jobs to start again."""

    chunks_to_resend: dict[UUID, list[int]] = field(default_factory=dict)
    jobs_to_start: list[UUID] = field(default_factory=list)
    jobs_to_refill: list[UUID] = field(default_factory=list)
    jobs_to_rerun: list[UUID] = field(default_factory=list)
    broker_lost: bool = False  # the generation marker was missing: write a new one after sending
    unsent_jobs: list[UUID] = field(default_factory=list)  # had enqueue_failed_at; clear it after

    def summary(self) -> dict:
        """Counts for logs: ``{"chunks", "jobs", "refills", "reruns", "broker_lost"}``."""
        return {"chunks": sum(len(v) for v in self.chunks_to_resend.values()),
                "jobs": len(self.jobs_to_start), "refills": len(self.jobs_to_refill),
                "reruns": len(self.jobs_to_rerun), "broker_lost": self.broker_lost}

    def add(self, chunks: dict[UUID, list[int]], scrape_jobs: list[UUID], other_jobs: list[UUID]) -> None:
        """Merge more work to re-send, without sending anything twice in one run."""
        for job_id, indexes in chunks.items():
            merged = set(self.chunks_to_resend.get(job_id, [])) | set(indexes)
            self.chunks_to_resend[job_id] = sorted(merged)
        self.jobs_to_start += [j for j in scrape_jobs if j not in self.jobs_to_start]
        self.jobs_to_rerun += [j for j in other_jobs if j not in self.jobs_to_rerun]


def find_stale(services, limit: int = 5000) -> StaleWork:
    """Chunks of processing jobs that are running with an expired lease, or queued and sent
    longer ago than the broker's visibility timeout; scrape jobs queued for over 5 minutes;
    processing scrape jobs with chunks left to send but none in flight (their window emptied
    without sending the next chunk, e.g. a worker died between the two);
    single-step jobs queued for over 5 minutes or whose heartbeat is older than twice the hard
    task time limit (no live task can be behind them).

    Besides, jobs whose first message the API could not send, and - when the broker's
    generation marker is missing (Redis lost its data) - everything Postgres says is in the
    broker (``server.utils.jobs.broker_generation``).

    Re-sending is always safe: chunk tasks claim before working and job handlers are idempotent.
    """
    s = services.settings
    out = StaleWork()
    with services.db.transaction() as conn:
        rows = conn.execute(
            """
            SELECT c.job_id, c.chunk_index FROM scrape_job_chunks c
              JOIN scrape_jobs j ON j.job_id = c.job_id AND j.status = 'processing'
             WHERE (c.status = 'running' AND c.lease_until < now() - interval '30 seconds')
                OR (c.status = 'queued' AND c.enqueued_at < now() - make_interval(secs => %s))
             ORDER BY c.job_id, c.chunk_index LIMIT %s
            """, (s.broker_visibility_timeout, limit)).fetchall()
        grouped: dict[UUID, list[int]] = defaultdict(list)
        for row in rows:
            grouped[row["job_id"]].append(row["chunk_index"])
        out.chunks_to_resend = dict(grouped)
        out.jobs_to_start = [r["job_id"] for r in conn.execute(
            "SELECT job_id FROM scrape_jobs WHERE kind = 'scrape' AND status = 'queued'"
            " AND created_at < now() - interval '5 minutes' LIMIT 100").fetchall()]
        out.jobs_to_refill = [r["job_id"] for r in conn.execute(
            """
            SELECT j.job_id FROM scrape_jobs j
             WHERE j.kind = 'scrape' AND j.status = 'processing' AND j.updated_at < now() - interval '1 minute'
               AND EXISTS (SELECT 1 FROM scrape_job_chunks c WHERE c.job_id = j.job_id
                            AND c.status = 'queued' AND c.enqueued_at IS NULL)
               AND NOT EXISTS (SELECT 1 FROM scrape_job_chunks c WHERE c.job_id = j.job_id
                                AND (c.status = 'running' OR (c.status = 'queued' AND c.enqueued_at IS NOT NULL)))
             LIMIT 100
            """).fetchall()]
        out.jobs_to_rerun = [r["job_id"] for r in conn.execute(
            "SELECT job_id FROM scrape_jobs WHERE kind <> 'scrape' AND ("
            " (status = 'queued' AND created_at < now() - interval '5 minutes')"
            " OR (status = 'processing' AND heartbeat_at < now() - make_interval(secs => %s)))"
            " LIMIT 100", (2 * s.task_time_limit,)).fetchall()]
        scrape_unsent, other_unsent = broker_generation.unsent_jobs(conn)
        out.add({}, scrape_unsent, other_unsent)
        out.unsent_jobs = scrape_unsent + other_unsent
        if broker_generation.marker_missing(services):
            out.broker_lost = True
            out.add(*broker_generation.work_in_broker(conn, limit))
    return out
