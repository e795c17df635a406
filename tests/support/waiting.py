"""Waiting in tests for something another process does (a worker, a stand-in, a server)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 30.0, every: float = 0.05) -> T:
    """Call ``check()`` until it returns something truthy; returns that, or fails (an
    ``AssertionError`` showing the last value) after ``timeout`` seconds. ``every`` is the
    pause between calls, in seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout}s"
        time.sleep(every)
