"""Postgres access through psycopg 3 and a small per-process connection pool.

The pool is created on first use in the process that uses it (never at import, never before a
Celery fork), with server-side prepared statements disabled so Supabase's transaction pooler
(port 6543) works (psycopg/psycopg#280; shared/reference/postgres_supabase.md §3).

Connection health is checked where it is cheap, not with a query on every checkout:
- a connection the server has closed or written to while it sat idle in the pool (a terminated
  backend, a restarted server, a pooler dropping it) has a readable socket; one ``poll`` with a
  zero timeout finds it and the pool replaces it before it is handed out;
- a connection idle for more than ``check_idle_seconds`` (where a silent network drop becomes
  likely) is checked with a query before it is reused;
- connections are replaced after ``max_lifetime`` seconds, and one left broken by an error is
  discarded when it is returned (psycopg_pool does this on return).
"""
from __future__ import annotations

import os
import select
import threading
import time
import weakref
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Callable, Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential


class Database:
    """Lazily pooled connections to one Postgres database.

    ``transaction()`` yields a connection inside a transaction that commits on success and rolls
    back on any exception; rows come back as dicts. While a connection is bound to the current
    context (``bind``: the web request's connection), ``transaction()`` runs inside that
    connection's transaction as a savepoint instead of taking a second connection, so one
    request never holds two connections and commits once. A connection Postgres dropped (e.g.
    ``pg_terminate_backend`` in a failover) is never handed out (see ``_check``). Waiting for a
    free connection is bounded by ``pool_timeout`` seconds: then ``PoolTimeout`` is raised (the
    API answers 503 with ``Retry-After``).
    """

    def __init__(self, dsn: str, pool_size: int = 5, application_name: str = "follower-pipeline",
                 pool_timeout: float = 5.0, check_idle_seconds: float = 30.0, max_lifetime_seconds: float = 1800.0):
        self.dsn = dsn
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self.application_name = application_name
        self.check_idle_seconds = check_idle_seconds
        self.max_lifetime_seconds = max_lifetime_seconds
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._returned_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._bound: ContextVar[psycopg.Connection | None] = ContextVar(f"db-bound-{id(self)}", default=None)

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
                    self._pool = _ReturnTimedPool(
                        self.dsn,
                        on_return=self._on_return,
                        min_size=1,
                        max_size=self.pool_size,
                        kwargs=self._connect_kwargs(),
                        check=self._check,
                        max_lifetime=self.max_lifetime_seconds,
                        timeout=self.pool_timeout,
                        open=True,
                        name=f"db-{pid}",
                    )
                    self._pid = pid
        return self._pool

    def _on_return(self, conn: psycopg.Connection) -> None:
        self._returned_at[conn] = time.monotonic()

    def _check(self, conn: psycopg.Connection) -> None:
        """Raise if ``conn`` must not be handed out (the pool then discards it and tries another)."""
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("connection closed")
        if socket_readable(conn):
            # An idle connection has nothing to read unless the server ended it (a FATAL
            # message, then EOF) or sent something unexpected; either way it is not reused. It
            # is closed so the pool discards it (libpq has not read the EOF yet, so it would
            # still look healthy).
            conn.close()
            raise psycopg.OperationalError("server closed or wrote to an idle connection")
        returned = self._returned_at.get(conn)
        if returned is None or time.monotonic() - returned > self.check_idle_seconds:
            ConnectionPool.check_connection(conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in one transaction: commit on exit, rollback on exception.
        Inside a bound connection's transaction: a savepoint of it (released on exit, rolled
        back on exception; the bound transaction commits later)."""
        bound = self._bound.get()
        if bound is not None:
            with bound.transaction():
                yield bound
            return
        with self.pool().connection() as conn:
            yield conn

    def checkout(self) -> psycopg.Connection:
        """A pooled connection the caller gives back with ``checkin`` (after commit or rollback)."""
        return self.pool().getconn()

    def checkin(self, conn: psycopg.Connection) -> None:
        """Return a connection from ``checkout`` to the pool."""
        self.pool().putconn(conn)

    def bind(self, conn: psycopg.Connection) -> Token:
        """Make ``transaction()`` use ``conn`` in the current context until ``unbind(token)``."""
        return self._bound.set(conn)

    def unbind(self, token: Token) -> None:
        """Undo ``bind``."""
        self._bound.reset(token)

    def connect(self, autocommit: bool = False) -> psycopg.Connection:
        """A new unpooled connection (CLI commands, streaming exports); the caller closes it."""
        return psycopg.connect(self.dsn, autocommit=autocommit, **self._connect_kwargs())

    def close(self) -> None:
        """Close this process's pool, if it has one."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None


class _ReturnTimedPool(ConnectionPool):
    """``ConnectionPool`` calling ``on_return(conn)`` as each connection comes back, in the
    returning thread. (The pool's own ``reset`` hook would do it too, but its presence makes the
    pool hand every return to its worker thread: a thread switch per request.)"""

    def __init__(self, *args, on_return: Callable[[psycopg.Connection], None], **kwargs):
        self._on_return = on_return
        super().__init__(*args, **kwargs)

    def putconn(self, conn: psycopg.Connection) -> None:
        """Note the return, then return ``conn`` as ``ConnectionPool.putconn`` does."""
        self._on_return(conn)
        super().putconn(conn)


def socket_readable(conn: psycopg.Connection) -> bool:
    """True when the connection's socket has data or EOF waiting (no round trip: a zero-timeout
    ``poll``); on an idle connection that means the server ended it."""
    try:
        fd = conn.fileno()
    except psycopg.Error:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


# A write that must not be lost to a dropped connection (e.g. the id of an Apify run just paid
# for): tried again on a fresh connection, 5 attempts with 0.2-0.4-0.8-1.6 s waits, then the
# error is raised.
retry_on_disconnect = retry(
    retry=retry_if_exception_type((psycopg.OperationalError, PoolTimeout)),
    stop=stop_after_attempt(5), wait=wait_exponential(multiplier=0.2, max=3), reraise=True)
