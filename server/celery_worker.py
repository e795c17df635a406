"""Entry point for ``celery -A server.celery_worker worker|beat`` (like ``wsgi.py`` for gunicorn):
the only module that builds the Celery app from the environment at import."""
from server.celery_config import create_celery
from server.observability import init_sentry
from server.settings import Settings

settings = Settings.from_env()
init_sentry(settings)
celery = create_celery(settings)
