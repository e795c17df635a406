"""Actor run lifecycle of the stand-in (time-based, evaluated lazily) and its API representation.

A run is planned when it starts: it ends ``plan_end`` seconds after its start with
``plan_status`` and keeps ``plan_fraction`` of its items. Until then it reports ``READY`` (first
moments) and ``RUNNING``. ``refresh(now)`` applies the plan once the time has come; ``abort(now)``
ends it early with the items scraped so far (proportional to elapsed time).
"""
from __future__ import annotations

import hashlib
import math
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from standins.apify import shapes
from standins.apify.datasets import Dataset, build_segments, planned_total
from standins.followers import person

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """A random 17-character Apify-style id."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(17))


def stable_id(text: str) -> str:
    """A 17-character Apify-style id derived from ``text`` (same text, same id)."""
    n = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")
    out = []
    for _ in range(17):
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z``, as Apify writes it (None stays None)."""
    if ts is None:
        return None
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass
class RunRecord:
    """One actor run. Times: ``*_mono`` are ``time.monotonic()`` seconds, ``*_wall`` UTC datetimes."""

    act_id: str
    actor_name: str
    user_id: str
    run_input: object
    input_len: int
    spec: shapes.ScrapeSpec | None
    input_error: str | None
    started_mono: float
    started_wall: datetime
    run_seconds: float
    timeout_secs: int  # 0 = no timeout
    memory_mbytes: int
    max_items: int | None
    price_per_result: float
    plan_status: str = "SUCCEEDED"
    plan_end: float = 0.0
    plan_fraction: float = 1.0
    plan_message: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)  # account -> shapes.OUTCOMES entry
    user_agent: str | None = None
    client_ip: str | None = None
    id: str = field(default_factory=new_id)
    dataset: Dataset = field(default_factory=lambda: Dataset(new_id()))
    kv_store_id: str = field(default_factory=new_id)
    request_queue_id: str = field(default_factory=new_id)
    build_id: str = field(default_factory=new_id)
    status: str = "READY"
    status_message: str = "Starting the actor run"
    finished_offset: float | None = None  # seconds after start
    item_count: int = 0

    # -- planning -------------------------------------------------------------------------
    def plan(self, forced_status: str | None) -> None:
        """Fix the run's outcome. ``forced_status`` ("FAILED"/"TIMED-OUT") comes from the fault switches."""
        if self.spec is not None:
            self.dataset.shape, self.dataset.relation = self.spec.shape, self.spec.relation
        rs = max(0.0, self.run_seconds)
        if self.input_error is not None:
            self.plan_status, self.plan_end, self.plan_fraction = "FAILED", min(rs, 0.2), 0.0
            self.plan_message = f"Input is not valid: {self.input_error}"
        elif forced_status == "FAILED":
            self.plan_status, self.plan_end, self.plan_fraction = "FAILED", rs * 0.5, 0.5
            self.plan_message = "The Actor process failed: Instagram blocked the session (simulated fault)"
        elif forced_status == "TIMED-OUT":
            end = rs * 0.5 if not self.timeout_secs else min(rs * 0.5, float(self.timeout_secs))
            self.plan_status, self.plan_end = "TIMED-OUT", end
            self.plan_fraction = end / rs if rs else 0.0
            self.plan_message = "The Actor run timed out (simulated fault)"
        elif self.timeout_secs and rs > self.timeout_secs:
            self.plan_status, self.plan_end = "TIMED-OUT", float(self.timeout_secs)
            self.plan_fraction = self.timeout_secs / rs
            self.plan_message = f"The Actor run timed out after {self.timeout_secs} s"
        else:
            self.plan_status, self.plan_end, self.plan_fraction = "SUCCEEDED", rs, 1.0
            self.plan_message = ""

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def terminal(self) -> bool:
        """True once the run has reached SUCCEEDED, FAILED, TIMED-OUT or ABORTED."""
        return self.status in TERMINAL

    def seconds_to_end(self, now: float) -> float:
        """Seconds until the planned end (<= 0 when due)."""
        return self.plan_end - (now - self.started_mono)

    def refresh(self, now: float) -> None:
        """Advance the status to what it is at monotonic time ``now``."""
        if self.terminal:
            return
        elapsed = now - self.started_mono
        if elapsed >= self.plan_end:
            self._finish(self.plan_status, self.plan_fraction, self.plan_end, self.plan_message)
        elif elapsed < min(0.2, self.plan_end * 0.1):
            self.status = "READY"
        else:
            self.status = "RUNNING"
            if self.spec is not None:
                self.status_message = f"Scraping {self.spec.relation} of @{self.spec.accounts[0]}" + (
                    f" and {len(self.spec.accounts) - 1} more accounts" if len(self.spec.accounts) > 1 else "")

    def abort(self, now: float) -> None:
        """Abort if still running; keeps the items scraped so far. Terminal runs are unchanged."""
        self.refresh(now)
        if self.terminal:
            return
        elapsed = max(0.0, now - self.started_mono)
        fraction = min(1.0, elapsed / self.run_seconds) if self.run_seconds > 0 else 1.0
        self._finish("ABORTED", fraction, elapsed, "The Actor run was aborted")

    def _finish(self, status: str, fraction: float, at: float, message: str) -> None:
        n = 0
        if self.spec is not None:
            total = planned_total(self.spec, self.max_items, self.outcomes)
            n = total if status == "SUCCEEDED" else int(math.floor(total * max(0.0, min(1.0, fraction))))
            self.dataset.fill(build_segments(self.spec, n, self.outcomes))
        self.item_count = n
        self.status = status
        self.finished_offset = at
        self.status_message = message or f"Finished! Scraped {n} items."

    # -- representation -------------------------------------------------------------------
    @property
    def usage_total_usd(self) -> float:
        """Cost charged so far: dataset items × price per result (0 until the run ends)."""
        return round(self.item_count * self.price_per_result, 6)

    def to_api(self, now: float) -> dict:
        """The Run object as ``GET /v2/actor-runs/{id}`` returns it (inside ``data``)."""
        finished = self.finished_offset is not None
        runtime = self.finished_offset if finished else max(0.0, now - self.started_mono)
        compute_units = round(self.memory_mbytes / 1024 * runtime / 3600, 6)
        options = {"build": "latest", "timeoutSecs": self.timeout_secs, "memoryMbytes": self.memory_mbytes,
                   "diskMbytes": 2 * self.memory_mbytes}
        if self.max_items is not None:
            options["maxItems"] = self.max_items
        return {
            "id": self.id,
            "actId": self.act_id,
            "userId": self.user_id,
            "actorTaskId": None,
            "startedAt": iso(self.started_wall),
            "finishedAt": iso(self.started_wall + timedelta(seconds=self.finished_offset)) if finished else None,
            "status": self.status,
            "statusMessage": self.status_message,
            "isStatusMessageTerminal": finished,
            "meta": {"origin": "API", "userAgent": self.user_agent, "clientIp": self.client_ip},
            "stats": {"inputBodyLen": self.input_len, "restartCount": 0, "resurrectCount": 0,
                      "durationMillis": int(runtime * 1000), "runTimeSecs": round(runtime, 3),
                      "computeUnits": compute_units},
            "options": options,
            "buildId": self.build_id,
            "buildNumber": "0.0.1",
            "exitCode": (0 if self.status == "SUCCEEDED" else 1) if finished else None,
            "defaultKeyValueStoreId": self.kv_store_id,
            "defaultDatasetId": self.dataset.id,
            "defaultRequestQueueId": self.request_queue_id,
            "generalAccess": "RESTRICTED",
            "pricingInfo": {"pricingModel": "PRICE_PER_DATASET_ITEM", "unitName": "result",
                            "pricePerUnitUsd": self.price_per_result, "apifyMarginPercentage": 0.2,
                            "createdAt": "2025-01-01T00:00:00.000Z", "startedAt": "2025-01-01T00:00:00.000Z"},
            "usage": {"ACTOR_COMPUTE_UNITS": compute_units, "DATASET_WRITES": self.item_count},
            "usageUsd": {"ACTOR_COMPUTE_UNITS": 0.0, "DATASET_WRITES": 0.0},
            "usageTotalUsd": self.usage_total_usd,
        }

    def list_item(self) -> dict:
        """The run as an item of ``GET /v2/acts/{actorId}/runs`` (Apify's short run object)."""
        return {"id": self.id, "actId": self.act_id, "actorTaskId": None, "userId": self.user_id,
                "status": self.status, "startedAt": iso(self.started_wall),
                "finishedAt": (iso(self.started_wall + timedelta(seconds=self.finished_offset))
                               if self.finished_offset is not None else None),
                "buildId": self.build_id, "buildNumber": "0.0.1",
                "meta": {"origin": "API", "userAgent": self.user_agent, "clientIp": self.client_ip},
                "usageTotalUsd": self.usage_total_usd, "defaultKeyValueStoreId": self.kv_store_id,
                "defaultDatasetId": self.dataset.id, "defaultRequestQueueId": self.request_queue_id}

    def summary(self) -> dict:
        """Row for ``GET /_control/runs``."""
        return {"id": self.id, "actId": self.act_id, "actorName": self.actor_name, "input": self.run_input,
                "status": self.status, "startedAt": iso(self.started_wall), "itemCount": self.item_count,
                "usageTotalUsd": self.usage_total_usd, "datasetId": self.dataset.id}

    def source_truth(self, with_followers: bool = True) -> list[dict]:
        """Ground truth per source account of a finished run, in input order: ``outcome``
        (``ok``, ``private``, ``not_found``, ``rate_limited``, ``empty``, or ``not_reached``
        when the run ended before the account's items), ``items`` in the dataset (an error item
        counts one), the error ``message`` of its error item, ``cost_usd`` (its items × the price
        per result) and, with ``with_followers``, its followers with their true gender."""
        names = {shapes.PRIVATE: "private", shapes.NOT_FOUND: "not_found",
                 shapes.RATE_LIMITED: "rate_limited", shapes.EMPTY: "empty"}
        segments = {seg.source: seg for seg in self.dataset.segments}
        out = []
        for acct in (self.spec.accounts if self.spec is not None else ()):
            seg, outcome = segments.get(acct), self.outcomes.get(acct)
            items = len(seg) if seg is not None else 0
            row = {"source": acct, "outcome": names.get(outcome, "ok"), "items": items,
                   "message": None, "cost_usd": round(items * self.price_per_result, 6)}
            if outcome in shapes.ERROR_OUTCOMES:
                row["message"] = shapes.ERROR_DESCRIPTIONS[outcome].format(acct=acct)
            if seg is None and outcome != shapes.EMPTY:
                row["outcome"] = "not_reached"
            if with_followers:
                row["followers"] = [
                    {"id": f.id, "username": f.username, "full_name": f.full_name, "truth_gender": f.truth_gender}
                    for f in map(person, seg.indices or ())] if seg is not None else []
            out.append(row)
        return out

    def log_text(self, now: float) -> str:
        """Plain-text run log."""
        t0 = self.started_wall
        lines = [f"{iso(t0)} ACTOR: Pulling Docker image of build {self.build_id} from registry.",
                 f"{iso(t0)} ACTOR: Creating Docker container.",
                 f"{iso(t0)} ACTOR: Starting Docker container.",
                 f"{iso(t0)} INFO  Actor {self.actor_name} started (stand-in)"]
        if self.input_error:
            lines.append(f"{iso(t0)} ERROR {self.input_error}")
        elif self.spec is not None:
            for acct in self.spec.accounts:
                lines.append(f"{iso(t0)} INFO  Scraping up to {self.spec.per_account} "
                             f"{self.spec.relation} of @{acct}")
        if self.finished_offset is not None:
            end = iso(t0 + timedelta(seconds=self.finished_offset))
            lines.append(f"{end} INFO  {self.status_message}")
            lines.append(f"{end} INFO  Run finished with status {self.status}; {self.item_count} items.")
        return "\n".join(lines) + "\n"
