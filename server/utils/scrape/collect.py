"""Collecting a chunk whose Apify run ended (lifecycle in ``chunks``), in two steps.

``confirm_run_end`` (fast, sent at high priority by the webhook and the poller) claims the
``running`` chunk (a conditional UPDATE: a duplicate webhook, a redelivered one and the poller
racing it collect once), re-reads the run from Apify (a webhook body is only a hint) and, when it
ended, hands the chunk to the read step: its run slot is free at once, so the next run starts
while this one's dataset is read. ``collect_chunk`` (the read step) runs ``collect_dataset``:
dataset read → parse → gender → write, page by page from the recorded offset (the read of the
next page and the write of the previous one overlap the parsing of this one), so a read that
dies half-way resumes without duplicates. Then the chunk is finished and counted.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable
from uuid import UUID

from server.utils.gender import detect_gender
from server.utils.jobs.table import load_job
from server.utils.scrape.chunks import (Claim, LeaseLost, add_worker_seconds, back_to_running, claim_collect,
                                        claim_read, finish_chunk, hand_over, skip_remaining_chunks)
from server.utils.scrape.items import Follower, classify_item
from server.utils.scrape.pages import read_pages
from server.utils.scrape.sources import PageTally
from server.utils.scrape.start import run_status
from server.utils.scrape.writer import KeptProfile, write_batch

log = logging.getLogger(__name__)

RUN_TERMINAL = ("SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED")
CAP_REACHED = "totalScrapeCount reached while the run was going"


@dataclass(frozen=True)
class CollectOutcome:
    """``status``: a terminal chunk status, ``waiting`` (run still going) or ``noop``."""

    status: str
    detail: str = ""
    follow_up_job_id: str | None = None  # a single-step job (auto-ingest) to enqueue now
    cap_reached: bool = False  # the job's totalScrapeCount is reached: stop its other runs
    queued_more: bool = False  # a retry chunk was queued (sources asked once more): dispatch now


@dataclass(frozen=True)
class DatasetCollected:
    """What ``collect_dataset`` did: profiles kept, error items, why it stopped early
    (``cancelled``, ``cap_reached`` or None) and seconds spent in dataset reads and inserts."""

    kept: int
    errors: int
    stop: str | None
    io_seconds: float


def keep_profiles(items: list, params: dict, default_source: str | None,
                  tally: PageTally | None = None) -> tuple[list[KeptProfile], int]:
    """Classify dataset ``items`` (``items.classify_item``: follower, error item or unusable)
    and keep the followers passing the job's gender filter (``params``: ``targetGender``,
    ``includeUnknown``, ``minGenderProbability``). Every classified item is added to ``tally``
    (per-source accounting, ``sources.PageTally``) when given. Returns the kept rows in page
    order (repeats included: ``writer.write_batch`` drops them and counts them per source) and
    the number of error or unusable items."""
    target = params.get("targetGender", "any")
    include_unknown = params.get("includeUnknown", True)
    min_probability = params.get("minGenderProbability")
    rows, errors = [], 0
    for item in items:
        follower = classify_item(item, default_source)
        if tally is not None:
            tally.add(follower)
        if not isinstance(follower, Follower):
            errors += 1
            continue
        guess = detect_gender(follower.full_name, follower.username).at_least(min_probability)
        if target != "any" and guess.gender != target and not (include_unknown and guess.gender == "unknown"):
            continue
        rows.append(KeptProfile(follower.profile_id, follower.username, follower.full_name, guess.gender,
                                guess.probability, guess.source, follower.source_account,
                                follower.is_private, follower.is_verified))
    return rows, errors


def collect_dataset(db, client, job: dict, claim: Claim, lease_seconds: int) -> DatasetCollected:
    """The collect step of one chunk: read its run's dataset from the recorded offset, parse,
    classify, infer gender, filter and write each page with its per-source counts
    (``keep_profiles`` + ``writer.write_batch``, one transaction per page).

    The stages overlap: while one page is classified in this thread, the next pages are read
    (``pages.read_pages``) and the previous page is written by a writer thread (reads and writes
    mostly wait on the network). Pages are written one at a time and in order, each with the
    offset after it, so a collect that dies half-way resumes from the last written page; a page
    classified after the job stopped is dropped unwritten.

    ``client`` is an ``ApifyClient``; ``claim`` the ``collecting`` claim. Raises ``LeaseLost``
    when another worker took the chunk over (nothing more is written). ``io_seconds`` is the
    time this thread waited for reads and writes.
    """
    chunk = claim.chunk
    default_source = chunk["accounts"][0] if len(chunk["accounts"]) == 1 else None
    offset = chunk["dataset_offset"]
    kept = errors = 0
    io_seconds = 0.0

    look_first = False  # set by the writer thread only, one batch at a time

    def write(rows: list[KeptProfile], read: int, next_offset: int, bad: int, tally: PageTally):
        nonlocal look_first
        with db.transaction() as conn:
            outcome = write_batch(conn, claim, rows, read, next_offset, lease_seconds, bad, tally, look_first)
        look_first = outcome.had_stored
        return outcome

    def written(future) -> str | None:
        """Wait for the batch in flight; its stop reason (see ``_stop_reason``)."""
        nonlocal io_seconds, kept
        t0 = time.perf_counter()
        outcome = future.result()
        io_seconds += time.perf_counter() - t0
        kept += outcome.inserted
        return _stop_reason(outcome)

    pages = read_pages(client.dataset(chunk["apify_dataset_id"]), offset)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-write") as writer:
        writing = None
        try:
            while True:
                t0 = time.perf_counter()
                page = next(pages, None)
                io_seconds += time.perf_counter() - t0
                if page is None:
                    break
                offset += len(page.items)
                tally = PageTally(page.total)  # per-source counts, written with the batch (sources.py)
                rows, bad = keep_profiles(page.items, job["params"], default_source, tally)
                errors += bad
                if writing is not None and (stop := written(writing)):
                    return DatasetCollected(kept, errors, stop, io_seconds)
                writing = writer.submit(write, rows, len(page.items), offset, bad, tally)
            stop = written(writing) if writing else None  # adds the last batch to ``kept`` first
            return DatasetCollected(kept, errors, stop, io_seconds)
        finally:
            pages.close()


def _stop_reason(outcome) -> str | None:
    """``cancelled`` when the batch found the job stopped, ``cap_reached`` when it reached the
    job's ``totalScrapeCount``, else None."""
    if outcome.job_stopped:
        return "cancelled"
    return "cap_reached" if outcome.cap_reached else None


@dataclass(frozen=True)
class RunEnd:
    """What ``confirm_run_end`` found: ``status`` ``ended`` (the read step may run; the slot is
    free), ``waiting`` (the run is still going) or ``noop``."""

    status: str
    detail: str = ""


def confirm_run_end(services, job_id: UUID, chunk_index: int) -> RunEnd:
    """The fast first half of collecting (a webhook or the poller says the run ended): claim the
    ``running`` chunk (only one caller wins), re-read the run from Apify (the body is only a
    hint), and either put the chunk back to ``running`` or hand it over to the read step; its
    run slot is free from here on. A run still going for a job no longer processing is aborted."""
    started = time.perf_counter()
    settings = services.settings
    with services.db.transaction() as conn:
        claim = claim_collect(conn, job_id, chunk_index, settings.chunk_lease_seconds)
        job = load_job(conn, job_id) if claim else None
    if claim is None:
        return RunEnd("noop", "chunk not running (collected already, or by another caller)")
    try:
        run_client = services.apify().run(claim.chunk["apify_run_id"])
        run = run_client.get()
        status = run_status(run) if run is not None else "GONE"
        stopping = job["status"] != "processing"
        if status not in RUN_TERMINAL and status != "GONE":
            if not stopping:
                wait = settings.apify_webhook_wait_seconds if settings.public_base_url else settings.apify_poll_seconds
                with services.db.transaction() as conn:
                    back_to_running(conn, claim, status, wait)
                return RunEnd("waiting", f"run {run.id} is {status}")
            run_client.abort()
        with services.db.transaction() as conn:
            hand_over(conn, claim, max(60.0, 2.0 * settings.chunk_lease_seconds))
        return RunEnd("ended", status)
    finally:
        with services.db.transaction() as conn:
            add_worker_seconds(conn, job_id, chunk_index, time.perf_counter() - started)


def collect_chunk(services, job_id: UUID, chunk_index: int, slot_freed: Callable[[], None] | None = None,
                  ) -> CollectOutcome:
    """The read step of a chunk whose run end was confirmed: claim it, read the run (status,
    cost), run ``collect_dataset`` and finish the chunk. ``slot_freed`` is called once the
    profiles and the real cost of a job with ``totalScrapeCount`` or ``maxCostUsd`` are counted
    (the dispatcher holds its next runs back until then, or ends the job: ``dispatch``).
    Worker busy seconds, dataset reads and inserts excluded, are added to ``worker_seconds``."""
    started = time.perf_counter()
    io_seconds = 0.0
    settings = services.settings
    lease = settings.chunk_lease_seconds
    with services.db.transaction() as conn:
        claim = claim_read(conn, job_id, chunk_index, lease)
        job = load_job(conn, job_id) if claim else None
    if claim is None:
        return CollectOutcome("noop", "chunk not waiting for its read (read already, or by another worker)")
    try:
        client = services.apify()
        run_client = client.run(claim.chunk["apify_run_id"])
        run = run_client.get()
        if run is None:
            return _finish(services, claim, "failed", f"Apify run {claim.chunk['apify_run_id']} not found")
        status = run_status(run)
        stopping = job["status"] != "processing"
        if status not in RUN_TERMINAL:  # claimed after a lost confirm: not over after all
            if not stopping:
                wait = settings.apify_webhook_wait_seconds if settings.public_base_url else settings.apify_poll_seconds
                with services.db.transaction() as conn:
                    back_to_running(conn, claim, status, wait)
                return CollectOutcome("waiting", f"run {run.id} is {status}")
            run = run_client.abort()
            status = run_status(run)
        cost = float(getattr(run, "usage_total_usd", None) or 0.0)
        if stopping:
            return _finish(services, claim, "cancelled", "job no longer processing; run aborted", cost, status)
        _record_run_seconds(services, claim, run)
        got = collect_dataset(services.db, client, job, claim, lease)
        io_seconds = got.io_seconds
        if got.stop == "cancelled":
            return _finish(services, claim, "cancelled", f"job cancelled; {got.kept} profiles kept before",
                           cost, status)
        cap = got.stop == "cap_reached"
        skipped_follow_up = None
        if cap:
            with services.db.transaction() as conn:
                counters = skip_remaining_chunks(conn, job_id, "totalScrapeCount reached before this chunk started",
                                                 "total_scrape_count")
            skipped_follow_up = (counters or {}).get("auto_ingest_job_id")
        if status != "SUCCEEDED":
            outcome = _finish(services, claim, "failed",
                              f"Apify run {run.id} ended {status}; {got.kept} profiles kept", cost, status, cap)
        else:
            outcome = _finish(services, claim, "done", f"{got.errors} error items" if got.errors else None,
                              cost, status, cap)
        if skipped_follow_up and not outcome.follow_up_job_id:
            outcome = replace(outcome, follow_up_job_id=str(skipped_follow_up))
        # the job's count (totalScrapeCount) or spend (maxCostUsd) moved: its next runs may go
        if slot_freed and (job["max_profiles"] is not None or "maxCostUsd" in (job["params"] or {})) and not cap:
            slot_freed()
        return outcome
    except LeaseLost:
        return CollectOutcome("noop", "lease lost to another worker")
    finally:
        with services.db.transaction() as conn:
            add_worker_seconds(conn, job_id, chunk_index, time.perf_counter() - started - io_seconds)


def _record_run_seconds(services, claim: Claim, run) -> None:
    started, finished = getattr(run, "started_at", None), getattr(run, "finished_at", None)
    if started and finished:
        with services.db.transaction() as conn:
            conn.execute("UPDATE scrape_job_chunks SET run_seconds = %s WHERE job_id = %s AND chunk_index = %s",
                         ((finished - started).total_seconds(), claim.chunk["job_id"], claim.chunk["chunk_index"]))


def _finish(services, claim: Claim, status: str, message: str | None, cost: float = 0.0,
            run_status_: str | None = None, cap_reached: bool = False) -> CollectOutcome:
    with services.db.transaction() as conn:
        counters = finish_chunk(conn, claim.chunk["job_id"], claim.chunk["chunk_index"], status, claim.token,
                                message, cost, run_status_)
    if counters is None:
        return CollectOutcome("noop", "chunk already finished elsewhere", cap_reached=cap_reached)
    follow_up = counters.get("auto_ingest_job_id")
    return CollectOutcome(status, message or "", str(follow_up) if follow_up else None, cap_reached,
                          bool(counters.get("retried_sources")))
