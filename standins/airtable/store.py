"""In-memory bases, tables, fields and records with Airtable's records/meta semantics.

One :class:`Store` holds everything behind a single re-entrant lock, so every public method is
atomic: a write request is validated completely before anything is changed (all-or-nothing).
Methods take plain request data (already-decoded JSON, :class:`~.query.ListQuery`) and return
the JSON-ready response body; failures raise :class:`~.errors.AirtableError`.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone
import re
import threading
import time

from . import fields as F
from .errors import AirtableError, base_not_found, invalid_request, record_not_found
from .errors import row_does_not_exist, table_not_found, unknown_field
from .formula import RecordContext, compile_formula, truthy
from .ids import looks_like, new_id
from .query import ListQuery

MAX_RECORDS_PER_WRITE = 10
ITERATOR_TTL_SECONDS = 600.0
MAX_ITERATORS = 2000
_OFFSET_RE = re.compile(r"(itr[A-Za-z0-9]{14})/(rec[A-Za-z0-9]{14})")
_UPDATE_SHAPE_MESSAGE = (
    'You must provide an array of up to 10 record objects, each with an "id" ID field and a '
    '"fields" object for cell values.'
)


@dataclass
class Record:
    """A row: ``cells`` maps field id -> non-empty value."""

    id: str
    created_time: str
    cells: dict


@dataclass
class Table:
    """A table; ``fields[0]`` is the primary field; ``records`` keeps creation order."""

    id: str
    name: str
    fields: list
    views: list
    description: str | None = None
    records: dict = field(default_factory=dict)

    def field(self, key: str) -> dict | None:
        """The field whose id or name is ``key`` (id first), or None."""
        for f in self.fields:
            if f["id"] == key:
                return f
        for f in self.fields:
            if f["name"] == key:
                return f
        return None


@dataclass
class Base:
    """A base: ``tables`` maps table id -> :class:`Table` in creation order; ``max_records``
    caps its records (all tables together; None = the store's ``max_records_per_base``)."""

    id: str
    name: str
    tables: dict = field(default_factory=dict)
    max_records: int | None = None

    def record_count(self) -> int:
        """Records in every table of the base."""
        return sum(len(t.records) for t in self.tables.values())


@dataclass
class _Iterator:
    table_id: str
    ids: list
    expires: float


def _now_iso() -> str:
    return F.format_datetime(datetime.now(timezone.utc))


def _render(table: Table, record: Record, wanted: set | None = None, by_id: bool = False) -> dict:
    out = {}
    for f in table.fields:
        if wanted is not None and f["id"] not in wanted:
            continue
        value = record.cells.get(f["id"])
        if not F.is_empty(value):
            out[f["id"] if by_id else f["name"]] = list(value) if isinstance(value, list) else value
    return {"id": record.id, "createdTime": record.created_time, "fields": out}


def _check_keys(body: object, allowed: set) -> dict:
    if not isinstance(body, dict) or set(body) - allowed:
        raise invalid_request()
    return body


def _sort_key(f: dict, descending: bool):
    choices = [c["name"] for c in (f.get("options") or {}).get("choices", [])]

    def key(record: Record):
        value = record.cells.get(f["id"])
        if F.is_empty(value):
            return (0,)
        if f["type"] in ("singleSelect",):
            return (1, choices.index(value) if value in choices else len(choices), str(value))
        if isinstance(value, (bool, int, float)):
            return (1, float(value), "")
        if isinstance(value, list):
            return (1, 0.0, ", ".join(map(str, value)).casefold())
        return (1, 0.0, str(value).casefold())

    return key


class Store:
    """Thread-safe in-memory Airtable data.

    ``table_not_found_status`` (403 or 404) picks the unknown-table error style
    (see :func:`~.errors.table_not_found`).
    """

    def __init__(self, table_not_found_status: int = 403, max_records_per_base: int | None = None):
        self._lock = threading.RLock()
        self.table_not_found_status = table_not_found_status
        self.max_records_per_base = max_records_per_base
        self._bases: dict[str, Base] = {}
        self._iterators: dict[str, _Iterator] = {}

    # ----------------------------------------------------------------- bases
    def reset(self, bases: list[str] | None = None) -> None:
        """Drop every base, table, record and list iterator; then create empty ``bases``."""
        with self._lock:
            self._bases.clear()
            self._iterators.clear()
            for base_id in bases or []:
                self.create_base(base_id)

    def create_base(self, base_id: str | None = None, name: str | None = None,
                    max_records: int | None = None) -> dict:
        """Create an empty base (idempotent for an existing id; ``name`` and ``max_records`` are
        updated when given); returns ``{id, name, max_records, records}``.

        ``base_id`` defaults to a fresh ``app…`` id and must be ``app`` + letters/digits,
        else 422 ``INVALID_REQUEST_UNKNOWN``; ``max_records`` must be a positive integer.
        """
        with self._lock:
            base_id = base_id or new_id("app")
            if not isinstance(base_id, str) or not re.fullmatch(r"app[A-Za-z0-9]+", base_id):
                raise invalid_request("Base id must look like app + letters/digits")
            if max_records is not None and (isinstance(max_records, bool) or not isinstance(max_records, int)
                                            or max_records < 1):
                raise invalid_request("max_records must be a positive integer")
            if base_id not in self._bases:
                self._bases[base_id] = Base(base_id, name or base_id)
            elif name:
                self._bases[base_id].name = name
            base = self._bases[base_id]
            if max_records is not None:
                base.max_records = max_records
            return {"id": base_id, "name": base.name, "max_records": self._limit(base),
                    "records": base.record_count()}

    def _limit(self, base: Base) -> int | None:
        return base.max_records if base.max_records is not None else self.max_records_per_base

    def _check_room(self, base_id: str, new_records: int) -> None:
        """422 ``RECORD_LIMIT_EXCEEDED`` when ``new_records`` more would pass the base's limit.

        Airtable refuses creates in a base that holds its plan's records (records per base,
        shared/reference/airtable.md §2); the exact error type is not published, so the
        stand-in names it plainly and says "record limit" in the message."""
        base = self._bases[base_id]
        limit = self._limit(base)
        if limit is not None and new_records and base.record_count() + new_records > limit:
            raise AirtableError(
                422, "RECORD_LIMIT_EXCEEDED",
                f"This base has reached its record limit of {limit} records for its plan "
                f"({base.record_count()} records; {new_records} more requested)")

    def has_base(self, base_id: str) -> bool:
        """True when ``base_id`` exists."""
        with self._lock:
            return base_id in self._bases

    def base_records(self) -> dict:
        """``{base id: {"records", "max_records"}}`` (control API)."""
        with self._lock:
            return {b.id: {"records": b.record_count(), "max_records": self._limit(b)} for b in self._bases.values()}

    def list_bases(self) -> list[dict]:
        """``[{id, name, permissionLevel}]`` for the meta ``GET /v0/meta/bases``."""
        with self._lock:
            return [{"id": b.id, "name": b.name, "permissionLevel": "create"} for b in self._bases.values()]

    def _base(self, base_id: str) -> Base:
        base = self._bases.get(base_id)
        if base is None:
            raise base_not_found()
        return base

    def _table(self, base_id: str, ref: str) -> Table:
        base = self._base(base_id)
        table = base.tables.get(ref)
        if table is None:
            table = next((t for t in base.tables.values() if t.name == ref), None)
        if table is None:
            raise table_not_found(base_id, ref, self.table_not_found_status)
        return table

    def table_label(self, base_id: str, ref: str) -> str:
        """The table's current name if ``ref`` (id or name) resolves, else ``ref`` itself."""
        with self._lock:
            try:
                return self._table(base_id, ref).name
            except AirtableError:
                return ref

    # ------------------------------------------------------------------ meta
    def _table_model(self, table: Table, visible_field_ids: bool = False) -> dict:
        views = []
        for view in table.views:
            v = dict(view)
            if visible_field_ids:
                v["visibleFieldIds"] = [f["id"] for f in table.fields]
            views.append(v)
        out = {
            "id": table.id,
            "name": table.name,
            "primaryFieldId": table.fields[0]["id"],
            "fields": [F.field_model(f) for f in table.fields],
            "views": views,
        }
        if table.description:
            out["description"] = table.description
        return out

    def schema(self, base_id: str, visible_field_ids: bool = False) -> dict:
        """Base schema ``{"tables": [Table model…]}``; 404 ``NOT_FOUND`` for an unknown base."""
        with self._lock:
            base = self._base(base_id)
            return {"tables": [self._table_model(t, visible_field_ids) for t in base.tables.values()]}

    def table_schema(self, base_id: str, ref: str) -> dict:
        """One Table model (id or name ``ref``)."""
        with self._lock:
            return self._table_model(self._table(base_id, ref))

    def create_table(self, base_id: str, body: object) -> dict:
        """Create a table from ``{"name", "description"?, "fields": [field…]}``; returns its model.

        The first field becomes the primary field and a "Grid view" is added. Raises 422
        ``DUPLICATE_TABLE_NAME`` (names are unique case-insensitively),
        ``DUPLICATE_OR_EMPTY_FIELD_NAME``, ``INVALID_REQUEST_UNKNOWN`` or the field-option errors.
        """
        with self._lock:
            base = self._base(base_id)
            body = _check_keys(body, {"name", "description", "fields"})
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise AirtableError(422, "INVALID_REQUEST_UNKNOWN", "Table name cannot be empty")
            name = name.strip()
            if any(t.name.casefold() == name.casefold() for t in base.tables.values()):
                raise AirtableError(422, "DUPLICATE_TABLE_NAME", f'A table named "{name}" already exists in this base')
            specs = body.get("fields")
            if not isinstance(specs, list) or not specs:
                raise AirtableError(422, "INVALID_REQUEST_UNKNOWN", "A table needs at least one field")
            built = [F.build_field(spec) for spec in specs]
            names = [f["name"].casefold() for f in built]
            if len(set(names)) != len(names):
                raise AirtableError(422, "DUPLICATE_OR_EMPTY_FIELD_NAME", "Field names must be unique")
            description = body.get("description")
            table = Table(
                id=new_id("tbl"), name=name, fields=built,
                views=[{"id": new_id("viw"), "name": "Grid view", "type": "grid"}],
                description=description if isinstance(description, str) and description else None,
            )
            base.tables[table.id] = table
            return self._table_model(table)

    def create_field(self, base_id: str, ref: str, body: object) -> dict:
        """Add a field ``{"name", "type", "options"?, "description"?}`` to a table; returns the
        field model. Raises 422 ``DUPLICATE_OR_EMPTY_FIELD_NAME`` for a taken name."""
        with self._lock:
            table = self._table(base_id, ref)
            body = _check_keys(body, {"name", "type", "options", "description"})
            built = F.build_field(body)
            if any(f["name"].casefold() == built["name"].casefold() for f in table.fields):
                raise AirtableError(422, "DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field "{built["name"]}" already exists')
            table.fields.append(built)
            return F.field_model(built)

    # ------------------------------------------------------------------ read
    def _wanted(self, table: Table, names: list[str] | None) -> set | None:
        if names is None:
            return None
        wanted = set()
        for name in names:
            f = table.field(name)
            if f is None:
                raise unknown_field(name)
            wanted.add(f["id"])
        return wanted

    def _snapshot(self, table: Table, q: ListQuery) -> list[str]:
        if q.view is not None and not any(q.view in (v["id"], v["name"]) for v in table.views):
            raise AirtableError(422, "VIEW_NAME_NOT_FOUND", f'Could not find view "{q.view}"')
        by_name = {f["name"]: f["id"] for f in table.fields}
        evaluate = compile_formula(q.formula or "", set(by_name))
        sorts = []
        for key, descending in q.sort:
            f = table.field(key)
            if f is None:
                raise unknown_field(key)
            sorts.append((f, descending))
        checkbox_ids = {f["id"] for f in table.fields if f["type"] == "checkbox"}
        records = []
        for record in table.records.values():
            cells = record.cells

            def get(name, cells=cells):
                fid = by_name[name]
                value = cells.get(fid)
                return bool(value) if fid in checkbox_ids else value

            if truthy(evaluate(RecordContext(record.id, record.created_time, get))):
                records.append(record)
        for f, descending in reversed(sorts):
            records.sort(key=_sort_key(f, descending), reverse=descending)
        if q.max_records:
            records = records[: q.max_records]
        return [r.id for r in records]

    def list_records(self, base_id: str, ref: str, q: ListQuery) -> dict:
        """One page ``{"records": [...], "offset"?: "itr…/rec…"}`` of the matching records.

        The first request takes a snapshot of the matching ids (filter, sort, ``maxRecords``);
        later pages walk it through the opaque ``offset`` (records deleted meanwhile are skipped,
        values are current). Raises 422 ``INVALID_OFFSET_VALUE`` for a malformed offset, 422
        ``LIST_RECORDS_ITERATOR_NOT_AVAILABLE`` for an expired/unknown one, 422
        ``UNKNOWN_FIELD_NAME``, ``INVALID_FILTER_BY_FORMULA``, ``VIEW_NAME_NOT_FOUND``.
        """
        with self._lock:
            table = self._table(base_id, ref)
            wanted = self._wanted(table, q.fields)
            now = time.monotonic()
            if q.offset:
                match = _OFFSET_RE.fullmatch(q.offset)
                if match is None:
                    raise AirtableError(422, "INVALID_OFFSET_VALUE", f"The value of offset {q.offset} is invalid")
                state = self._iterators.get(match.group(1))
                if state is None or state.expires < now or state.table_id != table.id or match.group(2) not in state.ids:
                    raise AirtableError(
                        422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                        "The list records iterator is not available. Please restart the listing without an offset.",
                    )
                itr_id, ids = match.group(1), state.ids
                start = ids.index(match.group(2))
            else:
                itr_id, ids, start = None, self._snapshot(table, q), 0
            end = start + q.page_size
            page = [table.records[i] for i in ids[start:end] if i in table.records]
            body: dict = {"records": [_render(table, r, wanted, q.by_field_id) for r in page]}
            if end < len(ids):
                if itr_id is None:
                    self._gc_iterators(now)
                    itr_id = new_id("itr")
                    self._iterators[itr_id] = _Iterator(table.id, ids, now + ITERATOR_TTL_SECONDS)
                self._iterators[itr_id].expires = now + ITERATOR_TTL_SECONDS
                body["offset"] = f"{itr_id}/{ids[end]}"
            return body

    def _gc_iterators(self, now: float) -> None:
        for key in [k for k, s in self._iterators.items() if s.expires < now]:
            del self._iterators[key]
        while len(self._iterators) >= MAX_ITERATORS:
            del self._iterators[next(iter(self._iterators))]

    def get_record(self, base_id: str, ref: str, record_id: str, by_field_id: bool = False) -> dict:
        """One record. Like Airtable, the record may live in another table of the same base.
        Raises 404 ``MODEL_ID_NOT_FOUND``."""
        with self._lock:
            table = self._table(base_id, ref)
            for candidate in [table, *self._bases[base_id].tables.values()]:
                if record_id in candidate.records:
                    return _render(candidate, candidate.records[record_id], None, by_field_id)
            raise record_not_found()

    def all_records(self, base_id: str, ref: str) -> list[dict]:
        """Every record of the table in creation order (control API; no paging)."""
        with self._lock:
            table = self._table(base_id, ref)
            return [_render(table, r) for r in table.records.values()]

    # ----------------------------------------------------------------- write
    def _coerce(self, table: Table, cells: object, typecast: bool, new_choices: dict) -> dict:
        if not isinstance(cells, dict):
            raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE)
        out = {}
        for key, value in cells.items():
            f = table.field(key)
            if f is None:
                raise unknown_field(key)
            out[f["id"]] = F.coerce_value(f, value, typecast, new_choices)
        return out

    @staticmethod
    def _apply(old: dict, changes: dict, replace: bool) -> dict:
        new = {} if replace else dict(old)
        for fid, value in changes.items():
            if F.is_empty(value):
                new.pop(fid, None)
            else:
                new[fid] = value
        return new

    def _commit_choices(self, table: Table, new_choices: dict) -> None:
        for fid, names in new_choices.items():
            F.add_choices(table.field(fid), names)

    def create_records(self, base_id: str, ref: str, body: object) -> dict:
        """Create ``{"records": [{"fields"}…] (1..10)}`` or one ``{"fields"}``; ``typecast`` and
        ``returnFieldsByFieldId`` are honoured. Returns ``{"records": [...]}`` in request order
        (or the single record). Raises 422 ``INVALID_RECORDS`` (shape or > 10),
        ``UNKNOWN_FIELD_NAME``, ``INVALID_VALUE_FOR_COLUMN``, ``INVALID_MULTIPLE_CHOICE_OPTIONS``."""
        with self._lock:
            table = self._table(base_id, ref)
            body = _check_keys(body, {"records", "fields", "typecast", "returnFieldsByFieldId"})
            typecast, by_id = bool(body.get("typecast")), bool(body.get("returnFieldsByFieldId"))
            single = "records" not in body
            if single:
                if "fields" not in body:
                    raise invalid_request()
                items = [{"fields": body["fields"]}]
            else:
                items = body["records"]
                if not isinstance(items, list) or not items:
                    raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE.replace('an "id" ID field and ', ""))
                if len(items) > MAX_RECORDS_PER_WRITE:
                    raise AirtableError(
                        422, "INVALID_RECORDS",
                        f"A maximum of 10 records can be created per request but you have provided {len(items)}.",
                    )
            new_choices: dict = {}
            staged = []
            for item in items:
                if not isinstance(item, dict) or set(item) - {"fields"} or not isinstance(item.get("fields"), dict):
                    raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE.replace('an "id" ID field and ', ""))
                staged.append(self._apply({}, self._coerce(table, item["fields"], typecast, new_choices), False))
            self._check_room(base_id, len(staged))
            self._commit_choices(table, new_choices)
            created = []
            for cells in staged:
                record = Record(new_id("rec"), _now_iso(), cells)
                table.records[record.id] = record
                created.append(_render(table, record, None, by_id))
            return created[0] if single else {"records": created}

    def update_records(self, base_id: str, ref: str, body: object, replace: bool) -> dict:
        """Batch PATCH (merge) / PUT (``replace``) of ``{"records": [{"id", "fields"}] (1..10)}``,
        or an upsert with ``performUpsert.fieldsToMergeOn`` (1..3 fields): a record without ``id``
        matching 0 records is created, 1 is updated, 2+ fails the request. Returns
        ``{"records"}`` (+ ``createdRecords``/``updatedRecords`` ids for upserts). All-or-nothing.
        Raises 422 ``INVALID_RECORDS``, ``ROW_DOES_NOT_EXIST``, ``UNKNOWN_FIELD_NAME`` and the
        value errors."""
        with self._lock:
            table = self._table(base_id, ref)
            body = _check_keys(body, {"records", "typecast", "returnFieldsByFieldId", "performUpsert"})
            typecast, by_id = bool(body.get("typecast")), bool(body.get("returnFieldsByFieldId"))
            items = body.get("records")
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_RECORDS_PER_WRITE:
                raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE)
            merge_on = self._merge_fields(table, body.get("performUpsert"))
            new_choices: dict = {}
            staged: dict[str, dict] = {}
            created: dict[str, dict] = {}
            order, created_ids, updated_ids = [], [], []
            for index, item in enumerate(items):
                if not isinstance(item, dict) or set(item) - {"id", "fields"} or not isinstance(item.get("fields"), dict):
                    raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE)
                changes = self._coerce(table, item["fields"], typecast, new_choices)
                record_id = item.get("id")
                if record_id is None and merge_on is not None:
                    record_id = self._match(table, merge_on, changes, staged, created, index)
                    if record_id is None:
                        record_id = new_id("rec")
                        created[record_id] = self._apply({}, changes, False)
                        created_ids.append(record_id)
                        order.append(record_id)
                        continue
                if not isinstance(record_id, str):
                    raise AirtableError(422, "INVALID_RECORDS", _UPDATE_SHAPE_MESSAGE)
                if record_id in created:
                    created[record_id] = self._apply(created[record_id], changes, replace)
                else:
                    if record_id not in table.records:
                        raise row_does_not_exist(record_id)
                    old = staged.get(record_id, table.records[record_id].cells)
                    staged[record_id] = self._apply(old, changes, replace)
                    if record_id not in updated_ids:
                        updated_ids.append(record_id)
                order.append(record_id)
            self._check_room(base_id, len(created))
            self._commit_choices(table, new_choices)
            for record_id, cells in staged.items():
                table.records[record_id].cells = cells
            for record_id, cells in created.items():
                table.records[record_id] = Record(record_id, _now_iso(), cells)
            out: dict = {"records": [_render(table, table.records[i], None, by_id) for i in order]}
            if merge_on is not None:
                out = {"createdRecords": created_ids, "updatedRecords": updated_ids, **out}
            return out

    def _merge_fields(self, table: Table, perform_upsert: object) -> list[str] | None:
        if perform_upsert is None:
            return None
        if not isinstance(perform_upsert, dict) or set(perform_upsert) - {"fieldsToMergeOn"}:
            raise invalid_request()
        names = perform_upsert.get("fieldsToMergeOn")
        if not isinstance(names, list) or not 1 <= len(names) <= 3 or not all(isinstance(n, str) for n in names):
            raise invalid_request()
        out = []
        for name in names:
            f = table.field(name)
            if f is None:
                raise unknown_field(name)
            out.append(f["id"])
        return out

    def _match(self, table, merge_on, changes, staged, created, index) -> str | None:
        key = [None if F.is_empty(changes.get(fid)) else changes.get(fid) for fid in merge_on]
        matches = []
        views = [(rid, staged.get(rid, r.cells)) for rid, r in table.records.items()]
        views += list(created.items())
        for rid, cells in views:
            if [cells.get(fid) for fid in merge_on] == key:
                matches.append(rid)
        if len(matches) > 1:
            raise AirtableError(
                422, "INVALID_RECORDS",
                f"Cannot upsert record at index {index}: {len(matches)} existing records match fieldsToMergeOn",
            )
        return matches[0] if matches else None

    def update_record(self, base_id: str, ref: str, record_id: str, body: object, replace: bool) -> dict:
        """PATCH/PUT one record with ``{"fields", "typecast"?}``; returns the record.
        Raises 404 ``MODEL_ID_NOT_FOUND`` and the value errors."""
        with self._lock:
            table = self._table(base_id, ref)
            body = _check_keys(body, {"fields", "typecast", "returnFieldsByFieldId"})
            if not isinstance(body.get("fields"), dict):
                raise invalid_request()
            record = table.records.get(record_id)
            if record is None:
                raise record_not_found()
            new_choices: dict = {}
            changes = self._coerce(table, body["fields"], bool(body.get("typecast")), new_choices)
            self._commit_choices(table, new_choices)
            record.cells = self._apply(record.cells, changes, replace)
            return _render(table, record, None, bool(body.get("returnFieldsByFieldId")))

    def delete_records(self, base_id: str, ref: str, record_ids: list) -> dict:
        """Delete 1..10 records (all-or-nothing); returns ``{"records": [{"id", "deleted": true}]}``.
        Raises 422 ``INVALID_RECORDS`` for 0 or > 10 ids, 404 ``MODEL_ID_NOT_FOUND`` if one is missing."""
        with self._lock:
            table = self._table(base_id, ref)
            if not 1 <= len(record_ids) <= MAX_RECORDS_PER_WRITE or not all(looks_like("rec", i) for i in record_ids):
                raise AirtableError(422, "INVALID_RECORDS", '"records" must be an array of up to 10 record IDs.')
            for record_id in record_ids:
                if record_id not in table.records:
                    raise AirtableError(404, "MODEL_ID_NOT_FOUND", f"Could not find a record with ID {record_id}")
            for record_id in record_ids:
                table.records.pop(record_id, None)
            return {"records": [{"id": i, "deleted": True} for i in record_ids]}

    def delete_record(self, base_id: str, ref: str, record_id: str) -> dict:
        """Delete one record; returns ``{"id", "deleted": true}``; 404 ``MODEL_ID_NOT_FOUND``."""
        with self._lock:
            table = self._table(base_id, ref)
            if table.records.pop(record_id, None) is None:
                raise record_not_found()
            return {"id": record_id, "deleted": True}
