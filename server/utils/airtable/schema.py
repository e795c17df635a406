"""The VA tables of a tenant's Airtable base: their names, their fields, and creating the missing
ones through the meta API (DESIGN.md §6).

Each VA has a table ``Daily_Outreach_Table_NN`` (01..99, then 3 digits) with the fields of
:data:`FIELDS`; ``id`` (the Instagram platform id) is the primary field and the key the push
upserts on. Existing tables are never changed: a table that lacks a field or a status option is
reported as ``incomplete`` so an operator can fix it (the push refuses to write to it).

Meta API facts (shared/reference/airtable.md §4): ``GET /v0/meta/bases/{base}/tables`` lists the
tables with their fields; ``POST`` to the same URL creates a table, whose first field becomes the
primary field. Raw meta calls are used instead of ``Base.create_table`` because pyairtable
re-reads the whole schema after every create (twice the requests against the 5 req/s budget).
"""
from __future__ import annotations

import logging

import requests

from server.utils.airtable.gateway import RequestStats, error_message, error_type, open_base
from server.utils.airtable.placement import tables_per_base
from server.utils.jobs.runner import JobCancelled

log = logging.getLogger(__name__)

TABLE_PREFIX = "Daily_Outreach_Table_"
STATUS_OPTIONS = ("pending", "followed", "unfollow", "completed")
_STATUS_COLORS = {"pending": "grayLight2", "followed": "blueLight2", "unfollow": "orangeLight2",
                  "completed": "greenLight2"}

FIELDS: list[dict] = [
    {"name": "id", "type": "singleLineText", "description": "Instagram platform id of the profile"},
    {"name": "username", "type": "singleLineText"},
    {"name": "full_name", "type": "singleLineText"},
    {"name": "profile_url", "type": "url"},
    {"name": "position", "type": "number", "options": {"precision": 0}},
    {"name": "campaign_date", "type": "date", "options": {"dateFormat": {"name": "iso"}}},
    {"name": "progress_status", "type": "singleSelect",
     "options": {"choices": [{"name": n, "color": _STATUS_COLORS[n]} for n in STATUS_OPTIONS]}},
]
FIELD_NAMES = [f["name"] for f in FIELDS]


class SchemaError(RuntimeError):
    """The base's schema could not be read or a table could not be created."""


def va_table_name(n: int) -> str:
    """``Daily_Outreach_Table_NN`` for VA table ``n`` (1..999): two digits up to 99, then three.

    Raises ``ValueError`` outside 1..999 (the ``tenants.num_va_tables`` range)."""
    if not isinstance(n, int) or not 1 <= n <= 999:
        raise ValueError(f"VA table number must be 1..999, got {n!r}")
    return f"{TABLE_PREFIX}{n:02d}"


def table_problems(table: dict) -> dict:
    """What an existing table (meta-API table model) lacks for the push and sync:
    ``{"missing_fields": [...], "missing_options": [...]}`` with only non-empty keys."""
    fields = {f.get("name"): f for f in table.get("fields", [])}
    problems: dict = {}
    missing = [name for name in FIELD_NAMES if name not in fields]
    if missing:
        problems["missing_fields"] = missing
    status = fields.get("progress_status")
    if status is not None:
        choices = {c.get("name") for c in ((status.get("options") or {}).get("choices") or [])}
        absent = [o for o in STATUS_OPTIONS if o not in choices]
        if status.get("type") != "singleSelect" or absent:
            problems["missing_options"] = absent or list(STATUS_OPTIONS)
    return problems


def ensure_tables(base, numbers: list[int], check=None) -> dict:
    """Create the VA tables ``numbers`` that ``base`` (a ``pyairtable.Base`` from
    ``gateway.open_base``) lacks. One schema read plus one create per missing table.
    ``check()`` (optional, a job's cancel checkpoint) runs before each create; the
    ``JobCancelled`` it raises is re-raised carrying this result so far.

    Returns ``{"created": [names], "existing": [names], "incomplete": {name: problems}}``
    (``problems`` as in :func:`table_problems`). Raises ``SchemaError`` when the schema cannot be
    read or a create fails for another reason than a concurrent create of the same name.
    """
    tables = _read_schema(base)
    by_name = {t.get("name", "").casefold(): t for t in tables}
    out: dict = {"created": [], "existing": [], "incomplete": {}}
    for n in sorted(set(numbers)):
        name = va_table_name(n)
        table = by_name.get(name.casefold())
        if table is None:
            if check is not None:
                try:
                    check()
                except JobCancelled:
                    raise JobCancelled(out) from None
            table = _create_table(base, name)
            if table is None:            # created meanwhile by someone else
                table = {t.get("name", "").casefold(): t for t in _read_schema(base)}.get(name.casefold(), {})
                out["existing"].append(name)
            else:
                out["created"].append(name)
        else:
            out["existing"].append(name)
        problems = table_problems(table)
        if problems:
            out["incomplete"][name] = problems
    return out


def _read_schema(base) -> list[dict]:
    try:
        return base.api.get(base.urls.tables).get("tables", [])
    except requests.RequestException as exc:
        raise SchemaError(f"cannot read the schema of base {base.id}: {error_message(exc)}") from exc


def _create_table(base, name: str) -> dict | None:
    """Create ``name`` with :data:`FIELDS`; its table model, or None on ``DUPLICATE_TABLE_NAME``."""
    payload = {"name": name, "description": "Daily outreach slice of one VA (managed by the follower pipeline)",
               "fields": FIELDS}
    try:
        return base.api.post(base.urls.tables, json=payload)
    except requests.RequestException as exc:
        if error_type(exc) == "DUPLICATE_TABLE_NAME":
            return None
        raise SchemaError(f"cannot create table {name} in base {base.id}: {error_message(exc)}") from exc


def ensure_va_tables(services, tenant, check=None) -> dict:
    """Create the missing ``Daily_Outreach_Table_NN`` tables 1..``tenant.num_va_tables`` in the
    tenant's bases, each base getting its share (``placement.table_bases``); existing tables are
    left alone and reported.

    Returns ``{"base_id" (the first base), "requested": int, "created": [names], "existing":
    [names], "incomplete": {name: {"missing_fields"?: [...], "missing_options"?: [...]}},
    "bases": {base id: {"tables": [numbers], "created", "existing", "incomplete"}},
    "airtable_requests": {RequestStats of all bases}}``. Raises ``AirtableNotConfigured`` (no
    base id), ``SchemaError`` (schema unreadable, create refused), ``AirtableRateLimited`` or
    ``AirtableCallsExhausted``. ``check`` (a job's cancel checkpoint) runs before each table
    create; its ``JobCancelled`` is re-raised with this result so far (``"cancelled": true``).
    """
    out: dict = {"base_id": tenant.airtable_base_id, "requested": tenant.num_va_tables, "created": [],
                 "existing": [], "incomplete": {}, "bases": {}}
    stats = RequestStats()
    if not tenant.airtable_base_id:
        open_base(services, tenant)              # raises AirtableNotConfigured
    for base_id, numbers in tables_per_base(tenant.num_va_tables, tenant.base_ids).items():
        if not numbers:
            out["bases"][base_id] = {"tables": [], "created": [], "existing": [], "incomplete": {}}
            continue
        base = open_base(services, tenant, stats, base_id)
        try:
            result = ensure_tables(base, numbers, check)
        except JobCancelled as exc:
            out["created"] += exc.result.get("created", [])
            out["existing"] += exc.result.get("existing", [])
            out["incomplete"].update(exc.result.get("incomplete", {}))
            out["bases"][base_id] = {"tables": numbers, **exc.result}
            out["airtable_requests"] = stats.as_dict()
            raise JobCancelled({**out, "cancelled": True}) from None
        log.info("base %s: created %d VA tables, %d existed", base.id, len(result["created"]),
                 len(result["existing"]))
        out["bases"][base_id] = {"tables": numbers, **result}
        out["created"] += result["created"]
        out["existing"] += result["existing"]
        out["incomplete"].update(result["incomplete"])
    out["airtable_requests"] = stats.as_dict()
    return out
