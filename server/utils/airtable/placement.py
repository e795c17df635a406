"""Which of a tenant's bases holds which VA table.

The tables 1..N are split over the tenant's ordered bases in contiguous blocks as equal as
possible (the first bases take one table more when N does not divide evenly): with one base
everything is in it, as before; with two bases of 80 tables, tables 1-40 live in the first and
41-80 in the second. Every VA table has the same daily size, so equal blocks give every base
the same share of the records (the smallest possible peak per base) and the same share of the
requests, and each base brings its own 5 requests/s.

A record stays in the base it was pushed to (``daily_assignments.airtable_base_id``) until the
lifecycle deletes it, so adding a base changes only where new records go.
"""
from __future__ import annotations


def table_bases(num_tables: int, base_ids: tuple[str, ...] | list[str]) -> dict[int, str]:
    """``{table number: base id}`` for tables 1..``num_tables`` over ``base_ids`` (in order).
    Empty when there is no base. More bases than tables leave the last bases empty."""
    base_ids = list(base_ids)
    if not base_ids or num_tables < 1:
        return {}
    count = len(base_ids)
    size, extra = divmod(num_tables, count)
    out: dict[int, str] = {}
    n = 1
    for index, base_id in enumerate(base_ids):
        for _ in range(size + (1 if index < extra else 0)):
            out[n] = base_id
            n += 1
    return out


def tables_per_base(num_tables: int, base_ids: tuple[str, ...] | list[str]) -> dict[str, list[int]]:
    """``{base id: [table numbers]}`` in the order of ``base_ids`` (a base may get none)."""
    out: dict[str, list[int]] = {b: [] for b in base_ids}
    for n, base_id in table_bases(num_tables, base_ids).items():
        out[base_id].append(n)
    return out
