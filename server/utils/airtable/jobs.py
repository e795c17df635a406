"""Shared plumbing of the Airtable job handlers (push, status sync, lifecycle, base setup):
loading the job's tenant and turning expected Airtable failures into ``JobFailed``."""
from __future__ import annotations

from typing import Callable

import requests

from server.utils.airtable.gateway import AirtableError, error_message
from server.utils.airtable.schema import SchemaError
from server.utils.airtable.usage import AirtableCallsExhausted
from server.utils.jobs.runner import JobFailed
from server.utils.tenants import Tenant, load_tenant


class AirtableJobError(RuntimeError):
    """An expected failure of an Airtable operation; ``result`` is kept on the job."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


def job_tenant(services, job: dict) -> Tenant:
    """The tenant of ``job`` (``job["tenant_id"]``); ``JobFailed`` if it no longer exists."""
    with services.db.transaction() as conn:
        tenant = load_tenant(conn, job["tenant_id"])
    if tenant is None:
        raise JobFailed(f"tenant {job['tenant_id']} not found")
    return tenant


def run_airtable_call(call: Callable[[], dict]) -> dict:
    """Run ``call()``; expected failures (``AirtableJobError``, the gateway's ``AirtableError``s,
    HTTP errors from Airtable, schema errors) become ``JobFailed`` with a readable message.
    Anything else propagates (a bug: logged and sent to Sentry by the job runner)."""
    try:
        return call()
    except AirtableJobError as exc:
        raise JobFailed(str(exc), exc.result) from exc
    except (AirtableError, AirtableCallsExhausted, SchemaError) as exc:
        raise JobFailed(str(exc)) from exc
    except requests.RequestException as exc:
        raise JobFailed(f"Airtable request failed: {error_message(exc)}") from exc


def chunked(items: list, size: int = 10) -> list[list]:
    """``items`` in consecutive lists of at most ``size`` (Airtable writes take ≤ 10 records, B16)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
