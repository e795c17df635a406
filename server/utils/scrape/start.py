"""Starting a chunk's Apify run and returning at once (DESIGN.md §5 step 3; lifecycle in ``chunks``).

claim the ``starting`` chunk → note that a run may exist from now on (``run_started_at``) → start
the actor run with ``maxItems`` (what the chunk may need, at most what the dispatcher granted it
within the job's ``maxCostUsd``, so a pay-per-result actor cannot bill past it) and, when
``PUBLIC_BASE_URL`` is set, an ad-hoc webhook
carrying a per-run secret → record the run id (``running``) → return. No worker waits on the run:
its end arrives by webhook (``scrape.webhooks``) or by the poller (``scrape.poll``).

A chunk whose earlier attempt sent a start request but never recorded a run (the worker died in
between) gets that run adopted instead of a second one (``adopt``).

A start the Apify account refuses for lack of memory or concurrent-run room
(``actor-memory-limit-exceeded`` / ``concurrent-runs-limit-exceeded``, Apify API v2 errors) puts
the chunk back in line without counting an attempt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from apify_client.errors import ApifyApiError

from server.db import retry_on_disconnect
from server.utils.jobs.table import load_job
from server.utils.scrape.actor import build_run_input, input_style
from server.utils.scrape.adopt import LookupFailed, abort_if_unowned, abort_started_runs, adopt_started_run
from server.utils.scrape.chunks import (LeaseLost, add_worker_seconds, claim_start, finish_chunk, mark_start_sent,
                                        record_run, requeue, resume_run)
from server.utils.scrape.create import per_account_limit

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/webhooks/apify"
WEBHOOK_SECRET_HEADER = "X-Apify-Webhook-Secret"
WEBHOOK_EVENTS = ["ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED", "ACTOR.RUN.TIMED_OUT", "ACTOR.RUN.ABORTED"]
# Error types of a refused start: the account has no room now; it clears as runs end.
REFUSED_TYPES = ("actor-memory-limit-exceeded", "concurrent-runs-limit-exceeded")
REFUSED_DELAY_SECONDS = 5.0
# HTTP statuses from Apify that will not get better by retrying (bad token, bad input, gone).
PERMANENT_STATUSES = (400, 401, 402, 403, 404)


@dataclass(frozen=True)
class StartOutcome:
    """``status``: ``running`` (started), ``resumed`` (already had a run), ``refused``/``requeued``
    (back in line), ``failed``/``cancelled``/``skipped`` (terminal), ``noop`` (not ours).
    ``slot_freed`` tells the caller to hand the slot to the next chunk."""

    status: str
    detail: str = ""
    follow_up_job_id: str | None = None

    @property
    def slot_freed(self) -> bool:
        """True when the chunk no longer holds a run slot because of this start."""
        return self.status in ("refused", "requeued", "failed", "cancelled", "skipped")


def secret_digest(secret: str) -> str:
    """SHA-256 hex digest of a webhook secret (only the digest is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def webhook_definition(public_base_url: str, secret: str, idempotency_key: str) -> dict:
    """The ad-hoc webhook of one run (apify-client ``start(webhooks=[...])``): the four end
    events, POSTed to ``{PUBLIC_BASE_URL}/api/webhooks/apify`` with the run's secret in a header."""
    return {"event_types": WEBHOOK_EVENTS, "request_url": public_base_url + WEBHOOK_PATH,
            "headers_template": json.dumps({WEBHOOK_SECRET_HEADER: secret}),
            "idempotency_key": idempotency_key}


def start_chunk_run(services, job_id: UUID, chunk_index: int) -> StartOutcome:
    """Start (or resume) the Apify run of chunk ``chunk_index`` of job ``job_id`` and return.

    Never raises for expected failures (refused, permanent or transient Apify errors); a
    database error propagates (the task retries it; the chunk's lease then expires and the
    poller gives it back). Busy seconds are added to the chunk's ``worker_seconds``.
    """
    started = time.perf_counter()
    try:
        return _start(services, job_id, chunk_index)
    finally:
        with services.db.transaction() as conn:
            add_worker_seconds(conn, job_id, chunk_index, time.perf_counter() - started)


def _start(services, job_id: UUID, chunk_index: int) -> StartOutcome:
    settings = services.settings
    lease = settings.chunk_lease_seconds
    with services.db.transaction() as conn:
        job = load_job(conn, job_id)
        claim = claim_start(conn, job_id, chunk_index, lease)
        if claim is None:
            return StartOutcome("noop", "chunk not starting, or another worker holds it")
        if claim.chunk["apify_run_id"]:
            resume_run(conn, claim)
            return StartOutcome("resumed", f"run {claim.chunk['apify_run_id']} already started")
        cancelled = job is None or job["status"] != "processing"
        if cancelled:
            finish_chunk(conn, job_id, chunk_index, "cancelled", claim.token, "job no longer processing")
    # An earlier attempt sent a start request and died before recording the run: find it, never
    # start a second one (``adopt``). Chunks whose start never reached Apify skip this.
    if claim.chunk["run_started_at"] is not None:
        if cancelled:
            abort_started_runs(services, claim.chunk)
            return StartOutcome("cancelled")
        try:
            adopted = adopt_started_run(services, claim)
        except LookupFailed as exc:
            message = f"could not look for an earlier run: {exc}"[:500]
            if claim.chunk["attempts"] > settings.chunk_max_attempts:
                return _finish(services, claim, "failed",
                               f"gave up after {settings.chunk_max_attempts} attempts: {message}")
            return _requeue(services, claim, message, True, _backoff(settings, claim.chunk["attempts"]), "requeued")
        except LeaseLost:
            return StartOutcome("noop", "lease lost while looking for an earlier run")
        if adopted:
            return StartOutcome("resumed", f"adopted run {adopted} started by an earlier attempt")
    if cancelled:
        return StartOutcome("cancelled")
    if claim.chunk["attempts"] > settings.chunk_max_attempts:
        reason = f"gave up after {settings.chunk_max_attempts} attempts"
        last = claim.chunk["error_message"]
        return _finish(services, claim, "failed", f"{reason}: {last}" if last else reason)
    params = job["params"]
    accounts = claim.chunk["accounts"]
    per_account = params.get("per_account_limit") or per_account_limit(
        job["accounts_total"], job["max_profiles"], params.get("targetGender", "any"),
        settings.apify_max_followers_per_account)
    if claim.chunk["max_items"] is not None:  # the dispatcher's grant (lower to fit maxCostUsd)
        per_account = min(per_account, claim.chunk["max_items"] // len(accounts))
    max_items = per_account * len(accounts)
    secret = secrets.token_urlsafe(32)
    webhooks = None
    if settings.public_base_url:
        key = f"{job_id}:{chunk_index}:{claim.chunk['attempts']}"
        webhooks = [webhook_definition(settings.public_base_url, secret, key)]
    style = input_style(settings.apify_actor_id, settings.apify_actor_input)
    try:  # from here on a run may exist at Apify even if this worker dies before recording it
        with services.db.transaction() as conn:
            mark_start_sent(conn, claim, secret_digest(secret) if webhooks else None)
    except LeaseLost:
        return StartOutcome("noop", "lease lost before the start request")
    try:
        run = services.apify().actor(settings.apify_actor_id).start(
            run_input=build_run_input(style, accounts, per_account),
            max_items=max_items,
            memory_mbytes=settings.apify_memory_mbytes,
            run_timeout=timedelta(seconds=settings.apify_run_timeout_seconds),
            webhooks=webhooks,
        )
    except ApifyApiError as exc:
        status, kind = getattr(exc, "status_code", None), getattr(exc, "type", None)
        message = f"Apify API error {status} {kind}: {exc}"[:500]
        if kind in REFUSED_TYPES:
            return _requeue(services, claim, message, False, REFUSED_DELAY_SECONDS, "refused")
        if status in PERMANENT_STATUSES:
            return _finish(services, claim, "failed", message)
        return _requeue(services, claim, message, True, _backoff(settings, claim.chunk["attempts"]), "requeued")
    except Exception as exc:  # network trouble after the client's own retries
        message = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("start of chunk %s/%s failed: %s", job_id, chunk_index, message)
        return _requeue(services, claim, message, True, _backoff(settings, claim.chunk["attempts"]), "requeued")
    first_poll = settings.apify_webhook_wait_seconds if webhooks else settings.apify_poll_seconds

    # The run is paid for: a dropped Postgres connection is retried on a fresh one, never
    # answered with a second run.
    @retry_on_disconnect
    def record() -> None:
        with services.db.transaction() as conn:
            record_run(conn, claim, run.id, run.default_dataset_id, run_status(run),
                       secret_digest(secret) if webhooks else None, max_items,
                       max_items * settings.apify_price_per_result_usd, first_poll)

    try:
        record()
    except LeaseLost:
        log.error("chunk %s/%s lost its lease while starting run %s", job_id, chunk_index, run.id)
        abort_if_unowned(services, job_id, run.id)  # the chunk's new owner starts or adopts one
        return StartOutcome("noop", f"lease lost; run {run.id} aborted unless the chunk adopted it")
    return StartOutcome("running", f"run {run.id}")


def _finish(services, claim, status: str, message: str) -> StartOutcome:
    with services.db.transaction() as conn:
        counters = finish_chunk(conn, claim.chunk["job_id"], claim.chunk["chunk_index"], status,
                                claim.token, message)
    follow_up = (counters or {}).get("auto_ingest_job_id")
    return StartOutcome(status, message, str(follow_up) if follow_up else None)


def _requeue(services, claim, message: str, count_attempt: bool, delay: float, status: str) -> StartOutcome:
    with services.db.transaction() as conn:
        requeue(conn, claim, message, count_attempt, delay)
    return StartOutcome(status, message)


def _backoff(settings, attempts: int) -> float:
    return min(300.0, settings.chunk_retry_backoff_seconds * 2 ** max(0, attempts - 1))


def run_status(run) -> str:
    """The status string of an apify-client ``Run`` (an enum or a plain string)."""
    status = getattr(run, "status", None)
    return str(getattr(status, "value", status))
