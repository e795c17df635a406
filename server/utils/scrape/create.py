"""Creating a scrape job: the job row plus one ``scrape_job_chunks`` row per 50 accounts.

The accounts live in Postgres, never in a broker message: tasks carry ``(job_id, chunk_index)``.
A small job's chunks are inserted by the job's own statement; a large job's are written with
COPY so a 500,000-account request stores its 10,000 chunks in well under a second.
"""
from __future__ import annotations

from math import ceil
from uuid import UUID

from psycopg import Connection

from server.utils.jobs.table import NewJob, insert_job

# Share of scraped followers expected to survive a male/female filter; used only to size the
# per-account cap so Apify is not asked (and paid) for far more followers than needed.
GENDER_KEEP_RATE = 0.5
# Followers shared between source accounts are bought twice but kept once: ask for 10% more.
DUPLICATE_HEADROOM = 1.1
PER_ACCOUNT_CEILING = 100_000
# Up to this many chunks are inserted by the job's own INSERT statement (one round trip, the
# accounts sent once as an array and sliced per chunk); more go in by COPY, whose cost does not
# grow with the slicing.
INLINE_CHUNKS = 20
INLINE_CHUNKS_SQL = ("INSERT INTO scrape_job_chunks (job_id, chunk_index, tenant_id, accounts)"
                     " SELECT job.job_id, i, job.tenant_id, (%s::text[])[i * %s + 1:(i + 1) * %s]"
                     " FROM job, generate_series(0, job.total_batches - 1) AS i")


def per_account_limit(accounts: int, max_profiles: int | None, target_gender: str,
                      default_limit: int) -> int:
    """Followers to request per source account.

    Without ``max_profiles`` it is ``default_limit``; with it, enough for the cap assuming every
    account delivers, half survive a gender filter and 10% are duplicates across accounts,
    between 1 and 100,000.
    """
    if not max_profiles:
        return default_limit
    keep_rate = 1.0 if target_gender == "any" else GENDER_KEEP_RATE
    return max(1, min(PER_ACCOUNT_CEILING, ceil(max_profiles * DUPLICATE_HEADROOM / (accounts * keep_rate))))


def scrape_params(options: dict, accepted: int, rejected: int, duplicates: int,
                  default_per_account: int) -> dict:
    """The ``params`` stored on a scrape job: the request's ``options`` (``targetGender``,
    ``includeUnknown``, ``minGenderProbability``, ``platform``, ``autoIngest``,
    ``totalScrapeCount`` or None, ``maxCostUsd`` when given) plus the per-account follower cap for ``accepted`` accounts
    and how many accounts were rejected or duplicates."""
    max_profiles = options.get("totalScrapeCount")
    return {
        "targetGender": options["targetGender"], "includeUnknown": options["includeUnknown"],
        "minGenderProbability": options.get("minGenderProbability"),
        "platform": options.get("platform", "instagram"), "autoIngest": options.get("autoIngest", False),
        "totalScrapeCount": max_profiles,
        **({"maxCostUsd": options["maxCostUsd"]} if options.get("maxCostUsd") is not None else {}),
        "per_account_limit": per_account_limit(accepted, max_profiles, options["targetGender"],
                                               default_per_account),
        "accounts_rejected": rejected, "duplicates_removed": duplicates,
    }


def create_scrape_job(conn: Connection, tenant_id: UUID, accounts: list[str], params: dict,
                      chunk_size: int, max_profiles: int | None,
                      idempotency_key: str | None, fingerprint: str | None = None) -> NewJob:
    """Store a queued scrape job for ``accounts`` (normalised by ``accounts.normalise_accounts``,
    unique) and its chunks.

    ``params`` is kept on the job (gender filter, limits, rejected accounts). Returns the
    existing job untouched when ``idempotency_key`` was used before by this tenant. On a
    connection in autocommit mode the job and its chunks are committed together before this
    returns: by their one statement for a small job without a client's idempotency key,
    otherwise in a transaction of their own; inside a transaction they are part of it.
    """
    inline = ceil(len(accounts) / chunk_size) <= INLINE_CHUNKS
    args = (conn, tenant_id, accounts, params, chunk_size, max_profiles, idempotency_key, fingerprint)
    if conn.autocommit and not (inline and not (idempotency_key and fingerprint)):
        with conn.transaction():
            return _store_scrape_job(*args)
    return _store_scrape_job(*args)


def _store_scrape_job(conn: Connection, tenant_id: UUID, accounts: list[str], params: dict, chunk_size: int,
                      max_profiles: int | None, idempotency_key: str | None, fingerprint: str | None) -> NewJob:
    """``create_scrape_job``'s statements: the job with its chunks (one statement up to
    ``INLINE_CHUNKS`` chunks), or the job then its chunks by COPY."""
    total_batches = ceil(len(accounts) / chunk_size)
    inline = total_batches <= INLINE_CHUNKS
    children = (INLINE_CHUNKS_SQL, [accounts, chunk_size, chunk_size]) if inline else None
    new = insert_job(conn, tenant_id, "scrape", params, idempotency_key, fingerprint, children=children,
                     total_batches=total_batches, accounts_total=len(accounts),
                     max_profiles=max_profiles)
    if not new.created or inline:
        return new
    job_id = new.job["job_id"]
    # COPY's text format written directly: normalised usernames are [a-z0-9._] only, so inside
    # double quotes (which keep the username "null" from reading as NULL) neither the array
    # literal nor the COPY line needs escaping (psycopg's array dumper would cost a
    # 500,000-account request about half a second)
    with conn.cursor() as cur:
        with cur.copy("COPY scrape_job_chunks (job_id, chunk_index, tenant_id, accounts) FROM STDIN") as copy:
            for index in range(total_batches):
                members = '","'.join(accounts[index * chunk_size:(index + 1) * chunk_size])
                copy.write(f'{job_id}\t{index}\t{tenant_id}\t{{"{members}"}}\n')
    return new


def claim_for_dispatch(conn: Connection, job_id: UUID, count: int) -> list[int]:
    """Mark up to ``count`` queued, never-sent chunks of a processing job as sent and return
    their indexes (lowest first). Concurrent callers never get the same chunk. (The pick is a
    materialised CTE: a ``LIMIT … SKIP LOCKED`` sub-select inside the UPDATE may be re-run per
    row and hand out more than ``count``.)"""
    rows = conn.execute(
        """
        WITH picked AS MATERIALIZED (
            SELECT c.chunk_index FROM scrape_job_chunks c
              JOIN scrape_jobs j ON j.job_id = c.job_id AND j.status = 'processing'
             WHERE c.job_id = %(job_id)s AND c.status = 'queued' AND c.enqueued_at IS NULL
             ORDER BY c.chunk_index LIMIT %(count)s
               FOR UPDATE OF c SKIP LOCKED)
        UPDATE scrape_job_chunks c SET enqueued_at = now()
          FROM picked p
         WHERE c.job_id = %(job_id)s AND c.chunk_index = p.chunk_index
        RETURNING c.chunk_index
        """, {"job_id": job_id, "count": count}).fetchall()
    return sorted(r["chunk_index"] for r in rows)
