"""The Instagram follower actors the service can drive: their input and output shapes.

Facts from shared/reference/apify.md §11:
- ``datadoping/instagram-followers-scraper``: input ``{"usernames": [...], "max_count": N}``;
  items ``username, full_name, id, is_private, is_verified, profile_pic_url``.
- ``scraping_solutions/instagram-scraper-followers-following-no-cookies``: input
  ``{"Account": [...], "resultsLimit": N, "dataToScrape": "Followers"}``; items add
  ``username_scrape`` (the source account) and ``type``.
- ``thenetaji/instagram-followers-followings-scraper``: input
  ``{"username": [...], "type": "followers", "maxItem": N}``.
The source account of an item is read from whichever of ``username_scrape``,
``source_username``, ``following_of`` it carries.
"""
from __future__ import annotations

from dataclasses import dataclass

from server.utils.accounts import canonical_platform_id, canonical_username
from server.utils.text import clean_text

INPUT_STYLE_BY_ACTOR = {
    "datadoping/instagram-followers-scraper": "usernames",
    "scraping_solutions/instagram-scraper-followers-following-no-cookies": "account",
    "thenetaji/instagram-followers-followings-scraper": "username",
    "thenetaji/instagram-followers-scraper": "username",
}
SOURCE_FIELDS = ("username_scrape", "source_username", "following_of", "sourceUsername")


def input_style(actor_id: str, configured: str = "auto") -> str:
    """The input shape for ``actor_id``: ``configured`` unless ``auto``; unknown actors get
    ``usernames``."""
    if configured != "auto":
        return configured
    return INPUT_STYLE_BY_ACTOR.get(actor_id.replace("~", "/"), "usernames")


def build_run_input(style: str, accounts: list[str], per_account: int) -> dict:
    """The actor's run input asking for ``per_account`` followers of each of ``accounts``."""
    if style == "account":
        return {"Account": accounts, "resultsLimit": per_account, "dataToScrape": "Followers"}
    if style == "username":
        return {"username": accounts, "type": "followers", "maxItem": per_account}
    return {"usernames": accounts, "max_count": per_account}


@dataclass(frozen=True)
class Follower:
    """One follower as stored: platform id, username, display name and where it was found."""

    profile_id: str
    username: str
    full_name: str
    source_account: str | None
    is_private: bool | None
    is_verified: bool | None


def parse_item(item, default_source: str | None = None) -> Follower | None:
    """A ``Follower`` from one dataset item, or None for an error item or an item without a
    usable id and username (those are counted by the caller, never stored)."""
    if not isinstance(item, dict) or item.get("error") or item.get("errorDescription"):
        return None
    raw_id = item.get("id") or item.get("pk") or item.get("user_id") or item.get("userId")
    profile_id = canonical_platform_id(raw_id)
    username = canonical_username(item.get("username"))
    if profile_id is None or username is None:
        return None
    source = next((item[f] for f in SOURCE_FIELDS if item.get(f)), default_source)
    return Follower(
        profile_id=profile_id,
        username=username,
        full_name=clean_text(item.get("full_name", item.get("fullName")), 256),
        source_account=clean_text(source, 64).lower() or None,
        is_private=_bool(item.get("is_private", item.get("private"))),
        is_verified=_bool(item.get("is_verified", item.get("verified"))),
    )


def _bool(value) -> bool | None:
    return bool(value) if value is not None else None
