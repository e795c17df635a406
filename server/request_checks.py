"""Checks every ``/api/*`` request passes before validation: a body must be JSON, sent as JSON
(without them a text/plain body reads as "no fields" and broken JSON gets a generic 400), and
query parameters go only to endpoints that take some."""
from __future__ import annotations

import json

from flask import Flask, current_app, request
from werkzeug.exceptions import ClientDisconnected

from server.api_common import ApiError

BODY_METHODS = ("POST", "PUT", "PATCH")


def install_body_checks(app: Flask) -> None:
    """Answer 400 naming them for query parameters on a POST (input goes in the body) or on a
    read that takes none (``GET /api/job-status/<id>?verbose=1``), 400 for a
    body shorter than its ``Content-Length`` (the client gave up mid-upload; nothing is stored),
    413 for a body over the size limit, 415 for a non-JSON ``Content-Type`` and 400
    ``INVALID_JSON`` naming ``body`` for anything that is not UTF-8 JSON (broken JSON, bad
    UTF-8, a byte-order mark, UTF-16). A method the route does not take is left to routing
    (405)."""

    @app.before_request
    def _check_query():
        if not request.args or request.method in BODY_METHODS or not request.path.startswith("/api/"):
            return None
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None or request.path.startswith("/api/docs"):
            return None  # unknown path (404 from routing) or the API description
        parameters = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
        if not any(p["in"] == "query" for p in parameters):  # flask-smorest's record of @arguments
            raise ApiError(400, "VALIDATION_ERROR", "this endpoint takes no query parameters",
                           {name: ["Unknown field."] for name in request.args})
        return None

    @app.before_request
    def _check_body():
        if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
            return None
        if request.routing_exception is not None:
            return None  # unknown path or method: 404/405 from routing, not a body error
        if request.args:
            raise ApiError(400, "VALIDATION_ERROR", "this endpoint takes its input in the JSON body",
                           {name: ["Unknown field."] for name in request.args})
        declared = request.content_length
        try:
            raw = request.get_data(cache=True)
        except ClientDisconnected:  # werkzeug's own length check on a non-terminated input
            raw = b""
        if declared is not None and len(raw) < declared:
            raise ApiError(400, "INCOMPLETE_BODY", "the body ended before its Content-Length",
                           {"body": [f"received {len(raw)} of {declared} bytes"]})
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit and len(raw) > limit:
            raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE", f"the body is larger than {limit} bytes")
        if not raw:
            return None
        if not request.is_json:
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be JSON",
                           {"Content-Type": [f"must be application/json, not {request.mimetype or 'missing'}"]})
        try:
            json.loads(_utf8_text(raw))
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
            raise ApiError(400, "INVALID_JSON", "the body is not valid JSON",
                           {"body": [f"not valid JSON: {exc}"]}) from None
        return None


def _utf8_text(raw: bytes) -> str:
    """``raw`` decoded as UTF-8 (RFC 8259 §8.1: JSON between systems is UTF-8 without a BOM).
    Raises ``ValueError`` for a byte-order mark, UTF-16/32 or invalid UTF-8."""
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise ValueError("starts with a byte-order mark; send UTF-8 without one")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
