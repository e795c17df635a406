"""Checks every ``/api/*`` request body passes before validation: it must be JSON, sent as
JSON. Without them a text/plain body reads as "no fields" and broken JSON gets a generic 400."""
from __future__ import annotations

import json

from flask import Flask, current_app, request

from server.api_common import ApiError

BODY_METHODS = ("POST", "PUT", "PATCH")


def install_body_checks(app: Flask) -> None:
    """Answer 400 naming them for query parameters on a POST (input goes in the body), 413 for
    a body at the size limit, 415 for a non-JSON ``Content-Type`` and 400 naming ``body`` for
    JSON that cannot be decoded."""

    @app.before_request
    def _check_body():
        if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
            return None
        if request.args:
            raise ApiError(400, "VALIDATION_ERROR", "this endpoint takes its input in the JSON body",
                           {name: ["Unknown field."] for name in request.args})
        raw = request.get_data(cache=True)
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit and len(raw) >= limit:  # a chunked body is cut at the limit, not refused
            raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE", f"the body is larger than {limit} bytes")
        if not raw:
            return None
        if not request.is_json:
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be JSON",
                           {"Content-Type": [f"must be application/json, not {request.mimetype or 'missing'}"]})
        try:
            json.loads(raw)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
            raise ApiError(400, "INVALID_JSON", "the body is not valid JSON",
                           {"body": [f"not valid JSON: {exc}"]}) from None
        return None
