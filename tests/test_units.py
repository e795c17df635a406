"""Pure functions of the scrape pipeline: account normalisation, text cleaning, actor items,
per-account caps, settings validation."""
from __future__ import annotations

import pytest

from server.settings import Settings, SettingsError
from server.utils.accounts import normalise_accounts, normalise_username
from server.utils.scrape.actor import build_run_input, input_style, parse_item
from server.utils.scrape.create import per_account_limit
from server.utils.scrape.writer import KeptProfile, dedupe
from server.utils.text import clean_text


@pytest.mark.parametrize("raw, expected", [
    ("nike", "nike"), ("@Nike", "nike"), ("  nike  ", "nike"), ("https://www.instagram.com/nike/", "nike"),
    ("instagram.com/Nike?hl=en", "nike"), ("http://m.instagram.com/nat.geo_1", "nat.geo_1"),
    ("a" * 30, "a" * 30),
])
def test_usernames_are_normalised(raw, expected):
    assert normalise_username(raw) == (expected, None)


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"), ("@", "empty"), ("a" * 31, "longer than 30 characters"), ("nike!", "may contain"),
    ("ni ke", "may contain"), ("nike\n", None), ("ñike", "may contain"), ("...", "may not start"),
    (".nike", "may not start"), ("nike.", "may not start"), ("ni..ke", "may not start"),
    ("https://instagram.com/p/abc/", "not a profile link"), ("instagram.com/reel/Cxyz/", "not a profile link"),
    ("https://www.instagram.com/stories/nike/123/", "not a profile link"),
    ("https://instagram.com/explore/tags/cats/", "not a profile link"),
])
def test_bad_usernames_are_rejected_with_a_reason(raw, reason):
    username, why = normalise_username(raw)
    if reason is None:  # a trailing newline is whitespace, stripped like any other
        assert username == "nike"
    else:
        assert username is None and why.startswith(reason)


def test_accounts_are_deduplicated_in_order_with_rejects_reported():
    out = normalise_accounts(["b", "@A", "a", "bad name", "B"])
    assert out.accepted == ["b", "a"]
    assert out.duplicates == 2
    assert out.rejected == [{"index": 3, "value": "bad name", "reason": "may contain only letters, digits, '.' and '_'"}]


def test_text_is_cleaned_of_nul_controls_and_lone_surrogates():
    assert clean_text("Ana\x00 María\ud800\x07") == "Ana María"
    assert clean_text("x" * 500, 256) == "x" * 256
    assert clean_text(None) == "" and clean_text(123) == "123"
    assert clean_text("🌸 Jess 🌸") == "🌸 Jess 🌸"


def test_actor_input_shapes_follow_the_actor():
    assert input_style("datadoping/instagram-followers-scraper") == "usernames"
    assert input_style("scraping_solutions~instagram-scraper-followers-following-no-cookies") == "account"
    assert input_style("someone/unknown-actor") == "usernames"
    assert input_style("someone/unknown-actor", "account") == "account"
    assert build_run_input("usernames", ["a"], 5) == {"usernames": ["a"], "max_count": 5}
    assert build_run_input("account", ["a"], 5) == {"Account": ["a"], "resultsLimit": 5, "dataToScrape": "Followers"}
    assert build_run_input("username", ["a"], 5) == {"username": ["a"], "type": "followers", "maxItem": 5}


def test_items_of_every_shape_are_parsed():
    a = parse_item({"username": "Jane.Doe", "full_name": "Jane\x00 Doe", "id": "123", "is_private": False,
                    "source_username": "Nike"})
    assert (a.profile_id, a.username, a.full_name, a.source_account, a.is_private) == ("123", "jane.doe", "Jane Doe", "nike", False)
    b = parse_item({"username_scrape": "nasa", "type": "Followers", "id": "9", "username": "x", "full_name": "X"})
    assert b.source_account == "nasa"
    c = parse_item({"id": 7, "username": "y", "fullName": "Y"}, default_source="solo")
    assert (c.profile_id, c.full_name, c.source_account) == ("7", "Y", "solo")


@pytest.mark.parametrize("item", [
    {"error": "private_account", "errorDescription": "private", "username_scrape": "x"},
    {"username": "x"}, {"id": "12"}, {"id": "abc", "username": "x"}, "not a dict", None,
])
def test_error_and_unusable_items_are_not_profiles(item):
    assert parse_item(item) is None


def test_in_batch_duplicates_keep_the_first():
    rows = [KeptProfile(pid, u, "", "female", 0.9, "first_name", None, None, None)
            for pid, u in (("1", "a"), ("2", "b"), ("1", "c"))]
    assert [(r.profile_id, r.username) for r in dedupe(rows)] == [("1", "a"), ("2", "b")]


def test_per_account_cap_buys_only_what_the_total_needs():
    assert per_account_limit(120, 5000, "female", 1000) == 92  # ceil(5000 * 1.1 / (120 * 0.5))
    assert per_account_limit(3, 250, "any", 1000) == 92
    assert per_account_limit(10, None, "female", 1000) == 1000
    assert per_account_limit(1, 10_000_000, "any", 1000) == 100_000


def test_settings_name_every_missing_or_bad_variable(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "APIFY_API_KEY", "AIRTABLE_ACCESS_TOKEN", "AIRTABLE_BASE_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(num_va_tables=0)
    message = str(exc.value)
    for name in ("DATABASE_URL is required", "REDIS_URL is required", "APIFY_API_KEY is required",
                 "AIRTABLE_BASE_ID is required", "NUM_VA_TABLES"):
        assert name in message


def test_settings_reject_a_visibility_timeout_shorter_than_tasks(monkeypatch):
    monkeypatch.setenv("BROKER_VISIBILITY_TIMEOUT", "600")
    with pytest.raises(SettingsError, match="BROKER_VISIBILITY_TIMEOUT"):
        Settings.from_env(database_url="postgresql://x/y", redis_url="redis://x", apify_api_key="k",
                          airtable_access_token="t", airtable_base_id="appAAAAAAAAAAAAAA")


def test_env_example_lists_every_setting():
    from pathlib import Path
    text = Path(__file__).resolve().parents[1].joinpath(".env.example").read_text()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in text]
    assert missing == []


def test_worker_main_process_loads_the_name_tables_before_forking_its_pool():
    """Pool processes (and their replacements) are forked with the gender tables already loaded,
    and the pool waits long enough for a process started on a loaded machine."""
    import subprocess
    import sys

    code = """
from celery.signals import worker_init
from server.celery_config import create_celery
from server.settings import Settings
from server.utils.gender import detector
app = create_celery(Settings.from_env(database_url="postgresql://x/y", redis_url="redis://127.0.0.1:1",
                    apify_api_key="k", airtable_access_token="t", airtable_base_id="appAAAAAAAAAAAAAA",
                    environment="test"))
assert detector._T is None
worker_init.send(sender=None)
print(detector._T is not None, app.conf.worker_proc_alive_timeout)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded, alive_timeout = out.stdout.split()
    assert loaded == "True" and float(alive_timeout) >= 30
