"""Actor input parsing and output item shapes of the Instagram follower actors the stand-in mimics.

Input shape -> output shape (chosen by the input's keys, checked in this order):

- ``Account`` (scraping_solutions): ``{"Account": [...], "resultsLimit": N, "dataToScrape": "Followers"}``
  -> ``{username_scrape, type, id, username, full_name, is_private, is_verified, profile_pic_url}``
- ``usernames`` (datadoping): ``{"usernames": [...], "max_count": N}``
  -> ``{username, full_name, id, is_private, is_verified, profile_pic_url, source_username}``
- ``username`` (thenetaji): ``{"username": [...], "type": "followers", "maxItem": N}``
  -> ``{id, username, full_name, profile_pic_url, is_private, is_verified, source_username}``

``N`` is the per-account cap. A source account that gives no followers yields one error item
instead, in the form its actor uses (``error_item``): ``private_*`` names (or accounts picked by
a fault switch) are private, ``missing_*`` do not exist, ``ratelimited_*`` hit Instagram's rate
limit; ``empty_*`` names (or accounts picked by a fault switch) are public accounts whose
follower list comes back with no item at all.

Error item forms per shape (the service recognises each of them):
- ``usernames``: ``{"error": "<code>", "errorDescription": "...", "source_username": acct}``
- ``Account``: private -> the source's own profile item with ``is_private: true``
  (``username`` equals ``username_scrape``); not found / rate limited ->
  ``{"username_scrape": acct, "type": "Followers", "success": false, "message": "..."}``
- ``username``: ``{"#error": true, "#debug": {"requestUrl": ..., "errorMessages": ["..."]},
  "source_username": acct}``
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from standins.followers import (Follower, account_fraction, account_key, follower_indices,
                                normalize_account, person)

SHAPE_ACCOUNT = "Account"
SHAPE_USERNAMES = "usernames"
SHAPE_USERNAME = "username"
SHAPES = (SHAPE_USERNAMES, SHAPE_ACCOUNT, SHAPE_USERNAME)
SOURCE_FIELD = {SHAPE_USERNAMES: "source_username", SHAPE_ACCOUNT: "username_scrape",
                SHAPE_USERNAME: "source_username"}
DEFAULT_PER_ACCOUNT = 100
MAX_PER_ACCOUNT = 10_000_000

PRIVATE = "private_account"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
EMPTY = "empty"
OUTCOMES = (PRIVATE, NOT_FOUND, RATE_LIMITED, EMPTY)  # what an account can give instead of followers
ERROR_OUTCOMES = (PRIVATE, NOT_FOUND, RATE_LIMITED)  # those that emit one error item
ERROR_DESCRIPTIONS = {
    PRIVATE: "Account @{acct} is private; its followers are not visible.",
    NOT_FOUND: "Account @{acct} does not exist or is unavailable.",
    RATE_LIMITED: "Instagram answered 429 Too Many Requests while reading the followers of @{acct}; "
                  "rate limited, try again later.",
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


def account_outcome(account: str, *, private_share: float = 0.0, private_accounts=(),
                    not_found_accounts=(), rate_limited_accounts=(), empty_accounts=()) -> str | None:
    """What a normalized source account gives instead of followers: one of ``OUTCOMES``, or
    ``None`` when it gives its followers.

    By name: ``missing_*`` not found, ``private_*`` private, ``ratelimited_*`` rate limited,
    ``empty_*`` empty. By fault switch: the accounts listed in ``*_accounts``; with
    ``private_share`` > 0 that share of all accounts (stable per name) is private too.
    """
    if account.startswith("missing_") or account in not_found_accounts:
        return NOT_FOUND
    if account.startswith("private_") or account in private_accounts:
        return PRIVATE
    if account.startswith("ratelimited_") or account in rate_limited_accounts:
        return RATE_LIMITED
    if account.startswith("empty_") or account in empty_accounts:
        return EMPTY
    if private_share > 0 and account_fraction(account) < private_share:
        return PRIVATE
    return None


def account_error(account: str, *, private_share: float = 0.0, private_accounts=()) -> str | None:
    """``account_outcome`` limited to the outcomes that emit an error item (kept for callers
    that only know the private switches)."""
    outcome = account_outcome(account, private_share=private_share, private_accounts=private_accounts)
    return outcome if outcome in ERROR_OUTCOMES else None


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


def error_item(shape: str, source: str, kind: str, relation: str = "followers") -> dict:
    """The error item the actor of ``shape`` emits for an unusable source account; ``kind`` is
    one of ``ERROR_OUTCOMES`` (see the module doc for the form of each shape)."""
    message = ERROR_DESCRIPTIONS[kind].format(acct=source)
    if shape == SHAPE_ACCOUNT:
        kind_label = "Followers" if relation == "followers" else "Following"
        if kind == PRIVATE:  # the actor returns the source's own profile, flagged private
            own_id = str(10_000_000_000 + account_key(source) % 10**9)
            return {"username_scrape": source, "type": kind_label, "id": own_id, "username": source,
                    "full_name": "", "is_private": True, "is_verified": False, "profile_pic_url": ""}
        return {"username_scrape": source, "type": kind_label, "success": False, "message": message}
    if shape == SHAPE_USERNAME:
        return {"#error": True, "#debug": {"requestUrl": f"https://www.instagram.com/{source}/",
                                           "errorMessages": [message]}, "source_username": source}
    return {"error": kind, "errorDescription": message, SOURCE_FIELD[shape]: source}


def account_items(shape: str, source: str, count: int, *, relation: str = "followers",
                  private_share: float = 0.0, private_accounts=()) -> Iterator[tuple[dict, Follower | None]]:
    """Yield ``(item, follower)`` for one account, as the stand-in emits them (follower None for
    error items; nothing at all for an empty account)."""
    outcome = account_outcome(source, private_share=private_share, private_accounts=private_accounts)
    if outcome == EMPTY:
        return
    if outcome:
        yield error_item(shape, source, outcome, relation), None
        return
    for idx in follower_indices(source, count, relation):
        f = person(idx)
        yield follower_item(shape, source, f, relation), f
