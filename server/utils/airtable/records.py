"""Updating and deleting Airtable records by record id, 10 per request, tolerating records a VA
deleted by hand.

Airtable applies a batch all-or-nothing, and one missing id fails the whole batch: 422
``ROW_DOES_NOT_EXIST`` ("Record ID recX does not exist in this table") on batch PATCH, 404
``MODEL_ID_NOT_FOUND`` on DELETE (shared/reference/airtable.md §3, "not-found asymmetry"). The
functions below take the missing id from the message when it is named there, else fall back to
one request per record of that batch, and report missing ids instead of retrying them forever.
pyairtable's ``batch_delete`` sends even a one-id chunk as ``records[]=`` (the B17 fix).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import requests
from pyairtable import Table

from server.utils.airtable.gateway import error_message, error_type, record_ids_in, status_code
from server.utils.airtable.jobs import chunked

_MISSING_TYPES = {"ROW_DOES_NOT_EXIST", "MODEL_ID_NOT_FOUND"}
# Errors about the table, base or token rather than a record: the whole operation stops.
_FATAL_TYPES = {"TABLE_NOT_FOUND", "NOT_FOUND", "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                "INVALID_PERMISSIONS", "NOT_AUTHORIZED", "AUTHENTICATION_REQUIRED", "UNAUTHORIZED"}


@dataclass
class BatchOutcome:
    """Record ids ``done`` (updated/deleted), ``missing`` (no longer in the table) and ``failed``
    (``[{"record_id", "error"}]`` for other per-record errors)."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)


def _is_missing(exc: requests.HTTPError) -> bool:
    return error_type(exc) in _MISSING_TYPES


def _is_fatal(exc: requests.HTTPError) -> bool:
    return status_code(exc) in (401, 403) or error_type(exc) in _FATAL_TYPES


def _one_by_one(ids: list[str], single, outcome: BatchOutcome) -> None:
    for record_id in ids:
        try:
            single(record_id)
            outcome.done.append(record_id)
        except requests.HTTPError as exc:
            if _is_fatal(exc):
                raise
            if _is_missing(exc):
                outcome.missing.append(record_id)
            else:
                outcome.failed.append({"record_id": record_id, "error": error_message(exc)})


def _run_batch(ids: list[str], batch, single, outcome: BatchOutcome) -> None:
    """``batch(ids)`` until it succeeds, removing ids the error names as missing; if an error
    names no known id, fall back to ``single(id)`` per record. Non-HTTP errors propagate."""
    pending = list(ids)
    while pending:
        try:
            batch(pending)
            outcome.done.extend(pending)
            return
        except requests.HTTPError as exc:
            if _is_fatal(exc):
                raise                   # table or base gone, token revoked: not a record problem
            named = [i for i in record_ids_in(exc) if i in pending] if _is_missing(exc) else []
            if not named:
                _one_by_one(pending, single, outcome)
                return
            outcome.missing.extend(named)
            pending = [i for i in pending if i not in named]


def update_fields(table: Table, record_ids: list[str], fields: dict, on_batch=None) -> BatchOutcome:
    """Set ``fields`` on every record of ``record_ids`` (PATCH, 10 per request, merge).

    ``on_batch(done_ids, missing_ids)`` (optional) is called after each batch so callers can
    commit progress as they go. Raises ``requests.HTTPError`` for table/base/token failures
    (401, 403, ``TABLE_NOT_FOUND``, ``NOT_FOUND``) and ``AirtableRateLimited``."""
    outcome = BatchOutcome()
    for chunk in chunked(record_ids):
        before_done, before_missing = len(outcome.done), len(outcome.missing)
        _run_batch(chunk, lambda ids: table.batch_update([{"id": i, "fields": fields} for i in ids]),
                   lambda i: table.update(i, fields), outcome)
        if on_batch:
            on_batch(outcome.done[before_done:], outcome.missing[before_missing:])
    return outcome


def delete_records(table: Table, record_ids: list[str], on_batch=None) -> BatchOutcome:
    """Delete ``record_ids`` (DELETE, 10 per request); ids already gone are reported as
    ``missing``. ``on_batch(done_ids, missing_ids)`` as in :func:`update_fields`."""
    outcome = BatchOutcome()
    for chunk in chunked(record_ids):
        before_done, before_missing = len(outcome.done), len(outcome.missing)
        _run_batch(chunk, table.batch_delete, table.delete, outcome)
        if on_batch:
            on_batch(outcome.done[before_done:], outcome.missing[before_missing:])
    return outcome
