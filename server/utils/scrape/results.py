"""Reading a scrape job's kept profiles: pages (offset or keyset) and a streamed CSV export."""
from __future__ import annotations

import csv
import io
from typing import Iterator
from uuid import UUID

from psycopg import Connection

# OWASP "CSV Injection": a cell starting with one of these is read as a formula by Excel,
# LibreOffice and Google Sheets; such text cells get a leading apostrophe. Numbers stay as they are.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = frozenset({"username", "full_name", "gender", "gender_source", "source_account"})
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


def csv_cell(column: str, value):
    """The CSV form of ``value`` of ``column``: text cells starting with ``=``, ``+``, ``-``,
    ``@``, tab or carriage return are prefixed with ``'`` (OWASP's rule for CSV injection);
    numbers, booleans and empty cells are written unchanged."""
    if column in TEXT_COLUMNS and isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def iter_results_csv(db, job_id: UUID, fetch_size: int = 2000) -> Iterator[str]:
    """CSV text of every result of the job, header first, read through a server-side cursor so
    memory stays flat whatever the job size; text cells are neutralised by ``csv_cell``."""
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
                writer.writerow([csv_cell(c, row[c]) for c in RESULT_COLUMNS])
                count += 1
                if count % fetch_size == 0:
                    yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
