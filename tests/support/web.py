"""A live gunicorn for tests that talk HTTP like a real client (browser, command line).
Import the ``web`` fixture into a test module to use it."""
from __future__ import annotations

import pytest

from tests.support.processes import start_web


@pytest.fixture(scope="module")
def web(stack, tmp_path_factory):
    """gunicorn serving the app on a free port with the test stack's environment (chunks of
    2 accounts, so a small scrape has several chunks); yields its base URL."""
    process = start_web(tmp_path_factory.mktemp("web-logs"), {**stack.env, "CHUNK_SIZE": "2"})
    yield process.url
    process.stop()
