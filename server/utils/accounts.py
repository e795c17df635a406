"""Source-account normalisation: what the operator typed → Instagram usernames.

Accepts ``nike``, ``@Nike``, `` nike ``, ``https://www.instagram.com/nike/`` and
``instagram.com/nike?hl=en``; keeps Instagram's username rule: 1–30 of ``a-z 0-9 . _``, not
starting or ending with a period, no two periods in a row. Links to posts, reels, stories and
other non-profile pages are rejected, not scraped as accounts named ``p`` or ``reel``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from server.utils.text import displayable

# 1-30 of [a-z0-9._], neither starting nor ending with "." and without ".." (one match, no
# separate string checks: it runs once per account of a 500,000-account request)
USERNAME_RE = re.compile(r"^(?!\.)(?!.*\.\.)[a-z0-9._]{1,30}(?<!\.)$")
# ASCII: in Unicode mode IGNORECASE lets ``[a-z]`` match the Kelvin sign, long s and dotted I.
_URL_RE = re.compile(r"^(?:https?://)?(?:www\.|m\.)?instagram\.com/+([^/?#]*)", re.IGNORECASE | re.ASCII)
# What an operator may type before lower-casing: ASCII letters only, so no look-alike (U+212A
# KELVIN SIGN lower-cases to "k") is mapped onto another person's account.
_TYPED_RE = re.compile(r"^[A-Za-z0-9._]{1,30}$", re.ASCII)
# First path segments of instagram.com links that are not profiles.
NOT_PROFILE_PATHS = frozenset({
    "p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct", "about", "developer",
    "legal", "web", "api", "challenge", "emails", "session", "oauth", "privacy", "terms", "help"})


@dataclass
class NormalisedAccounts:
    """Accepted usernames in first-seen order, duplicates dropped, and rejects with reasons."""

    accepted: list[str] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)


PLATFORM_ID_RE = re.compile(r"[0-9]{1,20}", re.ASCII)


def is_valid_username(value: str) -> bool:
    """True for a lower-case Instagram username by the rule above."""
    return bool(USERNAME_RE.fullmatch(value))


def is_platform_id(value: str) -> bool:
    """True for an Instagram user id: 1–20 ASCII digits, not zero."""
    return bool(PLATFORM_ID_RE.fullmatch(value)) and value.strip("0") != ""


def canonical_platform_id(raw) -> str | None:
    """The one stored form of an Instagram user id, or None when ``raw`` is not one.

    ``raw`` is a JSON integer or a string of 1–20 ASCII digits (surrounding spaces allowed);
    leading zeros are dropped, so ``9200000003``, ``"09200000003"`` and ``"009200000003"`` are
    one person (Instagram ids are integers; DESIGN.md §3 keys the pool on them). Booleans,
    floats, zero and anything else give None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = str(raw)
    elif isinstance(raw, str):
        value = raw.strip()
    else:
        return None
    if not is_platform_id(value):
        return None
    return value.lstrip("0")


def canonical_username(raw) -> str | None:
    """``raw`` (a username as a platform or a client wrote it, surrounding spaces allowed) in
    its stored lower-case form, or None when it is not an Instagram username. The character
    check runs before lower-casing (only ASCII letters may be mapped to lower case)."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not _TYPED_RE.fullmatch(value):
        return None
    value = value.lower()
    return value if is_valid_username(value) else None


def normalise_username(raw: str) -> tuple[str | None, str | None]:
    """``(username, None)`` for a usable account, else ``(None, reason)``."""
    if is_valid_username(raw):
        return raw, None  # already clean: the common case, and the cheap one
    value = raw.strip()
    match = _URL_RE.match(value)
    if match:
        value = match.group(1)
        if value.lower() in NOT_PROFILE_PATHS:
            return None, "not a profile link (post, reel, story or other page)"
    value = value.lstrip("@").strip()
    if not value:
        return None, "empty"
    if len(value) > 30:
        return None, "longer than 30 characters"
    if not _TYPED_RE.fullmatch(value):  # before lower-casing: no Unicode case mapping
        return None, "may contain only letters, digits, '.' and '_'"
    value = value.lower()
    if not is_valid_username(value):
        return None, "may not start or end with '.' or contain '..'"
    return value, None


def normalise_accounts(values: list[str]) -> NormalisedAccounts:
    """Normalise and de-duplicate ``values``; rejects carry ``{"index", "value", "reason"}``."""
    out = NormalisedAccounts()
    seen: set[str] = set()
    for index, raw in enumerate(values):
        # an already clean username (the common case of a long list) skips normalise_username
        username, reason = (raw, None) if is_valid_username(raw) else normalise_username(raw)
        if username is None:
            out.rejected.append({"index": index, "value": displayable(raw), "reason": reason})
        elif username in seen:
            out.duplicates += 1
        else:
            seen.add(username)
            out.accepted.append(username)
    return out
