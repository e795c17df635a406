"""Actor input parsing and output item shapes of the Instagram follower actors the stand-in mimics.

Input shape -> output shape (chosen by the input's keys, checked in this order):

- ``Account`` (scraping_solutions): ``{"Account": [...], "resultsLimit": N, "dataToScrape": "Followers"}``
  -> ``{username_scrape, type, id, username, full_name, is_private, is_verified, profile_pic_url}``
- ``usernames`` (datadoping): ``{"usernames": [...], "max_count": N}``
  -> ``{username, full_name, id, is_private, is_verified, profile_pic_url, source_username}``
- ``username`` (thenetaji): ``{"username": [...], "type": "followers", "maxItem": N}``
  -> ``{id, username, full_name, profile_pic_url, is_private, is_verified, source_username}``

``N`` is the per-account cap. Source accounts named ``private_*`` (or picked by a fault switch)
yield one ``{"error": "private_account", ...}`` item, ``missing_*`` one ``not_found`` item.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from standins.followers import (Follower, account_fraction, follower_indices, normalize_account,
                                person)

SHAPE_ACCOUNT = "Account"
SHAPE_USERNAMES = "usernames"
SHAPE_USERNAME = "username"
SHAPES = (SHAPE_USERNAMES, SHAPE_ACCOUNT, SHAPE_USERNAME)
SOURCE_FIELD = {SHAPE_USERNAMES: "source_username", SHAPE_ACCOUNT: "username_scrape",
                SHAPE_USERNAME: "source_username"}
DEFAULT_PER_ACCOUNT = 100
MAX_PER_ACCOUNT = 10_000_000

ERROR_DESCRIPTIONS = {
    "private_account": "Account @{acct} is private; its followers are not visible.",
    "not_found": "Account @{acct} does not exist or is unavailable.",
}


class InputError(ValueError):
    """The run input matches no supported actor input; the message becomes the run's statusMessage."""


@dataclass(frozen=True)
class ScrapeSpec:
    """What one run scrapes: output ``shape``, normalized ``accounts``, ``per_account`` cap, ``relation``."""

    shape: str
    accounts: tuple[str, ...]
    per_account: int
    relation: str  # "followers" | "following"


def _accounts(value, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InputError(f"Input field '{key}' must be a non-empty array of usernames.")
    out: dict[str, None] = {}
    for v in value:
        if not isinstance(v, str) or not normalize_account(v):
            raise InputError(f"Input field '{key}' contains an invalid username: {v!r}.")
        out.setdefault(normalize_account(v), None)
    return tuple(out)


def _limit(run_input: dict, *keys: str) -> int:
    for key in keys:
        if key in run_input and run_input[key] is not None:
            v = run_input[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_PER_ACCOUNT:
                raise InputError(f"Input field '{key}' must be an integer between 1 and {MAX_PER_ACCOUNT}.")
            return v
    return DEFAULT_PER_ACCOUNT


def parse_input(run_input) -> ScrapeSpec:
    """Map an actor run input (decoded JSON) to a ``ScrapeSpec``; raises ``InputError`` if unsupported."""
    if not isinstance(run_input, dict):
        raise InputError("Input is missing or not a JSON object.")
    if "Account" in run_input:
        what = str(run_input.get("dataToScrape", "Followers"))
        if what not in ("Followers", "Following"):
            raise InputError("Input field 'dataToScrape' must be 'Followers' or 'Following'.")
        return ScrapeSpec(SHAPE_ACCOUNT, _accounts(run_input["Account"], "Account"),
                          _limit(run_input, "resultsLimit"), what.lower())
    if "usernames" in run_input:
        return ScrapeSpec(SHAPE_USERNAMES, _accounts(run_input["usernames"], "usernames"),
                          _limit(run_input, "max_count", "maxCount"), "followers")
    if "username" in run_input:
        kind = str(run_input.get("type", "followers")).lower()
        if kind not in ("followers", "followings", "following"):
            raise InputError("Input field 'type' must be 'followers' or 'followings'.")
        return ScrapeSpec(SHAPE_USERNAME, _accounts(run_input["username"], "username"),
                          _limit(run_input, "maxItem", "max_count"),
                          "followers" if kind == "followers" else "following")
    raise InputError("Input does not match this actor: expected 'usernames', 'Account' or 'username'.")


def account_error(account: str, *, private_share: float = 0.0, private_accounts=()) -> str | None:
    """``"private_account"``, ``"not_found"`` or ``None`` for a normalized source account.

    ``private_*`` names and names listed in ``private_accounts`` are private; with
    ``private_share`` > 0 that share of all accounts (stable per name) is private too.
    """
    if account.startswith("missing_"):
        return "not_found"
    if account.startswith("private_") or account in private_accounts:
        return "private_account"
    if private_share > 0 and account_fraction(account) < private_share:
        return "private_account"
    return None


def follower_item(shape: str, source: str, f: Follower, relation: str = "followers") -> dict:
    """The actor's output item for follower ``f`` of ``source`` (key order as the real actor)."""
    if shape == SHAPE_ACCOUNT:
        return {"username_scrape": source, "type": "Followers" if relation == "followers" else "Following",
                "id": f.id, "username": f.username, "full_name": f.full_name, "is_private": f.is_private,
                "is_verified": f.is_verified, "profile_pic_url": f.profile_pic_url}
    if shape == SHAPE_USERNAME:
        return {"id": f.id, "username": f.username, "full_name": f.full_name,
                "profile_pic_url": f.profile_pic_url, "is_private": f.is_private,
                "is_verified": f.is_verified, "source_username": source}
    return {"username": f.username, "full_name": f.full_name, "id": f.id, "is_private": f.is_private,
            "is_verified": f.is_verified, "profile_pic_url": f.profile_pic_url, "source_username": source}


def error_item(shape: str, source: str, kind: str) -> dict:
    """Error item ``{"error", "errorDescription", <source field>}`` for an unusable source account."""
    return {"error": kind, "errorDescription": ERROR_DESCRIPTIONS[kind].format(acct=source),
            SOURCE_FIELD[shape]: source}


def account_items(shape: str, source: str, count: int, *, relation: str = "followers",
                  private_share: float = 0.0, private_accounts=()) -> Iterator[tuple[dict, Follower | None]]:
    """Yield ``(item, follower)`` for one account, as the stand-in emits them (follower None for errors)."""
    err = account_error(source, private_share=private_share, private_accounts=private_accounts)
    if err:
        yield error_item(shape, source, err), None
        return
    for idx in follower_indices(source, count, relation):
        f = person(idx)
        yield follower_item(shape, source, f, relation), f
