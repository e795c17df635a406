"""Loader for the derived first-name -> gender tables in this folder.

Files (built by ``scripts/build_gender_table.py``; see README.md for sources and licences):
  open_names.tsv.gz     WGND 2.0 + US SSA evidence     (CC BY 4.0 / public domain)
  namdict_names.tsv.gz  nam_dict.txt evidence            (GNU FDL 1.2+)
  wgnd_rare.bin.gz      WGND-only rare names as hashes   (CC BY 4.0), see ``load_rare``
  census_surnames.tsv.gz US 2020 census family vs given name bearers (public domain), ``load_surnames``
  suffixes.json.gz      name endings -> gender counts, ``load_suffixes``
  skeletons.json.gz     consonant skeletons for Arabic, Hebrew, Indic, Thai script names, ``load_skeletons``
Each is gzip text: one ``#`` licence line, a header ``key<TAB>llr_female``, then rows.
``key`` is ``names.fold_key`` (ASCII letters) or ``native_key`` (Hangul,
Cyrillic, ... as written); ``llr_female`` is a log-likelihood ratio in nats
(> 0 female, < 0 male), calibrated per source against the other sources.

``load_table()`` returns ``dict[str, float]``: key -> summed log-odds of "female"
over both files; ``load_source(name)`` one file's own values. Built on first call,
then cached for the process (about 230k keys, ~30 MB). Raises ``FileNotFoundError``
if a file is missing.
"""
from __future__ import annotations

import array
import bisect
import functools
import gzip
import itertools
import json
import math
import os
import sys
import zlib

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TABLE_FILES = ("open_names.tsv.gz", "namdict_names.tsv.gz")


def _rows(name: str):
    """(key, log-odds) rows of one table file, streamed."""
    with gzip.open(os.path.join(_DIR, name), "rt", encoding="utf-8") as fh:
        for line in fh:
            if line[0] == "#" or line.startswith("key\t"):
                continue
            k, _, v = line.rstrip("\n").partition("\t")
            yield k, float(v)


@functools.lru_cache(maxsize=None)
def load_source(name: str) -> dict[str, float]:
    """One table file (a name from ``TABLE_FILES``): key -> log-odds "female" (nats).

    Cached separately from ``load_table`` (nam_dict's ~44k keys: a few MB); raises
    ``ValueError`` for a name not in ``TABLE_FILES``.
    """
    if name not in TABLE_FILES:
        raise ValueError(f"unknown table file {name!r}; expected one of {TABLE_FILES}")
    return dict(_rows(name))


@functools.lru_cache(maxsize=1)
def load_table() -> dict[str, float]:
    """Key -> log-odds that the name is female (nats), summed over all table files."""
    table: dict[str, float] = {}
    for name in TABLE_FILES:
        for k, v in _rows(name):
            table[k] = table.get(k, 0.0) + v
    return table


RARE_FILE = "wgnd_rare.bin.gz"


@functools.lru_cache(maxsize=1)
def load_rare() -> tuple[array.array, array.array, float, float]:
    """Rare WGND-only names as sorted CRC32 hash arrays: (female, male, llr_f, llr_m).

    About 2.6M names seen only in WGND 2.0 with a one-sided share; ~10 MB as two
    ``array('I')``. A CRC32 collision with an unrelated word has probability
    ~0.06 % per lookup. Header, encoding and the measured LLRs are in the file.
    """
    with gzip.open(os.path.join(_DIR, RARE_FILE), "rb") as fh:
        data = fh.read()
    hl = int.from_bytes(data[:4], "little")
    head = json.loads(data[4:4 + hl])
    pos = 4 + hl
    sets = []
    for _ in head["sets"]:
        n = int.from_bytes(data[pos:pos + 4], "little")
        ng = int.from_bytes(data[pos + 4:pos + 8], "little")
        gaps = array.array("H")
        gaps.frombytes(data[pos + 8:pos + 8 + 2 * ng])
        if sys.byteorder != "little":
            gaps.byteswap()
        pos += 8 + 2 * ng
        if len(gaps) == n:  # no escapes: fast path
            acc = itertools.accumulate(gaps, initial=-1)
            next(acc)
            vals = array.array("I", acc)
        else:
            out, cur, i = array.array("I"), -1, 0
            while i < len(gaps):
                g = gaps[i]
                if g == 0:
                    g = (gaps[i + 1] << 16) | gaps[i + 2]
                    i += 2
                cur += g
                out.append(cur)
                i += 1
            vals = out
        sets.append(vals)
    return sets[0], sets[1], float(head["llr"]["F"]), float(head["llr"]["M"])


def rare_llr(key: str) -> float | None:
    """Log-odds of "female" for a rare WGND-only key (>= 3 letters), or None."""
    if len(key) < 3:
        return None
    f, m, lf, lm = load_rare()
    h = zlib.crc32(key.encode())
    i = bisect.bisect_left(f, h)
    if i < len(f) and f[i] == h:
        return lf
    i = bisect.bisect_left(m, h)
    if i < len(m) and m[i] == h:
        return lm
    return None


SURNAME_FILE = "census_surnames.tsv.gz"


@functools.lru_cache(maxsize=1)
def load_surnames() -> dict[str, float]:
    """Key -> log ratio (nats, > 0) of family-name to given-name bearers in the US 2020
    census (US Census Bureau, public domain), for keys borne more often as a family name
    ("wilson" 3.0, "kim" 0.6); a key not in the file is borne more often as a given name
    or is in neither census table. About 75k keys."""
    return dict(_rows(SURNAME_FILE))


def surname_ratio(key: str) -> float:
    """``load_surnames()[key]``, or 0.0 for a key not in the file (see there)."""
    return load_surnames().get(key, 0.0)


SKELETON_FILE = "skeletons.json.gz"


@functools.lru_cache(maxsize=1)
def load_skeletons() -> dict[str, dict[str, float]]:
    """Script ("arabic", "hebrew", "indic", "thai") -> consonant skeleton -> log-odds "female"
    (nats). Built from the Latin names nam_dict records for the countries writing the script
    (Thai: the whole open table), where all names of a skeleton agree; see
    ``names.consonant_skeleton`` and ``scripts/build_gender_table.py``."""
    with gzip.open(os.path.join(_DIR, SKELETON_FILE), "rt", encoding="utf-8") as fh:
        return json.load(fh)["tables"]


SUFFIX_FILE = "suffixes.json.gz"


@functools.lru_cache(maxsize=1)
def load_suffixes() -> tuple[dict[str, float], frozenset[int], tuple[int, ...]]:
    """Name-ending model: (ending -> log-odds "female" in nats, CRC32 hashes of common English
    words that are not given names (``is_common_word``), ending lengths longest first). An ending's log-odds is the class-balanced ratio of
    the female and male source names carrying it (add-one), e.g. "-ko" female, "-toshi" male;
    see ``scripts/build_gender_table.py`` (``suffix_model``)."""
    with gzip.open(os.path.join(_DIR, SUFFIX_FILE), "rt", encoding="utf-8") as fh:
        m = json.load(fh)
    tf, tm = m["totals"]
    llr = {s: math.log((f + 1) / tf) - math.log((c + 1) / tm) for s, (f, c) in m["suffixes"].items()}
    return llr, frozenset(m["common_words_crc32"]), tuple(sorted(m["lengths"], reverse=True))


def is_common_word(key: str) -> bool:
    """True if ``key`` is a common English word that is not a given name (wordfreq 3.1.1,
    Zipf >= 4; not in nam_dict, under 1,000 SSA births and 1,000 US census first-name bearers;
    stored as CRC32 hashes in ``suffixes.json.gz``): "brave", "shadow"; not "faith", "miles"."""
    return zlib.crc32(key.encode()) in load_suffixes()[1]


def suffix_llr(key: str) -> float | None:
    """Log-odds "female" from the longest known ending (2-5 letters) of ``key`` (ASCII, >= 4
    letters, not a common English word), or None."""
    if len(key) < 4:
        return None
    llr, common, lengths = load_suffixes()
    if zlib.crc32(key.encode()) in common:
        return None
    for n in lengths:
        if len(key) > n:
            v = llr.get(key[-n:])
            if v is not None:
                return v
    return None


SYLLABLE_FILE = "pinyin_syllables.json"


@functools.lru_cache(maxsize=1)
def load_syllables() -> tuple[dict[str, float], dict[str, float], float, float]:
    """Pinyin syllable model: (first-syllable LLRs, second-syllable LLRs, a, b).

    Log-odds "female" of a two-syllable pinyin given name s1+s2 is
    ``a * (first[s1] + second[s2]) + b`` (naive Bayes over WGND 2.0 two-syllable
    names, Platt-scaled on held-out WGND names; see ``scripts/build_gender_table.py``).
    """
    with open(os.path.join(_DIR, SYLLABLE_FILE), encoding="utf-8") as fh:
        m = json.load(fh)
    return m["first"], m["second"], float(m["a"]), float(m["b"])


def syllable_llr(key: str) -> float | None:
    """Log-odds "female" for ``key`` if it splits uniquely into two pinyin syllables, else None.

    A key that is itself one syllable ("wang", "xian") is a one-character name: None.
    """
    if not 2 <= len(key) <= 12:
        return None
    first, second, a, b = load_syllables()
    if key in first or key in second:  # one syllable ("wang"), not two ("wa" + "ng")
        return None
    hit = None
    for i in range(1, len(key)):
        if key[:i] in first and key[i:] in second:
            if hit is not None:
                return None
            hit = i
    if hit is None:
        return None
    return a * (first[key[:hit]] + second[key[hit:]]) + b
