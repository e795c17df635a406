"""Per-source accounting of a scrape job (``scrape_job_sources``): what each source account
gave, and what it is worth.

Per source account of a job: ``status`` (below), ``followers_read`` (follower items of its
list), ``kept`` with ``kept_female`` / ``kept_male`` / ``kept_unknown`` (rows it put into
``scrape_results``), ``duplicates`` (followers that passed the filter but were already kept
from another source of the job), ``over_cap`` (followers that passed the filter once the job's
``totalScrapeCount`` was reached, so nobody kept them), ``error_items``, ``cost_usd`` (its share
of its runs' cost, split by dataset items, an error item counting like any item) and ``error``
(the actor's own message, or why the run gave nothing).

Statuses:
- ``pending``: its chunk has not finished (shown as ``skipped`` once the job has ended);
- ``ok``: it delivered followers;
- ``private`` / ``not_found``: an error item said so (``items.py`` lists the forms);
- ``empty``: public (no error item) but its list gave no item in two runs: a source that
  comes back empty is asked once more in a later run (a new chunk of the same job) before it
  is reported, and it is never called private;
- ``failed``: its run failed, or the actor reported another error (a rate-limited source is
  asked once more first, like an empty one);
- ``skipped``: never read, because ``totalScrapeCount`` was reached or the job was cancelled.

Every counter is written in the transaction that writes the result rows it counts
(``record_batch``, called by ``writer.write_batch``) or that finishes the chunk
(``finish_chunk_sources``, called by ``chunks.finish_chunk``), so a redelivered chunk, which
re-reads at most the page whose transaction did not commit, never counts twice.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from psycopg import Connection

from server.utils.scrape.items import (FAILED, NOT_FOUND, PRIVATE, RATE_LIMITED, Follower, SourceError,
                                       Unusable)

STATUSES = ("ok", "private", "not_found", "empty", "failed", "skipped", "pending")
FINAL_STATUSES = ("ok", "private", "not_found", "empty", "failed")
RETRIED_KINDS = (RATE_LIMITED, FAILED)  # errors worth one more run; private / not found are final
EMPTY_MESSAGE = "no follower and no error item in two runs (public account, empty list)"
CAP_MESSAGE = "no follower and no error item; not asked again: totalScrapeCount reached"


@dataclass
class PageTally:
    """Per-source counts of one dataset page, gathered while the items are classified.

    ``dataset_total`` is the dataset size the page reported. ``read`` counts follower items,
    ``items`` every item, ``error_items`` error, placeholder and unusable items, ``errors`` the
    last ``(kind, message)`` per source. Items that name no source (and come from a chunk of
    several accounts) count in ``unattributed`` only."""

    dataset_total: int = 0
    read: Counter = field(default_factory=Counter)
    items: Counter = field(default_factory=Counter)
    error_items: Counter = field(default_factory=Counter)
    errors: dict = field(default_factory=dict)
    unattributed: int = 0

    def add(self, parsed: Follower | SourceError | Unusable) -> None:
        """Count one classified item."""
        source = parsed.source_account
        if source is None:
            self.unattributed += 1
            return
        self.items[source] += 1
        if isinstance(parsed, Follower):
            self.read[source] += 1
            return
        self.error_items[source] += 1
        if isinstance(parsed, SourceError):
            self.errors[source] = (parsed.kind, parsed.message)


class Offered(Protocol):
    """A row offered to ``scrape_results`` (``writer.KeptProfile``): platform id, source
    account and inferred gender."""

    profile_id: str
    source_account: str | None
    gender: str


def ensure_rows(conn: Connection, job_id: UUID, tenant_id: UUID, chunk_index: int, accounts: list[str]) -> None:
    """Create the ``pending`` rows of a chunk's source accounts (no-op for those that exist)."""
    conn.execute(
        "INSERT INTO scrape_job_sources (job_id, source_account, tenant_id, chunk_index)"
        " SELECT %s, unnest(%s::text[]), %s, %s ON CONFLICT (job_id, source_account) DO NOTHING",
        (job_id, accounts, tenant_id, chunk_index))


def record_batch(conn: Connection, chunk: dict, tally: PageTally, offered: list[Offered],
                 inserted: list[Offered], stored_before: dict[str, str | None] | None = None) -> None:
    """Add one written page to its sources, in the caller's (the batch's) transaction.

    ``offered`` are the rows that passed the gender filter, in page order, before in-batch
    de-duplication; ``inserted`` the rows the batch stored (``writer._store``: COPYed);
    ``stored_before`` profile id → source account of the offered profiles the job had stored
    before this batch, when the caller looked all of them up (else they are looked up here). A
    follower counts as a duplicate for its source when the row kept for it (in this batch or
    before) came from another source, and as ``over_cap`` when no row was kept for it because
    ``totalScrapeCount`` had been reached.
    """
    job_id = chunk["job_id"]
    owner = dict(stored_before or {})
    owner.update((r.profile_id, r.source_account) for r in inserted)
    missing = [] if stored_before is not None else list({o.profile_id for o in offered if o.profile_id not in owner})
    if missing:
        owner.update((r["profile_id"], r["source_account"]) for r in conn.execute(
            "SELECT profile_id, source_account FROM scrape_results WHERE job_id = %s AND profile_id = ANY(%s)",
            (job_id, missing)))
    kept: dict[str, Counter] = {}
    for row in inserted:
        if row.source_account is not None:
            kept.setdefault(row.source_account, Counter())[row.gender] += 1
    duplicates: Counter = Counter()
    over_cap: Counter = Counter()
    for row in offered:
        if row.source_account is None:
            continue
        if row.profile_id not in owner:
            over_cap[row.source_account] += 1
        elif owner[row.profile_id] != row.source_account:
            duplicates[row.source_account] += 1
    # only the chunk's own accounts are counted (an item naming another account is not)
    names = sorted((set(tally.items) | set(kept) | set(duplicates) | set(over_cap)) & set(chunk["accounts"]))
    if not names:
        return
    none = Counter()
    errors = [tally.errors.get(s, (None, None)) for s in names]
    # one statement: creates the source's row on its first page, adds to it afterwards
    conn.execute(
        """
        INSERT INTO scrape_job_sources AS s (job_id, source_account, tenant_id, chunk_index, followers_read,
                                             run_items, error_items, kept, kept_female, kept_male, kept_unknown,
                                             duplicates, over_cap, error_kind, error)
        SELECT %s, t.source_account, %s, %s, t.read, t.items, t.error_items,
               t.kept_female + t.kept_male + t.kept_unknown, t.kept_female, t.kept_male, t.kept_unknown,
               t.duplicates, t.over_cap, t.error_kind, t.error
          FROM unnest(%s::text[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[], %s::int[],
                      %s::int[], %s::text[], %s::text[])
               AS t(source_account, read, items, error_items, kept_female, kept_male, kept_unknown, duplicates,
                    over_cap, error_kind, error)
        ON CONFLICT (job_id, source_account) DO UPDATE SET
               followers_read = s.followers_read + EXCLUDED.followers_read,
               run_items = s.run_items + EXCLUDED.run_items, error_items = s.error_items + EXCLUDED.error_items,
               kept = s.kept + EXCLUDED.kept, kept_female = s.kept_female + EXCLUDED.kept_female,
               kept_male = s.kept_male + EXCLUDED.kept_male, kept_unknown = s.kept_unknown + EXCLUDED.kept_unknown,
               duplicates = s.duplicates + EXCLUDED.duplicates, over_cap = s.over_cap + EXCLUDED.over_cap,
               error_kind = coalesce(EXCLUDED.error_kind, s.error_kind), error = coalesce(EXCLUDED.error, s.error),
               updated_at = now()
         WHERE s.status = 'pending'
        """,
        (job_id, chunk["tenant_id"], chunk["chunk_index"], names, [tally.read[s] for s in names],
         [tally.items[s] for s in names], [tally.error_items[s] for s in names],
         [kept.get(s, none)["female"] for s in names], [kept.get(s, none)["male"] for s in names],
         [kept.get(s, none)["unknown"] for s in names], [duplicates[s] for s in names],
         [over_cap[s] for s in names], [e[0] for e in errors], [e[1] for e in errors]))


def finish_chunk_sources(conn: Connection, job: dict, chunk: dict, status: str, cost_usd: float,
                         message: str | None) -> list[str]:
    """Settle the sources of a chunk that just became terminal (``status``: done, failed,
    skipped, cancelled), in the finishing transaction, whose job row the caller holds locked.

    Splits ``cost_usd`` over the sources by their items in this run (evenly when the run gave
    none; when the read stopped early, the items not read are charged evenly to the sources of
    which nothing was read), decides each pending source's status, records the final ones in
    the tenant's ``source_profiles`` and returns the accounts to ask once more (empty or rate-limited on
    their first run, while the job is processing and below its cap). ``message`` is the
    chunk's error, given to sources that its failure left with nothing.
    """
    job_id, index = chunk["job_id"], chunk["chunk_index"]
    ensure_rows(conn, job_id, chunk["tenant_id"], index, chunk["accounts"])
    had_run = chunk.get("apify_run_id") is not None
    read_all = chunk.get("dataset_total") is None or chunk["dataset_offset"] >= chunk["dataset_total"]
    # Cost per item: the run's cost over its dataset. When the read stopped early, the items not
    # read were paid for too: their cost goes, evenly, to the sources of which nothing was read.
    dataset_size = 0 if read_all else chunk["dataset_total"]
    conn.execute(
        """
        UPDATE scrape_job_sources s SET
               cost_usd = s.cost_usd + CASE
                   WHEN t.total + %(size)s = 0 THEN %(cost)s::numeric / t.n
                   WHEN s.run_items > 0 OR t.zero = 0 OR %(size)s = 0
                       THEN %(cost)s::numeric * s.run_items / greatest(t.total, %(size)s)
                   ELSE %(cost)s::numeric * (1 - t.total::numeric / greatest(t.total, %(size)s)) / t.zero END,
               runs = s.runs + %(run)s, updated_at = now()
          FROM (SELECT sum(run_items) AS total, count(*) AS n, count(*) FILTER (WHERE run_items = 0) AS zero
                  FROM scrape_job_sources
                 WHERE job_id = %(job)s AND chunk_index = %(index)s AND status = 'pending') t
         WHERE s.job_id = %(job)s AND s.chunk_index = %(index)s AND s.status = 'pending'
        """, {"cost": cost_usd or 0, "run": 1 if had_run else 0, "job": job_id, "index": index, "size": dataset_size})
    capped = conn.execute(
        "SELECT max_profiles IS NOT NULL AND profiles_scraped >= max_profiles AS capped FROM scrape_jobs"
        " WHERE job_id = %s", (job_id,)).fetchone()["capped"]
    can_retry = status == "done" and job["status"] == "processing" and not capped
    rows = conn.execute(
        "SELECT source_account, runs, followers_read, error_kind FROM scrape_job_sources"
        " WHERE job_id = %s AND chunk_index = %s AND status = 'pending'", (job_id, index)).fetchall()
    decided: dict[str, tuple[str, str | None]] = {}
    retry: list[str] = []
    for row in rows:
        verdict = _verdict(row, status, read_all, had_run, message)
        if verdict[0] == "retry":
            if can_retry and row["runs"] <= 1:
                retry.append(row["source_account"])
                continue
            verdict = ("empty", _empty_message(row["runs"], capped)) if row["error_kind"] is None \
                else ("failed", None)
        decided[row["source_account"]] = verdict
    if decided:
        names = sorted(decided)
        conn.execute(
            """
            UPDATE scrape_job_sources s SET status = t.status, error = coalesce(t.error, s.error),
                   finished_at = now(), updated_at = now()
              FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(source_account, status, error)
             WHERE s.job_id = %s AND s.source_account = t.source_account AND s.status = 'pending'
            """, (names, [decided[n][0] for n in names], [decided[n][1] for n in names], job_id))
        _record_profiles(conn, job_id, [n for n in names if decided[n][0] in FINAL_STATUSES])
    if retry:
        _add_retry_chunk(conn, job_id, chunk["tenant_id"], index, retry)
    return retry


def settle_cancelled_chunks(conn: Connection, job_id: UUID) -> int:
    """Settle the sources of the job's chunks that were cancelled while still queued (the
    cancel request moves them straight to ``cancelled``, with no run and no cost): their
    sources become ``skipped``, or ``empty`` for one read empty before whose second run never
    started. Locks the job row first, like every chunk finisher. Set-based for the chunks that
    never had a run (a few statements however many). Returns the chunks settled."""
    job = conn.execute("SELECT status, tenant_id FROM scrape_jobs WHERE job_id = %s FOR UPDATE",
                       (job_id,)).fetchone()
    if job is None:
        return 0
    chunks = conn.execute(
        "SELECT c.chunk_index, c.apify_run_id IS NOT NULL AS had_run FROM scrape_job_chunks c"
        " WHERE c.job_id = %s AND c.status = 'cancelled'"
        " AND EXISTS (SELECT 1 FROM scrape_job_sources s WHERE s.job_id = c.job_id"
        "             AND s.chunk_index = c.chunk_index AND s.status = 'pending')"
        " ORDER BY c.chunk_index", (job_id,)).fetchall()
    unstarted = [c["chunk_index"] for c in chunks if not c["had_run"]]
    settle_unstarted_chunks(conn, job_id, unstarted, "cancelled", None, create_rows=False)
    for index in (c["chunk_index"] for c in chunks if c["had_run"]):
        chunk = conn.execute("SELECT * FROM scrape_job_chunks WHERE job_id = %s AND chunk_index = %s",
                             (job_id, index)).fetchone()
        finish_chunk_sources(conn, job, chunk, "cancelled", 0.0, None)
    return len(chunks)


def settle_unstarted_chunks(conn: Connection, job_id: UUID, chunk_indexes: list[int],
                            status: str, why: str | None, create_rows: bool = True) -> int:
    """Settle, set-based, the sources of the job's chunks ``chunk_indexes`` that ended
    (``status``: ``skipped`` or ``cancelled``) without a run and without cost, in the finishing
    transaction whose job row the caller holds locked: the same verdicts as
    ``finish_chunk_sources`` (a source with followers or an error item from an earlier run keeps
    what it said; one read empty before is ``empty``; the rest ``skipped``), with ``why``
    (e.g. ``"maxCostUsd reached"``; a cancel names itself) as the reason. ``create_rows`` also
    writes the rows of the accounts that have none (never read), ``skipped`` at once. Three
    statements whatever the number of chunks, each row written once. Returns the sources settled."""
    if not chunk_indexes:
        return 0
    if status == "cancelled":
        skipped, empty = "job cancelled before it was read", "the job was cancelled"
    else:
        skipped, empty = f"not read: {why}", why
    # the rows that exist (sources read in an earlier run, moved to a retry chunk) get a verdict
    rows = conn.execute(
        """
        WITH settled AS (
            UPDATE scrape_job_sources s SET
                   status = CASE WHEN s.error_kind = %(private)s THEN 'private'
                                 WHEN s.error_kind = %(not_found)s THEN 'not_found'
                                 WHEN s.followers_read > 0 THEN 'ok'
                                 WHEN s.error_kind = ANY(%(retried)s) THEN 'failed'
                                 WHEN s.runs >= 1 THEN 'empty' ELSE 'skipped' END,
                   error = CASE WHEN s.error_kind IN (%(private)s, %(not_found)s) OR s.followers_read > 0
                                     OR s.error_kind = ANY(%(retried)s) THEN s.error
                                WHEN s.runs >= 1 THEN %(empty)s ELSE %(skipped)s END,
                   finished_at = now(), updated_at = now()
             WHERE s.job_id = %(job)s AND s.chunk_index = ANY(%(indexes)s) AND s.status = 'pending'
            RETURNING s.source_account, s.status)
        SELECT count(*) AS n, coalesce(array_agg(source_account ORDER BY source_account)
                                       FILTER (WHERE status = ANY(%(final)s)), '{}') AS final
          FROM settled
        """, {"private": PRIVATE, "not_found": NOT_FOUND, "retried": list(RETRIED_KINDS), "job": job_id,
              "indexes": chunk_indexes, "skipped": skipped,
              "empty": "no follower and no error item; not asked again: " + empty,
              "final": list(FINAL_STATUSES)}).fetchone()
    settled = rows["n"]
    if create_rows:  # accounts never read: written once, already skipped
        settled += conn.execute(
            "INSERT INTO scrape_job_sources (job_id, source_account, tenant_id, chunk_index, status, error,"
            "                                finished_at)"
            " SELECT c.job_id, a.account, c.tenant_id, c.chunk_index, 'skipped', %s, now()"
            "   FROM scrape_job_chunks c CROSS JOIN LATERAL unnest(c.accounts) AS a(account)"
            "  WHERE c.job_id = %s AND c.chunk_index = ANY(%s)"
            " ON CONFLICT (job_id, source_account) DO NOTHING", (skipped, job_id, chunk_indexes)).rowcount
    _record_profiles(conn, job_id, rows["final"])
    return settled


def _verdict(row: dict, chunk_status: str, read_all: bool, had_run: bool,
             message: str | None) -> tuple[str, str | None]:
    """A pending source's ``(status, error)`` after its chunk ended (``error`` None keeps the
    actor's message), or ``("retry", None)`` when it gave nothing that says it never will."""
    kind = row["error_kind"]
    if kind == PRIVATE:
        return "private", None
    if kind == NOT_FOUND:
        return "not_found", None
    if row["followers_read"] > 0:
        return "ok", None
    if kind in RETRIED_KINDS:
        return ("retry", None) if chunk_status == "done" else ("failed", None)
    if chunk_status in ("skipped", "cancelled") or (chunk_status == "done" and not read_all):
        if row["runs"] >= 1 and not had_run:  # read empty before; its second run never started
            return "empty", ("no follower and no error item; not asked again: "
                             + ("the job was cancelled" if chunk_status == "cancelled" else "totalScrapeCount reached"))
        return "skipped", ("job cancelled before it was read" if chunk_status == "cancelled"
                           else "not read: totalScrapeCount reached")
    if chunk_status == "failed":
        return "failed", message or "the run failed"
    return "retry", None


def _empty_message(runs: int, capped: bool) -> str:
    if runs >= 2:
        return EMPTY_MESSAGE
    return CAP_MESSAGE if capped else "no follower and no error item; not asked again: the job ended"


def _add_retry_chunk(conn: Connection, job_id: UUID, tenant_id: UUID, retry_of: int, accounts: list[str]) -> int:
    """Append a queued chunk asking once more for ``accounts`` and count it in the job's
    ``total_batches`` (so the job does not complete before it); returns its index."""
    index = conn.execute("SELECT max(chunk_index) + 1 AS n FROM scrape_job_chunks WHERE job_id = %s",
                         (job_id,)).fetchone()["n"]
    conn.execute("INSERT INTO scrape_job_chunks (job_id, chunk_index, tenant_id, accounts, retry_of)"
                 " VALUES (%s, %s, %s, %s, %s)", (job_id, index, tenant_id, accounts, retry_of))
    conn.execute("UPDATE scrape_job_sources SET chunk_index = %s, run_items = 0, updated_at = now()"
                 " WHERE job_id = %s AND source_account = ANY(%s)", (index, job_id, accounts))
    conn.execute("UPDATE scrape_jobs SET total_batches = total_batches + 1, updated_at = now() WHERE job_id = %s",
                 (job_id,))
    return index


def _record_profiles(conn: Connection, job_id: UUID, accounts: list[str]) -> None:
    """Add the settled sources' numbers to the tenant's ``source_profiles`` and make this job's
    status their last known one."""
    if not accounts:
        return
    conn.execute(
        """
        INSERT INTO source_profiles AS p (tenant_id, username, last_scraped_at, last_status, last_error, last_job_id,
                                          last_status_at, jobs, followers_read, kept, kept_female, kept_male,
                                          kept_unknown, duplicates, over_cap, cost_usd)
        SELECT tenant_id, source_account, now(), status, error, job_id, now(), 1, followers_read, kept, kept_female,
               kept_male, kept_unknown, duplicates, over_cap, cost_usd
          FROM scrape_job_sources WHERE job_id = %s AND source_account = ANY(%s)
         ORDER BY source_account  -- one lock order for every job of the tenant
        ON CONFLICT (tenant_id, username) DO UPDATE SET
               last_scraped_at = now(), last_status = EXCLUDED.last_status, last_error = EXCLUDED.last_error,
               last_job_id = EXCLUDED.last_job_id, last_status_at = now(), jobs = p.jobs + 1,
               followers_read = p.followers_read + EXCLUDED.followers_read, kept = p.kept + EXCLUDED.kept,
               kept_female = p.kept_female + EXCLUDED.kept_female, kept_male = p.kept_male + EXCLUDED.kept_male,
               kept_unknown = p.kept_unknown + EXCLUDED.kept_unknown,
               duplicates = p.duplicates + EXCLUDED.duplicates, over_cap = p.over_cap + EXCLUDED.over_cap,
               cost_usd = p.cost_usd + EXCLUDED.cost_usd
        """, (job_id, accounts))
