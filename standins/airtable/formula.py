"""A subset of Airtable's formula language for ``filterByFormula``.

Supported: field references ``{Name}`` (``\\}`` escapes a brace), single- or double-quoted
strings with backslash escapes (as written by ``pyairtable.formulas.quoted``), numbers,
parentheses, the operators ``= != < > <= >=`` and the functions ``AND``, ``OR``, ``NOT``,
``RECORD_ID``, ``CREATED_TIME``, ``BLANK``, ``TRUE``, ``FALSE``, ``DATETIME_PARSE`` (one ISO
argument). Function names are case-insensitive. Anything else is rejected with 422
``INVALID_FILTER_BY_FORMULA``.

Semantics follow Airtable where it matters for filtering: a blank cell equals ``''``,
``BLANK()`` and ``0``; numbers and numeric strings compare as numbers; ISO dates compare as
instants; a record is kept unless the result is ``0``, ``false``, ``""``, blank or ``NaN``.
"""
from dataclasses import dataclass
from datetime import datetime
import math
import re
from typing import Callable

from .errors import AirtableError
from .fields import parse_iso_datetime

INVALID_MESSAGE = "Invalid formula. Please check your formula text."
_NUMBER_RE = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_FUNCTION_ARITY = {
    "AND": (1, None), "OR": (1, None), "NOT": (1, 1), "RECORD_ID": (0, 0), "CREATED_TIME": (0, 0),
    "BLANK": (0, 0), "TRUE": (0, 0), "FALSE": (0, 0), "DATETIME_PARSE": (1, 1),
}


@dataclass
class RecordContext:
    """What a formula can see: the record id, its createdTime and a ``field(name)`` getter."""

    record_id: str
    created_time: str
    field: Callable[[str], object]


Evaluator = Callable[[RecordContext], object]


def invalid(message: str = INVALID_MESSAGE) -> AirtableError:
    """422 ``INVALID_FILTER_BY_FORMULA`` with ``message``."""
    return AirtableError(422, "INVALID_FILTER_BY_FORMULA", message)


def tokenize(text: str) -> list[tuple[str, object]]:
    """Split ``text`` into ``(kind, value)`` tokens; kinds: field, str, num, name, op, '(', ')', ','.

    Raises 422 ``INVALID_FILTER_BY_FORMULA`` on an unterminated string/field or a stray character.
    """
    tokens: list[tuple[str, object]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "{":
            j, name = i + 1, []
            while j < n and text[j] != "}":
                if text[j] == "\\" and j + 1 < n and text[j + 1] == "}":
                    name.append("}")
                    j += 2
                else:
                    name.append(text[j])
                    j += 1
            if j >= n:
                raise invalid()
            tokens.append(("field", "".join(name)))
            i = j + 1
        elif ch in "'\"":
            j, out = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    out.append(_ESCAPES.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            if j >= n:
                raise invalid()
            tokens.append(("str", "".join(out)))
            i = j + 1
        elif ch in "(),":
            tokens.append((ch, ch))
            i += 1
        elif (m := _NUMBER_RE.match(text, i + (ch == "-"))) is not None and (
            ch != "-" and m.start() == i or ch == "-" and (not tokens or tokens[-1][0] in ("op", "(", ","))
        ):
            value = float(m.group())
            value = int(value) if value.is_integer() and "." not in m.group() else value
            tokens.append(("num", -value if ch == "-" else value))
            i = m.end()
        elif (m := _NAME_RE.match(text, i)) is not None:
            tokens.append(("name", m.group().upper()))
            i = m.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise invalid()
            tokens.append(("op", op))
            i += len(op)
    return tokens


class _Parser:
    def __init__(self, tokens, field_names: set[str]):
        self.tokens, self.pos, self.field_names = tokens, 0, field_names
        self.unknown: list[str] = []

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self, kind=None):
        tok = self.peek()
        if tok[0] is None or (kind is not None and tok[0] != kind):
            raise invalid()
        self.pos += 1
        return tok

    def expression(self) -> Evaluator:
        left = self.primary()
        while self.peek()[0] == "op":
            op = self.take()[1]
            left = _comparison(op, left, self.primary())
        return left

    def primary(self) -> Evaluator:
        kind, value = self.peek()
        if kind == "(":
            self.take()
            inner = self.expression()
            self.take(")")
            return inner
        if kind in ("str", "num"):
            self.take()
            return lambda ctx, v=value: v
        if kind == "field":
            self.take()
            if value not in self.field_names:
                self.unknown.append(value)
            return lambda ctx, name=value: ctx.field(name)
        if kind == "name":
            return self.call()
        raise invalid()

    def call(self) -> Evaluator:
        name = self.take("name")[1]
        if name not in _FUNCTION_ARITY:
            raise invalid()
        self.take("(")
        args: list[Evaluator] = []
        if self.peek()[0] != ")":
            args.append(self.expression())
            while self.peek()[0] == ",":
                self.take()
                args.append(self.expression())
        self.take(")")
        low, high = _FUNCTION_ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            raise invalid()
        return _function(name, args)


def _function(name: str, args: list[Evaluator]) -> Evaluator:
    if name == "AND":
        return lambda ctx: all(truthy(a(ctx)) for a in args)
    if name == "OR":
        return lambda ctx: any(truthy(a(ctx)) for a in args)
    if name == "NOT":
        return lambda ctx: not truthy(args[0](ctx))
    if name == "RECORD_ID":
        return lambda ctx: ctx.record_id
    if name == "CREATED_TIME":
        return lambda ctx: parse_iso_datetime(ctx.created_time)
    if name == "BLANK":
        return lambda ctx: None
    if name == "TRUE":
        return lambda ctx: True
    if name == "FALSE":
        return lambda ctx: False
    # DATETIME_PARSE
    return lambda ctx: _to_datetime(args[0](ctx))


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_iso_datetime(value) if isinstance(value, str) else None


def _to_number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else None
        except ValueError:
            return None
    return None


def _is_blank(value: object) -> bool:
    return value is None or value == "" or value == []


def _equal(a: object, b: object) -> bool:
    if isinstance(a, list):
        a = ", ".join(map(str, a))
    if isinstance(b, list):
        b = ", ".join(map(str, b))
    if isinstance(a, datetime) or isinstance(b, datetime):
        da, db = _to_datetime(a), _to_datetime(b)
        return da is not None and db is not None and da == db
    if _is_blank(a) or _is_blank(b):
        other = b if _is_blank(a) else a
        return _is_blank(other) or (not isinstance(other, str) and _to_number(other) == 0)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    na, nb = _to_number(a), _to_number(b)
    return na is not None and nb is not None and na == nb


def _order(a: object, b: object) -> int | None:
    """-1/0/1 comparing ``a`` with ``b``, or None when they cannot be ordered."""
    def sign(x, y):
        return (x > y) - (x < y)

    if isinstance(a, datetime) or isinstance(b, datetime):
        da, db = _to_datetime(a), _to_datetime(b)
        return None if da is None or db is None else sign(da, db)
    if isinstance(a, str) and isinstance(b, str) and a and b:
        da, db = parse_iso_datetime(a), parse_iso_datetime(b)
        if da is not None and db is not None:
            return sign(da, db)
        na, nb = _to_number(a), _to_number(b)
        if na is not None and nb is not None:
            return sign(na, nb)
        return sign(a, b)
    na = 0.0 if a is None else _to_number(a)
    nb = 0.0 if b is None else _to_number(b)
    if na is None or nb is None:
        return None
    return sign(na, nb)


def _comparison(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op == "=":
        return lambda ctx: _equal(left(ctx), right(ctx))
    if op == "!=":
        return lambda ctx: not _equal(left(ctx), right(ctx))
    accept = {"<": (-1,), ">": (1,), "<=": (-1, 0), ">=": (1, 0)}[op]

    def compare(ctx):
        result = _order(left(ctx), right(ctx))
        return result is not None and result in accept

    return compare


def truthy(value: object) -> bool:
    """Airtable truthiness: blank, ``0``, ``false``, ``""``, ``[]`` and ``NaN`` are false."""
    if value is None or value is False or value == "" or value == []:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def compile_formula(text: str, field_names: set[str]) -> Evaluator:
    """Parse ``text`` into an evaluator ``f(RecordContext) -> value``.

    ``field_names`` are the table's field names; referencing any other raises 422
    ``INVALID_FILTER_BY_FORMULA`` ("Unknown field names: …"). An empty formula keeps every record.
    """
    if not isinstance(text, str):
        raise invalid()
    if not text.strip():
        return lambda ctx: True
    parser = _Parser(tokenize(text), field_names)
    evaluator = parser.expression()
    if parser.pos != len(parser.tokens):
        raise invalid()
    if parser.unknown:
        raise invalid("Unknown field names: " + ", ".join(dict.fromkeys(parser.unknown)))
    return evaluator
