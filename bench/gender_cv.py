#!/usr/bin/env python3
"""Choose the gender detector's tunable values by k-fold cross-validation over dev.csv.

Every field of ``server.utils.gender.tuning.Tuning`` is chosen here, nothing by hand:

1. dev.csv's f/m rows are split into ``--folds`` folds (default 5), stratified by label,
   in an order fixed by CRC32 of the full name (deterministic, no random state).
2. Outer loop: each fold in turn is held out. On the other folds every grid point is
   scored; a point is *admissible* when on each of those folds errorCodedWithoutNA stays
   at or below ``--max-wrong`` (default 0.03, the target) and on their union at or below
   ``--wrong-budget`` (default 0.025: margin for a half the code has never seen),
   |errorGenderBias| <= 0.01, and no likely origin of the name (``gender_eval.likely_origin``;
   groups with 50 or more answers) has more than ``--group-max-wrong`` (default 0.10) of its
   answers wrong, so that one language's regression cannot hide in the average. Among admissible points the one with the lowest mean
   errorCoded wins (ties: the lowest worst-fold errorCodedWithoutNA). The winner is then
   measured on the held-out fold. The held-out figures, mean +- standard deviation and
   worst fold, estimate what the chosen rule gives on names it has not been tuned on.
3. The shipped values are the same rule applied to all folds at once.
``rare_llr`` is measured, not searched (``calibrate_rare``): the share of first names known only
as one-off WGND records whose record gives their gender, on the training folds.
Display-name names (clean ``full_name``) choose ``min_probability``,
``east_asian_scale``, ``east_asian_cap``, ``surname_margin``, ``suffix_weight`` and
``pinyin_scale``; with those fixed, ``username_weight`` is chosen
by the same rule on the same names written as usernames (``tests/gender_decorate.py``,
kind ``username``; only lone and glued handles use it), with the wrong-answer bounds set
0.01 (union) and 0.015 (each fold) above the clean names' rate at the chosen values.
The stand-in's followers are a second check only: a point whose answers on them fall below 97.5%
precision is passed over for the next admissible one (they never rank points).

Usage: .venv/bin/python bench/gender_cv.py [--dev PATH] [--folds K] [--write]
``--write`` stores the chosen values and the per-fold figures in
``server/utils/gender/data/tuning.json``.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from gender_eval import DEV, metrics  # noqa: E402

GRID = {
    "min_probability": (0.72, 0.75, 0.78, 0.80, 0.85),
    "east_asian_scale": (0.25, 0.5, 1.0),
    "east_asian_cap": (1.0, 1.5, 99.0),
    "surname_margin": (1.5, 3.0),
    "suffix_weight": (0.0, 0.5, 1.0),
    "pinyin_scale": (1.0, 2.0, 3.0),
}
USERNAME_GRID = (0.25, 0.5, 0.75, 1.0)
_G = {"female": "f", "male": "m", "unknown": "u"}


def folds_of(rows: list[dict], k: int) -> list[int]:
    """Fold number (0..k-1) per row: stratified by label, ordered by CRC32 of the full name."""
    fold = [0] * len(rows)
    for label in ("f", "m"):
        idx = sorted((i for i, r in enumerate(rows) if r["gender"] == label),
                     key=lambda i: (zlib.crc32(rows[i]["full_name"].encode()), i))
        for j, i in enumerate(idx):
            fold[i] = j % k
    return fold


def predict(tuning, inputs: list[tuple[str, str | None]]) -> list[str]:
    """Labels f/m/u of ``detect_gender`` under ``tuning`` for (full_name, username) pairs."""
    from server.utils.gender.detector import detect_gender, use_tuning

    use_tuning(tuning)
    return [_G[detect_gender(n, u).gender] for n, u in inputs]


def ranked(preds: dict, truth: list[str], fold: list[int], train: set[int], args) -> list[tuple]:
    """Admissible grid points, best first: lowest mean errorCoded over the folds in ``train``
    (ties: lowest worst-fold errorCodedWithoutNA)."""
    out = []
    for point, pred in preds.items():
        per = []
        for f in sorted(train):
            idx = [i for i in range(len(truth)) if fold[i] == f]
            per.append(metrics([truth[i] for i in idx], [pred[i] for i in idx]))
        idx = [i for i in range(len(truth)) if fold[i] in train]
        union = metrics([truth[i] for i in idx], [pred[i] for i in idx])
        worst_wrong = max(m["errorCodedWithoutNA"] for m in per)
        if (worst_wrong > args.max_wrong or union["errorCodedWithoutNA"] > args.wrong_budget
                or abs(union["errorGenderBias"]) > 0.01 or _group_over(pred, truth, idx, args)):
            continue
        out.append(((round(statistics.mean(m["errorCoded"] for m in per), 6), worst_wrong), point))
    return [p for _, p in sorted(out)]


def _group_over(pred: list[str], truth: list[str], idx: list[int], args) -> bool:
    """True if a likely-origin group (``args.groups``, one label per row) with at least
    ``GROUP_MIN_ANSWERS`` answers among ``idx`` has more than ``args.group_max_wrong`` of them
    wrong: a language's regression may not hide in the average."""
    groups = getattr(args, "groups", None)
    if not groups:
        return False
    answered: dict[str, list[int]] = {}
    for i in idx:
        if pred[i] != "u":
            c = answered.setdefault(groups[i], [0, 0])
            c[0] += 1
            c[1] += pred[i] != truth[i]
    return any(n >= GROUP_MIN_ANSWERS and w / n > args.group_max_wrong for n, w in answered.values())


GROUP_MIN_ANSWERS = 50


def choose(preds: dict, truth: list[str], fold: list[int], train: set[int], args, check=None) -> tuple | None:
    """The best admissible grid point (``ranked``) that passes ``check`` (point -> bool; the
    stand-in's second check), or None."""
    for n, point in enumerate(ranked(preds, truth, fold, train, args)):
        if check is None or check(point):
            if n:
                print(f"  {n} better-ranked point(s) passed over: stand-in precision below 0.975")
            return point
    return None


def standin_check(make_tuning, min_precision: float = 0.975):
    """A check (point -> bool): precision of the answers on the stand-in's followers (20 accounts
    x 500, as in gender_eval.py) at least ``min_precision``. Cached per point; None if the
    stand-in is missing. A pass/fail filter only: it never ranks points."""
    try:
        from standins.followers import generate_followers
    except ImportError:
        return None
    from gender_eval import STANDIN_ACCOUNTS

    from server.utils.gender.detector import detect_gender, use_tuning

    rows = [(f.full_name or "", f.username, {"female": "f", "male": "m"}.get(f.truth_gender, "u"))
            for a in STANDIN_ACCOUNTS for f in generate_followers(a, 500)]
    cache: dict = {}

    def check(point) -> bool:
        if point not in cache:
            use_tuning(make_tuning(point))
            right = wrong = 0
            for name, user, t in rows:
                p = _G[detect_gender(name, user).gender]
                if p != "u":
                    right += p == t
                    wrong += p != t
            cache[point] = right / max(1, right + wrong)
        return cache[point] >= min_precision

    check.cache = cache

    return check


def report(label: str, held: list[dict]) -> dict:
    """Print and return mean, standard deviation and worst fold of each metric."""
    out = {}
    for k in ("errorCoded", "errorCodedWithoutNA", "naCoded", "errorGenderBias"):
        vals = [m[k] for m in held]
        worst = max(vals, key=abs) if k == "errorGenderBias" else max(vals)
        out[k] = {"mean": round(statistics.mean(vals), 4), "sd": round(statistics.stdev(vals), 4),
                  "worst": round(worst, 4), "folds": [round(v, 4) for v in vals]}
        print(f"  {label} {k:20s} {out[k]['mean']:.4f} +- {out[k]['sd']:.4f}  worst fold {worst:+.4f}  "
              f"folds {' '.join(f'{v:.4f}' for v in vals)}")
    return out


def cross_validate(rows, truth, fold, preds, args, label, check=None) -> tuple[dict, tuple, list]:
    """Outer loop (held-out figures per fold) and the choice on all folds."""
    k = args.folds
    held, chosen_per_fold = [], []
    for f in range(k):
        point = choose(preds, truth, fold, set(range(k)) - {f}, args, check)
        if point is None:
            print(f"  fold {f}: no admissible grid point")
            continue
        idx = [i for i in range(len(truth)) if fold[i] == f]
        held.append(metrics([truth[i] for i in idx], [preds[point][i] for i in idx]))
        chosen_per_fold.append(point)
        print(f"  fold {f}: chosen on the other folds {point}; held out: errorCoded="
              f"{held[-1]['errorCoded']:.4f} errorCodedWithoutNA={held[-1]['errorCodedWithoutNA']:.4f}")
    summary = report(label, held) if len(held) >= 2 else {}
    final = choose(preds, truth, fold, set(range(k)), args, check)
    return summary, final, chosen_per_fold


def calibrate_rare(rows: list[dict], truth: list[str], fold: list[int], k: int) -> tuple[float, dict]:
    """``rare_llr`` as measured, not searched: the log-odds that a first name known only as a
    one-off WGND record (no other source; dev.csv contains none of the sources) has the
    record's gender, (right + 1) / (wrong + 1) over the training folds. Each held-out fold
    reports the precision it actually shows; the shipped value is measured on all folds."""
    import math

    from server.utils.gender.lookup import load_table, rare_llr
    from server.utils.gender.names import fold_key

    table = load_table()
    hits = {}
    for i, r in enumerate(rows):
        toks = r["first_name"].split()
        key = fold_key(toks[0]) if toks else ""
        v = rare_llr(key) if key and key not in table else None
        if v is not None:
            hits[i] = ("f" if v > 0 else "m") == truth[i]

    def value(idx: list[int]) -> tuple[float, int, int]:
        right = sum(hits[i] for i in idx)
        return math.log((right + 1) / (len(idx) - right + 1)), right, len(idx)

    per = []
    for f in range(k):
        v, _, _ = value([i for i in hits if fold[i] != f])
        held = [i for i in hits if fold[i] == f]
        prec = sum(hits[i] for i in held) / max(1, len(held))
        per.append({"fold": f, "fitted_llr": round(v, 3), "fitted_probability": round(1 / (1 + math.exp(-v)), 4),
                    "held_out_names": len(held), "held_out_precision": round(prec, 4)})
        print(f"  rare-name evidence, fold {f}: fitted on the other folds {v:.3f} (p={1 / (1 + math.exp(-v)):.4f}); "
              f"held out: {len(held)} names, precision {prec:.4f}")
    v, right, n = value(list(hits))
    print(f"  rare-name evidence on all folds: {right}/{n} right -> rare_llr={v:.3f} (p={1 / (1 + math.exp(-v)):.4f})")
    return round(v, 3), {"folds": per, "right": right, "names": n}


def main() -> None:
    ap = argparse.ArgumentParser(description="cross-validated choice of the gender detector's tuning")
    ap.add_argument("--dev", default=DEV)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-wrong", type=float, default=0.03)
    ap.add_argument("--wrong-budget", type=float, default=0.025)
    ap.add_argument("--group-max-wrong", type=float, default=0.10)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from gender_decorate import decorate

    from server.utils.gender.detector import use_tuning
    from server.utils.gender.tuning import TUNING_FILE, Tuning, load_tuning

    rows = [r for r in csv.DictReader(open(args.dev, encoding="utf-8")) if r["gender"] in ("f", "m")]
    truth = [r["gender"] for r in rows]
    from gender_eval import likely_origin, origin_index

    index = origin_index()
    args.groups = [likely_origin(r["full_name"], index) for r in rows]
    fold = folds_of(rows, args.folds)
    shipped = load_tuning()
    print(f"dev.csv: {len(rows)} f/m names in {args.folds} folds; admissible: errorCodedWithoutNA <= "
          f"{args.max_wrong} on every training fold and <= {args.wrong_budget} on their union, "
          f"|errorGenderBias| <= 0.01, every likely-origin group with >= {GROUP_MIN_ANSWERS} answers at most "
          f"{args.group_max_wrong} wrong; then lowest mean errorCoded")

    rare_value, rare_report = calibrate_rare(rows, truth, fold, args.folds)
    grid = {**GRID, "rare_llr": (rare_value,)}
    clean_in = [(r["full_name"], None) for r in rows]
    names = list(grid)
    preds = {}
    for values in itertools.product(*grid.values()):
        t = Tuning(**dict(zip(names, values)), username_weight=shipped.username_weight)
        preds[values] = predict(t, clean_in)
    print(f"display names ({len(preds)} grid points over {', '.join(k for k in names if len(grid[k]) > 1)}):")
    check = standin_check(lambda v: Tuning(**dict(zip(names, v)), username_weight=shipped.username_weight))
    summary, final, per_fold = cross_validate(rows, truth, fold, preds, args, "clean held-out", check)
    if final is None:
        use_tuning(None)
        raise SystemExit("no admissible grid point on all folds")
    chosen = dict(zip(names, final))
    print(f"  chosen on all folds: {chosen}")

    all_clean0 = metrics(truth, preds[final])
    user_in = [("", decorate(r["full_name"], "username", i)) for i, r in enumerate(rows)]
    upreds = {}
    for w in USERNAME_GRID:
        upreds[(w,)] = predict(Tuning(**chosen, username_weight=w), user_in)
    print(f"usernames ({len(USERNAME_GRID)} grid points over username_weight):")
    # usernames are judged against the clean names: wrong answers at most 0.01 above them
    # (the per-origin bound is the display names' business: a handle is judged against them)
    uargs = argparse.Namespace(**{**vars(args), "wrong_budget": all_clean0["errorCodedWithoutNA"] + 0.01,
                                  "max_wrong": all_clean0["errorCodedWithoutNA"] + 0.015, "groups": None})
    ucheck = standin_check(lambda v: Tuning(**chosen, username_weight=v[0]))
    usummary, ufinal, _ = cross_validate(rows, truth, fold, upreds, uargs, "username held-out", ucheck)
    chosen["username_weight"] = ufinal[0] if ufinal else shipped.username_weight
    print(f"  chosen on all folds: username_weight={chosen['username_weight']}")

    final_t = Tuning(**chosen)
    all_clean = metrics(truth, predict(final_t, clean_in))
    print("chosen values on all of dev.csv (in-sample): " + "  ".join(f"{k}={v:.4f}" for k, v in all_clean.items()))
    use_tuning(None)
    if args.write:
        doc = {"chosen": chosen, "procedure": "bench/gender_cv.py (module doc)", "folds": args.folds,
               "grid": {**{k: list(v) for k, v in grid.items()}, "username_weight": list(USERNAME_GRID)},
               "rare_llr_calibration": rare_report,
               "cross_validated_clean": summary, "cross_validated_username": usummary,
               "chosen_per_outer_fold": [dict(zip(names, p)) for p in per_fold],
               "in_sample_clean": {k: round(v, 4) for k, v in all_clean.items()}}
        with open(TUNING_FILE, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(f"wrote {os.path.relpath(TUNING_FILE, ROOT)}")


if __name__ == "__main__":
    main()
