"""The "Sources" section of a scrape job's console page: what each source account gave (status,
followers read, kept of the target gender, duplicates, over cap, cost share, error), one page of
``SOURCES_PER_PAGE`` at a time, filtered by status and sorted by a column, read through the same
report functions as ``GET /api/jobs/<id>/sources`` (``server.utils.scrape.source_report``).

The view lives in the page's query string: ``sources_status`` (a status of
``server.utils.scrape.sources.STATUSES``), ``sources_sort`` (a ``JOB_SORTS`` key, default
``kept_target_per_usd``: the best sources for the money first), ``sources_order`` (``asc`` /
``desc``) and ``sources_page`` (1-based; past the last page shows the last one).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from math import ceil

from psycopg import Connection

from server.utils.scrape.source_report import JOB_SORTS, job_sources_page, status_counts
from server.utils.scrape.sources import STATUSES

SOURCES_PER_PAGE = 100
DEFAULT_SORT = "kept_target_per_usd"
MAX_PAGE = 1_000_000


class BadView(ValueError):
    """A ``sources_*`` query value the section does not know; the message names the field."""


@dataclass(frozen=True)
class SourcesView:
    """Which sources the section shows: filter, sort, direction and page."""

    status: str | None = None
    sort: str = DEFAULT_SORT
    order: str | None = None
    page: int = 1

    @property
    def direction(self) -> str:
        """The effective direction: ``order``, else ascending for the name and descending for
        every figure (the report's default)."""
        return self.order or ("asc" if self.sort == "source_account" else "desc")

    def query(self, **changes) -> dict:
        """The query-string arguments of this view with ``changes`` (field names) applied; the
        defaults are left out so links stay short."""
        view = replace(self, **changes)
        defaults = SourcesView()
        return {f"sources_{name}": value for name, value in asdict(view).items()
                if value is not None and value != getattr(defaults, name)}

    def sorted_by(self, sort: str) -> dict:
        """The query of the first page sorted by ``sort``; the current sort column flips direction."""
        if sort == self.sort:
            return self.query(sort=sort, order="asc" if self.direction == "desc" else "desc", page=1)
        return self.query(sort=sort, order=None, page=1)


def parse_view(args) -> SourcesView:
    """The view named by the query arguments ``args`` (a mapping of strings); raises
    ``BadView`` naming the field for an unknown status, sort, order or a page that is not a
    positive integer."""
    status = args.get("sources_status") or None
    if status is not None and status not in STATUSES:
        raise BadView(f"sources_status must be one of {', '.join(STATUSES)}")
    sort = args.get("sources_sort") or DEFAULT_SORT
    if sort not in JOB_SORTS:
        raise BadView(f"sources_sort must be one of {', '.join(sorted(JOB_SORTS))}")
    order = args.get("sources_order") or None
    if order not in (None, "asc", "desc"):
        raise BadView("sources_order must be asc or desc")
    raw_page = args.get("sources_page") or "1"
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise BadView(f"sources_page must be a whole number from 1 to {MAX_PAGE:,}")
    return SourcesView(status, sort, order, int(raw_page))


def sources_section(conn: Connection, job: dict, view: SourcesView) -> dict:
    """What the section shows for the scrape ``job`` (a ``scrape_jobs`` row) under ``view``:
    ``rows`` (the report's columns), ``total`` (sources matching the filter), ``first`` /
    ``last`` (1-based positions of the rows shown), ``pages``, ``counts`` (accounts per status
    over the whole job), ``target`` (the job's target gender) and ``view``
    (with the page actually shown)."""
    rows, total = job_sources_page(conn, job, view.status, view.sort, view.order, view.page, SOURCES_PER_PAGE)
    pages = max(1, ceil(total / SOURCES_PER_PAGE))
    if view.page > pages:
        view = replace(view, page=pages)
        rows, total = job_sources_page(conn, job, view.status, view.sort, view.order, view.page, SOURCES_PER_PAGE)
    counts = status_counts(conn, job)
    first = (view.page - 1) * SOURCES_PER_PAGE + 1 if rows else 0
    return {"rows": rows, "total": total, "first": first, "last": first + len(rows) - 1 if rows else 0,
            "pages": pages, "counts": counts,
            "target": (job["params"] or {}).get("targetGender", "any"), "view": view}
