"""Reading a run's dataset page by page with a few pages read ahead.

Dataset reads mostly wait on the network (Apify's API is a round trip away), so the next few
pages are asked for while the current one is parsed. Pages still come out in dataset order,
each exactly where the previous one ended: Apify may return fewer items than asked for before
the end of a dataset (apify-client-python#539), and such a short page makes the pages asked
for after it start at the wrong place, so they are dropped and asked for again from where the
short page really ended.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

PAGE_SIZE = 1000  # items per request; one page becomes one insert batch (writer.py)
READ_AHEAD = 3  # requests in flight at most


def read_pages(dataset, offset: int, page_size: int = PAGE_SIZE, read_ahead: int = READ_AHEAD) -> Iterator:
    """Yield the pages of ``dataset`` (an apify-client ``DatasetClient``) from ``offset`` to the
    end, in order, each a ``ListPage`` whose ``items`` start right after the previous page's.

    The first page is read alone (it tells the dataset's ``total``); after it up to
    ``read_ahead`` requests of ``page_size`` items are in flight. Stops at an empty page or at
    ``total``. Errors of a read are raised when its page is due. Closing the generator early
    waits for the reads in flight (at most ``read_ahead``) and drops them."""
    pool = ThreadPoolExecutor(max_workers=read_ahead, thread_name_prefix="dataset-read")
    pending: deque[tuple[int, Future]] = deque()
    try:
        pending.append((offset, pool.submit(dataset.list_items, offset=offset, limit=page_size)))
        while pending:
            start, future = pending.popleft()
            page = future.result()
            if not page.items:
                return
            end = start + len(page.items)
            if len(page.items) < min(page_size, page.total - start):  # a short page: re-plan from its end
                _drop(pending)
            planned = pending[-1][0] + page_size if pending else end
            while len(pending) < read_ahead and planned < page.total:
                pending.append((planned, pool.submit(dataset.list_items, offset=planned, limit=page_size)))
                planned += page_size
            yield page
    finally:
        _drop(pending)
        pool.shutdown(wait=True, cancel_futures=True)


def _drop(pending: deque) -> None:
    """Forget the reads in ``pending`` (those not started yet are cancelled)."""
    while pending:
        pending.popleft()[1].cancel()
