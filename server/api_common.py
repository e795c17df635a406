"""What every API module shares: the error envelope (``ApiError`` and the handlers that turn
every failure into ``{"success": false, "error": {"code", "message", "details"}}``), the
flask-smorest blueprint and API classes, strict scalar fields, the 202 job answer, the paging
fields of list queries and answers, and the ``Idempotency-Key`` helpers."""
from __future__ import annotations

import base64
import binascii
import hashlib
import http
import json
import logging
import re
from datetime import date

import psycopg
from flask import Flask, current_app, jsonify, request, url_for
from apispec import BasePlugin
from flask_smorest import Api, Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from marshmallow.schema import SchemaMeta
from psycopg_pool import PoolTimeout
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from server.converters import InvalidPathParameter
from server.request_db import after_commit
from server.utils.jobs import broker_generation
from server.utils.jobs.table import IdempotencyKeyReused

log = logging.getLogger(__name__)

class ApiError(Exception):
    """An error the client can act on; ``details`` maps a field name to its reasons, ``headers``
    are added to the answer (e.g. ``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}
        self.headers = headers or {}


ITEM_ERRORS_SHOWN = 100
DATABASE_RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, details: dict | None = None):
    """The envelope as a Flask response tuple."""
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}}}
    return jsonify(body), status


def cap_item_errors(messages, limit: int = ITEM_ERRORS_SHOWN):
    """``messages`` with every per-item error map (``{index: reasons}``) cut to its first
    ``limit`` items plus ``"more": "<n> more items with errors"``, at any depth, so a list of a
    million bad items cannot produce a megabyte error body."""
    if not isinstance(messages, dict):
        return messages
    indexed = [str(k) for k in messages if isinstance(k, int) or (isinstance(k, str) and k.isdigit())]
    out = {}
    for key, value in messages.items():  # keys as strings: JSON keys are, and they sort together
        out[str(key)] = cap_item_errors(value, limit)
    if len(indexed) > limit:
        for key in indexed[limit:]:
            del out[key]
        out["more"] = f"{len(indexed) - limit} more items with errors"
    return out


def _flatten_messages(messages: dict) -> dict:
    """webargs nests messages by location (``{"json": {"accounts": [...]}}``); keep field names."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def _error_page(exc: HTTPException):
    """The HTML answer for ``exc`` of the page section the request's path is under, or None.
    Sections register ``app.extensions["error_pages"][prefix] = render(exc) -> response`` for
    errors raised before any of their views runs (an unknown path, a bad path parameter)."""
    for prefix, render in current_app.extensions.get("error_pages", {}).items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return render(exc)
    return None


def register_error_handlers(app: Flask) -> None:
    """Route ``ApiError``, HTTP errors (incl. flask-smorest validation) and crashes to the
    envelope; HTTP errors under a section with its own error pages (``_error_page``) to them."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        response, status = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response, status

    @app.errorhandler(IdempotencyKeyReused)
    def _key_reused(exc: IdempotencyKeyReused):
        return error_response(409, "IDEMPOTENCY_KEY_REUSED",
                              "this Idempotency-Key was already used with a different request",
                              {"Idempotency-Key": ["already used with a different request"]})

    @app.errorhandler(InvalidPathParameter)
    def _bad_path(exc: InvalidPathParameter):
        page = _error_page(exc)
        if page is not None:
            return page
        return error_response(400, "VALIDATION_ERROR", exc.description, {exc.field: [exc.reason]})

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(psycopg.OperationalError)
    def _database_unavailable(exc: Exception):
        # No free connection within DB_POOL_TIMEOUT_SECONDS, or Postgres dropped or refused the
        # connection (failover, maintenance): the client should retry, the pool reconnects.
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        response, status = error_response(503, "DATABASE_UNAVAILABLE",
                                          "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response, status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        page = _error_page(exc)
        if page is not None:
            return page
        data = getattr(exc, "data", None) or {}
        if exc.code in (400, 422) and "messages" in data:
            details = cap_item_errors(_flatten_messages(data["messages"]))
            fields = ", ".join(sorted(details))
            return error_response(400, "VALIDATION_ERROR", f"invalid request: {fields}", details)
        code = (exc.name or "error").upper().replace(" ", "_")
        if exc.code == 413:
            limit = current_app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, code, f"the body is larger than {limit} bytes")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "internal error")


class ErrorDetailSchema(Schema):
    """``error`` of the envelope: a machine code, a sentence, and reasons per field."""

    code = fields.String(metadata={"example": "VALIDATION_ERROR"})
    message = fields.String()
    details = fields.Dict(keys=fields.String(), metadata={"description": "field → list of reasons"})


class ErrorEnvelopeSchema(Schema):
    """``{"success": false, "error": {...}}``, the shape of every error answer."""

    success = fields.Boolean(metadata={"example": False})
    error = fields.Nested(ErrorDetailSchema)


class ErrorResponsesPlugin(BasePlugin):
    """apispec plugin listing, for every ``/api`` operation, each error status it can answer
    (not only through ``default``): 400 (an unknown query parameter, a bad id or body), 401
    (key missing, invalid or revoked) and 429 (rate limit) everywhere, 404 on paths with an id,
    413 and 415 on operations with a body. Each one refers
    to flask-smorest's response of that status, whose body is the error envelope."""

    BODY_METHODS = ("post", "put", "patch")

    def operation_helper(self, path=None, operations=None, **kwargs):
        if not path or not path.startswith("/api/") or path.startswith("/api/docs"):
            return
        for method, operation in operations.items():
            statuses = [400, 401, 429]
            if "{" in path:
                statuses.append(404)
            if method in self.BODY_METHODS:
                statuses += [413, 415]
            responses = operation.setdefault("responses", {})
            for status in statuses:
                if status not in responses and str(status) not in responses:
                    responses[str(status)] = http.HTTPStatus(status).name
            for status, response in responses.items():  # alt_response() without a schema
                if str(status)[0] in "45" and isinstance(response, dict) and "content" not in response:
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}


class ServiceApi(Api):
    """flask-smorest ``Api`` documenting the service's error envelope for every operation."""

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _init_spec(self, *args, extra_plugins=None, **kwargs):
        super()._init_spec(*args, extra_plugins=[*(extra_plugins or ()), ErrorResponsesPlugin()], **kwargs)


class ApiBlueprint(Blueprint):
    """flask-smorest ``Blueprint`` whose request validation fails with 400 (documented so), and
    whose argument schemas are built once when the route is declared (webargs would build a
    schema given as a class again on every request)."""

    ARGUMENTS_PARSER = FlaskParser()
    ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400

    def arguments(self, schema, *args, **kwargs):
        """``Blueprint.arguments`` with a schema class replaced by one instance of it."""
        if isinstance(schema, type) and issubclass(schema, Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "Repeating a request with the same key returns the job it created; the same key "
                   "with a different request is a 409.",
}
LOCATION_HEADER = {"Location": {"description": "URL of the job's status", "schema": {"type": "string"}}}


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` only: no ``"yes"``, ``1`` or ``"on"``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class StrictNumber(fields.Float):
    """A JSON number only: no ``"0.9"`` strings and no ``true``/``false``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        return super()._deserialize(value, attr, data, **kwargs)


class CappedList(fields.List):
    """A JSON array of at most ``max_items`` items whose length is checked before any item is
    validated, and whose item validation stops after ``ITEM_ERRORS_SHOWN`` bad items (the
    error then says how many items were checked). ``max_items`` is a number or a callable
    returning one (read per request, e.g. from settings)."""

    def __init__(self, cls_or_instance, max_items, **kwargs):
        super().__init__(cls_or_instance, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            raise self.make_error("invalid")
        limit = self.max_items() if callable(self.max_items) else self.max_items
        if len(value) > limit:
            raise ValidationError(f"at most {limit} items; got {len(value)}")
        fast = self._plain_strings(value)
        if fast is not None:
            return fast
        result, errors = [], {}
        for index, item in enumerate(value):
            try:
                result.append(self.inner.deserialize(item, **kwargs))
            except ValidationError as error:
                errors[index] = error.messages
                if len(errors) >= ITEM_ERRORS_SHOWN:
                    errors["more"] = (f"validation stopped at item {index} after {ITEM_ERRORS_SHOWN} "
                                      f"bad items of {len(value)}")
                    break
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result

    def _plain_strings(self, value) -> list[str] | None:
        """``value`` as a new list when the items are a plain ``fields.String`` (no
        ``allow_none``) and every item is a ``str`` its validators accept: what the per-item
        path returns, without marshmallow's per-item machinery (a 500,000-account body). None
        otherwise; the per-item path then names the bad items."""
        if type(self.inner) is not fields.String or self.inner.allow_none:
            return None
        checks = self.inner.validators
        try:
            for item in value:
                if type(item) is not str:
                    return None
                for check in checks:
                    check(item)
        except ValidationError:
            return None
        return list(value)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class StrictDate(fields.Date):
    """A calendar date written exactly ``YYYY-MM-DD`` (no ``20261201``, no week dates)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValidationError("must be a date written YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError("not a calendar date (YYYY-MM-DD)") from None


class EmptyRequestSchema(Schema):
    """A body with no fields (``{}`` or none at all); any field is unknown and rejected."""


class JobAcceptedSchema(Schema):
    """202 answer of every endpoint that starts a job."""

    success = fields.Boolean()
    job_id = fields.UUID()
    status = fields.String()
    status_url = fields.String()
    results_url = fields.String()
    total_batches = fields.Integer()


class NumberedPageQuerySchema(Schema):
    """Query fields of a list read by page number: ``page`` (1-based) and ``limit`` (rows a page)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class NumberedPageSchema(Schema):
    """Fields of an answer read by page number: the page and limit asked for, the rows that
    match (``total``) and the number of pages."""

    success = fields.Boolean()
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class _FiltersFirst(SchemaMeta):
    """Lists a schema's own fields (a list's filters, and its own ``limit`` if it redefines it)
    before the fields it inherits, so the OpenAPI parameters read filters first, paging last."""

    @classmethod
    def get_declared_fields(mcs, klass, cls_fields, inherited_fields, dict_cls=dict):  # noqa: N804
        own = {name for name, _ in cls_fields}
        return dict_cls(cls_fields + [(name, field) for name, field in inherited_fields if name not in own])


class KeysetQuerySchema(Schema, metaclass=_FiltersFirst):
    """Query fields of a list read by keyset: ``limit`` (rows a page; a list may allow more) and
    the ``cursor`` of the previous answer; a subclass's own fields come first."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(max=200),
                           metadata={"description": "next_cursor of the previous page"})


class KeysetPageSchema(Schema):
    """Fields of an answer read by keyset: ``next_cursor`` for the next page."""

    success = fields.Boolean()
    next_cursor = fields.String(allow_none=True, metadata={"description": "null on the last page"})


def encode_cursor(*values) -> str:
    """An opaque page cursor holding ``values`` (dates, datetimes, UUIDs and numbers)."""
    text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *parsers) -> tuple:
    """The values of a cursor from :func:`encode_cursor`, each read by its parser (e.g.
    ``datetime.fromisoformat``, ``UUID``); ``ApiError`` 400 naming ``cursor`` when it was not
    made by this service."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(values, list) or len(values) != len(parsers):
            raise ValueError("wrong number of values")
        return tuple(parse(value) for parse, value in zip(parsers, values))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "VALIDATION_ERROR", "invalid cursor",
                       {"cursor": ["not a next_cursor value from a previous page"]}) from None


# What brings back a message the API could not send (Redis down): every task ``enqueue`` may
# send is listed, with the phrase the log line ends with. A task whose lost message nothing
# recovers must not use ``enqueue``: send it with ``send_now`` and answer the failure instead.
RECOVERED_BY = {
    # the job stays queued, stamped enqueue_failed_at: the reaper (beat) sends it once Redis answers
    "scrape.start": "the reaper will send it",
    "jobs.run": "the reaper will send it",
    # the job is already cancelled: the run poller aborts every run of a job no longer processing
    "jobs.abort_runs": "the run poller will abort the job's runs",
}
BROKER_RETRY_AFTER_SECONDS = 30


class BrokerUnavailable(Exception):
    """The message could not be handed to the broker (Redis unreachable or refusing)."""


def enqueue(task_name: str, job_id: str, *args, priority: int | None = None) -> None:
    """Send task ``task_name`` (one of ``RECOVERED_BY``) with arguments ``[job_id, *args]`` once
    the request's transaction has committed (the job row is visible to the worker); ``priority``
    0 is served first. A broker outage is logged, not raised, because something else recovers
    the message (``RECOVERED_BY``): a queued job is stamped ``enqueue_failed_at`` and the reaper
    sends it on its first run once Redis answers; the runs of a cancelled job are aborted by the
    run poller. Raises ``ValueError`` for a task nothing would recover."""
    if task_name not in RECOVERED_BY:
        raise ValueError(f"{task_name}: nothing re-sends it when the broker is down; use send_now")
    app = current_app._get_current_object()
    after_commit(lambda: _send(app, task_name, [job_id, *args], priority))


def _send(app, task_name: str, args: list, priority: int | None) -> None:
    job_id = args[0]
    try:
        app.extensions["celery"].send_task(task_name, args=args, priority=priority)
    except Exception:  # kombu raises many types for an unreachable broker
        log.exception("could not enqueue %s(%s); %s", task_name, job_id, RECOVERED_BY[task_name])
        if task_name in ("scrape.start", "jobs.run"):
            broker_generation.mark_unsent(app.extensions["services"].db, job_id)


def send_now(task_name: str, *args, priority: int | None = None) -> None:
    """Send task ``task_name`` with ``args`` at once (not after the request's transaction), for
    messages whose sender must know they reached the broker. Raises ``BrokerUnavailable`` (the
    failure is logged) when the broker does not take it."""
    try:
        current_app.extensions["celery"].send_task(task_name, args=list(args), priority=priority)
    except Exception as exc:  # kombu raises many types for an unreachable broker
        log.exception("could not send %s%s: the broker is unavailable", task_name, tuple(args))
        raise BrokerUnavailable(str(exc)) from exc


def broker_unavailable_error() -> ApiError:
    """The 503 ``BROKER_UNAVAILABLE`` answer (with ``Retry-After``) for a request whose message
    could not be sent: the caller should send the request again later."""
    return ApiError(503, "BROKER_UNAVAILABLE", "the message queue is unavailable; retry shortly",
                    headers={"Retry-After": str(BROKER_RETRY_AFTER_SECONDS)})


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header (≤ 200 characters), or None."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise ApiError(400, "VALIDATION_ERROR", "Idempotency-Key is too long",
                       {"Idempotency-Key": ["longer than 200 characters"]})
    return key or None


def request_fingerprint(body: dict) -> str:
    """SHA-256 of the request's path and its validated body (defaults filled in, key order
    ignored; ``{}`` and no body are the same request): an ``Idempotency-Key`` repeated with a
    different request is refused, one that spells out a default is not. Text is hashed as
    ASCII-escaped JSON, so any string (even a lone UTF-16 surrogate) can be fingerprinted."""
    canonical = json.dumps({"path": request.path, "body": body}, sort_keys=True, default=str,
                           separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def accepted(job: dict, **extra):
    """The 202 answer for a stored job, with ``Location`` pointing at its status."""
    job_id = str(job["job_id"])
    status_url = url_for("jobs.job_status", job_id=job_id)
    body = {"success": True, "job_id": job_id, "status": job["status"], "status_url": status_url,
            "total_batches": job["total_batches"], **extra}
    if job["kind"] == "scrape":
        body["results_url"] = url_for("jobs.job_results", job_id=job_id)
    return body, 202, {"Location": status_url}
