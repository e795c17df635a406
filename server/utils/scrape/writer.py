"""Bulk insert of kept followers into ``scrape_results``, counted exactly on the job.

One transaction per batch (≤ 1000 rows): lock the job row (serialises the ``totalScrapeCount``
cap across chunks and every insert of the job), COPY the rows into a staging table private to
the transaction, insert those not stored yet with one ``INSERT … SELECT`` (a result of the
same job can come from another chunk, so a plain COPY into ``scrape_results`` could conflict;
migration 0008 explains why there are no per-row foreign-key checks), renew the chunk's fenced
lease and record the dataset offset, and add the number of rows really inserted to the job's
counters.
A redelivered chunk therefore re-reads at most one page and never double-counts.
"""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection

from server.utils.scrape.chunks import Claim, LeaseLost


@dataclass(frozen=True)
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


def dedupe(rows: list[KeptProfile]) -> list[KeptProfile]:
    """Rows with the first occurrence of each ``profile_id`` kept (Postgres rejects one
    INSERT … ON CONFLICT touching the same key twice)."""
    seen: dict[str, KeptProfile] = {}
    for row in rows:
        seen.setdefault(row.profile_id, row)
    return list(seen.values())


_FIELDS = ("profile_id", "username", "full_name", "gender", "gender_probability", "gender_source",
           "source_account", "is_private", "is_verified")
_FIELD_TYPES = ("text", "text", "text", "text", "float4", "text", "text", "bool", "bool")
# A staging table private to this transaction (dropped at commit; safe behind a transaction
# pooler, where the next transaction may run on another backend).
_STAGE = """
CREATE TEMP TABLE scrape_results_stage (
    profile_id text, username text, full_name text, gender text, gender_probability real,
    gender_source text, source_account text, is_private boolean, is_verified boolean
) ON COMMIT DROP
"""
_COPY = f"COPY scrape_results_stage ({', '.join(_FIELDS)}) FROM STDIN (FORMAT BINARY)"
# Rows of this job stored before (by another chunk, or before a redelivery) are left out with
# an anti-join rather than ON CONFLICT (whose speculative insertion costs more per row): every
# writer of the job holds its row lock (write_batch), so no other insert can race this one, and
# the unique index still refuses a duplicate should one ever slip through.
_INSERT = f"""
INSERT INTO scrape_results (job_id, tenant_id, {', '.join(_FIELDS)})
SELECT %(job_id)s, %(tenant_id)s, s.* FROM scrape_results_stage s
 WHERE NOT EXISTS (SELECT 1 FROM scrape_results r
                    WHERE r.job_id = %(job_id)s AND r.profile_id = s.profile_id)
"""
# Near the cap: only the first rows not stored yet take the remaining room.
_INSERT_CAPPED = _INSERT + " LIMIT %(room)s"


def stage_rows(conn: Connection, rows: list[KeptProfile]) -> None:
    """COPY ``rows`` (binary) into ``scrape_results_stage``, created for the caller's transaction."""
    with conn.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy(_COPY) as copy:
            copy.set_types(_FIELD_TYPES)
            for r in rows:
                copy.write_row((r.profile_id, r.username, r.full_name, r.gender, r.gender_probability,
                                r.gender_source, r.source_account, r.is_private, r.is_verified))


def write_batch(conn: Connection, claim: Claim, rows: list[KeptProfile], items_read: int,
                next_offset: int, lease_seconds: int) -> BatchOutcome:
    """Insert ``rows`` (already de-duplicated) for the claimed chunk in the caller's transaction;
    nothing is written once the job is no longer processing (cancelled).

    ``items_read`` is how many dataset items this batch consumed and ``next_offset`` where the
    chunk resumes. Raises ``LeaseLost`` if the chunk is no longer ours (nothing is written).
    """
    chunk = claim.chunk
    job = conn.execute(
        "SELECT status, max_profiles, profiles_scraped FROM scrape_jobs WHERE job_id = %s FOR UPDATE",
        (chunk["job_id"],)).fetchone()
    if job["status"] != "processing":
        return BatchOutcome(0, False, job_stopped=True)
    room = len(rows)
    if job["max_profiles"] is not None:
        room = max(0, min(room, job["max_profiles"] - job["profiles_scraped"]))
    inserted = 0
    if room and rows:
        stage_rows(conn, rows)
        cur = conn.execute(_INSERT if room >= len(rows) else _INSERT_CAPPED,
                           {"job_id": chunk["job_id"], "tenant_id": chunk["tenant_id"], "room": room})
        inserted = cur.rowcount
    cur = conn.execute(
        "UPDATE scrape_job_chunks SET dataset_offset = %s, items_read = items_read + %s,"
        " items_kept = items_kept + %s, lease_until = now() + make_interval(secs => %s), updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'running'",
        (next_offset, items_read, inserted, lease_seconds, chunk["job_id"], chunk["chunk_index"], claim.token))
    if cur.rowcount != 1:
        raise LeaseLost()
    total = conn.execute(
        "UPDATE scrape_jobs SET profiles_scraped = profiles_scraped + %s, items_read = items_read + %s,"
        " updated_at = now(), heartbeat_at = now() WHERE job_id = %s RETURNING profiles_scraped, max_profiles",
        (inserted, items_read, chunk["job_id"])).fetchone()
    cap_reached = total["max_profiles"] is not None and total["profiles_scraped"] >= total["max_profiles"]
    return BatchOutcome(inserted, cap_reached)

