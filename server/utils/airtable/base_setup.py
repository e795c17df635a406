"""Job ``create_base``: create the missing VA tables of a tenant's base (DESIGN.md §4)."""
from __future__ import annotations

from server.utils.airtable.jobs import job_tenant, run_airtable_call
from server.utils.airtable.schema import ensure_va_tables


def create_base_job(services, job: dict, report) -> dict:
    """Job ``create_base``: :func:`ensure_va_tables` for the job's tenant; the result is its
    summary. ``completed_with_errors`` when some existing table is incomplete. A cancel stops it
    before the next table create (``JobCancelled`` with the tables created so far)."""
    tenant = job_tenant(services, job)
    result = run_airtable_call(lambda: ensure_va_tables(services, tenant, getattr(report, "check", None)))
    if result["incomplete"]:
        result["_status"] = "completed_with_errors"
    return result
