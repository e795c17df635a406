"""One pooled connection and one transaction per web request, shared by authentication and the
handler.

``request_connection()`` checks a connection out on first use and binds it to the request's
context, so ``Database.transaction()`` called by domain code during the request becomes a
savepoint of the same transaction instead of a second connection. The transaction commits
after the handler when the answer is below 400 and rolls back otherwise; tasks queued with
``after_commit`` are sent only once the commit succeeded (a worker never looks for a job that
is not committed yet). The connection goes back to the pool when the request ends.
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
    """The current request's connection, in the request's transaction (checked out on first call)."""
    conn = g.get("_db_conn")
    if conn is None:
        db = current_app.extensions["services"].db
        conn = db.checkout()
        g._db_conn = conn
        g._db_token = db.bind(conn)
        g._db_after_commit = []
    return conn


def in_request_transaction() -> bool:
    """True inside a request that has checked out its connection."""
    return has_request_context() and g.get("_db_conn") is not None


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the request's transaction has committed (now, outside one)."""
    if in_request_transaction():
        g._db_after_commit.append(callback)
    else:
        callback()


def commit_request() -> None:
    """Commit the request's transaction now and run the callbacks queued so far."""
    conn = g.get("_db_conn")
    if conn is None:
        return
    conn.commit()
    callbacks, g._db_after_commit = g._db_after_commit, []
    for callback in callbacks:
        callback()


def install_request_db(app: Flask) -> None:
    """Commit (answer < 400) or roll back each request's transaction, then return its connection."""

    @app.after_request
    def _finish_transaction(response):
        conn = g.get("_db_conn")
        if conn is None:
            return response
        if response.status_code >= 400:
            conn.rollback()
            g._db_after_commit = []
            return response
        try:
            commit_request()
        except psycopg.Error:
            log.exception("commit of the request's transaction failed")
            body = {"success": False, "error": {"code": "INTERNAL_ERROR", "message": "internal error",
                                                "details": {}}}
            return current_app.response_class(json.dumps(body), status=500, mimetype="application/json")
        return response

    @app.teardown_request
    def _return_connection(exc):
        conn = g.pop("_db_conn", None)
        if conn is None:
            return
        db = current_app.extensions["services"].db
        db.unbind(g.pop("_db_token"))
        try:
            if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
        except psycopg.Error:
            pass  # a broken connection is discarded by the pool on return
        finally:
            db.checkin(conn)


@contextmanager
def request_transaction() -> Iterator[psycopg.Connection]:
    """``with request_transaction() as conn``: the request's connection (see
    ``request_connection``); leaving the block neither commits nor returns it, the request's
    end does."""
    yield request_connection()
