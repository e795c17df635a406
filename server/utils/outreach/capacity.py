"""Airtable capacity: how many records each of a tenant's bases will hold and how many API
calls its workspace will make, against its plan's limits (README "Sizing Airtable").

The model follows the service's own daily cadence. run-daily runs once a day: status sync →
unfollow due → delete completed → expire pending → select → distribute → push. A rule of
"X days after an event" compares the event's stamp with the run's start, and events are stamped
a little after a run starts (the push, the sync), so such a rule acts at the run
``floor(X) + 1`` days after the event. A record pushed at run 0 therefore lives:

- followed (share ``s``): seen followed at run ``F`` (VA time, measured), marked unfollow
  ``floor(UNFOLLOW_AFTER_DAYS) + 1`` runs later, seen completed ``V`` runs after that (VA
  time, measured), deleted ``floor(DELETE_COMPLETED_AFTER_HOURS / 24) + 1`` runs later:
  ``Lf = F + floor(U) + 1 + V + floor(H / 24) + 1`` runs;
- never followed (share ``1 − s``): expired at run ``Lp = floor(EXPIRE_PENDING_AFTER_DAYS) + 1``.

With ``D_b = tables in base b × PROFILES_PER_TABLE`` records pushed into base b per run, the base
holds right after the push of run k (k = 1, 2, …, starting empty)
``N_b(k) = D_b × Σ_{a=0}^{k-1} (s·[a < Lf] + (1 − s)·[a < Lp])``, which grows until
``k = max(Lf, Lp)`` and then stays at ``D_b × (s·Lf + (1 − s)·Lp)``. Records already live are
aged forward with the same rules, and rows of ``partial`` campaigns still waiting for room are
counted as pushed by the next run. A base fits while ``N_b`` ≤ its usable limit
(plan limit × (1 − ``AIRTABLE_CAPACITY_MARGIN``)).

API calls per run and base (10 records per write, 100 per page): push ``ceil(P/10)`` per table
plus one schema read, status sync ``ceil(P·L̄/100)`` pages per table (``L̄ = s·Lf + (1−s)·Lp``),
unfollow and delete ``ceil(P·s/10)`` each, expire ``ceil(P·(1−s)/10)``. The workspace's month
is ``calls per run × runs left in the month`` on top of the calls counted so far.

History (the last ``HISTORY_DAYS`` of pushed assignments): ``s`` = followed ÷ (followed +
expired), ``F`` = median days from push to followed, ``V`` = median days from unfollow due to
completed − 1. With fewer than ``MIN_SAMPLE`` decided records the defaults are used: ``s = 1``
(every record takes the long path: the cautious choice), ``F = V = 1`` (VAs act the day they
get the row; the next run sees it).
"""
from __future__ import annotations

import calendar
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from server.utils.airtable.occupancy import live_records_per_base
from server.utils.airtable.placement import table_bases, tables_per_base
from server.utils.airtable.plans import RECORDS_PER_PAGE, RECORDS_PER_WRITE, tenant_limits
from server.utils.airtable.usage import ApiCallBudget, month_of
from server.utils.clock import utc_now

HISTORY_DAYS = 30
MIN_SAMPLE = 100
FOLLOWED_STATUSES = ("followed", "unfollow", "completed")


@dataclass(frozen=True)
class History:
    """What VAs do: ``followed_share`` (0..1), ``follow_runs`` (runs from push to seen
    followed), ``unfollow_runs`` (runs from marked unfollow to seen completed), ``sample``
    (decided records measured), ``source`` (``"history"`` or ``"default"``)."""

    followed_share: float = 1.0
    follow_runs: int = 1
    unfollow_runs: int = 1
    sample: int = 0
    source: str = "default"


@dataclass(frozen=True)
class Rules:
    """The lifecycle settings the model needs (``UNFOLLOW_AFTER_DAYS``,
    ``DELETE_COMPLETED_AFTER_HOURS``, ``EXPIRE_PENDING_AFTER_DAYS``)."""

    unfollow_after_days: float
    delete_completed_after_hours: float
    expire_pending_after_days: float

    @classmethod
    def from_settings(cls, settings) -> "Rules":
        """The rules of a ``Settings``."""
        return cls(settings.unfollow_after_days, settings.delete_completed_after_hours,
                   settings.expire_pending_after_days)


def lifetimes(rules: Rules, history: History) -> tuple[int, int]:
    """``(Lf, Lp)``: runs a followed / a never-followed record stays in Airtable (the number of
    pushes it is present at, its own included). A record not followed before it expires takes
    the pending path, so ``Lf`` is at least ``Lp`` only when ``F < Lp``."""
    pending = math.floor(rules.expire_pending_after_days) + 1
    if history.follow_runs >= pending:
        return pending, pending
    followed = (history.follow_runs + math.floor(rules.unfollow_after_days) + 1 + history.unfollow_runs
                + math.floor(rules.delete_completed_after_hours / 24) + 1)
    return followed, pending


def alive_share(age: int, lf: int, lp: int, share: float) -> float:
    """Expected share of a fresh cohort still in Airtable at the push ``age`` runs after its own."""
    return share * (age < lf) + (1 - share) * (age < lp)


def calls_per_run(tables: int, per_table: int, lf: int, lp: int, share: float) -> int:
    """API calls one run makes in a base holding ``tables`` VA tables of ``per_table`` a day
    (steady state; module docstring)."""
    if tables <= 0:
        return 0
    average = share * lf + (1 - share) * lp
    per_table_calls = (math.ceil(per_table / RECORDS_PER_WRITE)
                       + max(1, math.ceil(per_table * average / RECORDS_PER_PAGE))
                       + 2 * math.ceil(per_table * share / RECORDS_PER_WRITE)
                       + math.ceil(per_table * (1 - share) / RECORDS_PER_WRITE))
    return tables * per_table_calls + 1


def project_base(per_run: int, existing: list[tuple[int, str, int]], lf: int, lp: int, history: History,
                 days: int) -> list[int]:
    """Records in a base right after the push of runs 1..``days``.

    ``per_run``: records pushed per run; ``existing``: live records as ``(age in runs at run 1,
    status, count)``; a pending record younger than ``F`` may still be followed, an older one
    expires at ``Lp``; a followed one is deleted at ``Lf`` (one run after now when it is already
    older: a slow VA)."""
    share, out = history.followed_share, []
    for k in range(1, days + 1):
        total = per_run * sum(alive_share(a, lf, lp, share) for a in range(k))
        for age0, status, count in existing:
            age = age0 + k - 1
            if status == "pending":
                alive = alive_share(age, lf, lp, share) if age0 < history.follow_runs else float(age < lp)
            else:
                alive = float(age < max(lf, age0 + 1))
            total += count * alive
        out.append(int(round(total)))
    return out


def measure_history(conn, tenant_id, now: datetime) -> History:
    """The tenant's :class:`History` from its assignments pushed in the last ``HISTORY_DAYS``
    (defaults when fewer than ``MIN_SAMPLE`` records are decided: followed or expired)."""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE followed_at IS NOT NULL) AS followed,
               count(*) FILTER (WHERE followed_at IS NULL AND archive_reason = 'expired') AS expired,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM followed_at - pushed_at))
                   FILTER (WHERE followed_at IS NOT NULL) AS follow_seconds,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - unfollow_due_at))
                   FILTER (WHERE completed_at IS NOT NULL AND unfollow_due_at IS NOT NULL) AS unfollow_seconds
          FROM daily_assignments
         WHERE tenant_id = %s AND pushed_at IS NOT NULL AND pushed_at >= %s
        """, (tenant_id, now - timedelta(days=HISTORY_DAYS))).fetchone()
    decided = row["followed"] + row["expired"]
    if decided < MIN_SAMPLE:
        return History()
    follow = max(1, round((row["follow_seconds"] or 86400) / 86400))
    unfollow = max(1, round((row["unfollow_seconds"] or 2 * 86400) / 86400) - 1)
    return History(round(row["followed"] / decided, 4), follow, unfollow, decided, "history")


def _existing_cohorts(conn, tenant, first_run: date) -> dict[str, list[tuple[int, str, int]]]:
    """Live records per base as ``(age in runs at the next run, pending|followed, count)``, plus
    the rows of ``partial`` campaigns still waiting for room (pushed by the next run: age 0)."""
    out: dict[str, list[tuple[int, str, int]]] = {}
    placement = table_bases(max(tenant.num_va_tables, 1), tenant.base_ids)
    for row in conn.execute(
            """
            SELECT d.va_table_number AS n, count(*) AS n_rows
              FROM daily_assignments d JOIN campaigns c ON c.campaign_id = d.campaign_id AND c.tenant_id = d.tenant_id
             WHERE d.tenant_id = %s AND c.status = 'partial' AND d.archived_at IS NULL
               AND d.airtable_record_id IS NULL AND d.va_table_number IS NOT NULL
             GROUP BY 1
            """, (tenant.tenant_id,)):
        base_id = placement.get(row["n"], tenant.airtable_base_id)
        out.setdefault(base_id, []).append((0, "pending", row["n_rows"]))
    for row in conn.execute(
            """
            SELECT coalesce(d.airtable_base_id, %s) AS base_id, c.campaign_date,
                   CASE WHEN d.status = 'pending' THEN 'pending' ELSE 'followed' END AS status, count(*) AS n
              FROM daily_assignments d JOIN campaigns c ON c.campaign_id = d.campaign_id AND c.tenant_id = d.tenant_id
             WHERE d.tenant_id = %s AND d.archived_at IS NULL AND d.airtable_record_id IS NOT NULL
             GROUP BY 1, 2, 3
            """, (tenant.airtable_base_id, tenant.tenant_id)):
        age = max(1, (first_run - row["campaign_date"]).days)
        out.setdefault(row["base_id"], []).append((age, row["status"], row["n"]))
    return out


def _span(numbers: list[int]) -> str:
    return f"{numbers[0]}-{numbers[-1]}" if len(numbers) > 1 else (str(numbers[0]) if numbers else "")


def forecast(services, tenant, history: History | None = None) -> dict:
    """The capacity forecast of ``tenant`` now (shape in ``api_outreach_schemas.CapacitySchema``):
    per base its VA tables, records per run, steady-state records, live records (the service's
    own assignments), usable limit, ``fits`` and ``first_day_over`` (``{"day", "date",
    "records"}``: the first run whose push would pass the usable limit, or None); the
    workspace's API calls per run and month, used this month, cap, ``fits`` and
    ``first_day_over``; overall ``fits`` and ``stops_fitting`` (the earliest reason)."""
    settings = services.settings
    now = utc_now(services, tenant)
    rules = Rules.from_settings(settings)
    limits = tenant_limits(tenant, settings.airtable_capacity_margin)
    with services.db.transaction() as conn:
        history = history or measure_history(conn, tenant.tenant_id, now)
        live = live_records_per_base(conn, tenant)
        ran_today = conn.execute("SELECT 1 FROM campaigns WHERE tenant_id = %s AND campaign_date = %s",
                                 (tenant.tenant_id, now.date())).fetchone() is not None
        first_run = now.date() + timedelta(days=1 if ran_today else 0)
        existing = _existing_cohorts(conn, tenant, first_run)
    budget = ApiCallBudget(services.redis, tenant.workspace_key, month_of(now), limits.api_calls_per_month,
                           db=services.db)
    return build_forecast(tenant, rules, history, limits, live, existing, budget.used(), first_run)


def build_forecast(tenant, rules: Rules, history: History, limits, live: dict[str, int],
                   existing: dict[str, list[tuple[int, str, int]]], calls_used: int, first_run: date) -> dict:
    """:func:`forecast` from its inputs (no I/O): ``live`` records per base, ``existing``
    cohorts per base (see :func:`project_base`), ``calls_used`` this month, ``first_run`` the
    date of the next run (day 1)."""
    lf, lp = lifetimes(rules, history)
    share = history.followed_share
    per_table = tenant.profiles_per_table
    horizon = max(lf, lp) + 1
    bases = []
    calls_day = 0
    placement = tables_per_base(tenant.num_va_tables, tenant.base_ids) if tenant.base_ids else {}
    for base_id, numbers in placement.items():
        per_run = len(numbers) * per_table
        path = project_base(per_run, existing.get(base_id, []), lf, lp, history, horizon)
        over = next((k for k, n in enumerate(path, start=1) if n > limits.usable_records_per_base), None)
        base_calls = calls_per_run(len(numbers), per_table, lf, lp, share)
        calls_day += base_calls
        bases.append({
            "base_id": base_id, "va_tables": _span(numbers), "tables": len(numbers), "records_per_day": per_run,
            "steady_state_records": int(round(per_run * (share * lf + (1 - share) * lp))),
            "peak_records": max(path) if path else 0,
            "live_records": live.get(base_id, 0), "records_limit": limits.records_per_base,
            "usable_records": limits.usable_records_per_base, "fits": over is None,
            "first_day_over": None if over is None else {
                "day": over, "date": (first_run + timedelta(days=over - 1)).isoformat(), "records": path[over - 1]},
            "api_calls_per_day": base_calls,
        })
    days_in_month = calendar.monthrange(first_run.year, first_run.month)[1]
    runs_left = days_in_month - first_run.day + 1
    cap = limits.api_calls_per_month
    calls_over = None
    if cap is not None and calls_day:
        if calls_used + calls_day * runs_left > cap:
            day = max(1, (cap - calls_used) // calls_day + 1)
            calls_over = {"day": day, "date": (first_run + timedelta(days=day - 1)).isoformat(),
                          "calls": calls_used + calls_day * day}
        elif calls_day * 30 > cap:           # this month ends in time, a full month will not
            day = runs_left + cap // calls_day + 1
            calls_over = {"day": day, "date": (first_run + timedelta(days=day - 1)).isoformat(),
                          "calls": calls_day * (cap // calls_day + 1)}
    reasons = [(b["first_day_over"]["day"], f"base {b['base_id']} passes {b['usable_records']:,} records "
                f"({100 * (1 - limits.margin):.0f}% of {limits.records_label}) "
                f"with {b['first_day_over']['records']:,}") for b in bases if b["first_day_over"]]
    if calls_over:
        reasons.append((calls_over["day"], f"the workspace passes its {cap:,} API calls a month "
                        f"({calls_day:,} a day)"))
    reasons.sort()
    first = reasons[0] if reasons else None
    return {
        "tenant": tenant.name,
        "next_run_date": first_run.isoformat(),
        "settings": {"va_tables": tenant.num_va_tables, "profiles_per_table": per_table,
                     "records_per_day": tenant.num_va_tables * per_table, "bases": len(tenant.base_ids),
                     **asdict(rules)},
        "history": asdict(history),
        "model": {"followed_record_days": lf, "pending_record_days": lp,
                  "average_record_days": round(share * lf + (1 - share) * lp, 3)},
        "limits": limits.as_dict(),
        "bases": bases,
        "steady_state_records": sum(b["steady_state_records"] for b in bases),
        "live_records": sum(live.values()),
        "api_calls": {"per_day": calls_day, "per_month": calls_day * 30, "month": first_run.strftime("%Y-%m"),
                      "used_this_month": calls_used, "cap": cap, "fits": calls_over is None,
                      "first_day_over": calls_over},
        "fits": not reasons,
        "stops_fitting": None if first is None else {
            "day": first[0], "date": (first_run + timedelta(days=first[0] - 1)).isoformat(), "reason": first[1]},
    }


def describe(result: dict) -> list[str]:
    """Readable lines of a forecast, for the operator CLI."""
    lim = result["limits"]
    model = result["model"]
    hist = result["history"]
    calls = result["api_calls"]
    lines = [
        f"Airtable capacity of {result['tenant']}: {result['settings']['va_tables']} VA tables x "
        f"{result['settings']['profiles_per_table']} = {result['settings']['records_per_day']:,} records a day "
        f"over {result['settings']['bases']} base(s); {lim['plan']} plan: {lim['records_per_base']:,} records per base "
        f"(usable {lim['usable_records_per_base']:,}), "
        + (f"{lim['api_calls_per_month']:,} API calls a month" if lim["api_calls_per_month"] else "unlimited API calls"),
        f"  a record lives {model['followed_record_days']} days if followed, {model['pending_record_days']} if not "
        f"(followed share {hist['followed_share']:.0%}, {hist['source']}); average {model['average_record_days']} days",
    ]
    for b in result["bases"]:
        over = b["first_day_over"]
        lines.append(f"  base {b['base_id']} tables {b['va_tables']}: {b['records_per_day']:,}/day -> "
                     f"{b['steady_state_records']:,} at steady state, {b['live_records']:,} live now: "
                     + ("fits" if b["fits"] else f"over on day {over['day']} ({over['date']}): {over['records']:,}"))
    lines.append(f"  API calls: {calls['per_day']:,}/day, ~{calls['per_month']:,}/month, {calls['used_this_month']:,} "
                 f"used in {calls['month']}: " + ("fits" if calls["fits"] else
                                                  f"over on day {calls['first_day_over']['day']} "
                                                  f"({calls['first_day_over']['date']})"))
    stop = result["stops_fitting"]
    lines.append("  fits" if result["fits"] else f"  DOES NOT FIT from day {stop['day']} ({stop['date']}): {stop['reason']}")
    return lines
