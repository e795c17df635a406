"""What every API module shares: the error envelope (``ApiError`` and the handlers that turn
every failure into ``{"success": false, "error": {"code", "message", "details"}}``), the
flask-smorest blueprint and API classes, strict scalar fields, the 202 job answer, and the
``Idempotency-Key`` helpers."""
from __future__ import annotations

import hashlib
import json
import logging

from flask import Flask, current_app, jsonify, request, url_for
from flask_smorest import Api, Blueprint
from marshmallow import Schema, ValidationError, fields
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from server.converters import InvalidPathParameter
from server.utils.jobs.table import IdempotencyKeyReused

log = logging.getLogger(__name__)

class ApiError(Exception):
    """An error the client can act on; ``details`` maps a field name to its reasons."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def error_response(status: int, code: str, message: str, details: dict | None = None):
    """The envelope as a Flask response tuple."""
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}}}
    return jsonify(body), status


def _flatten_messages(messages: dict) -> dict:
    """webargs nests messages by location (``{"json": {"accounts": [...]}}``); keep field names."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def register_error_handlers(app: Flask) -> None:
    """Route ``ApiError``, HTTP errors (incl. flask-smorest validation) and crashes to the envelope."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(IdempotencyKeyReused)
    def _key_reused(exc: IdempotencyKeyReused):
        return error_response(409, "IDEMPOTENCY_KEY_REUSED",
                              "this Idempotency-Key was already used with a different request",
                              {"Idempotency-Key": ["already used with a different request"]})

    @app.errorhandler(InvalidPathParameter)
    def _bad_path(exc: InvalidPathParameter):
        return error_response(400, "VALIDATION_ERROR", exc.description, {exc.field: [exc.reason]})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        if exc.code in (400, 422) and "messages" in data:
            details = _flatten_messages(data["messages"])
            fields = ", ".join(sorted(details))
            return error_response(400, "VALIDATION_ERROR", f"invalid request: {fields}", details)
        code = (exc.name or "error").upper().replace(" ", "_")
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


class ServiceApi(Api):
    """flask-smorest ``Api`` documenting the service's error envelope for every operation."""

    ERROR_SCHEMA = ErrorEnvelopeSchema


class ApiBlueprint(Blueprint):
    """flask-smorest ``Blueprint`` whose request validation fails with 400 (documented so)."""

    ARGUMENTS_PARSER = FlaskParser()
    ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400


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


class JobAcceptedSchema(Schema):
    """202 answer of every endpoint that starts a job."""

    success = fields.Boolean()
    job_id = fields.UUID()
    status = fields.String()
    status_url = fields.String()
    results_url = fields.String()
    total_batches = fields.Integer()


def enqueue(task_name: str, *args, priority: int | None = None) -> None:
    """Send a task by name after the job row is committed (``priority``: 0 is served first). A
    broker outage is logged, not raised: the job is stored and the reaper dispatches it once
    Redis is back."""
    try:
        current_app.extensions["celery"].send_task(task_name, args=list(args), priority=priority)
    except Exception:  # kombu raises many types for an unreachable broker
        log.exception("could not enqueue %s%r; the reaper will retry", task_name, args)


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header (≤ 200 characters), or None."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise ApiError(400, "VALIDATION_ERROR", "Idempotency-Key is too long",
                       {"Idempotency-Key": ["longer than 200 characters"]})
    return key or None


def request_fingerprint(body: dict | None = None) -> str:
    """SHA-256 of the request's path and its validated body (defaults filled in, key order
    ignored; the raw JSON when no body is given): an ``Idempotency-Key`` repeated with a
    different request is refused, one that spells out a default is not."""
    payload = body if body is not None else request.get_json(silent=True)
    canonical = json.dumps({"path": request.path, "body": payload}, sort_keys=True, default=str,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def accepted(job: dict, **extra):
    """The 202 answer for a stored job, with ``Location`` pointing at its status."""
    job_id = str(job["job_id"])
    status_url = url_for("jobs.job_status", job_id=job_id)
    body = {"success": True, "job_id": job_id, "status": job["status"], "status_url": status_url,
            "total_batches": job["total_batches"], **extra}
    if job["kind"] == "scrape":
        body["results_url"] = url_for("jobs.job_results", job_id=job_id)
    return body, 202, {"Location": status_url}
