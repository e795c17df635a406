"""Field schemas and cell values.

A field is a plain dict ``{"id": "fld…", "name": str, "type": str, "options": dict | None,
"description": str | None}``. :func:`build_field` turns a meta-API create request into one,
:func:`field_model` renders it for the meta API, :func:`coerce_value` validates a cell value
written through the records API (with Airtable's ``typecast`` rules) and :func:`is_empty`
says which values Airtable omits from ``fields``.
"""
from datetime import date, datetime, timezone
import math

from .errors import AirtableError
from .ids import new_id

TEXT_TYPES = {"singleLineText", "multilineText", "url", "email", "phoneNumber", "richText"}
NUMBER_TYPES = {"number", "percent", "currency"}
SUPPORTED_TYPES = TEXT_TYPES | NUMBER_TYPES | {
    "date", "dateTime", "singleSelect", "multipleSelects", "checkbox",
}
CHOICE_COLORS = [
    "blueLight2", "cyanLight2", "tealLight2", "greenLight2", "yellowLight2",
    "orangeLight2", "redLight2", "pinkLight2", "purpleLight2", "grayLight2",
]
DATE_FORMATS = {"local": "l", "friendly": "LL", "us": "M/D/YYYY", "european": "D/M/YYYY", "iso": "YYYY-MM-DD"}
TIME_FORMATS = {"12hour": "h:mma", "24hour": "HH:mm"}
TRUE_STRINGS = {"true", "1", "yes", "y", "checked", "on", "x"}
FALSE_STRINGS = {"false", "0", "no", "n", "unchecked", "off", ""}


def _options_error(name: str, detail: str) -> AirtableError:
    return AirtableError(422, "INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE", f'Invalid options for field "{name}": {detail}')


def _date_format(name: str, value: object) -> dict:
    if not isinstance(value, dict) or value.get("name") not in DATE_FORMATS:
        raise _options_error(name, "dateFormat must be {name: local|friendly|us|european|iso}")
    return {"format": DATE_FORMATS[value["name"]], "name": value["name"]}


def _time_format(name: str, value: object) -> dict:
    if not isinstance(value, dict) or value.get("name") not in TIME_FORMATS:
        raise _options_error(name, "timeFormat must be {name: 12hour|24hour}")
    return {"format": TIME_FORMATS[value["name"]], "name": value["name"]}


def _choices(name: str, raw: object) -> list[dict]:
    if not isinstance(raw, list):
        raise _options_error(name, "choices must be a list")
    out: list[dict] = []
    for i, choice in enumerate(raw):
        if not isinstance(choice, dict) or not isinstance(choice.get("name"), str) or not choice["name"]:
            raise _options_error(name, "each choice needs a non-empty name")
        if any(c["name"] == choice["name"] for c in out):
            raise _options_error(name, f'duplicate choice "{choice["name"]}"')
        out.append({
            "id": new_id("sel"),
            "name": choice["name"],
            "color": choice.get("color") or CHOICE_COLORS[i % len(CHOICE_COLORS)],
        })
    return out


def build_options(name: str, type_: str, options: object) -> dict | None:
    """Validate meta-API write ``options`` for a field of ``type_``; returns the stored options.

    Rules (like Airtable's create-field): ``number``/``percent``/``currency`` need
    ``precision`` 0..8; ``date`` needs ``dateFormat``; ``dateTime`` needs ``timeZone``,
    ``dateFormat`` and ``timeFormat``; ``singleSelect``/``multipleSelects`` need ``choices``
    (``[{name, color?}]``, ids ``sel…`` are assigned); ``checkbox`` defaults ``color``/``icon``.
    Raises 422 ``INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE``.
    """
    opts = options if isinstance(options, dict) else {}
    if options is not None and not isinstance(options, dict):
        raise _options_error(name, "options must be an object")
    if type_ in TEXT_TYPES:
        return None
    if type_ in NUMBER_TYPES:
        precision = opts.get("precision")
        if not isinstance(precision, int) or isinstance(precision, bool) or not 0 <= precision <= 8:
            raise _options_error(name, "precision must be an integer between 0 and 8")
        out = {"precision": precision}
        if type_ == "currency":
            out["symbol"] = str(opts.get("symbol", "$"))
        return out
    if type_ == "checkbox":
        return {"color": str(opts.get("color", "greenBright")), "icon": str(opts.get("icon", "check"))}
    if type_ == "date":
        return {"dateFormat": _date_format(name, opts.get("dateFormat"))}
    if type_ == "dateTime":
        tz = opts.get("timeZone")
        if not isinstance(tz, str) or not tz:
            raise _options_error(name, "timeZone is required (e.g. 'utc')")
        return {
            "timeZone": tz,
            "dateFormat": _date_format(name, opts.get("dateFormat")),
            "timeFormat": _time_format(name, opts.get("timeFormat")),
        }
    if type_ in ("singleSelect", "multipleSelects"):
        return {"choices": _choices(name, opts.get("choices"))}
    raise _options_error(name, f"unsupported type {type_}")


def build_field(spec: object) -> dict:
    """Build a stored field dict from a meta-API field request ``{name, type, options?, description?}``.

    Raises 422 ``INVALID_REQUEST_UNKNOWN`` for a malformed spec, 422 ``UNSUPPORTED_FIELD_TYPE``
    for a type the stand-in does not model, or the option errors of :func:`build_options`.
    """
    from .errors import invalid_request

    if not isinstance(spec, dict):
        raise invalid_request()
    name, type_ = spec.get("name"), spec.get("type")
    if not isinstance(name, str) or not name.strip():
        raise AirtableError(422, "DUPLICATE_OR_EMPTY_FIELD_NAME", "Field name cannot be empty")
    if not isinstance(type_, str) or type_ not in SUPPORTED_TYPES:
        raise AirtableError(422, "UNSUPPORTED_FIELD_TYPE", f"Unsupported field type: {type_!r}")
    description = spec.get("description")
    return {
        "id": new_id("fld"),
        "name": name.strip(),
        "type": type_,
        "options": build_options(name, type_, spec.get("options")),
        "description": description if isinstance(description, str) and description else None,
    }


def field_model(field: dict, include_description: bool = True) -> dict:
    """The meta-API field model: ``{id, name, type, options?, description?}`` (copies)."""
    out = {"id": field["id"], "name": field["name"], "type": field["type"]}
    if field.get("description") and include_description:
        out["description"] = field["description"]
    if field.get("options") is not None:
        out["options"] = _copy(field["options"])
    return out


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def is_empty(value: object) -> bool:
    """True for values Airtable omits from a record's ``fields``: None, "", [], False."""
    return value is None or value == "" or value == [] or value is False


def _bad_value(field: dict) -> AirtableError:
    return AirtableError(422, "INVALID_VALUE_FOR_COLUMN", f'Field "{field["name"]}" cannot accept the provided value')


def _bad_option(value: str) -> AirtableError:
    return AirtableError(
        422, "INVALID_MULTIPLE_CHOICE_OPTIONS", f'Insufficient permissions to create new select option ""{value}""'
    )


def parse_iso_datetime(text: str) -> datetime | None:
    """Parse an ISO date or date-time string into an aware UTC datetime; None if it is not one.

    Naive times and date-only strings are taken as UTC (midnight for dates).
    """
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_datetime(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, Airtable's date-time format."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _select(field: dict, name: object, typecast: bool, new_choices: dict) -> str:
    if not isinstance(name, str):
        if typecast and isinstance(name, (int, float)) and not isinstance(name, bool):
            name = str(name)
        else:
            raise _bad_value(field)
    choices = field["options"]["choices"]
    if any(c["name"] == name for c in choices) or name in new_choices.get(field["id"], []):
        return name
    if not typecast:
        raise _bad_option(name)
    new_choices.setdefault(field["id"], []).append(name)
    return name


def coerce_value(field: dict, value: object, typecast: bool, new_choices: dict) -> object:
    """Validate one written cell ``value`` for ``field``; return the value to store (None = clear).

    ``typecast`` converts strings/numbers like Airtable's ``typecast: true`` and lets unknown
    select options be created: their names are appended to ``new_choices[field_id]`` (the caller
    adds them to the schema once the whole request is valid). Raises 422
    ``INVALID_VALUE_FOR_COLUMN`` or ``INVALID_MULTIPLE_CHOICE_OPTIONS``.
    """
    type_ = field["type"]
    if value is None or value == "" or value == []:
        return None
    if type_ in TEXT_TYPES:
        if isinstance(value, str):
            return value
        if typecast and isinstance(value, (int, float, bool)):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise _bad_value(field)
    if type_ in NUMBER_TYPES:
        if isinstance(value, str) and typecast:
            try:
                value = float(value.strip().replace(",", ""))
            except ValueError:
                raise _bad_value(field) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad_value(field)
        precision = field["options"]["precision"]
        return int(round(value)) if precision == 0 else round(float(value), precision)
    if type_ == "checkbox":
        if isinstance(value, bool):
            return value or None
        if typecast and isinstance(value, str) and value.strip().lower() in TRUE_STRINGS | FALSE_STRINGS:
            return (value.strip().lower() in TRUE_STRINGS) or None
        if typecast and isinstance(value, (int, float)):
            return bool(value) or None
        raise _bad_value(field)
    if type_ == "date":
        dt = parse_iso_datetime(value) if isinstance(value, str) else None
        if dt is None:
            raise _bad_value(field)
        return value[:10] if len(value) > 10 and value[10] in "T " else dt.date().isoformat()
    if type_ == "dateTime":
        dt = parse_iso_datetime(value) if isinstance(value, str) else None
        if dt is None:
            raise _bad_value(field)
        return format_datetime(dt)
    if type_ == "singleSelect":
        return _select(field, value, typecast, new_choices)
    if type_ == "multipleSelects":
        if isinstance(value, str) and typecast:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise _bad_value(field)
        out: list[str] = []
        for item in value:
            name = _select(field, item, typecast, new_choices)
            if name not in out:
                out.append(name)
        return out or None
    return value


def add_choices(field: dict, names: list[str]) -> None:
    """Append new select options ``names`` (not yet present) to ``field`` with fresh ``sel…`` ids."""
    choices = field["options"]["choices"]
    for name in names:
        if not any(c["name"] == name for c in choices):
            choices.append({"id": new_id("sel"), "name": name, "color": CHOICE_COLORS[len(choices) % len(CHOICE_COLORS)]})
