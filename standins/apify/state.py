"""In-memory, thread-safe state of the Apify stand-in: configuration, fault switches, runs, counters.

Everything is guarded by one lock; a condition variable wakes long-polling readers
(``waitForFinish``) when a run is aborted or the state is reset. Nothing is persisted.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone

from standins.apify import shapes
from standins.apify.account import DEFAULT_MAX_CONCURRENT_RUNS, DEFAULT_MAX_MEMORY_MBYTES, Account
from standins.apify.datasets import Dataset, planned_total
from standins.apify.runs import RunRecord, iso, stable_id
from standins.apify.webhooks import EVENT_BY_STATUS, WebhookDispatcher

RUN_STATUS_FAULTS = ("FAILED", "TIMED-OUT")
ACCOUNT_LISTS = ("private_accounts", "not_found_accounts", "rate_limited_accounts", "empty_accounts",
                 "empty_once_accounts")


@dataclass
class Faults:
    """Fault switches (see ``POST /_control/faults``). Counters count down as they fire."""

    run_status: str | None = None  # every new run ends FAILED / TIMED-OUT
    fail_next_runs: int = 0  # the next N new runs end FAILED
    http_429: int = 0  # the next N /v2 requests answer 429 rate-limit-exceeded
    http_500: int = 0  # the next N /v2 requests answer 500 internal-server-error
    run_seconds: float | None = None  # overrides the configured run duration for new runs
    error_item_share: float = 0.0  # share of source accounts (stable per name) that are private
    private_accounts: list[str] = field(default_factory=list)  # extra private source accounts
    not_found_accounts: list[str] = field(default_factory=list)  # accounts that do not exist
    rate_limited_accounts: list[str] = field(default_factory=list)  # Instagram rate-limits these
    empty_accounts: list[str] = field(default_factory=list)  # public, but every run gives no item
    empty_once_accounts: list[str] = field(default_factory=list)  # no item in their first run only
    short_pages: bool = False  # dataset pages return fewer items than asked while more remain
    page_limit_cap: int | None = None  # dataset pages never return more than this

    def update(self, changes: dict) -> None:
        """Validate and apply ``changes`` (keys as the fields; None resets a field).

        Raises ``ValueError`` naming the offending key; nothing is applied then.
        """
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        known = {f.name: f for f in fields(self)}
        new = asdict(self)
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {sorted(known)}")
            spec = known[key]
            default = spec.default if spec.default is not MISSING else spec.default_factory()
            if value is None:
                new[key] = default
            elif key == "run_status":
                if value not in RUN_STATUS_FAULTS:
                    raise ValueError("run_status must be 'FAILED', 'TIMED-OUT' or null")
                new[key] = value
            elif key in ("fail_next_runs", "http_429", "http_500", "page_limit_cap"):
                if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "page_limit_cap" else 0):
                    raise ValueError(f"{key} must be a non-negative integer")
                new[key] = value
            elif key in ("run_seconds", "error_item_share"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                        key == "error_item_share" and value > 1):
                    raise ValueError(f"{key} must be a number" + (" in [0, 1]" if key == "error_item_share" else " >= 0"))
                new[key] = float(value)
            elif key == "short_pages":
                if not isinstance(value, bool):
                    raise ValueError("short_pages must be a boolean")
                new[key] = value
            elif key in ACCOUNT_LISTS:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{key} must be a list of strings")
                new[key] = [shapes.normalize_account(v) for v in value]
        for key, value in new.items():
            setattr(self, key, value)

    def as_dict(self) -> dict:
        """Current switches as JSON-ready dict."""
        return asdict(self)


@dataclass
class StandinConfig:
    """Start-up configuration. ``faults`` is applied as the initial fault switches."""

    token: str = "standin-token"
    run_seconds: float = 1.0  # duration of a run from start to SUCCEEDED
    price_per_result: float = 0.0007  # USD per dataset item
    wait_cap_seconds: float = 60.0  # server-side cap of waitForFinish
    max_memory_mbytes: int = DEFAULT_MAX_MEMORY_MBYTES  # account: combined memory of running runs
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS  # account: runs going at once
    run_seconds_per_item: float = 0.0  # a run lasts run_seconds + items x this
    webhook_retry_base_seconds: float = 1.0  # first retry delay of a failed webhook delivery
    faults: dict = field(default_factory=dict)


class Store:
    """Runs, datasets, faults and request counters of one stand-in instance (thread-safe)."""

    def __init__(self, config: StandinConfig) -> None:
        self.config = config
        self._cond = threading.Condition(threading.Lock())
        self._runs: dict[str, RunRecord] = {}
        self._by_dataset: dict[str, RunRecord] = {}
        self._by_kv_store: dict[str, RunRecord] = {}
        self._counts: Counter[str] = Counter()
        self._actors: dict[str, str] = {}  # actId -> "user~name"
        self._actor_runs: Counter[str] = Counter()  # "user~name" -> runs started
        self._empty_served: set[str] = set()  # empty_once accounts that already had their empty run
        self.faults = Faults()
        self.faults.update(dict(config.faults))
        self._active: dict[str, RunRecord] = {}  # runs not terminal when last looked at
        self.account = self._new_account()
        self.webhooks = WebhookDispatcher(self._run_end)
        self.webhooks.settings.retry_base_seconds = config.webhook_retry_base_seconds

    def _new_account(self) -> Account:
        c = self.config
        return Account(max_memory_mbytes=c.max_memory_mbytes, max_concurrent_runs=c.max_concurrent_runs,
                       run_seconds_per_item=c.run_seconds_per_item)

    # -- counters and faults ----------------------------------------------------------------
    def count(self, key: str) -> None:
        """Count one request under ``key`` (e.g. ``"GET /v2/actor-runs/<run_id>"``)."""
        with self._cond:
            self._counts[key] += 1

    def stats(self) -> dict:
        """Request counts per route plus totals."""
        with self._cond:
            counts = dict(self._counts)
        return {"requests": counts, "total": sum(counts.values()), "runs": len(self._runs)}

    def take_http_fault(self) -> int | None:
        """Consume one pending HTTP fault: 429 first, then 500; None when none is pending."""
        with self._cond:
            if self.faults.http_429 > 0:
                self.faults.http_429 -= 1
                return 429
            if self.faults.http_500 > 0:
                self.faults.http_500 -= 1
                return 500
        return None

    def set_faults(self, changes: dict) -> dict:
        """Apply fault changes (``ValueError`` on bad input); returns the switches now in force."""
        with self._cond:
            self.faults.update(changes)
            if isinstance(changes, dict) and "empty_once_accounts" in changes:
                self._empty_served.clear()  # a new list: each account gets its one empty run again
            return self.faults.as_dict()

    def get_faults(self) -> dict:
        """The fault switches in force."""
        with self._cond:
            return self.faults.as_dict()

    def reset(self) -> None:
        """Forget all runs, datasets and counters and clear every fault switch."""
        with self._cond:
            self._runs.clear()
            self._by_dataset.clear()
            self._by_kv_store.clear()
            self._counts.clear()
            self._actors.clear()
            self._actor_runs.clear()
            self._active.clear()
            self._empty_served.clear()
            self.faults = Faults()
            self.account = self._new_account()
            self._cond.notify_all()
        self.webhooks.reset()
        self.webhooks.settings.retry_base_seconds = self.config.webhook_retry_base_seconds

    # -- runs -----------------------------------------------------------------------------------
    def create_run(self, actor_name: str, run_input, input_len: int, *, timeout_secs: int,
                   memory_mbytes: int, max_items: int | None, user_agent: str | None = None,
                   client_ip: str | None = None, webhooks: list[dict] | None = None) -> RunRecord:
        """Start a run of ``actor_name`` (``user~name``) with ``run_input``; returns the record.

        Raises ``account.LimitExceeded`` when the account's memory or concurrent-run limit has no
        room for it; ``webhooks`` (parsed ad-hoc webhooks) are delivered when the run ends."""
        try:
            spec, error = shapes.parse_input(run_input), None
        except shapes.InputError as exc:
            spec, error = None, str(exc)
        with self._cond:
            now = time.monotonic()
            running, memory = self._in_use(now)
            self.account.admit(running, memory, memory_mbytes)
            f = self.faults
            base_seconds = self.config.run_seconds if f.run_seconds is None else f.run_seconds
            outcomes = self._outcomes(spec)  # once per run: an empty_once account is empty in one run only
            items = planned_total(spec, max_items, outcomes) if spec is not None else 0
            forced = f.run_status
            if f.fail_next_runs > 0:
                f.fail_next_runs -= 1
                forced = "FAILED"
            run = RunRecord(
                act_id=stable_id("actor:" + actor_name), actor_name=actor_name,
                user_id=self.user_id(), run_input=run_input, input_len=input_len, spec=spec,
                input_error=error, started_mono=time.monotonic(), started_wall=datetime.now(timezone.utc),
                run_seconds=self.account.run_seconds(base_seconds, items,
                                                     json.dumps(run_input, sort_keys=True, default=str)),
                timeout_secs=timeout_secs, memory_mbytes=memory_mbytes, max_items=max_items,
                price_per_result=self.config.price_per_result, outcomes=outcomes,
                user_agent=user_agent, client_ip=client_ip)
            run.plan(forced)
            run.refresh(time.monotonic())
            self._runs[run.id] = run
            self._by_dataset[run.dataset.id] = run
            self._by_kv_store[run.kv_store_id] = run
            self._actors[run.act_id] = actor_name
            self._actor_runs[actor_name] += 1
            if not run.terminal:
                self._active[run.id] = run
            seconds_to_end = run.seconds_to_end(time.monotonic())
        self.webhooks.watch(run.id, webhooks or [], seconds_to_end)
        return run

    def _in_use(self, now: float) -> tuple[int, int]:
        """(runs going, their combined memory in MB) at ``now``; call with the lock held."""
        for run_id in [r.id for r in self._active.values() if (r.refresh(now) or r.terminal)]:
            del self._active[run_id]
        return len(self._active), sum(r.memory_mbytes for r in self._active.values())

    def _run_end(self, run_id: str) -> tuple[bool, float, dict | None]:
        """For the webhook dispatcher: (ended, seconds to the planned end, payload context)."""
        with self._cond:
            run = self._runs.get(run_id)
            if run is None:
                return True, 0.0, None
            now = time.monotonic()
            run.refresh(now)
            if not run.terminal:
                return False, run.seconds_to_end(now), None
            return True, 0.0, {
                "userId": run.user_id, "createdAt": iso(datetime.now(timezone.utc)),
                "eventType": EVENT_BY_STATUS[run.status],
                "eventData": {"actorId": run.act_id, "actorRunId": run.id}, "resource": run.to_api(now)}

    def account_view(self) -> dict:
        """``GET /_control/account`` body: limits, switches, runs going and peaks."""
        with self._cond:
            running, memory = self._in_use(time.monotonic())
            return self.account.as_dict(running, memory)

    def update_account(self, changes: dict) -> dict:
        """Apply ``/_control/account`` changes (``ValueError`` on bad input); returns the view."""
        with self._cond:
            self.account.update(changes)
        return self.account_view()

    def limits_view(self) -> dict:
        """``GET /v2/users/me/limits`` ``data``."""
        with self._cond:
            running, memory = self._in_use(time.monotonic())
            usage = sum(r.usage_total_usd for r in self._runs.values())
            return self.account.limits_view(running, memory, usage)

    def _outcomes(self, spec: shapes.ScrapeSpec | None) -> dict[str, str]:
        """What each account of a new run gives instead of followers (caller holds the lock);
        an ``empty_once`` account is empty in the first run that asks for it only."""
        if spec is None:
            return {}
        f, out = self.faults, {}
        for acct in spec.accounts:
            outcome = shapes.account_outcome(
                acct, private_share=f.error_item_share, private_accounts=f.private_accounts,
                not_found_accounts=f.not_found_accounts, rate_limited_accounts=f.rate_limited_accounts,
                empty_accounts=f.empty_accounts)
            if outcome is None and acct in f.empty_once_accounts and acct not in self._empty_served:
                self._empty_served.add(acct)
                outcome = shapes.EMPTY
            if outcome:
                out[acct] = outcome
        return out

    def run_sources(self, run_id: str, with_followers: bool = True) -> list[dict] | None:
        """Per-source ground truth of a run (``RunRecord.source_truth``); None if the run is
        unknown. Raises ``ValueError`` while the run is still going."""
        with self._cond:
            run = self._runs.get(run_id)
            if run is None:
                return None
            run.refresh(time.monotonic())
            if not run.terminal:
                raise ValueError(f"run {run_id} is still {run.status}")
            return run.source_truth(with_followers)

    def resolve_actor(self, actor: str) -> tuple[str, int]:
        """``(user~name, runs started)`` for an actor name or a known actId; unknown ids pass through."""
        with self._cond:
            name = self._actors.get(actor, actor)
            return name, self._actor_runs[name]

    def user_id(self) -> str:
        """The (stable) user id that owns everything in this stand-in."""
        return stable_id("user:" + self.config.token)

    def run_view(self, run_id: str, wait_seconds: float = 0.0) -> dict | None:
        """The Run object of ``run_id`` (None if unknown), long-polling up to ``wait_seconds``
        (capped by ``config.wait_cap_seconds``) until the run is terminal."""
        deadline = time.monotonic() + max(0.0, min(wait_seconds, self.config.wait_cap_seconds))
        with self._cond:
            while True:
                run = self._runs.get(run_id)
                if run is None:
                    return None
                now = time.monotonic()
                run.refresh(now)
                if run.terminal or now >= deadline:
                    return run.to_api(now)
                self._cond.wait(max(0.002, min(deadline - now, run.seconds_to_end(now))))

    def abort_run(self, run_id: str) -> dict | None:
        """Abort ``run_id`` (terminal runs unchanged); returns the Run object or None if unknown."""
        with self._cond:
            run = self._runs.get(run_id)
            if run is None:
                return None
            now = time.monotonic()
            run.abort(now)
            self._cond.notify_all()
            view = run.to_api(now)
        self.webhooks.poke(run_id)
        return view

    def run_log(self, run_id: str) -> str | None:
        """Plain-text log of ``run_id`` or None if unknown."""
        with self._cond:
            run = self._runs.get(run_id)
            if run is None:
                return None
            now = time.monotonic()
            run.refresh(now)
            return run.log_text(now)

    def dataset(self, dataset_id: str | None = None, *, run_id: str | None = None) -> tuple[Dataset, RunRecord] | None:
        """``(dataset, run)`` by dataset id or by run id (after refreshing the run); None if unknown.

        The returned Dataset is immutable once its run is terminal, so callers may page it
        without holding the lock.
        """
        with self._cond:
            run = self._runs.get(run_id) if run_id is not None else self._by_dataset.get(dataset_id or "")
            if run is None:
                return None
            run.refresh(time.monotonic())
            return run.dataset, run

    def runs_summary(self) -> list[dict]:
        """All runs (oldest first) as ``GET /_control/runs`` rows."""
        with self._cond:
            now = time.monotonic()
            for run in self._runs.values():
                run.refresh(now)
            return [run.summary() for run in self._runs.values()]

    def list_runs(self, actor_name: str | None, *, offset: int = 0, limit: int | None = None,
                  desc: bool = False, statuses: list[str] | None = None,
                  started_after: datetime | None = None, started_before: datetime | None = None) -> dict:
        """``GET /v2/acts/{actorId}/runs`` (``actor_name`` ``user~name``) or ``GET /v2/actor-runs``
        (None: every run) ``data``: ``{total, offset, limit, desc, count, items}``, runs ordered by
        start (oldest first unless ``desc``), filtered by status and by start time (both bounds
        inclusive), at most ``limit`` (default and maximum 1000) from ``offset``."""
        limit = 1000 if limit is None else max(1, min(limit, 1000))
        with self._cond:
            now = time.monotonic()
            runs = []
            for run in self._runs.values():
                run.refresh(now)
                if actor_name is not None and run.actor_name != self._actors.get(actor_name, actor_name):
                    continue
                if statuses and run.status not in statuses:
                    continue
                if started_after is not None and run.started_wall < started_after:
                    continue
                if started_before is not None and run.started_wall > started_before:
                    continue
                runs.append(run)
            runs.sort(key=lambda r: r.started_wall, reverse=desc)
            page = [r.list_item() for r in runs[offset:offset + limit]]
        return {"total": len(runs), "offset": offset, "limit": limit, "desc": desc, "count": len(page),
                "items": page}

    def input_record(self, store_id: str) -> tuple[bool, object] | None:
        """The ``INPUT`` record of the run whose default key-value store is ``store_id``:
        ``(True, run input)``, ``(False, None)`` when the run got no input, None for an unknown store."""
        with self._cond:
            run = self._by_kv_store.get(store_id)
            if run is None:
                return None
            return run.run_input is not None, run.run_input
