"""Flask application factory: ``create_app(settings=None)`` wires everything, nothing happens
at import. Used by ``wsgi.py`` (gunicorn), the ``flask`` CLI and the tests."""
from __future__ import annotations

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from server.api_common import ServiceApi, register_error_handlers
from server.celery_config import create_celery
from server.converters import CONVERTERS
from server.observability import init_logging, init_sentry
from server.services import Services
from server.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app for ``settings`` (default: validated from the environment).

    Raises ``SettingsError`` when the environment is incomplete or invalid.
    """
    settings = settings or Settings.from_env()
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
    from server.auth import install_auth
    from server.cli import register_cli
    from server.health import blp as health_blp
    from server.ratelimit import init_limiter
    from server.request_checks import install_body_checks

    api = ServiceApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"bearerAuth": []}, {"apiKeyHeader": []}]})
    for blueprint in (jobs_blp, daily_blp, sources_blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(health_blp)
    init_limiter(app, settings)  # before auth: key guessing is rate-limited too
    install_auth(app)
    install_body_checks(app)
    for converter in CONVERTERS.values():
        api.register_converter(converter, lambda _: {"type": "string", "format": "uuid"})
    register_error_handlers(app)
    register_cli(app)
    return app
