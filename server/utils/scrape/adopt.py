"""Finding, after a crash, the Apify run an earlier start attempt of a chunk began but never recorded.

A worker can die (or lose its lease) between Apify accepting ``POST /v2/acts/{actorId}/runs`` and the
run id reaching Postgres; the run is paid for either way. Before sending a start request the worker
sets the chunk's ``run_started_at`` (``chunks.mark_start_sent``), so a later claim of that chunk
(``starting`` with ``run_started_at`` set and no run id) knows a run may exist and looks for it
before starting another: the actor's runs started since then (``GET /v2/acts/{actorId}/runs``
``startedAfter``) that no chunk owns and that are not aborted, whose input (record ``INPUT`` of the
run's default key-value store, ``GET /v2/key-value-stores/{id}/records/INPUT``) asks for exactly
the chunk's accounts. The earliest such run is adopted (``chunks.adopt_run``); any other is
aborted so it stops spending, its cost so far added to the job. A chunk whose start never reached
Apify costs no extra request.

Two open chunks asking for the very same accounts (two jobs with identical chunks starting at the
same moment) cannot be told apart by their input: then extra runs are left running (each may be the
other chunk's run in flight) and are not aborted.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from apify_client.errors import ApifyApiError

from server.utils.scrape.actor import input_accounts, input_style
from server.utils.scrape.chunks import adopt_run, add_cost

log = logging.getLogger(__name__)

# Postgres' clock (run_started_at) against Apify's (startedAt): look this much earlier.
CLOCK_MARGIN_SECONDS = 300
PAGE_SIZE = 1000  # the API's largest page of runs
NOT_ADOPTABLE = ("ABORTING", "ABORTED")


class LookupFailed(Exception):
    """Apify could not be asked whether the run exists; the caller must not start another now."""


def adopt_started_run(services, claim) -> str | None:
    """Adopt the run an earlier attempt started for the claimed ``starting`` chunk (see module
    docstring): returns the adopted run id (the chunk is ``running`` with it), or None when Apify
    holds no such run (the caller starts one). Raises ``LookupFailed`` when Apify cannot be asked
    (network trouble, 5xx after the client's retries) and ``LeaseLost``."""
    settings = services.settings
    chunk = claim.chunk
    client = services.apify()
    try:
        runs = _matching_runs(services, client, chunk)
    except ApifyApiError as exc:
        raise LookupFailed(f"Apify API error {getattr(exc, 'status_code', None)} {getattr(exc, 'type', None)}: "
                           f"{exc}"[:500]) from exc
    except Exception as exc:  # transport errors after the client's retries
        raise LookupFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
    adopted, skipped, unread = None, set(), None
    for item in runs:
        try:
            run = client.run(item.id).get()
        except ApifyApiError as exc:
            log.warning("run %s of chunk %s/%s could not be read: %s", item.id, chunk["job_id"],
                        chunk["chunk_index"], exc)
            skipped.add(item.id)
            unread = exc
            continue
        if run is None:  # deleted meanwhile
            skipped.add(item.id)
            continue
        status = str(getattr(run.status, "value", run.status))
        max_items = (run.options.max_items if run.options is not None else None) or chunk["max_items"] or 0
        with services.db.transaction() as conn:
            if adopt_run(conn, claim, run.id, run.default_dataset_id, status, max_items,
                         max_items * settings.apify_price_per_result_usd, settings.apify_poll_seconds):
                adopted = run.id
            else:  # another chunk asking for the same accounts recorded it meanwhile
                skipped.add(run.id)
        if adopted:
            log.warning("chunk %s/%s: adopted run %s started by an earlier attempt", chunk["job_id"],
                        chunk["chunk_index"], adopted)
            break
    if adopted:
        extra = [item.id for item in runs if item.id != adopted and item.id not in skipped]
        if extra:
            _abort_extra(services, client, chunk, extra)
    elif unread is not None:  # a run of the chunk exists but could not be read: start none now
        raise LookupFailed(f"Apify API error {getattr(unread, 'status_code', None)}: {unread}"[:500])
    return adopted


def abort_started_runs(services, chunk) -> int:
    """Abort every run an earlier attempt started for ``chunk`` (a chunk that will not run: its job
    was cancelled) and add their cost to the job; returns how many. Never raises for Apify errors."""
    client = services.apify()
    try:
        runs = _matching_runs(services, client, chunk)
    except Exception as exc:
        log.warning("runs of chunk %s/%s could not be listed: %s", chunk["job_id"], chunk["chunk_index"], exc)
        return 0
    return _abort_extra(services, client, chunk, [item.id for item in runs])


def abort_if_unowned(services, job_id, run_id: str) -> None:
    """Abort ``run_id`` (started by a worker that then lost its chunk's lease) unless a chunk
    recorded it meanwhile; its cost so far goes to the job ``job_id``."""
    with services.db.transaction() as conn:
        owned = conn.execute("SELECT 1 FROM scrape_job_chunks WHERE apify_run_id = %s", (run_id,)).fetchone()
    if owned:
        return
    _abort_runs(services, services.apify(), job_id, [run_id])


def _matching_runs(services, client, chunk) -> list:
    """Runs of the actor started since the chunk's first start request, owned by no chunk, not
    aborted, whose input asks for exactly the chunk's accounts; earliest first."""
    settings = services.settings
    since = chunk["run_started_at"] - timedelta(seconds=CLOCK_MARGIN_SECONDS)
    runs_client = client.actor(settings.apify_actor_id).runs()
    listed, offset = [], 0
    while True:  # newest first, so paging stops at ``since`` even where startedAfter is not applied
        page = runs_client.list(started_after=since, desc=True, offset=offset, limit=PAGE_SIZE)
        listed += [item for item in page.items if item.started_at >= since]
        offset += len(page.items)
        if not page.items or offset >= page.total or page.items[-1].started_at < since:
            break
    ids = [item.id for item in listed]
    with services.db.transaction() as conn:
        owned = {r["apify_run_id"] for r in conn.execute(
            "SELECT apify_run_id FROM scrape_job_chunks WHERE apify_run_id = ANY(%s)", (ids,))}
    style = input_style(settings.apify_actor_id, settings.apify_actor_input)
    found = []
    for item in listed:
        status = str(getattr(item.status, "value", item.status))
        if item.id in owned or status in NOT_ADOPTABLE:
            continue
        record = client.key_value_store(item.default_key_value_store_id).get_record("INPUT")
        if record is not None and input_accounts(style, record["value"]) == list(chunk["accounts"]):
            found.append(item)
    return sorted(found, key=lambda item: item.started_at)


def _abort_extra(services, client, chunk, run_ids: list[str]) -> int:
    """Abort ``run_ids`` (runs of ``chunk``'s accounts nobody owns) unless another open chunk
    without a run asks for the same accounts (the run may be that chunk's, in flight)."""
    with services.db.transaction() as conn:
        twin = conn.execute(
            "SELECT 1 FROM scrape_job_chunks WHERE status IN ('queued', 'starting') AND apify_run_id IS NULL"
            " AND accounts = %s AND NOT (job_id = %s AND chunk_index = %s) LIMIT 1",
            (list(chunk["accounts"]), chunk["job_id"], chunk["chunk_index"])).fetchone()
    if twin:
        log.warning("chunk %s/%s: runs %s left running: another open chunk asks for the same accounts",
                    chunk["job_id"], chunk["chunk_index"], run_ids)
        return 0
    return _abort_runs(services, client, chunk["job_id"], run_ids)


def _abort_runs(services, client, job_id, run_ids: list[str]) -> int:
    aborted = 0
    for run_id in run_ids:
        try:
            run = client.run(run_id).abort()
        except Exception as exc:
            log.warning("abort of stray run %s failed: %s", run_id, exc)
            continue
        aborted += 1
        cost = float(getattr(run, "usage_total_usd", None) or 0.0)
        log.warning("aborted stray run %s of job %s (cost so far %.4f USD)", run_id, job_id, cost)
        with services.db.transaction() as conn:
            add_cost(conn, job_id, cost)
    return aborted
