"""Source-account normalisation: what the operator typed → Instagram usernames.

Accepts ``nike``, ``@Nike``, `` nike ``, ``https://www.instagram.com/nike/`` and
``instagram.com/nike?hl=en``; keeps Instagram's username rule: 1–30 of ``a-z 0-9 . _``, not
starting or ending with a period, no two periods in a row. Links to posts, reels, stories and
other non-profile pages are rejected, not scraped as accounts named ``p`` or ``reel``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

USERNAME_RE = re.compile(r"^[a-z0-9._]{1,30}$")
_URL_RE = re.compile(r"^(?:https?://)?(?:www\.|m\.)?instagram\.com/+([^/?#]*)", re.IGNORECASE)
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


PLATFORM_ID_RE = re.compile(r"[0-9]{1,20}")


def is_valid_username(value: str) -> bool:
    """True for a lower-case Instagram username by the rule above."""
    return bool(USERNAME_RE.fullmatch(value)) and not (
        value.startswith(".") or value.endswith(".") or ".." in value)


def is_platform_id(value: str) -> bool:
    """True for an Instagram user id: 1–20 digits, not zero."""
    return bool(PLATFORM_ID_RE.fullmatch(value)) and value.strip("0") != ""


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
    value = value.lstrip("@").strip().lower()
    if not value:
        return None, "empty"
    if len(value) > 30:
        return None, "longer than 30 characters"
    if not USERNAME_RE.fullmatch(value):
        return None, "may contain only letters, digits, '.' and '_'"
    if not is_valid_username(value):
        return None, "may not start or end with '.' or contain '..'"
    return value, None


def normalise_accounts(values: list[str]) -> NormalisedAccounts:
    """Normalise and de-duplicate ``values``; rejects carry ``{"index", "value", "reason"}``."""
    out = NormalisedAccounts()
    seen: set[str] = set()
    for index, raw in enumerate(values):
        username, reason = normalise_username(raw)
        if username is None:
            out.rejected.append({"index": index, "value": raw[:100], "reason": reason})
        elif username in seen:
            out.duplicates += 1
        else:
            seen.add(username)
            out.accepted.append(username)
    return out
