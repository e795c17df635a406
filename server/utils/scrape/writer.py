"""Bulk insert of kept followers into ``scrape_results``, counted exactly on the job.

One transaction per batch (≤ 1000 rows): lock the job row (serialises the ``totalScrapeCount``
cap across chunks and every insert of the job), COPY the rows into ``scrape_results`` (straight
in while the chunk's batches hold no profile the job stored before; after a batch that did,
the stored ones are looked up first; no other writer can race while the job's row is locked;
migration 0008 explains why there are no per-row foreign-key checks), then renew the chunk's
fenced lease, record the dataset offset and add the number of rows really inserted to the
job's counters (one statement) and to the per-source accounting (``sources.py``). The batch commits
asynchronously (see ``_LOCK_JOB``).
A redelivered chunk therefore re-reads at most one page and never double-counts.
"""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection, errors

from server.utils.scrape.chunks import Claim, LeaseLost
from server.utils.scrape.sources import PageTally, record_batch


@dataclass(frozen=True, slots=True)
class KeptProfile:
    """A follower that passed the gender filter, ready for ``scrape_results``."""

    profile_id: str
    username: str
    full_name: str
    gender: str
    gender_probability: float
    gender_source: str
    source_account: str | None
    is_private: bool | None
    is_verified: bool | None


@dataclass(frozen=True)
class BatchOutcome:
    """Rows inserted by one batch, whether the job's cap is now reached, and whether the job
    had stopped (cancelled or finished) so nothing was written."""

    inserted: int
    cap_reached: bool
    job_stopped: bool = False
    had_stored: bool = False  # some offered profile was stored before: look up first next time


def dedupe(rows: list[KeptProfile]) -> list[KeptProfile]:
    """Rows with the first occurrence of each ``profile_id`` kept (a batch is COPYed as it is,
    so a profile twice in it would break the unique index)."""
    seen: dict[str, KeptProfile] = {}
    for row in rows:
        seen.setdefault(row.profile_id, row)
    return list(seen.values())


_FIELDS = ("profile_id", "username", "full_name", "gender", "gender_probability", "gender_source",
           "source_account", "is_private", "is_verified")
_COPY = f"COPY scrape_results (job_id, tenant_id, {', '.join(_FIELDS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("uuid", "uuid", "text", "text", "text", "text", "float4", "text", "text", "bool", "bool")
# Which of the batch's profiles the job has stored before (by another chunk, or before a
# redelivery): one index probe each (LATERAL … LIMIT 1 keeps the planner from reading every row
# the job has, which it would do for a big job whose size the statistics do not know yet).
_STORED = """
SELECT u.profile_id, stored.source_account FROM unnest(%s::text[]) AS u(profile_id)
 CROSS JOIN LATERAL (SELECT r.source_account FROM scrape_results r
                      WHERE r.job_id = %s AND r.profile_id = u.profile_id LIMIT 1) AS stored
"""
# Locks the job row (serialising every writer of the job) and makes this transaction's commit
# asynchronous: a crash may lose the last batches, but each batch's rows, counters and chunk
# offset are lost together, so the chunk simply re-reads them; the chunk's finish commits
# synchronously, which makes every batch before it durable too (WAL is sequential).
_LOCK_JOB = """
SELECT status, max_profiles, profiles_scraped, set_config('synchronous_commit', 'off', true)
  FROM scrape_jobs WHERE job_id = %s FOR UPDATE
"""
# Renew the fenced lease, record the offset and count the batch on chunk and job in one
# statement; no row back means the lease is lost (and the job is not counted).
_COUNT = """
WITH chunk AS (
    UPDATE scrape_job_chunks
       SET dataset_offset = %(offset)s, items_read = items_read + %(read)s,
           items_kept = items_kept + %(inserted)s, error_items = error_items + %(errors)s,
           lease_until = now() + make_interval(secs => %(lease)s),
           dataset_total = coalesce(%(dataset_total)s, dataset_total), updated_at = now()
     WHERE job_id = %(job_id)s AND chunk_index = %(chunk_index)s AND lease_token = %(token)s
       AND status = 'collecting'
    RETURNING 1
)
UPDATE scrape_jobs
   SET profiles_scraped = profiles_scraped + %(inserted)s, items_read = items_read + %(read)s,
       updated_at = now(), heartbeat_at = now()
 WHERE job_id = %(job_id)s AND EXISTS (SELECT 1 FROM chunk)
RETURNING profiles_scraped, max_profiles
"""


def copy_rows(conn: Connection, job_id, tenant_id, rows: list[KeptProfile]) -> None:
    """COPY (binary) ``rows`` of job ``job_id`` into ``scrape_results`` in the caller's transaction."""
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for r in rows:
            copy.write_row((job_id, tenant_id, r.profile_id, r.username, r.full_name, r.gender,
                            r.gender_probability, r.gender_source, r.source_account, r.is_private,
                            r.is_verified))


def _store(conn: Connection, job_id, tenant_id, rows: list[KeptProfile], room: int,
           look_first: bool) -> tuple[list[KeptProfile], dict[str, str | None] | None]:
    """COPY the first ``room`` of ``rows`` the job has not stored yet. Returns those rows and,
    when the stored ones were looked up, profile id → the source account of each stored row
    (None when the COPY went straight in: then none was stored before).

    With ``look_first`` (the chunk's previous batch held stored profiles: followers of accounts
    in one niche overlap) or near the cap the stored ones are looked up first, one index probe
    per row. Otherwise the COPY goes straight in, in a savepoint, and a unique violation (a
    profile stored before) rolls it back to the lookup."""
    if room >= len(rows) and not look_first:
        try:
            with conn.transaction():
                copy_rows(conn, job_id, tenant_id, rows)
            return rows, None
        except errors.UniqueViolation:
            pass
    before = {r["profile_id"]: r["source_account"]
              for r in conn.execute(_STORED, ([r.profile_id for r in rows], job_id))}
    fresh = [r for r in rows if r.profile_id not in before][:room]
    if fresh:
        copy_rows(conn, job_id, tenant_id, fresh)
    return fresh, before


def write_batch(conn: Connection, claim: Claim, offered: list[KeptProfile], items_read: int,
                next_offset: int, lease_seconds: int, error_items: int = 0,
                tally: PageTally | None = None, look_first: bool = False) -> BatchOutcome:
    """Insert the rows ``offered`` by one dataset page (in page order; repeats of a profile are
    dropped here) for the claimed ``collecting`` chunk in the caller's transaction; nothing is
    written once the job is no longer processing (cancelled).

    ``items_read`` is how many dataset items this batch consumed (``error_items`` of them error
    or unusable items) and ``next_offset`` where the chunk resumes. ``tally`` (the page's
    per-source counts) is added to the job's source accounting in the same transaction
    (``sources.record_batch``). ``look_first``: look up the profiles the job stored before
    ahead of the COPY (``_store``; pass the previous batch's ``had_stored``). Raises
    ``LeaseLost`` if the chunk is no longer ours (the caller rolls everything back).
    """
    chunk = claim.chunk
    rows = dedupe(offered)
    job = conn.execute(_LOCK_JOB, (chunk["job_id"],)).fetchone()
    if job["status"] != "processing":
        return BatchOutcome(0, False, job_stopped=True)
    room = len(rows)
    if job["max_profiles"] is not None:
        room = max(0, min(room, job["max_profiles"] - job["profiles_scraped"]))
    stored: list[KeptProfile] = []
    before: dict[str, str | None] | None = None
    if room and rows:
        stored, before = _store(conn, chunk["job_id"], chunk["tenant_id"], rows, room, look_first)
    inserted = len(stored)
    total = conn.execute(_COUNT, {
        "job_id": chunk["job_id"], "chunk_index": chunk["chunk_index"], "token": claim.token,
        "offset": next_offset, "read": items_read, "inserted": inserted, "errors": error_items,
        "lease": lease_seconds, "dataset_total": tally.dataset_total if tally else None}).fetchone()
    if total is None:  # the chunk's lease is another worker's: the caller rolls everything back
        raise LeaseLost()
    if tally is not None:
        record_batch(conn, chunk, tally, offered, stored, before)
    cap_reached = total["max_profiles"] is not None and total["profiles_scraped"] >= total["max_profiles"]
    return BatchOutcome(inserted, cap_reached, had_stored=bool(before))

