"""Migrations: numbered without gaps, and they build the whole schema on an empty database."""
from __future__ import annotations

import re
import uuid

import psycopg

from server.migrate import MIGRATIONS_DIR, apply_migrations

TABLES = {"tenants", "api_keys", "scrape_jobs", "scrape_job_chunks", "scrape_results", "raw_scraped_profiles",
          "global_usernames", "source_profiles", "campaigns", "daily_assignments"}


def test_migrations_are_numbered_without_gaps():
    names = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    numbers = [int(re.match(r"^(\d{4})\.[a-z0-9-]+\.sql$", n).group(1)) for n in names]
    assert numbers == list(range(1, len(numbers) + 1)), names


def test_migrations_apply_to_an_empty_database_and_twice_is_a_noop(backing_services):
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = backing_services.server_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        applied = apply_migrations(url)
        assert len(applied) == len(list(MIGRATIONS_DIR.glob("*.sql")))
        assert apply_migrations(url) == []
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        assert TABLES <= tables
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
