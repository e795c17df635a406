"""Error and placeholder items: every form ``items.py`` documents, in every actor shape the
stand-in emits, is recognised with its kind and source account, and never taken for a follower."""
from __future__ import annotations

import pytest

from server.utils.scrape.items import Follower, SourceError, Unusable, classify_item, error_kind
from standins.apify import shapes
from standins.followers import generate_followers

KINDS = {shapes.PRIVATE: "private", shapes.NOT_FOUND: "not_found", shapes.RATE_LIMITED: "rate_limited"}


@pytest.mark.parametrize("shape", shapes.SHAPES)
@pytest.mark.parametrize("outcome", shapes.ERROR_OUTCOMES)
def test_standin_error_items_of_every_shape_are_recognised(shape, outcome):
    # an account name holding another kind's word must not change the kind
    source = "private_notfound_shop" if outcome != shapes.PRIVATE else "missing_or_limited"
    item = shapes.error_item(shape, source, outcome)
    parsed = classify_item(item, default_source=None)
    assert isinstance(parsed, SourceError), item
    assert (parsed.kind, parsed.source_account) == (KINDS[outcome], source)
    assert parsed.message


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_followers_of_every_shape_stay_followers_even_when_private(shape):
    follower = next(f for f in generate_followers("nike", 200) if f.is_private)  # a follower's own privacy
    parsed = classify_item(shapes.follower_item(shape, "nike", follower))
    assert isinstance(parsed, Follower) and parsed.is_private is True
    assert (parsed.profile_id, parsed.source_account) == (follower.id, "nike")


@pytest.mark.parametrize("item,kind,source", [
    ({"error": True, "message": "Login required", "input": "@Brand"}, "rate_limited", "brand"),
    ({"error": {"type": "user-not-found", "message": "No user"}, "url": "https://www.instagram.com/gone/"},
     "not_found", "gone"),
    ({"errorMessage": "Profile is private", "username": "locked"}, "private", "locked"),
    ({"#error": True, "#debug": {"requestUrl": "https://www.instagram.com/x_y/", "errorMessages": ["boom"]}},
     "failed", "x_y"),
    ({"success": False, "reason": "Too many requests", "source_username": "busy"}, "rate_limited", "busy"),
    ({"username_scrape": "acct", "username": "acct", "id": "1", "is_private": True}, "private", "acct"),
    ({"source_username": "acct", "private": True}, "private", "acct"),
    ({"sourceIsPrivate": True, "username": "someone", "id": "5", "following_of": "club"}, "private", "club"),
])
def test_each_documented_error_form(item, kind, source):
    parsed = classify_item(item)
    assert isinstance(parsed, SourceError)
    assert (parsed.kind, parsed.source_account) == (kind, source)


def test_error_item_without_a_source_takes_the_chunks_only_account():
    parsed = classify_item({"error": "not_found"}, default_source="solo")
    assert (parsed.kind, parsed.source_account) == ("not_found", "solo")


def test_unusable_items_are_neither_followers_nor_errors():
    assert classify_item({"username": "x", "source_username": "s"}) == Unusable("s")
    assert classify_item("text", "solo") == Unusable("solo")


def test_error_kind_words():
    assert error_kind("Account @private_one does not exist") == "not_found"
    assert error_kind("429 Too Many Requests") == "rate_limited"
    assert error_kind("This account is private") == "private"
    assert error_kind("something else broke") == "failed"
