"""One scrape chunk (≤ 50 source accounts) from claim to done (DESIGN.md §5 step 3).

claim → start the Apify run, or resume the one recorded for this chunk → wait a bounded time
(re-schedule instead of blocking a worker for hours) → check the run status → stream the dataset
page by page → normalise items → infer gender → filter → bulk insert → finish and count the chunk.

Every step is safe to repeat: a redelivered or retried message resumes from the recorded run id
and dataset offset, so it costs no second Apify run and writes no duplicate row.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.db import retry_on_disconnect
from server.services import Services
from server.utils.gender import detect_gender
from server.utils.jobs.table import TERMINAL, load_job
from server.utils.scrape.actor import build_run_input, input_style
from server.utils.scrape.items import Follower, classify_item
from server.utils.scrape.chunks import (CHUNK_TERMINAL, LeaseLost, claim_chunk, fenced_update, finish_chunk, load_chunk,
                                        release_chunk, skip_remaining_chunks)
from server.utils.scrape.create import per_account_limit
from server.utils.scrape.sources import PageTally
from server.utils.scrape.writer import KeptProfile, write_batch

log = logging.getLogger(__name__)

RUN_TERMINAL = ("SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED")
DATASET_PAGE = 1000
RESCHEDULE_SECONDS = 5
CAP_REACHED = "totalScrapeCount reached before this chunk started"
# HTTP statuses from Apify that will not get better by retrying (bad token, bad input, gone).
PERMANENT_STATUSES = (400, 401, 402, 403, 404)


@dataclass(frozen=True)
class ChunkOutcome:
    """What happened: ``status`` is a chunk status or ``busy``/``waiting``/``retry``/``noop``;
    ``retry_in`` (seconds) tells the task when to run again."""

    status: str
    retry_in: float | None = None
    detail: str = ""
    follow_up_job_id: str | None = None  # a single-step job (auto-ingest) to enqueue now

    @property
    def finished(self) -> bool:
        """True when this task made the chunk terminal, freeing a place in the job's window."""
        return self.status in CHUNK_TERMINAL


class ChunkRunner:
    """Processes chunk ``chunk_index`` of job ``job_id`` with the process's ``Services``."""

    def __init__(self, services: Services, job_id: UUID, chunk_index: int):
        self.services = services
        self.settings = services.settings
        self.db = services.db
        self.job_id = job_id
        self.chunk_index = chunk_index
        self.lease = self.settings.chunk_lease_seconds

    # -- entry point -------------------------------------------------------------------------
    def run(self) -> ChunkOutcome:
        """Do as much of the chunk as fits in one task; never raises for expected failures."""
        with self.db.transaction() as conn:
            job = load_job(conn, self.job_id)
            if job is None or job["status"] in TERMINAL:
                return ChunkOutcome("noop", detail="job missing or finished")
            claim = claim_chunk(conn, self.job_id, self.chunk_index, self.lease)
            if claim is None:
                return self._not_claimable(conn)
        self.job = job
        self.claim = claim
        if claim.chunk["attempts"] > self.settings.chunk_max_attempts:
            reason = f"gave up after {self.settings.chunk_max_attempts} attempts"
            last = claim.chunk["error_message"]
            return self._finish("failed", f"{reason}: {last}" if last else reason)
        try:
            return self._work()
        except LeaseLost:
            return ChunkOutcome("noop", detail="lease lost to another worker")
        except ApifyApiError as exc:
            status = getattr(exc, "status_code", None)
            message = f"Apify API error {status}: {exc}"
            if status in PERMANENT_STATUSES:
                return self._finish("failed", message)
            return self._release(message, count_attempt=True, retry_in=self._backoff())
        except Exception as exc:  # network errors, soft time limit, DB hiccups
            log.warning("chunk %s/%s interrupted: %r", self.job_id, self.chunk_index, exc)
            self._release(f"{type(exc).__name__}: {exc}"[:500], count_attempt=True, retry_in=None)
            raise

    # -- steps -------------------------------------------------------------------------------
    def _work(self) -> ChunkOutcome:
        if self._cap_reached():
            self._skip_queued_chunks()
            return self._finish("skipped", CAP_REACHED)
        client = self.services.apify()
        run_id = self.claim.chunk["apify_run_id"] or self._start_run(client)
        waited = self._wait(client, run_id)
        if waited.stop == "timeout":
            return self._release(None, count_attempt=False, retry_in=RESCHEDULE_SECONDS, status="waiting")
        cost = float(getattr(waited.run, "usage_total_usd", None) or 0.0)
        if waited.stop == "cancelled":
            return self._finish("cancelled", "job cancelled; Apify run aborted", cost, "ABORTED")
        if waited.stop == "cap_reached":
            self._skip_queued_chunks()
            return self._finish("skipped", "totalScrapeCount reached while the run was going; run aborted",
                                cost, "ABORTED")
        status = _status(waited.run)
        kept, errors, stop = self._read_dataset(client, self.claim.chunk["apify_dataset_id"])
        if stop == "cancelled":
            return self._finish("cancelled", f"job cancelled; {kept} profiles kept before", cost, status)
        if stop == "cap_reached":
            self._skip_queued_chunks()
        if status != "SUCCEEDED":
            return self._finish("failed", f"Apify run {run_id} ended {status}; {kept} profiles kept",
                                cost, status)
        detail = f"{errors} error items" if errors else None
        return self._finish("done", detail, cost, status)

    def _start_run(self, client) -> str:
        accounts = self.claim.chunk["accounts"]
        params = self.job["params"]
        per_account = params.get("per_account_limit") or per_account_limit(
            self.job["accounts_total"], self.job["max_profiles"], params.get("targetGender", "any"),
            self.settings.apify_max_followers_per_account)
        style = input_style(self.settings.apify_actor_id, self.settings.apify_actor_input)
        run = client.actor(self.settings.apify_actor_id).start(
            run_input=build_run_input(style, accounts, per_account),
            max_items=per_account * len(accounts),
            memory_mbytes=self.settings.apify_memory_mbytes,
            run_timeout=timedelta(seconds=self.settings.apify_run_timeout_seconds),
        )
        # Recorded before any waiting: a redelivered message resumes this run instead of paying
        # for a new one; a dropped Postgres connection is retried on a fresh one, not a new run.
        @retry_on_disconnect
        def record():
            with self.db.transaction() as conn:
                fenced_update(conn, self.claim, self.lease, apify_run_id=run.id,
                              apify_dataset_id=run.default_dataset_id, apify_run_status=_status(run))
        record()
        self.claim.chunk.update(apify_run_id=run.id, apify_dataset_id=run.default_dataset_id)
        return run.id

    def _wait(self, client, run_id: str) -> "Waited":
        """Wait for the run in slices, renewing the lease after each; stop early (aborting the
        run) when the job is cancelled or its cap is reached, and give up after
        ``APIFY_WAIT_SECONDS`` so the task can re-schedule itself."""
        deadline = time.monotonic() + self.settings.apify_wait_seconds
        slice_seconds = max(1, min(10, self.lease // 3))
        while True:
            remaining = deadline - time.monotonic()
            run = client.run(run_id).wait_for_finish(
                wait_duration=timedelta(seconds=max(1, min(slice_seconds, remaining))))
            if run is None:
                raise RuntimeError(f"Apify run {run_id} not found")
            status = _status(run)
            with self.db.transaction() as conn:
                fenced_update(conn, self.claim, self.lease, apify_run_status=status)
                job = load_job(conn, self.job_id)
            if status in RUN_TERMINAL:
                return Waited(run, None)
            stop = "cancelled" if job["status"] != "processing" else ("cap_reached" if self._cap_reached() else None)
            if stop:
                client.run(run_id).abort()
                return Waited(client.run(run_id).get() or run, stop)
            if time.monotonic() >= deadline:
                return Waited(run, "timeout")

    def _read_dataset(self, client, dataset_id: str) -> tuple[int, int, str | None]:
        """Stream the run's dataset from the recorded offset; returns (kept, error items, why it
        stopped early: ``cancelled``, ``cap_reached`` or None).

        Advances by the number of items each page really returned and stops at the dataset's
        total, so a short page never ends the read early (apify-client-python#539). A job
        cancelled meanwhile is seen by the next batch write (it writes nothing then).
        """
        params = self.job["params"]
        target = params.get("targetGender", "any")
        include_unknown = params.get("includeUnknown", True)
        min_probability = params.get("minGenderProbability")
        default_source = self.claim.chunk["accounts"][0] if len(self.claim.chunk["accounts"]) == 1 else None
        dataset = client.dataset(dataset_id)
        offset = self.claim.chunk["dataset_offset"]
        kept = errors = 0
        if self._job_status() != "processing":
            return kept, errors, "cancelled"
        # Two helpers overlap the waits with the CPU work: while a page is parsed and classified,
        # the next page is being fetched and the previous batch written. Writes stay in order,
        # one at a time, and none starts after one reported the job stopped or the cap reached.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk-io") as io:
            upcoming = io.submit(dataset.list_items, offset=offset, limit=DATASET_PAGE)
            writing = None
            while True:
                page = upcoming.result()
                items = page.items
                if not items:
                    break
                next_offset = offset + len(items)
                upcoming = (io.submit(dataset.list_items, offset=next_offset, limit=DATASET_PAGE)
                            if next_offset < page.total else None)
                rows = []
                tally = PageTally(page.total)  # per-source accounting (sources.py), written with the batch
                for item in items:
                    follower = classify_item(item, default_source)  # error items: items.py
                    tally.add(follower)
                    if not isinstance(follower, Follower):
                        errors += 1
                        continue
                    guess = detect_gender(follower.full_name, follower.username).at_least(min_probability)
                    if target != "any" and guess.gender != target and not (
                            include_unknown and guess.gender == "unknown"):
                        continue
                    rows.append(KeptProfile(follower.profile_id, follower.username, follower.full_name,
                                            guess.gender, guess.probability, guess.source,
                                            follower.source_account, follower.is_private, follower.is_verified))
                if writing is not None:
                    kept, stop = self._settle(writing, kept)
                    if stop:
                        return kept, errors, stop
                writing = io.submit(self._write, rows, len(items), next_offset, tally)
                offset = next_offset
                if upcoming is None:
                    break
            if writing is not None:
                kept, stop = self._settle(writing, kept)
                if stop:
                    return kept, errors, stop
        return kept, errors, None

    def _write(self, batch: list[KeptProfile], items_read: int, next_offset: int, tally: PageTally):
        with self.db.transaction() as conn:
            return write_batch(conn, self.claim, batch, items_read, next_offset, self.lease, tally)

    @staticmethod
    def _settle(writing, kept: int) -> tuple[int, str | None]:
        """Wait for a batch write; returns the new kept count and ``cancelled``/``cap_reached``/None."""
        outcome = writing.result()
        kept += outcome.inserted
        if outcome.job_stopped:
            return kept, "cancelled"
        if outcome.cap_reached:
            return kept, "cap_reached"
        return kept, None

    # -- endings -----------------------------------------------------------------------------
    def _finish(self, status: str, message: str | None, cost: float = 0.0,
                run_status: str | None = None) -> ChunkOutcome:
        with self.db.transaction() as conn:
            counters = finish_chunk(conn, self.job_id, self.chunk_index, status, self.claim.token,
                                    message, cost, run_status)
        if counters is None:
            return ChunkOutcome("noop", detail="chunk already finished elsewhere")
        follow_up = counters.get("auto_ingest_job_id")
        return ChunkOutcome(status, detail=message or "",
                            follow_up_job_id=str(follow_up) if follow_up else None)

    def _release(self, message: str | None, count_attempt: bool, retry_in: float | None,
                 status: str = "retry") -> ChunkOutcome:
        with self.db.transaction() as conn:
            release_chunk(conn, self.claim, message, count_attempt)
        return ChunkOutcome(status, retry_in=retry_in, detail=message or "")

    def _not_claimable(self, conn) -> ChunkOutcome:
        chunk = load_chunk(conn, self.job_id, self.chunk_index)
        if chunk is None or chunk["status"] != "running":
            return ChunkOutcome("noop", detail="chunk missing or finished")
        # Another worker holds a live lease (e.g. this message was redelivered after a worker
        # died): come back when the lease can have expired.
        return ChunkOutcome("busy", retry_in=max(1.0, (chunk["lease_seconds_left"] or 0) + 1))

    def _skip_queued_chunks(self) -> None:
        """The cap is reached: no queued chunk of the job may start an Apify run."""
        with self.db.transaction() as conn:
            skip_remaining_chunks(conn, self.job_id, CAP_REACHED)

    def _job_status(self) -> str:
        with self.db.transaction() as conn:
            return load_job(conn, self.job_id)["status"]

    def _cap_reached(self) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT max_profiles, profiles_scraped FROM scrape_jobs WHERE job_id = %s",
                               (self.job_id,)).fetchone()
        return row["max_profiles"] is not None and row["profiles_scraped"] >= row["max_profiles"]

    def _backoff(self) -> float:
        base = self.settings.chunk_retry_backoff_seconds
        return min(300.0, base * 2 ** max(0, self.claim.chunk["attempts"] - 1))


@dataclass(frozen=True)
class Waited:
    """How waiting for a run ended: ``stop`` is None when the run finished, else ``timeout``,
    ``cancelled`` or ``cap_reached``; ``run`` is the last Run seen."""

    run: object
    stop: str | None


def _status(run) -> str:
    status = getattr(run, "status", None)
    return str(getattr(status, "value", status))
