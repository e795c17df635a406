"""Which function runs each kind of single-step job (see ``server.utils.jobs.runner``).

Handlers are imported on first use, so a process only loads the integrations it runs.
"""
from __future__ import annotations

import importlib

HANDLER_PATHS = {
    "ingest": "server.utils.outreach.ingest:ingest_job",
    "airtable_push": "server.utils.airtable.push:push_campaign_job",
    "status_sync": "server.utils.outreach.status_sync:status_sync_job",
    "mark_unfollow": "server.utils.outreach.lifecycle:mark_unfollow_job",
    "delete_completed": "server.utils.outreach.lifecycle:delete_completed_job",
    "expire_pending": "server.utils.outreach.lifecycle:expire_pending_job",
    "create_base": "server.utils.airtable.base_setup:create_base_job",
    "run_daily": "server.utils.outreach.run_daily:run_daily_job",
}


def handler_for(kind: str):
    """The handler function of job ``kind``; raises ``KeyError`` for a kind without one."""
    module_name, _, attr = HANDLER_PATHS[kind].partition(":")
    return getattr(importlib.import_module(module_name), attr)
