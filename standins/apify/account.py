"""The Apify account of the stand-in: its limits, the runs going against them, and run timing.

Facts mirrored (shared/reference/apify.md §9–10; apify-client 3.4.0 ``AccountLimits``):
- starting a run that would take the combined memory of running actor jobs past
  ``maxActorMemoryGbytes`` is refused with 402 ``actor-memory-limit-exceeded`` ("By launching this
  job you will exceed the memory limit of 8192MB for all your Actor runs and builds."); more than
  ``maxConcurrentActorJobs`` runs is refused with ``concurrent-runs-limit-exceeded`` (its status
  is not documented; 402 here too);
- ``GET /v2/users/me/limits`` → ``{"data": {"monthlyUsageCycle", "limits", "current"}}``.

Simulation switches: ``run_seconds_per_item`` makes a run last ``run_seconds + items × that``, so
a chunk asking for more followers runs longer, as on the real platform; ``run_seconds_jitter``
(0–0.9) spreads run times by up to ± that fraction, stable per run input (the same chunk takes
the same time), as real runs of one actor differ.
Control: ``GET|POST /_control/account`` (``max_memory_mbytes``, ``max_concurrent_runs``,
``run_seconds_per_item``, ``run_seconds_jitter``, ``reset_peaks``); the answer carries the peaks (``peak_running``,
``peak_memory_mbytes``), the runs going now and the refused starts.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# Scale plan (apify-docs sources/platform/account/limits.md): 256 GB combined, 128 runs.
DEFAULT_MAX_MEMORY_MBYTES = 262_144
DEFAULT_MAX_CONCURRENT_RUNS = 128


class LimitExceeded(Exception):
    """A start the account has no room for: ``type`` is the Apify error type, HTTP 402."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type, self.message = type_, message


@dataclass
class Account:
    """Limits, simulation switches and peak counters (guarded by the Store's lock)."""

    max_memory_mbytes: int = DEFAULT_MAX_MEMORY_MBYTES
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS
    run_seconds_per_item: float = 0.0
    run_seconds_jitter: float = 0.0
    peak_running: int = 0
    peak_memory_mbytes: int = 0
    refused: int = 0

    def update(self, changes: dict) -> None:
        """Apply ``changes`` (``ValueError`` naming the key; nothing applied then)."""
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        new = {}
        for key, value in changes.items():
            if key in ("max_memory_mbytes", "max_concurrent_runs"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{key} must be a positive integer")
                new[key] = value
            elif key == "run_seconds_per_item":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError("run_seconds_per_item must be a number >= 0")
                new[key] = float(value)
            elif key == "run_seconds_jitter":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 0.9:
                    raise ValueError("run_seconds_jitter must be a number in [0, 0.9]")
                new[key] = float(value)
            elif key == "reset_peaks":
                if value is not True:
                    raise ValueError("reset_peaks must be true")
            else:
                raise ValueError(f"unknown account setting {key!r}; known: max_concurrent_runs, "
                                 "max_memory_mbytes, reset_peaks, run_seconds_jitter, run_seconds_per_item")
        if changes.get("reset_peaks"):
            self.peak_running = self.peak_memory_mbytes = self.refused = 0
        for key, value in new.items():
            setattr(self, key, value)

    def admit(self, running: int, memory_in_use: int, memory_mbytes: int) -> None:
        """Check a new run of ``memory_mbytes`` against the limits given ``running`` runs using
        ``memory_in_use`` MB; raises ``LimitExceeded`` (counted) or records the new peaks."""
        if memory_in_use + memory_mbytes > self.max_memory_mbytes:
            self.refused += 1
            raise LimitExceeded(
                "actor-memory-limit-exceeded",
                f"By launching this job you will exceed the memory limit of {self.max_memory_mbytes}MB for all "
                f"your Actor runs and builds (currently used: {memory_in_use}MB, requested: {memory_mbytes}MB).")
        if running + 1 > self.max_concurrent_runs:
            self.refused += 1
            raise LimitExceeded(
                "concurrent-runs-limit-exceeded",
                f"By launching this job you will exceed the limit of {self.max_concurrent_runs} concurrent "
                "Actor runs and builds.")
        self.peak_running = max(self.peak_running, running + 1)
        self.peak_memory_mbytes = max(self.peak_memory_mbytes, memory_in_use + memory_mbytes)

    def run_seconds(self, base_seconds: float, items: int, input_key: str = "") -> float:
        """Duration of a run producing ``items`` items: ``base_seconds + items × run_seconds_per_item``,
        times ``1 ± run_seconds_jitter`` chosen by ``input_key`` (the run input's JSON)."""
        seconds = base_seconds + items * self.run_seconds_per_item
        if self.run_seconds_jitter:
            u = int.from_bytes(hashlib.blake2b(input_key.encode(), digest_size=8).digest(), "big") / 2 ** 64
            seconds *= 1 + self.run_seconds_jitter * (2 * u - 1)
        return seconds

    def as_dict(self, running: int, memory_in_use: int) -> dict:
        """``GET /_control/account`` body."""
        return {"max_memory_mbytes": self.max_memory_mbytes, "max_concurrent_runs": self.max_concurrent_runs,
                "run_seconds_per_item": self.run_seconds_per_item, "run_seconds_jitter": self.run_seconds_jitter,
                "running": running,
                "memory_in_use_mbytes": memory_in_use, "peak_running": self.peak_running,
                "peak_memory_mbytes": self.peak_memory_mbytes, "refused": self.refused}

    def limits_view(self, running: int, memory_in_use: int, usage_usd: float) -> dict:
        """``GET /v2/users/me/limits`` ``data`` (every field apify-client's ``AccountLimits`` requires)."""
        now = datetime.now(timezone.utc)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        iso = lambda ts: ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"  # noqa: E731
        return {
            "monthlyUsageCycle": {"startAt": iso(start), "endAt": iso(start + timedelta(days=31))},
            "limits": {"maxMonthlyUsageUsd": 999, "maxMonthlyActorComputeUnits": 5000,
                       "maxMonthlyExternalDataTransferGbytes": 1000, "maxMonthlyProxySerps": 30000,
                       "maxMonthlyResidentialProxyGbytes": 50,
                       "maxActorMemoryGbytes": self.max_memory_mbytes / 1024, "maxActorCount": 500,
                       "maxActorTaskCount": 5000, "maxConcurrentActorJobs": self.max_concurrent_runs,
                       "maxTeamAccountSeatCount": 9, "dataRetentionDays": 30},
            "current": {"monthlyUsageUsd": round(usage_usd, 6), "monthlyActorComputeUnits": 0,
                        "monthlyExternalDataTransferGbytes": 0, "monthlyProxySerps": 0,
                        "monthlyResidentialProxyGbytes": 0, "actorMemoryGbytes": memory_in_use / 1024,
                        "actorCount": 0, "actorTaskCount": 0, "activeActorJobCount": running,
                        "teamAccountSeatCount": 1},
        }
