"""The operator console at ``/console/``: server-rendered pages over the same domain functions
as the API (jobs with live progress, job detail, new scrape, pool and campaigns, daily runs,
settings). Sign-in with an API key gives a signed, HttpOnly, SameSite=Strict session cookie
limited to ``/console``; every form carries a CSRF token (Flask-WTF). Assets are served from
``server/console/static`` (no CDN)."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from server.console.blueprint import bp
from server.console.formatting import register_filters


def init_console(app: Flask, settings) -> None:
    """Configure sessions and CSRF for the console and register its pages on ``app``."""
    from server.console import session, views_jobs, views_outreach, views_scrape, views_settings  # noqa: F401

    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.environment == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console_session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # only the console's forms; the API uses keys, not cookies
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=settings.environment == "production",
    )
    app.session_interface = session.ConsoleSessions()
    CSRFProtect(app)  # sets app.extensions["csrf"]
    register_filters(app)
    app.register_blueprint(bp)
    app.extensions.setdefault("error_pages", {})["/console"] = views_jobs.error_page  # routing errors

