"""Console sign-in: an API key is exchanged for a signed session cookie scoped to that key's
tenant. The cookie holds only the key's id and the tenant id (never the key); every request
checks that the key is still unrevoked, so revoking it ends the session at once."""
from __future__ import annotations

from uuid import UUID

from flask import current_app, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from server.console.blueprint import bp
from server.utils import tenants

PUBLIC_ENDPOINTS = ("console.sign_in", "console.static")


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened only for requests under the cookie's path
    (``SESSION_COOKIE_PATH``, ``/console``): the browser never sends the cookie elsewhere, so
    API and health requests get Flask's null session (which refuses writes) without building
    a signing serializer."""

    def open_session(self, app, request):
        """The request's session under the cookie path, else None (Flask's null session)."""
        path = self.get_cookie_path(app)
        if request.path != path and not request.path.startswith(path.rstrip("/") + "/"):
            return None
        return super().open_session(app, request)


def services():
    """The app's ``Services``."""
    return current_app.extensions["services"]


def sign_in(key: str) -> tenants.Tenant | None:
    """Start a session for ``key``; returns its tenant, or None (nothing stored) for an
    unknown, revoked or admin key."""
    with services().db.transaction() as conn:
        found = tenants.api_key_for_key(conn, key.strip())
    if found is None:
        return None
    key_id, tenant = found
    session.clear()
    session.permanent = True
    session["key_id"], session["tenant_id"] = str(key_id), str(tenant.tenant_id)
    return tenant


@bp.before_request
def load_session():
    """``before_request`` of the console: put the signed-in tenant on ``g.tenant``, or answer
    with the sign-in page (401 JSON for the live endpoints) when there is no valid session."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    tenant = None
    if session.get("key_id") and session.get("tenant_id"):
        try:
            key_id, tenant_id = UUID(session["key_id"]), UUID(session["tenant_id"])
        except ValueError:
            key_id = tenant_id = None
        if key_id:
            with services().db.transaction() as conn:
                tenant = tenants.tenant_for_key_id(conn, key_id, tenant_id)
    if tenant is None:
        expired = bool(session.get("key_id"))
        session.clear()
        if request.path.endswith(".json"):
            return jsonify({"success": False, "error": {"code": "UNAUTHORIZED", "message": "signed out"}}), 401
        return redirect(url_for("console.sign_in", next=request.full_path if request.method == "GET" else None,
                                expired=1 if expired else None))
    g.tenant = tenant
    return None


@bp.before_request
def protect_forms():
    """Every console POST must carry the session's CSRF token (``CSRFError`` 400 otherwise)."""
    if request.method == "POST":
        current_app.extensions["csrf"].protect()


# Only the console's own scripts and styles run (inline style attributes carry bar widths);
# no page of it may be framed by another site (clickjacking of its forms).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.after_request
def security_headers(response):
    """Add ``SECURITY_HEADERS`` to every console answer (static files keep their caching)."""
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and request.endpoint == "console.static":
            continue
        response.headers[name] = value
    return response
