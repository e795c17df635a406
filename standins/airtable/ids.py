"""Airtable-looking identifiers: a 3-letter prefix plus 14 base62 characters."""
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_BODY_LENGTH = 14


def new_id(prefix: str) -> str:
    """Return ``prefix`` + 14 random base62 characters, e.g. ``new_id("rec")`` -> ``recA1b2…``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(ID_BODY_LENGTH))


def looks_like(prefix: str, value: object) -> bool:
    """True when ``value`` is a string shaped like an id with ``prefix`` (``rec``, ``tbl``, …)."""
    return isinstance(value, str) and re.fullmatch(prefix + r"[A-Za-z0-9]{14}", value) is not None
