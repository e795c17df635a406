"""Scratch databases for the benchmarks: created empty and migrated on a Postgres server
(``TEST_DATABASE_URL``, or the tests' default, unless one is given), dropped afterwards."""
from __future__ import annotations

import os
import uuid

import psycopg

from server.migrate import apply_migrations


def server_url() -> str:
    """The URL of a database on the server to use: ``TEST_DATABASE_URL`` or the tests' default."""
    return os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def create_scratch_database(prefix: str, server: str | None = None) -> str:
    """Create a database named ``{prefix}_<8 hex digits>`` on the server of ``server`` (a
    database URL; default ``server_url()``), apply the migrations and return its URL. Raises
    ``psycopg.Error`` when the server refuses; a database whose migration failed is dropped
    before the error is raised."""
    server = server or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        apply_migrations(url)
    except BaseException:
        drop_database(url, server)
        raise
    return url


def drop_database(url: str, server: str | None = None) -> None:
    """Drop the database of ``url`` (its connections are ended first), connected through
    ``server`` (default ``server_url()``); nothing happens when it does not exist."""
    with psycopg.connect(server or server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
