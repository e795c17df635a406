"""What celery beat does for the tests: one task sent on a fixed beat from a background thread
(``scrape.poll_runs``, so runs whose webhook never comes are still collected; ``jobs.reap_stale``)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from celery import Celery


@contextmanager
def send_on_beat(celery: Celery, task: str, every: float) -> Iterator[threading.Thread]:
    """While the block runs, send the task named ``task`` (no arguments) through ``celery``
    every ``every`` seconds, as beat does in production. A broker that is away (at the end of
    the run, or down on purpose) only skips ticks: beat would try again at its next one too.
    Yields the thread; on exit it is stopped and joined (``every`` + 5 s at most)."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            try:
                celery.send_task(task)
            except Exception:  # noqa: BLE001 - a missed tick is what beat would live with too
                pass

    thread = threading.Thread(target=tick, name=f"test-beat-{task}", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(every + 5)
