"""API-key authentication for every ``/api/*`` route.

Keys come as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the tenant they belong to
is put on ``flask.g.tenant``, and every query filters on it, so another tenant's job is a 404.
The OpenAPI description under ``/api/docs`` stays readable without a key.

Valid keys are cached in-process for ``API_KEY_CACHE_SECONDS`` (``server.utils.tenants.ApiKeyCache``):
a revoked key stops working within that time. A lookup runs on the request's own connection
and transaction (``server.request_db``), so authentication never takes a second connection.
"""
from __future__ import annotations

from flask import current_app, g, request

from server.api_common import ApiError
from server.request_db import request_connection
from server.utils.tenants import ApiKeyCache

PROTECTED_PREFIX = "/api/"
OPEN_PREFIXES = ("/api/docs",)


def presented_key() -> str | None:
    """The API key the request carries, or None."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-API-Key", "").strip() or None


def install_auth(app, settings) -> None:
    """Require a valid key on every ``/api/*`` request of ``app`` (CORS preflights and the
    OpenAPI description excepted); the key cache is ``app.extensions["api_key_cache"]``."""
    cache = ApiKeyCache(settings.api_key_cache_seconds)
    app.extensions["api_key_cache"] = cache

    @app.before_request
    def _authenticate():
        path = request.path
        if request.method == "OPTIONS" or not path.startswith(PROTECTED_PREFIX) or path.startswith(OPEN_PREFIXES):
            return None
        key = presented_key()
        if not key:
            raise ApiError(401, "UNAUTHORIZED", "missing API key: send 'Authorization: Bearer <key>'")
        tenant = current_app.extensions["api_key_cache"].tenant(key, request_connection)
        if tenant is None:
            raise ApiError(401, "UNAUTHORIZED", "invalid or revoked API key")
        g.tenant = tenant
        return None
