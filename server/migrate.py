"""Schema migrations: numbered plain-SQL files in ``server/migrations/`` applied with yoyo.

yoyo records every applied migration in ``_yoyo_migration`` and takes a lock while it works, so
a Heroku release step and a developer running ``flask --app server.app db-upgrade`` never apply
the same file twice.
"""
from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def yoyo_uri(database_url: str) -> str:
    """Turn a ``postgresql://`` DSN into yoyo's psycopg 3 URI (``postgresql+psycopg://``)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    return "postgresql+psycopg://" + rest


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration in order; returns the ids applied now (may be empty)."""
    backend = get_backend(yoyo_uri(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]
