"""Flask application factory: ``create_app(settings=None)`` wires everything, nothing happens
at import. Used by ``wsgi.py`` (gunicorn), the ``flask`` CLI and the tests."""
from __future__ import annotations

import click
from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from server.api_common import ServiceApi, register_error_handlers
from server.celery_config import create_celery
from server.converters import CONVERTERS
from server.observability import init_logging, init_sentry
from server.services import Services
from server.settings import Settings, SettingsError


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app for ``settings`` (default: validated from the environment).

    Raises ``SettingsError`` when the environment is incomplete or invalid, except under the
    ``flask`` command line: there the app is built with its commands only, so ``flask --app
    server.app --help`` lists them, and a command that needs the configuration stops with the
    settings error as a usage message.
    """
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            if click.get_current_context(silent=True) is None:
                raise
            return _commands_only_app(exc)
    init_logging()
    init_sentry(settings)
    app = Flask(__name__)
    app.url_map.converters.update(CONVERTERS)
    app.config.update(
        API_TITLE="Follower pipeline API",
        API_VERSION=settings.app_version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/docs",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_content_length_mb * 1024 * 1024,
        JSON_SORT_KEYS=False,
        DEBUG=False,
    )
    if settings.trusted_proxy_hops:
        # Heroku's router appends the client address; trust exactly that many hops (B09, B10).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops,
                                x_proto=settings.trusted_proxy_hops)
    services = Services(settings)
    app.extensions["services"] = services
    app.extensions["celery"] = create_celery(settings, services)
    CORS(app, resources={r"/api/*": {"origins": settings.allowed_origins}},
         allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"])

    from server.api_async import blp as jobs_blp
    from server.api_outreach import blp as daily_blp
    from server.api_sources import blp as sources_blp
    from server.api_webhooks import blp as webhooks_blp
    from server.auth import install_auth
    from server.cli import register_cli
    from server.console import init_console
    from server.docs import configure_swagger_ui
    from server.health import blp as health_blp
    from server.ratelimit import init_limiter
    from server.request_checks import install_body_checks
    from server.request_db import install_request_db

    configure_swagger_ui(app)
    api = ServiceApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"bearerAuth": []}, {"apiKeyHeader": []}]})
    for blueprint in (jobs_blp, daily_blp, webhooks_blp, sources_blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(health_blp)
    install_request_db(app)
    init_limiter(app, settings)  # before auth: key guessing is rate-limited too
    install_auth(app, settings)
    install_body_checks(app)
    for converter in CONVERTERS.values():
        api.register_converter(converter, lambda _: {"type": "string", "format": "uuid"})
    register_error_handlers(app)
    init_console(app, settings)
    register_cli(app)
    return app


def _commands_only_app(problem: SettingsError) -> Flask:
    """An app that serves nothing and carries the project's CLI commands, built when the
    ``flask`` command line runs without a valid environment."""
    from server.cli import register_cli

    app = Flask(__name__)
    app.extensions["settings_error"] = problem
    register_cli(app)
    return app
