"""The ``follower`` command: start scrapes and daily runs, follow them with a progress bar,
list jobs, fetch results and campaigns. Configuration: ``--api-url`` / ``FOLLOWER_API_URL``
and ``--api-key`` / ``FOLLOWER_API_KEY``. Every command takes ``--json`` for machine-readable
output; exit codes are listed in ``follower_cli.client`` and the README."""
from __future__ import annotations

import json
import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from follower_cli import client as codes
from follower_cli.client import ApiFailure, Client

TERMINAL = ("completed", "completed_with_errors", "failed", "cancelled")
DEFAULT_URL = "http://127.0.0.1:5001"

# Piped output is not cut at 80 columns, so job ids stay whole for grep and friends.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def job_exit_code(status: str) -> int:
    """Exit code for a job that ended with ``status``."""
    return {"completed": codes.OK, "completed_with_errors": codes.PARTIAL}.get(status, codes.JOB_FAILED)


def emit_json(data) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, default=str))


def json_option(func):
    """Add ``--json`` to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


class FollowerGroup(click.Group):
    """Turns ``ApiFailure`` into a message on stderr and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiFailure as exc:
            err.print(f"[red]error:[/red] {exc}")
            sys.exit(exc.exit_code)


@click.group(cls=FollowerGroup)
@click.option("--api-url", envvar="FOLLOWER_API_URL", default=DEFAULT_URL, show_default=True,
              help="Base URL of the service (env FOLLOWER_API_URL).")
@click.option("--api-key", envvar="FOLLOWER_API_KEY", required=True,
              help="API key of your tenant (env FOLLOWER_API_KEY).")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              help="Seconds per HTTP request.")
@click.version_option("0.1.0", prog_name="follower")
@click.pass_context
def cli(ctx, api_url, api_key, timeout):
    """Command-line client of the follower pipeline API."""
    ctx.obj = Client(api_url, api_key, timeout)


def watch(api: Client, job_id: str, label: str, interval: float, quiet: bool) -> dict:
    """Poll the job until it ends, showing a progress bar on stderr unless ``quiet``; returns
    the final job."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err, disable=quiet,
                        transient=False)
    with progress:
        task = progress.add_task(label, total=100, info="")
        while True:
            job = api.get(f"/api/job-status/{job_id}")
            info = job["status"]
            if job["kind"] == "scrape":
                info += f" · {job['profiles_scraped']:,} kept · chunk {job['current_batch']}/{job['total_batches']}"
            progress.update(task, completed=job["progress"], info=info)
            if job["status"] in TERMINAL:
                return job
            time.sleep(interval)


def print_job(job: dict) -> None:
    """A job's summary as text."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", job["job_id"])
    table.add_row("kind", job["kind"])
    table.add_row("status", job["status"])
    table.add_row("progress", f"{job['progress']}%")
    if job["kind"] == "scrape":
        target = f" of {job['max_profiles']:,}" if job.get("max_profiles") else ""
        table.add_row("kept", f"{job['profiles_scraped']:,}{target} ({job['items_read']:,} followers read)")
        split = (job.get("result") or {}).get("gender_split") or {}
        if split:
            table.add_row("gender split", ", ".join(f"{g} {n:,}" for g, n in sorted(split.items())))
        table.add_row("chunks", f"{job['current_batch']}/{job['total_batches']} ({job['failed_batches']} failed)")
        table.add_row("cost", f"${job['cost_usd']:.2f}")
    steps = (job.get("result") or {}).get("steps")
    if steps:
        for name in (job["result"].get("steps_run") or list(steps)):
            summary = steps[name]
            table.add_row(f"  {name}", "failed: " + summary["error"] if "error" in summary else
                          ("skipped" if summary.get("skipped") else "ok"))
    table.add_row("created", job["created_at"])
    if job.get("completed_at"):
        table.add_row("finished", job["completed_at"])
    if job.get("error_message"):
        table.add_row("error", job["error_message"])
    out.print(table)


@cli.command()
@click.argument("accounts_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--gender", type=click.Choice(["female", "male", "any"]), default="any", show_default=True,
              help="Keep followers of this gender.")
@click.option("--count", type=click.IntRange(1, 10_000_000), help="Stop once this many profiles are kept.")
@click.option("--include-unknown/--no-include-unknown", default=True, show_default=True,
              help="Also keep followers whose gender is unknown.")
@click.option("--auto-ingest", is_flag=True, help="Add the kept profiles to the pool when done.")
@click.option("--watch", "watch_", is_flag=True, help="Show a progress bar until the job ends, then the summary.")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True,
              help="Seconds between polls with --watch.")
@json_option
@click.pass_obj
def scrape(api: Client, accounts_file, gender, count, include_unknown, auto_ingest, watch_, interval, as_json):
    """Scrape the followers of the accounts in ACCOUNTS_FILE (one per line; '#' starts a comment;
    '-' reads stdin)."""
    accounts = [line.strip() for line in accounts_file if line.strip() and not line.lstrip().startswith("#")]
    if not accounts:
        raise click.UsageError(f"{accounts_file.name} lists no account")
    body = {"accounts": accounts, "targetGender": gender, "includeUnknown": include_unknown,
            "autoIngest": auto_ingest}
    if count:
        body["totalScrapeCount"] = count
    accepted = api.post("/api/scrape-followers", body)
    if not as_json:
        out.print(f"scrape job [bold]{accepted['job_id']}[/bold]: {accepted['accounts_accepted']:,} accounts "
                  f"in {accepted['total_batches']:,} chunks ({accepted['accounts_rejected']:,} rejected, "
                  f"{accepted['duplicates_removed']:,} duplicates)")
        for reject in accepted.get("rejected", [])[:10]:
            err.print(f"  rejected {reject['value']!r}: {reject['reason']}")
    if not watch_:
        if as_json:
            emit_json(accepted)
        return
    job = watch(api, accepted["job_id"], "scrape", interval, as_json)
    if as_json:
        emit_json(job)
    else:
        print_job(job)
    sys.exit(job_exit_code(job["status"]))


@cli.command()
@click.option("--kind", type=click.Choice(["scrape", "ingest", "run_daily", "airtable_push", "status_sync",
                                           "mark_unfollow", "delete_completed", "expire_pending", "create_base"]))
@click.option("--status", help="A status, or several separated by commas (e.g. queued,processing).")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--cursor", help="next_cursor of a previous page.")
@json_option
@click.pass_obj
def jobs(api: Client, kind, status, limit, cursor, as_json):
    """List your jobs, newest first."""
    page = api.get("/api/jobs", kind=kind, status=status, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    table = Table(show_edge=False, header_style="bold")
    for name, justify in (("job", "left"), ("kind", "left"), ("status", "left"), ("progress", "right"),
                          ("kept", "right"), ("cost", "right"), ("created", "left")):
        table.add_column(name, justify=justify, no_wrap=name in ("job", "created"))
    for job in page["jobs"]:
        kept = f"{job['profiles_scraped']:,}" if job["kind"] == "scrape" else ""
        cost = f"${job['cost_usd']:.2f}" if job["kind"] == "scrape" else ""
        table.add_row(job["job_id"], job["kind"], job["status"], f"{job['progress']}%", kept, cost,
                      job["created_at"][:19].replace("T", " "))
    out.print(table if page["jobs"] else "no job")
    if page.get("next_cursor"):
        out.print(f"more: --cursor {page['next_cursor']}")


@cli.command()
@click.argument("job_id")
@click.option("--watch", "watch_", is_flag=True, help="Follow the job with a progress bar until it ends.")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True)
@json_option
@click.pass_obj
def status(api: Client, job_id, watch_, interval, as_json):
    """Show one job (exit code 0 completed, 8 completed with errors, 1 failed or cancelled, 0
    while it runs)."""
    job = watch(api, job_id, "job", interval, as_json) if watch_ else api.get(f"/api/job-status/{job_id}")
    if as_json:
        emit_json(job)
    else:
        print_job(job)
    if job["status"] in TERMINAL:
        sys.exit(job_exit_code(job["status"]))


@cli.command()
@click.argument("job_id")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write every kept profile as CSV to this file ('-' for stdout).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Profiles shown without --csv.")
@json_option
@click.pass_obj
def results(api: Client, job_id, csv_path, limit, as_json):
    """Kept profiles of a finished scrape job (exit code 5 while it still runs)."""
    if csv_path:
        response = api.request("GET", f"/api/job-results/{job_id}", params={"format": "csv"}, stream=True)
        rows = 0
        target = sys.stdout.buffer if csv_path == "-" else open(csv_path, "wb")
        try:
            for chunk in response.iter_content(chunk_size=65536):
                target.write(chunk)
                rows += chunk.count(b"\n")
        finally:
            if target is not sys.stdout.buffer:
                target.close()
        if csv_path != "-":
            message = {"job_id": job_id, "csv": csv_path, "profiles": max(rows - 1, 0)}
            emit_json(message) if as_json else err.print(f"wrote {max(rows - 1, 0):,} profiles to {csv_path}")
        return
    page = api.get(f"/api/job-results/{job_id}", limit=limit)
    if as_json:
        emit_json(page)
        return
    table = Table(show_edge=False, header_style="bold")
    for name in ("username", "full name", "gender", "p", "source"):
        table.add_column(name)
    for p in page["profiles"]:
        table.add_row(p["username"], p["full_name"], p["gender"], f"{p['gender_probability']:.2f}",
                      p["source_account"] or "")
    out.print(table)
    out.print(f"{len(page['profiles'])} of {page['total']:,} profiles (use --csv FILE for all)")


@cli.command()
@click.argument("job_id")
@json_option
@click.pass_obj
def cancel(api: Client, job_id, as_json):
    """Cancel a queued or running job (exit code 5 if it had already ended)."""
    job = api.post(f"/api/jobs/{job_id}/cancel")
    emit_json(job) if as_json else out.print(f"job {job_id} {job['status']}")


@cli.command("run-daily")
@click.option("--date", "campaign_date", type=click.DateTime(["%Y-%m-%d"]), help="Campaign date (default today, UTC).")
@click.option("--watch", "watch_", is_flag=True, help="Show a progress bar until the run ends, then each step.")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True)
@json_option
@click.pass_obj
def run_daily(api: Client, campaign_date, watch_, interval, as_json):
    """Run the daily pipeline now: sync statuses, unfollow due, delete completed, expire
    pending, select, distribute, push (exit code 5 while another run is in progress)."""
    body = {"campaign_date": campaign_date.date().isoformat()} if campaign_date else {}
    accepted = api.post("/api/run-daily", body)
    if not as_json:
        out.print(f"run-daily job [bold]{accepted['job_id']}[/bold] for {accepted.get('campaign_date')}")
    if not watch_:
        if as_json:
            emit_json(accepted)
        return
    job = watch(api, accepted["job_id"], "run-daily", interval, as_json)
    emit_json(job) if as_json else print_job(job)
    sys.exit(job_exit_code(job["status"]))


@cli.command()
@click.argument("campaign_date", required=False, type=click.DateTime(["%Y-%m-%d"]))
@json_option
@click.pass_obj
def campaign(api: Client, campaign_date, as_json):
    """Show the campaign of CAMPAIGN_DATE (default: the latest) with one line per VA table
    (exit code 4 when there is none)."""
    day = campaign_date.date().isoformat() if campaign_date else None
    page = api.get("/api/campaigns", campaign_date=day, limit=1)
    if not page["campaigns"]:
        raise ApiFailure(f"no campaign{' for ' + day if day else ' yet'}", codes.NOT_FOUND)
    found = page["campaigns"][0]
    if as_json:
        emit_json(found)
        return
    out.print(f"campaign [bold]{found['campaign_date']}[/bold] {found['status']}: {found['total_selected']:,} of "
              f"{found['target']:,} selected, {found['va_tables']} tables; pushed {found['pushed_at'] or 'not yet'}; "
              f"last status sync {found['last_status_sync'] or 'never'}")
    if found.get("warning"):
        err.print(f"warning: {found['warning']}")
    table = Table(show_edge=False, header_style="bold")
    columns = ("pending", "followed", "unfollow", "completed", "archived")
    table.add_column("table")
    for name in columns:
        table.add_column(name, justify="right")
    for number, counts in sorted(found["tables"].items(), key=lambda item: int(item[0])):  # JSON keys are text
        table.add_row(f"{int(number):02d}", *(f"{counts[c]:,}" for c in columns))
    table.add_row("total", *(f"{found['totals'][c]:,}" for c in columns), style="bold")
    out.print(table)


@cli.command()
@json_option
@click.pass_obj
def pool(api: Client, as_json):
    """Pool size, unused profiles by gender and the last 7 days' additions."""
    stats = api.get("/api/pool")
    if as_json:
        emit_json(stats)
        return
    out.print(f"pool {stats['size']:,} profiles, {stats['unused']:,} unused "
              f"({', '.join(f'{g} {n:,}' for g, n in sorted(stats['unused_by_gender'].items())) or 'none'})")
    for day in stats["per_day"][-7:]:
        out.print(f"  {day['date']}  +{day['added']:,}  → {day['size']:,}")


def main() -> None:
    """Entry point of the ``follower`` console script."""
    cli(prog_name="follower")


if __name__ == "__main__":
    main()
