"""Ad-hoc webhooks of the stand-in, delivered the way Apify delivers them.

Facts mirrored (docs.apify.com/platform/integrations/webhooks; apify-client 3.4.0
``WebhookRepresentation``, ``encode_webhooks_to_base64``):
- a run start may carry ``webhooks``: base64 of a JSON array of ``{eventTypes, requestUrl,
  payloadTemplate?, headersTemplate?, idempotencyKey?, doNotRetry?, ...}``;
- when the run ends, each webhook whose ``eventTypes`` has the end event (``ACTOR.RUN.SUCCEEDED``,
  ``ACTOR.RUN.FAILED``, ``ACTOR.RUN.TIMED_OUT``, ``ACTOR.RUN.ABORTED``) gets a POST whose default
  body is ``{userId, createdAt, eventType, eventData: {actorId, actorRunId}, resource: <Run>}``;
  ``payloadTemplate``/``headersTemplate`` replace ``{{var}}`` (``userId``, ``createdAt``,
  ``eventType``, ``eventData``, ``resource``, dotted paths like ``{{resource.id}}``) by the JSON of
  the value;
- a non-2xx answer or a network error is retried with exponential backoff (up to 11 attempts on
  the platform); here the first delay is ``retry_base_seconds`` (time-scaled) and doubles.

Control: ``GET|POST /_control/webhooks`` (``enabled``: false drops every delivery, as for a
service behind a firewall; ``retry_base_seconds``; ``max_attempts``); GET lists the deliveries.
"""
from __future__ import annotations

import base64
import heapq
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

EVENT_BY_STATUS = {"SUCCEEDED": "ACTOR.RUN.SUCCEEDED", "FAILED": "ACTOR.RUN.FAILED",
                   "TIMED-OUT": "ACTOR.RUN.TIMED_OUT", "ABORTED": "ACTOR.RUN.ABORTED"}
_VAR = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
DELIVERY_LOG_SIZE = 10_000


class WebhookError(ValueError):
    """The ``webhooks`` parameter is not valid (400 ``invalid-value``)."""


def parse_webhooks(raw: str | None) -> list[dict]:
    """The webhooks of a run start from the base64 ``webhooks`` query value ([] when absent)."""
    if not raw:
        return []
    try:
        data = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise WebhookError("Parameter 'webhooks' must be base64-encoded JSON.") from None
    if not isinstance(data, list):
        raise WebhookError("Parameter 'webhooks' must be a JSON array.")
    out = []
    for hook in data:
        if not isinstance(hook, dict) or not isinstance(hook.get("requestUrl"), str) or not isinstance(
                hook.get("eventTypes"), list):
            raise WebhookError("Each webhook needs 'eventTypes' (array) and 'requestUrl' (string).")
        out.append(hook)
    return out


def _lookup(context: dict, path: str):
    value = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def render(template: str, context: dict) -> str:
    """``template`` with each ``{{var}}`` replaced by the JSON of its value in ``context``."""
    return _VAR.sub(lambda m: json.dumps(_lookup(context, m.group(1))), template)


@dataclass
class WebhookSettings:
    """Delivery switches (``/_control/webhooks``)."""

    enabled: bool = True
    retry_base_seconds: float = 1.0
    max_attempts: int = 11

    def update(self, changes: dict) -> None:
        """Apply ``changes`` (``ValueError`` naming the key; nothing applied then)."""
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        new = {}
        for key, value in changes.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ValueError("enabled must be a boolean")
            elif key == "retry_base_seconds":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError("retry_base_seconds must be a number >= 0")
                value = float(value)
            elif key == "max_attempts":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError("max_attempts must be a positive integer")
            else:
                raise ValueError(f"unknown webhook setting {key!r}; known: enabled, max_attempts, retry_base_seconds")
            new[key] = value
        for key, value in new.items():
            setattr(self, key, value)


@dataclass(order=True)
class _Due:
    at: float
    run_id: str = field(compare=False)


class WebhookDispatcher:
    """Watches runs with webhooks and POSTs their end events from background threads.

    ``run_end(run_id)`` is supplied by the Store: it returns ``(ended, seconds_to_end, payload
    context)`` for a run. Threads start on the first watched run; ``stop()`` ends them.
    """

    def __init__(self, run_end) -> None:
        self._run_end = run_end
        self.settings = WebhookSettings()
        self._hooks: dict[str, list[dict]] = {}
        self._heap: list[_Due] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopped = False
        self.deliveries: list[dict] = []

    # -- registration --------------------------------------------------------------------
    def watch(self, run_id: str, hooks: list[dict], seconds_to_end: float) -> None:
        """Deliver ``hooks`` when run ``run_id`` ends (expected in ``seconds_to_end``)."""
        if not hooks:
            return
        with self._cond:
            self._hooks[run_id] = hooks
            heapq.heappush(self._heap, _Due(time.monotonic() + max(0.0, seconds_to_end), run_id))
            if self._thread is None:
                self._pool = ThreadPoolExecutor(16, thread_name_prefix="apify-webhook")
                self._thread = threading.Thread(target=self._loop, name="apify-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def poke(self, run_id: str) -> None:
        """Re-check ``run_id`` now (it was aborted)."""
        with self._cond:
            if run_id in self._hooks:
                heapq.heappush(self._heap, _Due(time.monotonic(), run_id))
                self._cond.notify_all()

    def reset(self) -> None:
        """Forget every watched run, the deliveries and the switches."""
        with self._cond:
            self._hooks.clear()
            self._heap.clear()
            self.deliveries.clear()
            self.settings = WebhookSettings()

    def stop(self) -> None:
        """Stop the threads (pending deliveries are dropped)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def summary(self) -> dict:
        """``GET /_control/webhooks`` body: switches, counts and the last deliveries."""
        with self._cond:
            rows = list(self.deliveries)
            return {"enabled": self.settings.enabled, "retry_base_seconds": self.settings.retry_base_seconds,
                    "max_attempts": self.settings.max_attempts, "watching": len(self._hooks),
                    "attempts": len(rows), "delivered": sum(1 for r in rows if r["ok"]), "deliveries": rows[-200:]}

    # -- background work -----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].at > time.monotonic()):
                    self._cond.wait(None if not self._heap else max(0.001, self._heap[0].at - time.monotonic()))
                if self._stopped:
                    return
                due = heapq.heappop(self._heap)
                hooks = self._hooks.get(due.run_id)
            if not hooks:
                continue
            ended, seconds_left, context = self._run_end(due.run_id)
            if not ended:
                with self._cond:
                    heapq.heappush(self._heap, _Due(time.monotonic() + max(0.001, seconds_left), due.run_id))
                continue
            with self._cond:
                self._hooks.pop(due.run_id, None)
                enabled = self.settings.enabled
            if not enabled:
                continue
            for hook in hooks:
                if context["eventType"] in hook.get("eventTypes", ()):
                    self._pool.submit(self._deliver, hook, context)

    def _deliver(self, hook: dict, context: dict) -> None:
        if hook.get("payloadTemplate"):
            body = render(hook["payloadTemplate"], context)
        else:
            body = json.dumps({k: context[k] for k in ("userId", "createdAt", "eventType", "eventData", "resource")})
        headers = {"Content-Type": "application/json", "User-Agent": "ApifyWebhooks (stand-in)",
                   "X-Apify-Webhook": hook.get("idempotencyKey") or "ad-hoc",
                   "X-Apify-Webhook-Dispatch-Id": context["eventData"]["actorRunId"] + "-" + context["eventType"],
                   "X-Apify-Request-Origin": "WEBHOOK"}
        if hook.get("headersTemplate"):
            try:
                extra = json.loads(render(hook["headersTemplate"], context))
                headers.update({str(k): str(v) for k, v in extra.items()})
            except (ValueError, AttributeError):
                pass
        attempts = 1 if hook.get("doNotRetry") else self.settings.max_attempts
        delay = self.settings.retry_base_seconds
        for attempt in range(1, attempts + 1):
            try:
                status = requests.post(hook["requestUrl"], data=body.encode(), headers=headers, timeout=30).status_code
            except requests.RequestException as exc:
                status = f"{type(exc).__name__}"
            ok = isinstance(status, int) and 200 <= status < 300
            with self._cond:
                if self._stopped:
                    return
                self.deliveries.append({"runId": context["eventData"]["actorRunId"], "eventType": context["eventType"],
                                        "url": hook["requestUrl"], "attempt": attempt, "status": status, "ok": ok,
                                        "at": datetime.now(timezone.utc).isoformat()})
                del self.deliveries[:-DELIVERY_LOG_SIZE]
            if ok:
                return
            if attempt < attempts:
                time.sleep(delay)
                delay *= 2
