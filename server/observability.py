"""Logging and Sentry set-up shared by the web, worker and beat processes."""
from __future__ import annotations

import logging

from server.settings import Settings


def init_sentry(settings: Settings) -> None:
    """Start Sentry when ``SENTRY_DSN`` is set: no personal data, Flask and Celery integrations
    (sentry-sdk skips Celery ``Retry`` control-flow exceptions, getsentry/sentry-python#252)."""
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    sentry_sdk.init(dsn=settings.sentry_dsn, release=settings.app_version,
                    environment=settings.environment, send_default_pii=False,
                    traces_sample_rate=0.0)


def init_logging(level: int = logging.INFO) -> None:
    """Plain one-line logs on stderr (Heroku collects them); keeps existing handlers."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
