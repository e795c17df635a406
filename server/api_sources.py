"""Per-source report endpoints: what each source account of a job gave and is worth, and the
tenant's source accounts over all jobs (DESIGN.md §5 step 7). Every query is scoped to
``g.tenant``."""
from __future__ import annotations

from math import ceil
from uuid import UUID

from flask import Response, current_app, g, stream_with_context
from marshmallow import RAISE

from server.api_common import ApiBlueprint, ApiError
from server.request_db import request_transaction
from server.api_sources_schemas import (JobSourcesPageSchema, JobSourcesQuerySchema, SourceAccountsPageSchema,
                                        SourceAccountsQuerySchema)
from server.utils.jobs import table as jobs
from server.utils.scrape.source_report import (SOURCE_COLUMNS, iter_job_sources_csv, job_sources_page,
                                               status_counts, tenant_sources_page)

blp = ApiBlueprint("sources", __name__, url_prefix="/api", description="Per-source report of scrape jobs")


def _db():
    return current_app.extensions["services"].db


@blp.get("/jobs/<job_id:job_id>/sources")
@blp.arguments(JobSourcesQuerySchema, location="query", unknown=RAISE)
@blp.response(200, JobSourcesPageSchema)
@blp.alt_response(404, description="Unknown job, or another tenant's")
@blp.alt_response(409, description="Not a scrape job")
@blp.doc(description="Live while the job runs. With format=csv the answer is text/csv with the columns "
                     f"{', '.join(SOURCE_COLUMNS)}, every matching row, streamed.")
def job_sources(query: dict, job_id: UUID):
    """Each source account of a scrape job: status, followers read, kept by gender, duplicates
    with other sources, cost share and kept followers per dollar; paged, filtered by
    ``status``, sorted by ``sort``."""
    with request_transaction() as conn:
        job = jobs.get_job(conn, g.tenant.tenant_id, job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", "job not found")
        if job["kind"] != "scrape":
            raise ApiError(409, "NO_SOURCES", f"only scrape jobs have source accounts; this job's kind is {job['kind']}")
        if query["format"] == "csv":
            headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-sources.csv"'}
            stream = iter_job_sources_csv(_db(), job, query.get("status"), query["sort"], query.get("order"))
            return Response(stream_with_context(stream), mimetype="text/csv", headers=headers)
        rows, total = job_sources_page(conn, job, query.get("status"), query["sort"], query.get("order"),
                                       query["page"], query["limit"])
        counts = status_counts(conn, job)
    return {"success": True, "job_id": job_id, "job_status": job["status"],
            "target_gender": job["params"].get("targetGender", "any"), "counts": counts, "sources": rows,
            "page": query["page"], "limit": query["limit"], "total": total, "pages": ceil(total / query["limit"])}


@blp.get("/source-accounts")
@blp.arguments(SourceAccountsQuerySchema, location="query", unknown=RAISE)
@blp.response(200, SourceAccountsPageSchema)
def source_accounts(query: dict):
    """Every source account the tenant's scrape jobs have settled, with totals over those jobs,
    its last known status and error, and when it was last scraped: drop the private and empty
    ones (``excludeSourceStatuses`` on the scrape POST) and rank the good ones."""
    with request_transaction() as conn:
        rows, total = tenant_sources_page(conn, g.tenant.tenant_id, query.get("status"), query["sort"],
                                          query.get("order"), query["page"], query["limit"])
    return {"success": True, "source_accounts": rows, "page": query["page"], "limit": query["limit"],
            "total": total, "pages": ceil(total / query["limit"])}
