"""Endpoints of the daily outreach pipeline: ingest, selection, distribution, Airtable push,
status sync, lifecycle and run-daily (DESIGN.md §4, §6)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("daily", __name__, url_prefix="/api", description="Pool, campaigns and Airtable")
