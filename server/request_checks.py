"""Checks every ``/api/*`` request body passes before validation: it must be JSON, sent as
JSON. Without them a text/plain body reads as "no fields" and broken JSON gets a generic 400."""
from __future__ import annotations

import json

from flask import Flask, request

from server.errors import ApiError

BODY_METHODS = ("POST", "PUT", "PATCH")


def install_body_checks(app: Flask) -> None:
    """Answer 415 for a non-JSON ``Content-Type`` and 400 naming ``body`` for undecodable JSON."""

    @app.before_request
    def _check_body():
        if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
            return None
        raw = request.get_data(cache=True)
        if not raw:
            return None
        if not request.is_json:
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be JSON",
                           {"Content-Type": [f"must be application/json, not {request.mimetype or 'missing'}"]})
        try:
            json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ApiError(400, "INVALID_JSON", "the body is not valid JSON",
                           {"body": [f"not valid JSON: {exc}"]}) from None
        return None
