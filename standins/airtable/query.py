"""List-records parameters, from a GET query string or a ``POST …/listRecords`` JSON body."""
from dataclasses import dataclass, field
import re

from .errors import AirtableError, invalid_request

MAX_PAGE_SIZE = 100
_SORT_KEY_RE = re.compile(r"sort\[(\d+)\]\[(field|direction)\]")
_SCALAR_PARAMS = {
    "pageSize", "maxRecords", "offset", "view", "filterByFormula", "cellFormat",
    "timeZone", "userLocale", "returnFieldsByFieldId",
}


@dataclass
class ListQuery:
    """Parsed list options. ``sort`` is a list of ``(field name or id, descending)``."""

    page_size: int = MAX_PAGE_SIZE
    max_records: int | None = None
    offset: str | None = None
    view: str | None = None
    formula: str | None = None
    fields: list[str] | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)
    by_field_id: bool = False


def _int(value: object, low: int, high: int | None, name: str) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < low or (high is not None and number > high):
        raise invalid_request(f"Invalid request: parameter validation failed. Check your request data. ({name})")
    return number


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true")


def _direction(value: object) -> bool:
    if value in (None, "asc"):
        return False
    if value == "desc":
        return True
    raise invalid_request()


def _finish(q: ListQuery, raw: dict) -> ListQuery:
    if "pageSize" in raw:
        q.page_size = _int(raw["pageSize"], 1, MAX_PAGE_SIZE, "pageSize")
    if "maxRecords" in raw:
        q.max_records = _int(raw["maxRecords"], 0, None, "maxRecords")
    for key, attr in (("offset", "offset"), ("view", "view"), ("filterByFormula", "formula")):
        if raw.get(key) is not None:
            if not isinstance(raw[key], str):
                raise invalid_request()
            setattr(q, attr, raw[key])
    if raw.get("cellFormat") not in (None, "json", "string"):
        raise invalid_request()
    if raw.get("cellFormat") == "string" and not (raw.get("timeZone") and raw.get("userLocale")):
        raise AirtableError(422, "INVALID_REQUEST_UNKNOWN", "The cellFormat 'string' requires timeZone and userLocale")
    q.by_field_id = _bool(raw.get("returnFieldsByFieldId", False))
    return q


def from_args(args) -> ListQuery:
    """Parse a werkzeug ``MultiDict`` of GET parameters (``fields[]``, ``sort[i][field]``, …).

    Raises 422 ``INVALID_REQUEST_UNKNOWN`` for unknown parameters or bad values (``pageSize``
    outside 1..100, non-integer ``maxRecords``, sort direction not ``asc``/``desc``).
    """
    q = ListQuery()
    raw: dict = {}
    sorts: dict[int, dict] = {}
    for key in args.keys():
        values = args.getlist(key)
        if key in ("fields[]", "fields"):
            q.fields = (q.fields or []) + values
        elif key in ("recordMetadata[]", "recordMetadata"):
            continue
        elif (m := _SORT_KEY_RE.fullmatch(key)) is not None:
            sorts.setdefault(int(m.group(1)), {})[m.group(2)] = values[-1]
        elif key in _SCALAR_PARAMS:
            raw[key] = values[-1]
        else:
            raise invalid_request()
    for index in sorted(sorts):
        spec = sorts[index]
        if not spec.get("field"):
            raise invalid_request()
        q.sort.append((spec["field"], _direction(spec.get("direction"))))
    return _finish(q, raw)


def from_json(body: object) -> ListQuery:
    """Parse a ``POST …/listRecords`` body ``{pageSize, offset, filterByFormula, fields: [...],
    sort: [{field, direction}], ...}``. Raises 422 ``INVALID_REQUEST_UNKNOWN`` like :func:`from_args`."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid_request()
    q = ListQuery()
    raw = {}
    for key, value in body.items():
        if key == "fields":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid_request()
            q.fields = list(value)
        elif key == "sort":
            if not isinstance(value, list):
                raise invalid_request()
            for spec in value:
                if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
                    raise invalid_request()
                q.sort.append((spec["field"], _direction(spec.get("direction"))))
        elif key == "recordMetadata":
            continue
        elif key in _SCALAR_PARAMS:
            raw[key] = value
        else:
            raise invalid_request()
    return _finish(q, raw)
