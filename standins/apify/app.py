"""Flask app of the Apify stand-in: the Apify API v2 subset the follower pipeline uses, plus ``/_control``.

``create_app(config)`` builds an app around a fresh ``Store``; nothing happens at import time.

Apify routes (all need ``Authorization: Bearer <token>`` or ``?token=``):
- ``POST /v2/acts|actors/{actorId}/runs`` -> 201 ``{"data": Run}`` + ``Location``
- ``GET /v2/acts|actors/{actorId}`` -> ``{"data": Actor}``
- ``GET /v2/acts|actors/{actorId}/runs`` and ``GET /v2/actor-runs`` (``offset``, ``limit``, ``desc``,
  ``status``, ``startedAfter``, ``startedBefore``) -> ``{"data": {total, offset, limit, desc, count, items}}``
- ``GET /v2/actor-runs/{runId}[?waitForFinish=N]``, ``POST /v2/actor-runs/{runId}/abort``
- ``GET /v2/key-value-stores/{storeId}/records/INPUT`` -> the run input of the run whose default
  key-value store it is (as Apify stores it)
- ``GET /v2/actor-runs/{runId}/log``, ``GET /v2/logs/{runId}`` -> text
- ``GET /v2/datasets/{id}``, ``GET /v2/datasets/{id}/items`` (+ ``/v2/actor-runs/{runId}/dataset[/items]``)
- ``GET /v2/users/me/limits`` -> ``{"data": AccountLimits}`` (``account``); a start past the account's
  memory or concurrent-run limit is 402 ``actor-memory-limit-exceeded``/``concurrent-runs-limit-exceeded``
- ad-hoc ``webhooks`` on run start are delivered when the run ends (``webhooks``)

Control routes (no token): ``GET|POST /_control/faults``, ``GET|POST /_control/account``,
``GET|POST /_control/webhooks``, ``POST /_control/reset``,
``GET /_control/runs``, ``GET /_control/stats``, ``GET /_control/datasets/{id}/truth``,
``GET /_control/runs/{runId}/sources[?followers=false]`` (per-source ground truth of a finished
run: outcome, items, error message, cost and the followers with their true gender).
"""
from __future__ import annotations

import gzip
import json
import zlib

from datetime import datetime, timezone

from flask import Flask, Response, current_app, request

from standins.apify.account import LimitExceeded
from standins.apify.runs import iso, stable_id
from standins.apify.state import StandinConfig, Store
from standins.apify.datasets import project
from standins.apify.webhooks import WebhookError, parse_webhooks
from standins.followers import person

DEFAULT_TIMEOUT_SECS = 3600
DEFAULT_MEMORY_MBYTES = 1024
MAX_BODY_BYTES = 9 * 1024 * 1024
NO_LIMIT = 999999999999
_ACTOR_CREATED = "2024-01-01T00:00:00.000Z"


class ApiError(Exception):
    """An Apify-style error: HTTP ``status`` with body ``{"error": {"type", "message"}}``."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def _json(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, headers=headers, content_type="application/json; charset=utf-8")


def _error(status: int, type_: str, message: str) -> Response:
    return _json({"error": {"type": type_, "message": message}}, status)


def _store() -> Store:
    return current_app.extensions["apify_standin"]


def _int_arg(name: str, default=None, *, minimum: int | None = None):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ApiError(400, "invalid-value", f"Parameter '{name}' must be a number, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ApiError(400, "invalid-value", f"Parameter '{name}' must be >= {minimum}.")
    return value


def _bool_arg(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in ("1", "true", "yes")


def _list_arg(name: str) -> list[str] | None:
    raw = request.args.get(name)
    return [p.strip() for p in raw.split(",") if p.strip()] if raw else None


def _time_arg(name: str) -> datetime | None:
    """An ISO 8601 date-time query parameter (no zone = UTC), or None when absent."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, "invalid-value", f"Parameter '{name}' must be a date, got {raw!r}.") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _body() -> bytes:
    """Request body, gzip/deflate-decoded per ``Content-Encoding``; 413 over ~9 MiB."""
    raw = request.get_data(cache=True)
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    try:
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
    except (OSError, zlib.error, EOFError):
        raise ApiError(400, "invalid-request", f"Request body is not valid {encoding} data.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request-too-large",
                       f"The POST payload is too large (limit: {MAX_BODY_BYTES} bytes, actual length: {len(raw)} bytes).")
    return raw


def _actor_name(actor_id: str) -> str:
    """``user/name``, ``user~name`` or a raw id -> ``user~name`` (raw ids stay as they are)."""
    return actor_id.strip().replace("/", "~")


def _actor_object(store: Store, actor_id: str) -> dict:
    name, total_runs = store.resolve_actor(_actor_name(actor_id))
    username, _, short = name.partition("~") if "~" in name else ("standin", "", name)
    return {
        "id": stable_id("actor:" + name), "userId": store.user_id(), "name": short, "username": username,
        "title": f"{short} (Apify stand-in)", "description": "Local stand-in of an Instagram followers actor.",
        "isPublic": True, "createdAt": _ACTOR_CREATED, "modifiedAt": _ACTOR_CREATED,
        "stats": {"totalBuilds": 1, "totalRuns": total_runs},
        "versions": [], "defaultRunOptions": {"build": "latest", "timeoutSecs": DEFAULT_TIMEOUT_SECS,
                                              "memoryMbytes": DEFAULT_MEMORY_MBYTES},
    }


def create_app(config: StandinConfig | dict | None = None) -> Flask:
    """Build the stand-in app. ``config``: a ``StandinConfig``, a dict of its fields, or None (defaults)."""
    if config is None:
        config = StandinConfig()
    elif isinstance(config, dict):
        config = StandinConfig(**config)
    app = Flask("standins.apify")
    app.json.ensure_ascii = False
    app.extensions["apify_standin"] = Store(config)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _error(exc.status, exc.type, exc.message)

    @app.errorhandler(404)
    def _not_found(_exc):
        return _error(404, "page-not-found", "We have bad news: there is no API endpoint at this URL.")

    @app.errorhandler(405)
    def _bad_method(_exc):
        return _error(405, "method-not-allowed", "This API endpoint can only be accessed using other methods.")

    @app.errorhandler(500)
    def _internal(_exc):
        return _error(500, "internal-server-error", "Internal server error of the stand-in.")

    @app.before_request
    def _gate():
        store = _store()
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        store.count(f"{request.method} {rule}")
        if not request.path.startswith("/v2/") and request.path != "/v2":
            return None
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.args.get("token")
        if not token:
            return _error(401, "token-not-provided", "Authentication token was not provided")
        if token != store.config.token:
            return _error(401, "invalid-token", "Authentication token is not valid.")
        fault = store.take_http_fault()
        if fault == 429:
            return _error(429, "rate-limit-exceeded",
                          "You have exceeded the rate limit of 60 requests per second (simulated fault)")
        if fault == 500:
            return _error(500, "internal-server-error", "Internal server error (simulated fault)")
        return None

    # -- actors and runs ---------------------------------------------------------------------
    def start_run(actor_id: str):
        store = _store()
        raw = _body()
        run_input = None
        if raw.strip():
            try:
                run_input = json.loads(raw)
            except ValueError:
                raise ApiError(400, "run-input-body-not-valid-json", "Input is not a valid JSON.") from None
        timeout = _int_arg("timeout", DEFAULT_TIMEOUT_SECS, minimum=0)
        memory = _int_arg("memory", DEFAULT_MEMORY_MBYTES)
        if memory < 128 or memory > 32768 or memory & (memory - 1):
            raise ApiError(400, "invalid-value", "Memory must be a power of 2 between 128 and 32768 MB.")
        max_items = _int_arg("maxItems")
        if max_items is not None and max_items <= 0:
            raise ApiError(400, "max-items-must-be-greater-than-zero", "Parameter 'maxItems' must be greater than zero.")
        wait = _int_arg("waitForFinish", 0, minimum=0)
        try:
            hooks = parse_webhooks(request.args.get("webhooks"))
        except WebhookError as exc:
            raise ApiError(400, "invalid-value", str(exc)) from None
        try:
            run = store.create_run(_actor_name(actor_id), run_input, len(raw), timeout_secs=timeout,
                                   memory_mbytes=memory, max_items=max_items,
                                   user_agent=request.headers.get("User-Agent"), client_ip=request.remote_addr,
                                   webhooks=hooks)
        except LimitExceeded as exc:
            raise ApiError(402, exc.type, exc.message) from None
        data = store.run_view(run.id, float(wait))
        location = f"{request.host_url.rstrip('/')}/v2/actor-runs/{run.id}"
        return _json({"data": data}, 201, {"Location": location})

    app.add_url_rule("/v2/acts/<path:actor_id>/runs", "start_run_acts", start_run, methods=["POST"])
    app.add_url_rule("/v2/actors/<path:actor_id>/runs", "start_run_actors", start_run, methods=["POST"])

    def list_runs(actor_id: str | None = None):
        statuses = _list_arg("status")
        data = _store().list_runs(
            _actor_name(actor_id) if actor_id is not None else None, offset=_int_arg("offset", 0, minimum=0),
            limit=_int_arg("limit", None, minimum=1), desc=_bool_arg("desc"), statuses=statuses,
            started_after=_time_arg("startedAfter"), started_before=_time_arg("startedBefore"))
        return _json({"data": data})

    app.add_url_rule("/v2/acts/<path:actor_id>/runs", "list_runs_acts", list_runs, methods=["GET"])
    app.add_url_rule("/v2/actors/<path:actor_id>/runs", "list_runs_actors", list_runs, methods=["GET"])
    app.add_url_rule("/v2/actor-runs", "list_user_runs", list_runs, methods=["GET"])

    @app.get("/v2/key-value-stores/<store_id>/records/<key>")
    def kv_record(store_id: str, key: str):
        found = _store().input_record(store_id)
        if found is None:
            raise ApiError(404, "record-not-found", "Key-value store was not found")
        has_input, value = found
        if key != "INPUT" or not has_input:
            raise ApiError(404, "record-not-found", "Record was not found")
        return _json(value)

    def get_actor(actor_id: str):
        return _json({"data": _actor_object(_store(), actor_id)})

    app.add_url_rule("/v2/acts/<path:actor_id>", "get_actor_acts", get_actor, methods=["GET"])
    app.add_url_rule("/v2/actors/<path:actor_id>", "get_actor_actors", get_actor, methods=["GET"])

    @app.get("/v2/actor-runs/<run_id>")
    def get_run(run_id: str):
        wait = _int_arg("waitForFinish", 0, minimum=0)
        data = _store().run_view(run_id, float(wait))
        if data is None:
            raise ApiError(404, "record-not-found", "Actor run was not found")
        return _json({"data": data})

    @app.post("/v2/actor-runs/<run_id>/abort")
    def abort_run(run_id: str):
        data = _store().abort_run(run_id)
        if data is None:
            raise ApiError(404, "record-not-found", "Actor run was not found")
        return _json({"data": data})

    def run_log(run_id: str):
        text = _store().run_log(run_id)
        if text is None:
            raise ApiError(404, "record-not-found", "Log was not found")
        return Response(text, content_type="text/plain; charset=utf-8")

    app.add_url_rule("/v2/actor-runs/<run_id>/log", "run_log", run_log, methods=["GET"])
    app.add_url_rule("/v2/logs/<run_id>", "log", run_log, methods=["GET"])

    @app.get("/v2/users/me/limits")
    def account_limits():
        return _json({"data": _store().limits_view()})

    # -- datasets ---------------------------------------------------------------------------------
    def _dataset_or_404(dataset_id: str | None, run_id: str | None):
        found = _store().dataset(dataset_id, run_id=run_id)
        if found is None:
            raise ApiError(404, "record-not-found", "Dataset was not found")
        return found

    def dataset_info(dataset_id: str | None = None, run_id: str | None = None):
        ds, run = _dataset_or_404(dataset_id, run_id)
        created = iso(run.started_wall)
        return _json({"data": {
            "id": ds.id, "name": None, "userId": run.user_id, "createdAt": created, "modifiedAt": created,
            "accessedAt": created, "itemCount": ds.total, "cleanItemCount": ds.total, "actId": run.act_id,
            "actRunId": run.id, "consoleUrl": f"https://console.apify.com/storage/datasets/{ds.id}",
            "generalAccess": "RESTRICTED", "stats": {"readCount": 0, "writeCount": ds.total}}})

    def dataset_items(dataset_id: str | None = None, run_id: str | None = None):
        ds, _run = _dataset_or_404(dataset_id, run_id)
        faults = _store().get_faults()
        offset = _int_arg("offset", 0, minimum=0)
        limit = _int_arg("limit", None, minimum=0)
        desc = _bool_arg("desc")
        fields, omit = _list_arg("fields"), _list_arg("omit")
        if faults["page_limit_cap"]:
            limit = min(limit, faults["page_limit_cap"]) if limit is not None else faults["page_limit_cap"]
        total = ds.total
        remaining = max(0, total - offset)
        n = remaining if limit is None else min(limit, remaining)
        if faults["short_pages"] and n > 1 and offset + n < total:
            n = max(1, n // 2)
        items = [project(it, fields, omit) for it in ds.page(offset, n, desc)]
        if _bool_arg("skipEmpty") or _bool_arg("clean"):
            items = [it for it in items if it]
        headers = {
            "X-Apify-Pagination-Total": str(total),
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(NO_LIMIT if limit is None else limit),
            "X-Apify-Pagination-Count": str(len(items)),
            "X-Apify-Pagination-Desc": "true" if desc else "false",
        }
        return _json(items, 200, headers)

    app.add_url_rule("/v2/datasets/<dataset_id>", "dataset", dataset_info, methods=["GET"])
    app.add_url_rule("/v2/datasets/<dataset_id>/items", "dataset_items", dataset_items, methods=["GET"])
    app.add_url_rule("/v2/actor-runs/<run_id>/dataset", "run_dataset", dataset_info, methods=["GET"])
    app.add_url_rule("/v2/actor-runs/<run_id>/dataset/items", "run_dataset_items", dataset_items,
                     methods=["GET"])

    # -- control API (tests, demo, benchmarks) -------------------------------------------------
    @app.route("/_control/faults", methods=["GET", "POST"])
    def control_faults():
        store = _store()
        if request.method == "GET":
            return _json(store.get_faults())
        try:
            return _json(store.set_faults(request.get_json(force=True, silent=True)))
        except ValueError as exc:
            return _error(400, "invalid-value", str(exc))

    @app.route("/_control/account", methods=["GET", "POST"])
    def control_account():
        store = _store()
        if request.method == "GET":
            return _json(store.account_view())
        try:
            return _json(store.update_account(request.get_json(force=True, silent=True)))
        except ValueError as exc:
            return _error(400, "invalid-value", str(exc))

    @app.route("/_control/webhooks", methods=["GET", "POST"])
    def control_webhooks():
        store = _store()
        if request.method == "POST":
            try:
                store.webhooks.settings.update(request.get_json(force=True, silent=True))
            except ValueError as exc:
                return _error(400, "invalid-value", str(exc))
        return _json(store.webhooks.summary())

    @app.post("/_control/reset")
    def control_reset():
        _store().reset()
        return _json({"ok": True})

    @app.get("/_control/runs")
    def control_runs():
        return _json(_store().runs_summary())

    @app.get("/_control/stats")
    def control_stats():
        return _json(_store().stats())

    @app.get("/_control/datasets/<dataset_id>/truth")
    def control_truth(dataset_id: str):
        ds, _run = _dataset_or_404(dataset_id, None)
        rows = []
        for seg in ds.segments:
            for idx in seg.indices or ():
                f = person(idx)
                rows.append({"id": f.id, "username": f.username, "truth_gender": f.truth_gender})
        return _json(rows)

    @app.get("/_control/runs/<run_id>/sources")
    def control_run_sources(run_id: str):
        with_followers = request.args.get("followers", "true").strip().lower() not in ("0", "false", "no")
        try:
            rows = _store().run_sources(run_id, with_followers)
        except ValueError as exc:
            return _error(409, "run-not-finished", str(exc))
        if rows is None:
            return _error(404, "record-not-found", "Actor run was not found")
        return _json(rows)

    @app.get("/_control/health")
    def control_health():
        return _json({"ok": True})

    return app
