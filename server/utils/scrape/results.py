"""Reading a scrape job's kept profiles: pages (offset or keyset) and a streamed CSV export."""
from __future__ import annotations

import csv
import io
from typing import Iterator
from uuid import UUID

from psycopg import Connection

RESULT_COLUMNS = ("profile_id", "username", "full_name", "gender", "gender_probability",
                  "gender_source", "source_account", "is_private", "is_verified")
_SELECT = "SELECT result_id, " + ", ".join(RESULT_COLUMNS) + " FROM scrape_results WHERE job_id = %s"


def results_page(conn: Connection, job_id: UUID, page: int, limit: int,
                 after_id: int | None = None) -> tuple[list[dict], int | None]:
    """One page of results in insertion order: after ``after_id`` (keyset) when given, else
    page ``page`` (1-based). Returns the rows and the cursor id for the next page (None at end)."""
    if after_id is not None:
        rows = conn.execute(_SELECT + " AND result_id > %s ORDER BY result_id LIMIT %s",
                            (job_id, after_id, limit + 1)).fetchall()
    else:
        rows = conn.execute(_SELECT + " ORDER BY result_id LIMIT %s OFFSET %s",
                            (job_id, limit + 1, (page - 1) * limit)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_id = rows[-1]["result_id"] if more and rows else None
    for row in rows:
        del row["result_id"]
    return rows, next_id


def iter_results_csv(db, job_id: UUID, fetch_size: int = 2000) -> Iterator[str]:
    """CSV text of every result of the job, header first, read through a server-side cursor so
    memory stays flat whatever the job size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_COLUMNS)
    yield _drain(buffer)
    with db.connect() as conn:
        with conn.transaction(), conn.cursor(name=f"export_{job_id.hex}") as cur:
            cur.itersize = fetch_size
            cur.execute(_SELECT + " ORDER BY result_id", (job_id,))
            count = 0
            for row in cur:
                writer.writerow([row[c] for c in RESULT_COLUMNS])
                count += 1
                if count % fetch_size == 0:
                    yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
