"""The detector's calibration constants, weights and thresholds (``data/tuning.json``).

Every value in the file is chosen by k-fold cross-validation over the benchmark's
development half (``bench/gender_cv.py --write`` rewrites the file, with the per-fold
figures it measured; ``rare_llr`` is measured there rather than searched); nothing here
is set by hand. ``load_tuning()`` reads the file
on first call (cached); the detector uses it unless a caller installs another
``Tuning`` (the cross-validation does, per grid point).

Fields
------
``min_probability``  posterior (0.5-1.0) needed to answer; below it: unknown.
``rare_llr``         log-odds (nats, > 0) of a name known only as a one-off WGND
                     record (``lookup.rare_llr``), measured on dev.csv, which holds none
                     of the sources; the table builder's own value (5.75) was circular
                     (WGND contains the US SSA records it was measured on).
``username_weight``  weight (0-1) of a lone or glued username chunk.
``east_asian_scale`` weight (0-1) of the name table's evidence for a given name next
                     to a Chinese or Korean family name (romanised given names of
                     those languages are spelled alike for both genders).
``east_asian_cap``   largest log-odds (nats) such a name's table evidence may reach
                     after the scale.
``surname_margin``   log ratio (nats) of US-census surname bearers to given-name
                     bearers above which a leading token is read as a family name
                     (``wilson.emma``); ``names.surname_ratio``.
``suffix_weight``    weight (0-1) of the name-ending model (``lookup.suffix_llr``) for a
                     given name in no source ("Munetoshi", "Shiriki"); 0 turns it off.
``pinyin_scale``     scale of the pinyin syllable model's log-odds (its Platt scaling was
                     fitted on WGND's romanised names, not on people's names as written).
Raises ``FileNotFoundError`` / ``KeyError`` if the file is missing or incomplete.
"""
from __future__ import annotations

import functools
import json
import math
import os
from typing import NamedTuple

TUNING_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tuning.json")


class Tuning(NamedTuple):
    """One set of tunable values (see module doc); ``cut`` is ``min_probability`` as log-odds."""

    min_probability: float
    rare_llr: float
    username_weight: float
    east_asian_scale: float
    east_asian_cap: float
    surname_margin: float
    suffix_weight: float
    pinyin_scale: float

    @property
    def cut(self) -> float:
        """``min_probability`` as log-odds (nats)."""
        return math.log(self.min_probability / (1.0 - self.min_probability))


@functools.lru_cache(maxsize=1)
def load_tuning() -> Tuning:
    """The shipped values from ``data/tuning.json`` (key ``"chosen"``)."""
    with open(TUNING_FILE, encoding="utf-8") as fh:
        chosen = json.load(fh)["chosen"]
    return Tuning(**{f: float(chosen[f]) for f in Tuning._fields})
