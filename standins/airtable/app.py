"""Flask app of the Airtable stand-in: the ``/v0`` records and meta API plus ``/_control``.

``/v0`` requests go through: bearer-token check (401 ``AUTHENTICATION_REQUIRED``) -> the
token's monthly call count (429 ``PUBLIC_API_BILLING_LIMIT_EXCEEDED`` past an optional cap,
data requests only) -> base lookup (404 ``NOT_FOUND``) -> per-base rate limit (429) -> 16,000-character URL limit (414)
-> the handler. Paths are split from the raw request URI, so percent-encoded table names
(even with ``%2F``) work. Routes:

    GET    /v0/meta/whoami | /v0/meta/bases
    GET    /v0/meta/bases/{base}/tables              base schema
    POST   /v0/meta/bases/{base}/tables              create table
    POST   /v0/meta/bases/{base}/tables/{table}/fields   create field
    GET    /v0/{base}/{table}                        list (query parameters)
    POST   /v0/{base}/{table}/listRecords            list (JSON body)
    POST   /v0/{base}/{table}                        create
    PATCH|PUT /v0/{base}/{table}                     batch update / upsert
    DELETE /v0/{base}/{table}?records[]=…            batch delete
    GET|PATCH|PUT|DELETE /v0/{base}/{table}/{recordId}
"""
from dataclasses import dataclass, field
import json
import threading
from urllib.parse import quote, unquote

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import query
from .errors import RATE_LIMIT_BODY, AirtableError, route_not_found
from .ratelimit import RateLimiter
from .store import Store
from .usage import BILLING_LIMIT_BODY, CallCounter

MAX_URL_LENGTH = 16000
_ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@dataclass
class StandinState:
    """Everything the app serves from: the data ``store``, the rate ``limiter``, the accepted
    bearer ``tokens`` (empty = any non-empty token is accepted) and the monthly ``usage``."""

    store: Store
    limiter: RateLimiter
    tokens: set = field(default_factory=set)
    usage: CallCounter = field(default_factory=CallCounter)
    fail_next: int = 0  # the next n data requests answer ``fail_status`` (an Airtable outage)
    fail_status: int = 503
    fail_lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> int | None:
        """The status to fail this request with, counting it down; None to serve it."""
        with self.fail_lock:
            if self.fail_next <= 0:
                return None
            self.fail_next -= 1
            return self.fail_status


def json_response(body: object, status: int = 200) -> Response:
    """A JSON ``Response`` with ``body`` and ``status``."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(error: AirtableError) -> Response:
    """The Airtable-shaped JSON response for ``error``."""
    return json_response(error.body(), error.status)


def request_json() -> object:
    """The decoded JSON body (None when empty); 400 ``INVALID_REQUEST_BODY`` if it is not JSON."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise AirtableError(400, "INVALID_REQUEST_BODY", "Could not parse request body as JSON") from None


def _raw_uri() -> str:
    env = request.environ
    return env.get("RAW_URI") or env.get("REQUEST_URI") or quote(request.path) + (
        "?" + request.query_string.decode() if request.query_string else ""
    )


def _segments() -> list[str]:
    path = _raw_uri().split("?", 1)[0]
    parts = [unquote(p) for p in path.split("/")]
    parts = parts[2:] if len(parts) >= 2 and parts[1] == "v0" else []
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _authenticate(state: StandinState) -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token or (state.tokens and token not in state.tokens):
        raise AirtableError(401, "AUTHENTICATION_REQUIRED", "Authentication required")
    return token


def _dispatch(state: StandinState, parts: list[str]) -> Response:
    store, method = state.store, request.method
    if parts[:1] == ["meta"]:
        rest = parts[1:]
        if rest == ["whoami"] and method == "GET":
            return json_response({"id": "usrStandinUser0001", "scopes": ["data.records:read", "data.records:write",
                                                                        "schema.bases:read", "schema.bases:write"]})
        if rest == ["bases"] and method == "GET":
            return json_response({"bases": store.list_bases()})
        if len(rest) >= 3 and rest[0] == "bases" and rest[2] == "tables":
            base_id = rest[1]
            _gate(state, base_id, "_meta")
            if len(rest) == 3 and method == "GET":
                visible = "visibleFieldIds" in request.args.getlist("include[]") + request.args.getlist("include")
                return json_response(store.schema(base_id, visible))
            if len(rest) == 3 and method == "POST":
                return json_response(store.create_table(base_id, request_json()))
            if len(rest) == 5 and rest[4] == "fields" and method == "POST":
                return json_response(store.create_field(base_id, rest[3], request_json()))
        raise route_not_found()
    if len(parts) not in (2, 3):
        raise route_not_found()
    base_id, table = parts[0], parts[1]
    _gate(state, base_id, store.table_label(base_id, table))
    if len(parts) == 2:
        if method == "GET":
            return json_response(store.list_records(base_id, table, query.from_args(request.args)))
        if method == "POST":
            return json_response(store.create_records(base_id, table, request_json()))
        if method in ("PATCH", "PUT"):
            return json_response(store.update_records(base_id, table, request_json(), method == "PUT"))
        if method == "DELETE":
            ids = request.args.getlist("records[]") or request.args.getlist("records")
            return json_response(store.delete_records(base_id, table, ids))
        raise route_not_found()
    third = parts[2]
    if third == "listRecords" and method == "POST":
        return json_response(store.list_records(base_id, table, query.from_json(request_json())))
    by_id = request.args.get("returnFieldsByFieldId", "").lower() in ("1", "true")
    if method == "GET":
        return json_response(store.get_record(base_id, table, third, by_id))
    if method in ("PATCH", "PUT"):
        return json_response(store.update_record(base_id, table, third, request_json(), method == "PUT"))
    if method == "DELETE":
        return json_response(store.delete_record(base_id, table, third))
    raise route_not_found()


class _RateLimited(Exception):
    pass


def _gate(state: StandinState, base_id: str, label: str) -> None:
    """Base must exist (404), then the request counts against the base's limit (429), then the
    URL must be shorter than 16,000 characters (414)."""
    if not state.store.has_base(base_id):
        raise AirtableError(404, "NOT_FOUND", "Could not find what you are looking for")
    failure = state.take_failure()
    if failure is not None:
        raise AirtableError(failure, "SERVER_ERROR", "Try again. If the problem persists, contact support.")
    if not state.limiter.admit(base_id, label):
        raise _RateLimited()
    if len(request.host_url.rstrip("/")) + len(_raw_uri()) >= MAX_URL_LENGTH:
        raise AirtableError(
            414, "INVALID_REQUEST_URL_TOO_LONG",
            f"The request URL must be shorter than {MAX_URL_LENGTH} characters; "
            "use POST /v0/{baseId}/{tableIdOrName}/listRecords instead",
        )


def create_app(state: StandinState | None = None) -> Flask:
    """Build the Flask app serving ``state`` (a fresh empty store, rate 5/s, 30 s penalty and
    any-token auth when None). The state is also at ``app.extensions["airtable_standin"]``."""
    from .control import create_control_blueprint

    state = state or StandinState(Store(), RateLimiter())
    app = Flask("standins.airtable")
    app.extensions["airtable_standin"] = state

    @app.route("/v0", defaults={"rest": ""}, methods=_ALL_METHODS)
    @app.route("/v0/<path:rest>", methods=_ALL_METHODS)
    def v0(rest: str) -> Response:
        try:
            token = _authenticate(state)
            parts = _segments()
            if not state.usage.count(token) and parts[:1] != ["meta"]:
                return json_response(BILLING_LIMIT_BODY, 429)
            return _dispatch(state, parts)
        except _RateLimited:
            return json_response(RATE_LIMIT_BODY, 429)
        except AirtableError as exc:
            return error_response(exc)

    app.register_blueprint(create_control_blueprint(state))

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(_exc) -> Response:
        return error_response(route_not_found())

    @app.errorhandler(AirtableError)
    def airtable_error(exc: AirtableError) -> Response:
        return error_response(exc)

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return json_response({"error": {"type": exc.name.upper().replace(" ", "_"), "message": exc.description}},
                                 exc.code or 500)
        app.logger.exception("airtable stand-in: unhandled error")
        return json_response({"error": {"type": "SERVER_ERROR", "message": str(exc)}}, 500)

    return app
