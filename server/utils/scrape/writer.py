"""Bulk insert of kept followers into ``scrape_results``, counted exactly on the job.

One transaction per batch (≤ 1000 rows): lock the job row (serialises the ``totalScrapeCount``
cap across chunks), renew the chunk's fenced lease and record the dataset offset, insert with
``ON CONFLICT DO NOTHING`` and add the number of rows really inserted to the job's counters and
to the per-source accounting (``sources.py``).
A redelivered chunk therefore re-reads at most one page and never double-counts.
"""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection

from server.utils.scrape.chunks import Claim, LeaseLost
from server.utils.scrape.sources import Owned, PageTally, record_batch


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


_ROWS = """
SELECT %(job_id)s, %(tenant_id)s, t.* FROM unnest(
    %(profile_id)s::text[], %(username)s::text[], %(full_name)s::text[], %(gender)s::text[],
    %(probability)s::real[], %(source)s::text[], %(source_account)s::text[], %(is_private)s::bool[],
    %(is_verified)s::bool[]) AS t(profile_id, username, full_name, gender, gender_probability,
                                  gender_source, source_account, is_private, is_verified)
"""
_INSERT_HEAD = """
INSERT INTO scrape_results (job_id, tenant_id, profile_id, username, full_name, gender,
                            gender_probability, gender_source, source_account, is_private, is_verified)
"""
_CONFLICT = " ON CONFLICT (job_id, profile_id) DO NOTHING RETURNING profile_id, source_account, gender"
# Everything fits under the cap: let the unique index drop rows stored before.
_INSERT = _INSERT_HEAD + _ROWS + _CONFLICT
# Near the cap: only rows not stored yet may take the remaining room.
_INSERT_CAPPED = _INSERT_HEAD + _ROWS + """
WHERE NOT EXISTS (SELECT 1 FROM scrape_results r
                  WHERE r.job_id = %(job_id)s AND r.profile_id = t.profile_id)
LIMIT %(room)s""" + _CONFLICT


def write_batch(conn: Connection, claim: Claim, offered: list[KeptProfile], items_read: int,
                next_offset: int, lease_seconds: int, tally: PageTally | None = None) -> BatchOutcome:
    """Insert the rows ``offered`` by one dataset page (in page order; repeats of a profile are
    dropped here) for the claimed chunk in the caller's transaction; nothing is written once
    the job is no longer processing (cancelled).

    ``items_read`` is how many dataset items this batch consumed and ``next_offset`` where the
    chunk resumes. ``tally`` (the page's per-source counts) is added to the job's source
    accounting in the same transaction (``sources.record_batch``). Raises ``LeaseLost`` if the
    chunk is no longer ours (nothing is written).
    """
    chunk = claim.chunk
    rows = dedupe(offered)
    job = conn.execute(
        "SELECT status, max_profiles, profiles_scraped FROM scrape_jobs WHERE job_id = %s FOR UPDATE",
        (chunk["job_id"],)).fetchone()
    if job["status"] != "processing":
        return BatchOutcome(0, False, job_stopped=True)
    room = len(rows)
    if job["max_profiles"] is not None:
        room = max(0, min(room, job["max_profiles"] - job["profiles_scraped"]))
    returned: list[dict] = []
    if room and rows:
        cur = conn.execute(_INSERT if room >= len(rows) else _INSERT_CAPPED, {
            "job_id": chunk["job_id"], "tenant_id": chunk["tenant_id"], "room": room,
            "profile_id": [r.profile_id for r in rows], "username": [r.username for r in rows],
            "full_name": [r.full_name for r in rows], "gender": [r.gender for r in rows],
            "probability": [r.gender_probability for r in rows], "source": [r.gender_source for r in rows],
            "source_account": [r.source_account for r in rows], "is_private": [r.is_private for r in rows],
            "is_verified": [r.is_verified for r in rows],
        })
        returned = cur.fetchall()
    inserted = len(returned)
    cur = conn.execute(
        "UPDATE scrape_job_chunks SET dataset_offset = %s, items_read = items_read + %s,"
        " items_kept = items_kept + %s, dataset_total = coalesce(%s, dataset_total),"
        " lease_until = now() + make_interval(secs => %s), updated_at = now()"
        " WHERE job_id = %s AND chunk_index = %s AND lease_token = %s AND status = 'running'",
        (next_offset, items_read, inserted, tally.dataset_total if tally else None, lease_seconds,
         chunk["job_id"], chunk["chunk_index"], claim.token))
    if cur.rowcount != 1:
        raise LeaseLost()
    if tally is not None:
        record_batch(conn, chunk, tally, [Owned(r.profile_id, r.source_account) for r in offered], returned)
    total = conn.execute(
        "UPDATE scrape_jobs SET profiles_scraped = profiles_scraped + %s, items_read = items_read + %s,"
        " updated_at = now(), heartbeat_at = now() WHERE job_id = %s RETURNING profiles_scraped, max_profiles",
        (inserted, items_read, chunk["job_id"])).fetchone()
    cap_reached = total["max_profiles"] is not None and total["profiles_scraped"] >= total["max_profiles"]
    return BatchOutcome(inserted, cap_reached)

