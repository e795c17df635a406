"""Background jobs as rows of ``scrape_jobs``: statuses and transitions (``table``), the
single-step job runner and its handler registry, the reaper of stale work, raw-profile retention.
May import the shared leaves only (handlers are named by dotted path and loaded on first use).
"""
