"""What one actor dataset item is: a follower, an error or placeholder for its source account,
or something unusable. The one place that lists the error forms the service recognises.

Recognised error and placeholder forms (the common Apify conventions, seen in every actor
input shape ``actor.py`` supports: ``usernames``, ``Account``, ``username``):

1. ``{"error": "<code>" | {"type"/"code", "message"} | true, ...}``, optionally with
   ``errorDescription`` / ``errorMessage`` / ``message`` (datadoping-style actors, Apify's
   ``{"error": {...}}`` body);
2. ``{"errorDescription": "..."}`` or ``{"errorMessage": "..."}`` without ``error``;
3. ``{"#error": true, "#debug": {"errorMessages": [...], ...}}`` (Apify's crawler convention);
4. ``{"success": false, "message" | "msg" | "reason": "..."}``;
5. a source-level privacy flag: an item that describes the source account itself (its
   ``username`` is the source account, or it has no follower id and username) with
   ``is_private`` / ``private`` / ``isPrivate`` true, or any item with ``source_is_private`` /
   ``sourceIsPrivate`` true. A follower's own ``is_private`` is a property of that follower,
   never of the source.

Such an item is never stored and never given to gender detection. Its kind comes from the
code and message: private (``private``), not found (``not_found``, ``not found``, ``does not
exist``, ``unavailable``, ``no such user``, ``404``), rate limited (``rate limit``, ``429``,
``too many requests``, ``try again later``, ``please wait``, ``login required``,
``challenge``, ``checkpoint``, ``blocked``), anything else a failure. The source account is
read from ``username_scrape``, ``source_username``, ``following_of``, ``sourceUsername``, then
(error items only) ``input``, ``inputUsername``, ``username``, ``url``, ``#debug.requestUrl``,
and finally the chunk's only account when it has one.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from server.utils.accounts import canonical_platform_id, canonical_username, normalise_username
from server.utils.text import clean_text

SOURCE_FIELDS = ("username_scrape", "source_username", "following_of", "sourceUsername")
ERROR_SOURCE_FIELDS = ("input", "inputUsername", "username", "url")
PRIVATE_FLAGS = ("is_private", "private", "isPrivate")
SOURCE_PRIVATE_FLAGS = ("source_is_private", "sourceIsPrivate")
MESSAGE_FIELDS = ("errorDescription", "errorMessage", "error_message", "message", "msg", "reason")
# an item with none of these keys and no private flag set is no error form (the common case)
_ERROR_KEYS = frozenset(("error", "errorDescription", "errorMessage", "error_message", "#error", "success",
                         *SOURCE_PRIVATE_FLAGS))

# error kinds (the per-source status each leads to is decided in sources.py)
PRIVATE = "private"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
FAILED = "failed"

# matched after "_" and "-" become spaces
_NOT_FOUND_WORDS = ("not found", "notfound", "does not exist", "doesn't exist", "unavailable", "no such user",
                    "404")
_RATE_LIMIT_WORDS = ("rate limit", "ratelimit", "429", "too many requests", "try again later", "please wait",
                     "login required", "challenge", "checkpoint", "blocked")

_MENTIONS = re.compile(r"@[a-z0-9._]+|instagram\.com/[a-z0-9._/]*")


@dataclass(frozen=True, slots=True)
class Follower:
    """One follower as stored: platform id, username, display name and where it was found."""

    profile_id: str
    username: str
    full_name: str
    source_account: str | None
    is_private: bool | None
    is_verified: bool | None


@dataclass(frozen=True)
class SourceError:
    """An error or placeholder item: ``kind`` (``private``, ``not_found``, ``rate_limited``,
    ``failed``), the actor's own ``message`` (≤ 500 characters) and the ``source_account`` it
    concerns (None when the item does not say and the chunk has several accounts)."""

    kind: str
    message: str
    source_account: str | None


@dataclass(frozen=True)
class Unusable:
    """An item that is neither a follower nor a recognised error (no usable id or username)."""

    source_account: str | None


def classify_item(item, default_source: str | None = None) -> Follower | SourceError | Unusable:
    """Sort one dataset item into a ``Follower``, a ``SourceError`` or ``Unusable`` (see the
    module doc for the recognised forms). ``default_source`` is the chunk's account when it has
    exactly one."""
    if not isinstance(item, dict):
        return Unusable(default_source)
    source = _source(item, SOURCE_FIELDS) or default_source
    error = _error_of(item, source)
    if error is not None:
        kind, message = error
        return SourceError(kind, message, _source(item, SOURCE_FIELDS + ERROR_SOURCE_FIELDS, debug=True)
                           or default_source)
    raw_id = item.get("id") or item.get("pk") or item.get("user_id") or item.get("userId")
    profile_id = canonical_platform_id(raw_id)
    username = canonical_username(item.get("username"))
    if profile_id is None or username is None:
        return Unusable(source)
    return Follower(
        profile_id=profile_id,
        username=username,
        full_name=clean_text(item.get("full_name", item.get("fullName")), 256),
        source_account=source,
        is_private=_bool(item.get("is_private", item.get("private"))),
        is_verified=_bool(item.get("is_verified", item.get("verified"))),
    )


def error_kind(text: str) -> str:
    """``private``, ``not_found``, ``rate_limited`` or ``failed`` for an error code/message
    (account names in it, ``@name`` or a profile link, are not read as words)."""
    lowered = _MENTIONS.sub(" ", text.lower()).replace("_", " ").replace("-", " ")
    if "private" in lowered:
        return PRIVATE
    if any(word in lowered for word in _NOT_FOUND_WORDS):
        return NOT_FOUND
    if any(word in lowered for word in _RATE_LIMIT_WORDS):
        return RATE_LIMITED
    return FAILED


def _error_of(item: dict, source: str | None) -> tuple[str, str] | None:
    """``(kind, message)`` when ``item`` is one of the recognised error forms, else None."""
    if item.keys().isdisjoint(_ERROR_KEYS) and not any(item.get(flag) is True for flag in PRIVATE_FLAGS):
        return None
    error = item.get("error")
    parts: list[str] = []
    if error:
        if isinstance(error, dict):
            parts += [str(error.get(k)) for k in ("type", "code", "message") if error.get(k)]
        elif error is not True:
            parts.append(str(error))
    described = [str(item[k]) for k in ("errorDescription", "errorMessage", "error_message") if item.get(k)]
    debug = item.get("#debug") if isinstance(item.get("#debug"), dict) else {}
    if error or described or item.get("#error"):
        if item.get("#error"):
            messages = debug.get("errorMessages") or debug.get("errors") or []
            parts += [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        parts += described
        if not described:
            parts += [str(item[k]) for k in ("message", "msg", "reason") if item.get(k)]
        return _kind_and_message(parts)
    if item.get("success") is False:
        return _kind_and_message([str(item[k]) for k in MESSAGE_FIELDS if item.get(k)])
    if any(item.get(flag) is True for flag in SOURCE_PRIVATE_FLAGS):
        return PRIVATE, "the source account is private"
    if any(item.get(flag) is True for flag in PRIVATE_FLAGS):
        username = clean_text(item.get("username"), 64).lower()
        has_follower = username or item.get("id") or item.get("pk")
        if (source and username == source) or not has_follower:
            return PRIVATE, "the source account is private"
    return None


def _kind_and_message(parts: list[str]) -> tuple[str, str]:
    text = " ".join(p for p in parts if p)
    message = clean_text(" / ".join(dict.fromkeys(p for p in parts if p)), 500) or "error item without a message"
    return error_kind(text or message), message


def _source(item: dict, keys: tuple[str, ...], debug: bool = False) -> str | None:
    """The first of ``keys`` (then ``#debug.requestUrl`` when ``debug``) that holds a valid
    Instagram username or profile link, normalised."""
    values = [item.get(k) for k in keys]
    if debug and isinstance(item.get("#debug"), dict):
        values += [item["#debug"].get(k) for k in ("requestUrl", "url", "username")]
    for value in values:
        if isinstance(value, str):
            username = _account_in(value)
            if username:
                return username
    return None


@functools.lru_cache(maxsize=4096)
def _account_in(value: str) -> str | None:
    """The normalised username ``value`` names (a username or profile link), or None. Cached:
    every item of a source repeats the same value."""
    value = value.strip()
    return normalise_username(value)[0] if value else None


def _bool(value) -> bool | None:
    return bool(value) if value is not None else None
