"""Run datasets of the stand-in: built lazily from a ScrapeSpec, items rendered per page.

A dataset keeps, per source account, only the population indices of its followers (or one
error item), so a 500,000-item dataset costs a few MB; items are rendered on demand by
``page()``. Paging follows ``GET /v2/datasets/{id}/items`` (offset, limit, desc, fields, omit).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from standins.apify import shapes
from standins.followers import follower_indices, person


@dataclass
class Segment:
    """One account's slice of a dataset: follower ``indices`` or a single error ``item``."""

    source: str
    indices: list[int] | None = None
    item: dict | None = None

    def __len__(self) -> int:
        return 1 if self.item is not None else len(self.indices or ())


@dataclass
class Dataset:
    """Items of one run. ``total`` is the item count; empty until the run has finished."""

    id: str
    shape: str = shapes.SHAPE_USERNAMES
    relation: str = "followers"
    segments: list[Segment] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    total: int = 0

    def fill(self, segments: list[Segment]) -> None:
        """Replace the content with ``segments`` (called once, when the run terminates)."""
        starts, pos = [], 0
        for seg in segments:
            starts.append(pos)
            pos += len(seg)
        # ``total`` last: concurrent readers only index into segments once they see items.
        self._starts, self.segments = starts, segments
        self.total = pos

    def item(self, i: int) -> dict:
        """Item at position ``i`` (0 <= i < total) in the actor's output shape."""
        k = bisect.bisect_right(self._starts, i) - 1
        seg = self.segments[k]
        if seg.item is not None:
            return dict(seg.item)
        return shapes.follower_item(self.shape, seg.source, person(seg.indices[i - self._starts[k]]),
                                    self.relation)

    def page(self, offset: int, count: int, desc: bool = False) -> list[dict]:
        """``count`` items starting ``offset`` positions from the start (or from the end if ``desc``)."""
        offset = max(0, offset)
        count = max(0, min(count, self.total - offset))
        if desc:
            return [self.item(self.total - 1 - (offset + j)) for j in range(count)]
        return [self.item(offset + j) for j in range(count)]


def planned_total(spec: shapes.ScrapeSpec, max_items: int | None, outcomes: dict[str, str] | None = None) -> int:
    """Items a complete run of ``spec`` would emit, capped by ``max_items``. ``outcomes`` maps an
    account to what it gives instead of followers (``shapes.OUTCOMES``): an error item counts
    as one item, an empty account as none."""
    total = 0
    for acct in spec.accounts:
        total += _account_len(spec, (outcomes or {}).get(acct))
    return total if max_items is None else min(total, max_items)


def _account_len(spec: shapes.ScrapeSpec, outcome: str | None) -> int:
    if outcome == shapes.EMPTY:
        return 0
    return 1 if outcome else spec.per_account


def build_segments(spec: shapes.ScrapeSpec, limit: int, outcomes: dict[str, str] | None = None) -> list[Segment]:
    """The first ``limit`` items of ``spec`` as segments, accounts in input order (``outcomes``
    as for ``planned_total``)."""
    out: list[Segment] = []
    remaining = limit
    for acct in spec.accounts:
        if remaining <= 0:
            break
        outcome = (outcomes or {}).get(acct)
        if outcome == shapes.EMPTY:
            continue
        if outcome:
            out.append(Segment(acct, item=shapes.error_item(spec.shape, acct, outcome, spec.relation)))
            remaining -= 1
            continue
        n = min(spec.per_account, remaining)
        out.append(Segment(acct, indices=follower_indices(acct, n, spec.relation)))
        remaining -= n
    return out


def project(item: dict, fields: list[str] | None, omit: list[str] | None) -> dict:
    """Apply the ``fields`` (keep, in that order) and ``omit`` (drop) query options to one item."""
    if fields:
        item = {k: item[k] for k in fields if k in item}
    if omit:
        item = {k: v for k, v in item.items() if k not in omit}
    return item
