"""Ingest: profiles → the per-tenant pool (``global_usernames``) and its audit history
(``raw_scraped_profiles``), keyed on the platform id (DESIGN.md §3, §4).

A profile is identified by its Instagram id (``profile_id``, digits only), never by its
username: an account renamed since the last ingest updates its username and stays one person.
Writes are set-based upserts of ≤ ``BATCH_SIZE`` rows, one transaction per batch, so a retried
job is harmless (rows already written count as "already known" the second time).

Input comes either from the request (``params["profiles"]``, normalised by the API before the
job is stored) or from a finished scrape job (``params["job_id"]``; its kept profiles are read
page by page from ``scrape_results``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from psycopg import Connection

from server.utils.accounts import canonical_platform_id, canonical_username
from server.utils.jobs.runner import JobCancelled, JobFailed, checkpoint
from server.utils.jobs.table import get_job
from server.utils.text import clean_text, displayable

BATCH_SIZE = 1000
FULL_NAME_MAX = 256
SCRAPE_READY = ("completed", "completed_with_errors")
REJECT_REASONS = ("bad_id", "bad_username", "duplicate")
REJECTS_KEPT = 100


@dataclass(frozen=True)
class PoolProfile:
    """One normalised profile: digits-only id, lower-case username, cleaned full name."""

    profile_id: str
    username: str
    full_name: str
    gender: str | None = None
    source_account: str | None = None


@dataclass
class NormalisedProfiles:
    """Accepted profiles (first occurrence of each id, input order), rejection counts per reason
    (``bad_id``, ``bad_username``, ``duplicate``) and the first ``REJECTS_KEPT`` rejects as
    ``{"index", "id", "username", "reason"}``."""

    accepted: list[PoolProfile] = field(default_factory=list)
    rejected_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    rejected: list[dict] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected_counts.values())


def normalise_profile(raw_id, raw_username, raw_full_name) -> tuple[PoolProfile | None, str | None]:
    """``(profile, None)`` for a usable profile, else ``(None, reason)`` with reason ``bad_id``
    (not an Instagram id: 1–20 digits, not zero) or ``bad_username`` (not an Instagram username,
    checked before lower-casing: ``server.utils.accounts.canonical_username``). Ids are stored in
    their one canonical form (``canonical_platform_id``: integer or digits, no leading zeros)."""
    profile_id = canonical_platform_id(raw_id)
    if profile_id is None:
        return None, "bad_id"
    username = canonical_username(raw_username)
    if username is None:
        return None, "bad_username"
    return PoolProfile(profile_id, username, clean_text(raw_full_name, FULL_NAME_MAX)), None


def normalise_profiles(items: list[dict]) -> NormalisedProfiles:
    """Normalise request items ``{"id", "username", "full_name"?}``; duplicates of an id already
    accepted in this list are rejected as ``duplicate``."""
    out = NormalisedProfiles()
    seen: set[str] = set()
    for index, item in enumerate(items):
        profile, reason = normalise_profile(item.get("id"), item.get("username"), item.get("full_name"))
        if profile is not None and profile.profile_id in seen:
            profile, reason = None, "duplicate"
        if profile is None:
            out.rejected_counts[reason] += 1
            if len(out.rejected) < REJECTS_KEPT:
                out.rejected.append({"index": index, "id": displayable(item.get("id"), 40),
                                     "username": displayable(item.get("username"), 40), "reason": reason})
            continue
        seen.add(profile.profile_id)
        out.accepted.append(profile)
    return out


# One statement per batch. ``old`` reads the pool as it was before the statement (all CTEs share
# one snapshot), so renamed accounts can be counted; ``xmax = 0`` tells inserted rows apart from
# updated ones. Rows are sorted by id so concurrent ingests lock in the same order (no deadlock).
# The batch arrives by binary COPY into a staging table private to the transaction (dropped at
# commit): turning 5 × 1000 values into SQL arrays cost more than the upsert itself.
_STAGE = """
CREATE TEMP TABLE ingest_stage (profile_id text, username text, full_name text, gender text,
                                source_account text) ON COMMIT DROP
"""
_COPY = "COPY ingest_stage (profile_id, username, full_name, gender, source_account) FROM STDIN (FORMAT BINARY)"
_UPSERT = """
WITH input AS (
    SELECT DISTINCT ON (t.profile_id) t.*
      FROM ingest_stage t
     ORDER BY t.profile_id
),
old AS (
    SELECT g.profile_id, g.username FROM global_usernames g JOIN input i USING (profile_id)
     WHERE g.tenant_id = %(tenant_id)s
),
raw AS (
    INSERT INTO raw_scraped_profiles AS r (tenant_id, profile_id, username, full_name, gender,
                                           source_account, last_job_id)
    SELECT %(tenant_id)s::uuid, i.profile_id, i.username, i.full_name, i.gender, i.source_account,
           %(source_job_id)s::uuid FROM input i
    ON CONFLICT (tenant_id, profile_id) DO UPDATE
       SET username = EXCLUDED.username,
           full_name = CASE WHEN EXCLUDED.full_name <> '' THEN EXCLUDED.full_name ELSE r.full_name END,
           gender = coalesce(EXCLUDED.gender, r.gender),
           source_account = coalesce(EXCLUDED.source_account, r.source_account),
           last_job_id = coalesce(EXCLUDED.last_job_id, r.last_job_id),
           last_seen_at = now(), seen_count = r.seen_count + 1
    RETURNING 1
),
up AS (
    INSERT INTO global_usernames AS g (tenant_id, profile_id, username, full_name, gender)
    SELECT %(tenant_id)s::uuid, i.profile_id, i.username, i.full_name, i.gender FROM input i
    ON CONFLICT (tenant_id, profile_id) DO UPDATE
       SET username = EXCLUDED.username,
           full_name = CASE WHEN EXCLUDED.full_name <> '' THEN EXCLUDED.full_name ELSE g.full_name END,
           gender = coalesce(EXCLUDED.gender, g.gender),
           updated_at = now()
    RETURNING g.profile_id, g.username, (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE up.inserted) AS added,
       count(*) FILTER (WHERE NOT up.inserted) AS already_known,
       count(*) FILTER (WHERE NOT up.inserted AND old.username IS DISTINCT FROM up.username) AS renamed,
       (SELECT count(*) FROM raw) AS raw_rows
  FROM up LEFT JOIN old USING (profile_id)
"""


def upsert_batch(conn: Connection, tenant_id: UUID, batch: list[PoolProfile],
                 source_job_id: UUID | None = None) -> dict:
    """Upsert ≤ ``BATCH_SIZE`` profiles (ids unique within the batch) into the raw history and
    the pool. Returns ``{"added", "already_known", "renamed"}`` (renamed ⊆ already_known)."""
    if not batch:
        return {"added": 0, "already_known": 0, "renamed": 0}
    with conn.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy(_COPY) as copy:
            copy.set_types(("text",) * 5)
            for p in batch:
                copy.write_row((p.profile_id, p.username, p.full_name, p.gender, p.source_account))
    row = conn.execute(_UPSERT, {"tenant_id": tenant_id, "source_job_id": source_job_id}).fetchone()
    return {"added": row["added"], "already_known": row["already_known"], "renamed": row["renamed"]}


def _scrape_pages(services, tenant_id: UUID, job_id: UUID, seen: set[str], rejects: NormalisedProfiles):
    """Yield lists of normalised profiles of scrape job ``job_id``, ``BATCH_SIZE`` rows a page
    (keyset on ``result_id``); rows failing the id/username rules are counted in ``rejects``."""
    after = 0
    while True:
        with services.db.transaction() as conn:
            rows = conn.execute(
                "SELECT result_id, profile_id, username, full_name, gender, source_account"
                " FROM scrape_results WHERE job_id = %s AND tenant_id = %s AND result_id > %s"
                " ORDER BY result_id LIMIT %s", (job_id, tenant_id, after, BATCH_SIZE)).fetchall()
        if not rows:
            return
        after = rows[-1]["result_id"]
        page = []
        for row in rows:
            profile, reason = normalise_profile(row["profile_id"], row["username"], row["full_name"])
            if profile is not None and profile.profile_id in seen:
                profile, reason = None, "duplicate"
            if profile is None:
                rejects.rejected_counts[reason] += 1
                continue
            seen.add(profile.profile_id)
            page.append(PoolProfile(profile.profile_id, profile.username, profile.full_name,
                                    row["gender"], row["source_account"]))
        yield page


def check_source_job(conn: Connection, tenant_id: UUID, job_id: UUID) -> tuple[int, str, str | None]:
    """Whether scrape job ``job_id`` of the tenant can be ingested: ``(http_status, code, message)``
    is ``(200, "OK", None)`` when it can, 404 when unknown or another tenant's, 409 when it is
    not a scrape job or has not finished successfully."""
    job = get_job(conn, tenant_id, job_id)
    if job is None:
        return 404, "NOT_FOUND", "job not found"
    if job["kind"] != "scrape":
        return 409, "NO_RESULTS", f"a {job['kind']} job has no profiles to ingest"
    if job["status"] not in SCRAPE_READY:
        return 409, "JOB_NOT_FINISHED", (f"job is {job['status']}; only a completed scrape job"
                                         " (completed or completed_with_errors) can be ingested")
    return 200, "OK", None


def ingest_job(services, job: dict, report) -> dict:
    """Job handler of kind ``ingest``.

    ``job["params"]`` is ``{"profiles": [{"profile_id", "username", "full_name"}...],
    "rejected": {reason: n}}`` (already normalised by the API) or ``{"job_id": "<scrape job>"}``.
    Returns ``{"source": "request"|"scrape_job", "received", "added", "already_known",
    "renamed", "rejected": {"bad_id", "bad_username", "duplicate"}, "rejected_total"}``.
    Raises ``JobFailed`` when the scrape job is gone or not finished; ``JobCancelled`` (with
    ``{"source", "ingested", "added", "already_known", "renamed"}`` so far) when the job is
    cancelled, checked before and after each batch (batches already written stay in the pool).
    """
    tenant_id, params = job["tenant_id"], job["params"]
    totals = {"added": 0, "already_known": 0, "renamed": 0}
    rejects = NormalisedProfiles()
    for reason, n in (params.get("rejected") or {}).items():
        rejects.rejected_counts[reason] = rejects.rejected_counts.get(reason, 0) + int(n)

    if params.get("job_id"):
        source_job_id = UUID(params["job_id"])
        with services.db.transaction() as conn:
            status, _, message = check_source_job(conn, tenant_id, source_job_id)
            expected = conn.execute(
                "SELECT count(*) AS n FROM scrape_results WHERE job_id = %s AND tenant_id = %s",
                (source_job_id, tenant_id)).fetchone()["n"]
        if status != 200:
            raise JobFailed(f"cannot ingest job {source_job_id}: {message}")
        pages, source = _scrape_pages(services, tenant_id, source_job_id, set(), rejects), "scrape_job"
    else:
        source_job_id = None
        profiles = [PoolProfile(p["profile_id"], p["username"], p.get("full_name", ""))
                    for p in params.get("profiles") or []]
        expected = len(profiles)
        pages = (profiles[i:i + BATCH_SIZE] for i in range(0, len(profiles), BATCH_SIZE))
        source = "request"

    done = 0
    for page in pages:
        try:
            checkpoint(report)
        except JobCancelled:
            raise JobCancelled({"source": source, "ingested": done, **totals}) from None
        with services.db.transaction() as conn:
            counts = upsert_batch(conn, tenant_id, page, source_job_id)
        for key in totals:
            totals[key] += counts[key]
        done += len(page)
        try:
            report(int(99 * done / max(expected, 1)), {"ingested": done})
        except JobCancelled:
            if done < expected:
                raise JobCancelled({"source": source, "ingested": done, **totals}) from None
    received = done + rejects.rejected_total if source == "scrape_job" else (
        expected + rejects.rejected_total)
    return {"source": source, "source_job_id": str(source_job_id) if source_job_id else None,
            "received": received, **totals, "rejected": rejects.rejected_counts,
            "rejected_total": rejects.rejected_total}


def create_auto_ingest_job(conn: Connection, tenant_id: UUID, scrape_job_id: UUID) -> UUID | None:
    """Insert the ingest job of a scrape job that just completed with ``params.autoIngest``, in
    the caller's (completing) transaction, keyed ``auto-ingest-<scrape job id>`` so it exists at
    most once. Returns its id when this call created it, else None. The caller enqueues
    ``jobs.run`` for it after committing."""
    from server.utils.jobs.table import insert_job

    new = insert_job(conn, tenant_id, "ingest", {"job_id": str(scrape_job_id), "auto": True},
                     f"auto-ingest-{scrape_job_id}")
    return new.job["job_id"] if new.created else None
