"""Cleaning text from outside (Apify items) before it reaches Postgres.

Postgres ``text`` cannot hold U+0000 (psycopg raises ``DataError``), JSON may carry lone UTF-16
surrogates that cannot be encoded as UTF-8, and scraped fields can be absurdly long.
"""
from __future__ import annotations

import re

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value, max_length: int = 256) -> str:
    """``value`` as a str without NUL, C0 controls or lone surrogates, cut to ``max_length``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return _BAD_CHARS.sub("", value)[:max_length].strip()


_SURROGATES = re.compile("[\ud800-\udfff]")


def displayable(value, max_length: int = 100) -> str:
    """``value`` as a str fit to echo back in an answer: cut to ``max_length`` characters, lone
    UTF-16 surrogates (which no UTF-8 encoder accepts) replaced by U+FFFD."""
    text = value if isinstance(value, str) else str(value)
    return _SURROGATES.sub("\ufffd", text[:max_length])
