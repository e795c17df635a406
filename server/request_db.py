"""One pooled connection per web request, shared by authentication and the handler, and at
most one transaction.

``request_connection()`` checks a connection out on first use, in autocommit mode: a request
that only reads (job status, a results page, a cached key) sends its one statement and nothing
else (no BEGIN/COMMIT round trips; a single statement is its own transaction).
``request_transaction()`` opens the request's transaction: every later statement of the
request, including ``Database.transaction()`` blocks of domain code (they become savepoints,
never a second connection), runs in it; it commits after the handler when the answer is below
400 and rolls back otherwise. Tasks queued with ``after_commit`` are sent only once that commit
succeeded, so a worker never looks for a job that is not committed yet. The connection goes
back to the pool when the request ends.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import Callable, Iterator

import psycopg
from flask import Flask, current_app, g, has_request_context

log = logging.getLogger(__name__)


def request_connection() -> psycopg.Connection:
    """The current request's connection (checked out on first call; autocommit until
    ``request_transaction`` is entered)."""
    conn = g.get("_db_conn")
    if conn is None:
        db = current_app.extensions["services"].db
        conn = db.checkout()
        try:
            conn.autocommit = True
        except psycopg.Error:
            db.checkin(conn)
            raise
        g._db_conn = conn
        g._db_token = db.bind(conn)
        g._db_after_commit = []
    return conn


@contextmanager
def request_transaction() -> Iterator[psycopg.Connection]:
    """``with request_transaction() as conn``: the request's connection inside the request's
    transaction (begun by the first statement). Leaving the block neither commits nor returns
    the connection; the end of the request does."""
    conn = request_connection()
    if conn.autocommit:
        conn.autocommit = False
    yield conn


def in_request_transaction() -> bool:
    """True inside a request whose transaction is open."""
    if not has_request_context():
        return False
    conn = g.get("_db_conn")
    return conn is not None and not conn.autocommit


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed (at once outside one)."""
    if in_request_transaction():
        g._db_after_commit.append(callback)
    else:
        callback()


def install_request_db(app: Flask) -> None:
    """Commit (answer < 400) or roll back each request's transaction, send what waited for
    the commit, then return the connection."""

    @app.after_request
    def _finish_transaction(response):
        conn = g.get("_db_conn")
        if conn is None or conn.autocommit:
            return response
        callbacks, g._db_after_commit = g._db_after_commit, []
        if response.status_code >= 400:
            conn.rollback()
            return response
        try:
            conn.commit()
        except psycopg.Error:
            log.exception("commit of the request's transaction failed")
            body = {"success": False, "error": {"code": "INTERNAL_ERROR", "message": "internal error",
                                                "details": {}}}
            return current_app.response_class(json.dumps(body), status=500, mimetype="application/json")
        for callback in callbacks:
            callback()
        return response

    @app.teardown_request
    def _return_connection(exc):
        conn = g.pop("_db_conn", None)
        if conn is None:
            return
        db = current_app.extensions["services"].db
        db.unbind(g.pop("_db_token"))
        try:
            if not conn.closed:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                conn.autocommit = False  # as every pooled connection is
        except psycopg.Error:
            pass  # a broken connection is discarded by the pool on return
        finally:
            db.checkin(conn)
