"""Jinja filters and display rules of the console: durations, money, timestamps, and the
colour of every job, chunk, source, campaign and step status (one mapping each, so a new status is one
line here)."""
from __future__ import annotations

from datetime import datetime, timezone

# status → CSS tone (see console.css: .tone-*). Unknown statuses fall back to "other".
JOB_TONES = {"queued": "muted", "processing": "info", "completed": "ok", "completed_with_errors": "warn",
             "failed": "bad", "cancelled": "muted"}
CHUNK_TONES = {"queued": "muted", "dispatched": "idle", "running": "info", "waiting": "idle", "done": "ok",
               "failed": "bad", "skipped": "warn", "cancelled": "dark"}
CAMPAIGN_TONES = {"selected": "muted", "distributed": "info", "pushing": "info", "pushed": "ok", "failed": "bad"}
SOURCE_TONES = {"ok": "ok", "private": "warn", "not_found": "warn", "empty": "warn", "failed": "bad",
                "skipped": "muted", "pending": "idle"}
STEP_TONES = {"ok": "ok", "failed": "bad", "skipped": "warn", "cancelled": "warn", "not_run": "muted"}
ASSIGNMENT_TONES = {"pending": "muted", "followed": "info", "unfollow": "warn", "completed": "ok",
                    "archived": "dark"}
KIND_LABELS = {"scrape": "Scrape", "ingest": "Ingest", "run_daily": "Daily run", "airtable_push": "Airtable push",
               "status_sync": "Status sync", "mark_unfollow": "Mark unfollow", "delete_completed": "Delete completed",
               "expire_pending": "Expire pending", "create_base": "Create tables"}
TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")


def tone(status: str | None, mapping: dict[str, str]) -> str:
    """CSS tone of ``status`` in ``mapping``; ``other`` for a status the mapping does not know."""
    return mapping.get(status or "", "other")


def elapsed_seconds(job: dict, now: datetime | None = None) -> float | None:
    """Seconds from a job's start (or creation) to its end, or to ``now`` while it runs."""
    start = job.get("started_at") or job.get("created_at")
    if start is None:
        return None
    end = job.get("completed_at") or now or datetime.now(timezone.utc)
    return max(0.0, (end - start).total_seconds())


def duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``2h 14m``; an em dash for None."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def money(value) -> str:
    """US dollars with cents (``$1.25``); smaller amounts to the tenth of a cent."""
    value = float(value or 0)
    return f"${value:,.3f}" if 0 < value < 0.1 else f"${value:,.2f}"


def when(value) -> str:
    """A timestamp as ``2026-11-30 14:05 UTC``; an em dash for None."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def number(value) -> str:
    """Thousands separated (``14,400``)."""
    return f"{int(value or 0):,}"


def per_dollar(value) -> str:
    """A count per US dollar with one decimal (``1,234.5``); an em dash for None (kept
    something at no cost)."""
    return "—" if value is None else f"{float(value):,.1f}"


def explain_job(job: dict) -> str | None:
    """What happened to a job, in plain words for an operator; None while nothing needs saying."""
    status, message = job["status"], job.get("error_message")
    if status == "failed":
        return f"The job stopped: {message}." if message else "The job stopped with an error."
    if status == "cancelled":
        return "The job was cancelled; profiles kept before that are still available."
    if status == "completed_with_errors":
        failed = job.get("chunks_failed", 0)
        return (f"{failed} chunk(s) of source accounts could not be scraped after every retry; "
                "the profiles from the other chunks are kept." + (f" Last error: {message}." if message else ""))
    if status == "completed" and job["kind"] == "scrape" and job.get("max_profiles") \
            and job["profiles_scraped"] < job["max_profiles"]:
        return (f"The source accounts gave {job['profiles_scraped']:,} matching profiles, fewer than the "
                f"{job['max_profiles']:,} asked for.")
    return None


def register_filters(app) -> None:
    """Add the filters above to ``app``'s Jinja environment."""
    app.jinja_env.filters.update(duration=duration, money=money, when=when, number=number,
                                per_dollar=per_dollar)
    app.jinja_env.globals.update(tone=tone, JOB_TONES=JOB_TONES, CHUNK_TONES=CHUNK_TONES,
                                 CAMPAIGN_TONES=CAMPAIGN_TONES, STEP_TONES=STEP_TONES, SOURCE_TONES=SOURCE_TONES,
                                 ASSIGNMENT_TONES=ASSIGNMENT_TONES, KIND_LABELS=KIND_LABELS)
