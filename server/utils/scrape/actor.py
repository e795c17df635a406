"""The Instagram follower actors the service can drive: their input and output shapes.

Facts from shared/reference/apify.md §11:
- ``datadoping/instagram-followers-scraper``: input ``{"usernames": [...], "max_count": N}``;
  items ``username, full_name, id, is_private, is_verified, profile_pic_url``.
- ``scraping_solutions/instagram-scraper-followers-following-no-cookies``: input
  ``{"Account": [...], "resultsLimit": N, "dataToScrape": "Followers"}``; items add
  ``username_scrape`` (the source account) and ``type``.
- ``thenetaji/instagram-followers-followings-scraper``: input
  ``{"username": [...], "type": "followers", "maxItem": N}``.
The source account of an item, and the error and placeholder items the actors emit, are read
by ``items.py``.
"""
from __future__ import annotations

from server.utils.scrape.items import Follower, classify_item

INPUT_STYLE_BY_ACTOR = {
    "datadoping/instagram-followers-scraper": "usernames",
    "scraping_solutions/instagram-scraper-followers-following-no-cookies": "account",
    "thenetaji/instagram-followers-followings-scraper": "username",
    "thenetaji/instagram-followers-scraper": "username",
}


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


def input_accounts(style: str, run_input) -> list[str] | None:
    """The source accounts a run input of ``style`` asks for (as ``build_run_input`` wrote
    them), or None when ``run_input`` is not such an input."""
    key = {"account": "Account", "username": "username"}.get(style, "usernames")
    accounts = run_input.get(key) if isinstance(run_input, dict) else None
    return accounts if isinstance(accounts, list) else None


def parse_item(item, default_source: str | None = None) -> Follower | None:
    """A ``Follower`` from one dataset item, or None for an error item or an item without a
    usable id and username (``items.classify_item`` tells which; neither is ever stored)."""
    parsed = classify_item(item, default_source)
    return parsed if isinstance(parsed, Follower) else None
