"""Postgres access through psycopg 3 and a small per-process connection pool.

The pool is created on first use in the process that uses it (never at import, never before a
Celery fork), with server-side prepared statements disabled so Supabase's transaction pooler
(port 6543) works (psycopg/psycopg#280; shared/reference/postgres_supabase.md §3).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential


class Database:
    """Lazily pooled connections to one Postgres database.

    ``transaction()`` yields a connection inside a transaction that commits on success and rolls
    back on any exception; rows come back as dicts. A connection is checked before it is handed
    out (one Postgres dropped, e.g. ``pg_terminate_backend`` in a failover, is replaced, never
    given to the next caller) and one that broke during use is discarded on return. Waiting
    for a free connection is bounded by ``pool_timeout`` seconds: then ``PoolTimeout`` is raised
    (the API answers 503 with ``Retry-After``).
    """

    def __init__(self, dsn: str, pool_size: int = 5, application_name: str = "follower-pipeline",
                 pool_timeout: float = 5.0):
        self.dsn = dsn
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self.application_name = application_name
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _connect_kwargs(self) -> dict:
        return {
            "row_factory": dict_row,
            "prepare_threshold": None,
            "application_name": self.application_name,
            "connect_timeout": 10,
        }

    def pool(self) -> ConnectionPool:
        """The pool of this process, opened on first call (a forked child gets its own)."""
        pid = os.getpid()
        if self._pool is None or self._pid != pid:
            with self._lock:
                if self._pool is None or self._pid != pid:
                    self._pool = ConnectionPool(
                        self.dsn,
                        min_size=1,
                        max_size=self.pool_size,
                        kwargs=self._connect_kwargs(),
                        check=ConnectionPool.check_connection,
                        timeout=self.pool_timeout,
                        open=True,
                        name=f"db-{pid}",
                    )
                    self._pid = pid
        return self._pool

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in one transaction: commit on exit, rollback on exception."""
        with self.pool().connection() as conn:
            yield conn

    def connect(self, autocommit: bool = False) -> psycopg.Connection:
        """A new unpooled connection (CLI commands, streaming exports); the caller closes it."""
        return psycopg.connect(self.dsn, autocommit=autocommit, **self._connect_kwargs())

    def close(self) -> None:
        """Close this process's pool, if it has one."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None


# A write that must not be lost to a dropped connection (e.g. the id of an Apify run just paid
# for): tried again on a fresh connection, 5 attempts with 0.2-0.4-0.8-1.6 s waits, then the
# error is raised.
retry_on_disconnect = retry(
    retry=retry_if_exception_type((psycopg.OperationalError, PoolTimeout)),
    stop=stop_after_attempt(5), wait=wait_exponential(multiplier=0.2, max=3), reraise=True)
