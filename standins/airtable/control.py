"""``/_control``: the stand-in's test/demo API (no token, no rate limit, never in Airtable).

    POST   /_control/reset            body {"bases": ["app…", …]}? -> drop all data, stats, call counts
                                       and penalties (the config is kept), pre-create bases
    POST   /_control/bases            {"id": "app…"?, "name": "…"?, "max_records": N?} -> {"id", "name",
                                       "max_records", "records"} (idempotent; max_records caps the
                                       base's records, creates past it -> 422 RECORD_LIMIT_EXCEEDED)
    GET    /_control/bases            -> {"bases": [{id, name, permissionLevel}]}
    POST   /_control/config           {"rate": 5, "penalty_seconds": 0.5,
                                       "table_not_found_status": 403|404,
                                       "max_records_per_base": N|null (every base without its own),
                                       "max_calls_per_month": N|null (per token; past it data
                                       requests -> 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED),
                                       "fail_next": n, "fail_status": 500|502|503} -> current config
                                       (fail_next: the next n data requests answer fail_status)
    GET    /_control/usage?token=…    -> {"max_calls_per_month", "tokens": {sha256(token)[:12]:
                                       {"YYYY-MM": calls}}} (with ?token=: {"token", "months"})
    GET    /_control/records          -> {"bases": {base id: {"records", "max_records"}}}
    GET    /_control/config           -> current config
    GET    /_control/stats?base=app…  -> {"requests", "rate_limited", "max_requests_in_any_1s_window",
                                       "max_served_in_any_1s_window", "per_table": {table name or
                                       "_meta": {"requests", "rate_limited"}}, "penalty_remaining_seconds"}
                                       (without ?base=: {"bases": {base id: stats}})
    GET    /_control/bases/{base}/tables                    -> base schema (like the meta API)
    GET    /_control/bases/{base}/tables/{table}/records    -> {"records": [...]} all, no paging
    PATCH  /_control/bases/{base}/tables/{table}/records/{recordId}
           {"fields": {...}, "typecast": false}  -> the record; a VA editing a cell (same
           validation as the API: unknown select option -> 422 INVALID_MULTIPLE_CHOICE_OPTIONS)
    DELETE /_control/bases/{base}/tables/{table}/records/{recordId}
           -> {"id", "deleted": true}; a VA deleting a row by hand (404 MODEL_ID_NOT_FOUND if gone)
    GET    /_control/health                                 -> {"ok": true}

``{table}`` is a table id or (percent-encoded) name. Errors use Airtable's error bodies.
Statistics count only ``/v0`` requests, never control calls.
"""
from flask import Blueprint, Response, request

from .errors import AirtableError, invalid_request


def create_control_blueprint(state) -> Blueprint:
    """Blueprint for ``/_control`` bound to a :class:`~.app.StandinState`."""
    from .app import error_response, json_response, request_json

    bp = Blueprint("airtable_control", __name__, url_prefix="/_control")
    store, limiter = state.store, state.limiter

    @bp.errorhandler(AirtableError)
    def _error(exc: AirtableError) -> Response:
        return error_response(exc)

    def _body() -> dict:
        body = request_json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise invalid_request("Body must be a JSON object")
        return body

    def _config() -> dict:
        return {"rate": limiter.rate, "penalty_seconds": limiter.penalty_seconds,
                "table_not_found_status": store.table_not_found_status,
                "max_records_per_base": store.max_records_per_base,
                "max_calls_per_month": state.usage.max_calls_per_month,
                "fail_next": state.fail_next, "fail_status": state.fail_status}

    def _positive_or_none(body: dict, name: str):
        value = body[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise invalid_request(f"{name} must be a positive integer or null")
        return value

    @bp.get("/health")
    def health() -> Response:
        return json_response({"ok": True})

    @bp.post("/reset")
    def reset() -> Response:
        bases = _body().get("bases") or []
        if not isinstance(bases, list):
            raise invalid_request("bases must be a list of base ids")
        store.reset(bases)
        limiter.reset()
        state.usage.reset()
        return json_response({"ok": True, "bases": store.list_bases()})

    @bp.post("/bases")
    def create_base() -> Response:
        body = _body()
        return json_response(store.create_base(body.get("id"), body.get("name"), body.get("max_records")))

    @bp.get("/bases")
    def list_bases() -> Response:
        return json_response({"bases": store.list_bases()})

    @bp.route("/config", methods=["GET", "POST"])
    def config() -> Response:
        if request.method == "POST":
            body = _body()
            try:
                limiter.configure(body.get("rate"), body.get("penalty_seconds"))
            except (TypeError, ValueError):
                raise invalid_request("rate must be an integer, penalty_seconds a number") from None
            if "table_not_found_status" in body:
                if body["table_not_found_status"] not in (403, 404):
                    raise invalid_request("table_not_found_status must be 403 or 404")
                store.table_not_found_status = body["table_not_found_status"]
            if "max_records_per_base" in body:
                store.max_records_per_base = _positive_or_none(body, "max_records_per_base")
            if "max_calls_per_month" in body:
                state.usage.max_calls_per_month = _positive_or_none(body, "max_calls_per_month")
            if "fail_status" in body:
                if body["fail_status"] not in (500, 502, 503):
                    raise invalid_request("fail_status must be 500, 502 or 503")
                state.fail_status = body["fail_status"]
            if "fail_next" in body:
                if not isinstance(body["fail_next"], int) or body["fail_next"] < 0:
                    raise invalid_request("fail_next must be a non-negative integer")
                with state.fail_lock:
                    state.fail_next = body["fail_next"]
        return json_response(_config())

    @bp.get("/usage")
    def usage() -> Response:
        report = state.usage.report()
        token = request.args.get("token")
        if token:
            from .usage import token_key
            return json_response({"token": token_key(token), "months": report["tokens"].get(token_key(token), {}),
                                  "max_calls_per_month": report["max_calls_per_month"]})
        return json_response(report)

    @bp.get("/records")
    def records_per_base() -> Response:
        return json_response({"bases": store.base_records()})

    @bp.get("/stats")
    def stats() -> Response:
        base = request.args.get("base")
        if base:
            return json_response(limiter.stats(base))
        return json_response({"bases": {b: limiter.stats(b) for b in limiter.base_ids()}})

    @bp.get("/bases/<base>/tables")
    def schema(base: str) -> Response:
        return json_response(store.schema(base))

    @bp.get("/bases/<base>/tables/<path:table>/records")
    def records(base: str, table: str) -> Response:
        return json_response({"records": store.all_records(base, table)})

    @bp.patch("/bases/<base>/tables/<path:table>/records/<record_id>")
    def va_update(base: str, table: str, record_id: str) -> Response:
        body = _body()
        payload = {"fields": body.get("fields"), "typecast": bool(body.get("typecast", False))}
        return json_response(store.update_record(base, table, record_id, payload, replace=False))

    @bp.delete("/bases/<base>/tables/<path:table>/records/<record_id>")
    def va_delete(base: str, table: str, record_id: str) -> Response:
        return json_response(store.delete_record(base, table, record_id))

    return bp
