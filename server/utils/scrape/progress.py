"""What an operator sees of a running scrape job: its chunks with their status and counters.

Chunk statuses come from ``scrape_job_chunks.status``; callers must not assume a closed list
(new dispatch states may be added), so counts are keyed by whatever status the rows carry.
"""
from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from psycopg import Connection


def job_chunks(conn: Connection, tenant_id: UUID, job_id: UUID) -> list[dict]:
    """Every chunk of the tenant's job in index order: ``chunk_index``, ``status``,
    ``accounts`` (count), ``first_account``, ``attempts``, ``items_read``, ``items_kept``,
    ``error_items``, ``cost_usd`` (float, USD), ``error_message``, ``apify_run_status``."""
    rows = conn.execute(
        """
        SELECT chunk_index, status, cardinality(accounts) AS accounts, accounts[1] AS first_account,
               attempts, items_read, items_kept, error_items, cost_usd, error_message, apify_run_status
          FROM scrape_job_chunks WHERE job_id = %s AND tenant_id = %s ORDER BY chunk_index
        """, (job_id, tenant_id)).fetchall()
    for row in rows:
        if isinstance(row["cost_usd"], Decimal):
            row["cost_usd"] = float(row["cost_usd"])
    return rows


def chunk_status_counts(chunks: list[dict]) -> dict[str, int]:
    """Chunk count per status, e.g. ``{"done": 3, "running": 1}``."""
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk["status"]] = counts.get(chunk["status"], 0) + 1
    return counts
