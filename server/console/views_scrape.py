"""Console page for a new scrape: paste accounts or upload a text file, choose the gender,
count and options, see which accounts are accepted or rejected, then confirm."""
from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for

from server.api_async_schemas import GENDERS
from server.api_common import enqueue
from server.console.blueprint import bp
from server.console.session import services
from server.utils.accounts import normalise_accounts
from server.utils.scrape.create import create_scrape_job, scrape_params

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
REJECTS_SHOWN = 100
ACCEPTED_SHOWN = 60
MAX_COUNT = 10_000_000


def _read_form() -> tuple[dict, list[str], dict[str, str]]:
    """Options, raw account lines and field errors from the new-scrape form (textarea and/or
    uploaded file)."""
    errors: dict[str, str] = {}
    text = request.form.get("accounts", "")
    upload = request.files.get("accounts_file")
    if upload and upload.filename:
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            errors["accounts_file"] = "the file is larger than 20 MB"
        else:
            try:
                text += "\n" + data.decode("utf-8-sig")
            except UnicodeDecodeError:
                errors["accounts_file"] = "the file is not UTF-8 text"
    lines = [part.strip() for line in text.splitlines() for part in line.split(",")]
    lines = [line for line in lines if line and not line.startswith("#")]
    gender = request.form.get("target_gender", "female")
    if gender not in GENDERS:
        errors["target_gender"] = "choose female, male or any"
    count_text = request.form.get("count", "").strip().replace(",", "").replace("_", "")
    count = None
    if count_text:
        if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_COUNT:
            errors["count"] = f"a whole number from 1 to {MAX_COUNT:,}, or empty for no limit"
        else:
            count = int(count_text)
    options = {"targetGender": gender, "totalScrapeCount": count,
               "includeUnknown": request.form.get("include_unknown") == "on",
               "autoIngest": request.form.get("auto_ingest") == "on",
               "minGenderProbability": None, "platform": "instagram"}
    if not lines and "accounts_file" not in errors:
        errors["accounts"] = "paste at least one account or upload a file"
    return options, lines, errors


def _count_field(name: str) -> int:
    """A non-negative count from a hidden field of the confirm form (0 when absent or odd)."""
    text = request.form.get(name, "")
    return min(int(text), 10_000_000) if text.isdigit() else 0


@bp.get("/scrape/new")
def new_scrape():
    """The empty form."""
    return render_template("console/scrape_new.html", form={"target_gender": "female", "include_unknown": False},
                           errors={})


@bp.post("/scrape/check")
def check_scrape():
    """Normalise the accounts and show what would be scraped, with a button to confirm."""
    options, lines, errors = _read_form()
    settings = services().settings
    if len(lines) > settings.max_accounts_per_request:
        errors["accounts"] = f"at most {settings.max_accounts_per_request:,} accounts per scrape"
    norm = normalise_accounts(lines) if not errors else None
    if norm is not None and not norm.accepted:
        errors["accounts"] = "none of these is a valid Instagram account"
    if errors:
        return render_template("console/scrape_new.html", form=request.form, errors=errors,
                               rejected=norm.rejected[:REJECTS_SHOWN] if norm else []), 400
    chunks = -(-len(norm.accepted) // settings.chunk_size)
    return render_template("console/scrape_check.html", norm=norm, options=options, chunks=chunks,
                           accepted_shown=norm.accepted[:ACCEPTED_SHOWN], rejected=norm.rejected[:REJECTS_SHOWN],
                           submission=uuid.uuid4().hex)


@bp.post("/scrape/start")
def start_scrape():
    """Create the scrape job (accounts are normalised again; the form's one-time submission id
    is the idempotency key, so a double click starts one job) and open its page."""
    options, lines, errors = _read_form()
    norm = normalise_accounts(lines) if not errors else None
    if errors or not norm.accepted:
        return render_template("console/scrape_new.html", form=request.form, errors=errors or {
            "accounts": "none of these is a valid Instagram account"}, rejected=[]), 400
    settings = services().settings
    # counts of the checked input (the confirm form carries only the accepted accounts)
    rejected = len(norm.rejected) + _count_field("accounts_rejected")
    duplicates = norm.duplicates + _count_field("duplicates_removed")
    params = scrape_params(options, len(norm.accepted), rejected, duplicates,
                           settings.apify_max_followers_per_account)
    key = "console-" + request.form.get("submission", "")[:64] if request.form.get("submission") else None
    with services().db.transaction() as conn:
        new = create_scrape_job(conn, g.tenant.tenant_id, norm.accepted, params, settings.chunk_size,
                                options["totalScrapeCount"], key, None)
    if new.created:
        enqueue("scrape.start", str(new.job["job_id"]))
    return redirect(url_for("console.job_page", job_id=new.job["job_id"]))
