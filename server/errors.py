"""One JSON error shape for every failure:
``{"success": false, "error": {"code": "...", "message": "...", "details": {...}}}``."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from server.converters import InvalidPathParameter
from server.utils.jobs import IdempotencyKeyReused

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
