"""Reusable decorator: renders a clean name the way Instagram display names look.

``STYLES``: alphabet name -> function(str) -> str (bold, italic, script, fraktur,
double_struck, monospace, small_caps, fullwidth, circled, negative_squared).
``DECORATIONS``: decoration name -> function(full_name: str, rng: random.Random) -> str.
``decorate(full_name, kind, seed=0) -> str``: one decoration, deterministic per seed.
``decorate_all(full_name, seed=0) -> dict[str, str]``: every decoration.

Pronoun decorations use "they/them"-style sets so that a decorated benchmark
never leaks the true label into the input.
Used by ``tests/test_gender.py`` and ``bench/gender_eval.py``.
"""
from __future__ import annotations

import random
from typing import Callable


def _math(upper_start: int, lower_start: int, exceptions: dict[str, str] | None = None) -> Callable[[str], str]:
    exc = exceptions or {}

    def f(s: str) -> str:
        out = []
        for ch in s:
            if ch in exc:
                out.append(exc[ch])
            elif "A" <= ch <= "Z":
                out.append(chr(upper_start + ord(ch) - 65))
            elif "a" <= ch <= "z":
                out.append(chr(lower_start + ord(ch) - 97))
            else:
                out.append(ch)
        return "".join(out)

    return f


_SCRIPT_EXC = {"B": "ℬ", "E": "ℰ", "F": "ℱ", "H": "ℋ", "I": "ℐ", "L": "ℒ", "M": "ℳ", "R": "ℛ",
               "e": "ℯ", "g": "ℊ", "o": "ℴ"}
_FRAKTUR_EXC = {"C": "ℭ", "H": "ℌ", "I": "ℑ", "R": "ℜ", "Z": "ℨ"}
_DS_EXC = {"C": "ℂ", "H": "ℍ", "N": "ℕ", "P": "ℙ", "Q": "ℚ", "R": "ℝ", "Z": "ℤ"}
_SMALL = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡxʏᴢ"))

STYLES: dict[str, Callable[[str], str]] = {
    "bold": _math(0x1D400, 0x1D41A),
    "italic": _math(0x1D434, 0x1D44E, {"h": "ℎ"}),
    "script": _math(0x1D49C, 0x1D4B6, _SCRIPT_EXC),
    "fraktur": _math(0x1D504, 0x1D51E, _FRAKTUR_EXC),
    "double_struck": _math(0x1D538, 0x1D552, _DS_EXC),
    "monospace": _math(0x1D670, 0x1D68A),
    "small_caps": lambda s: "".join(_SMALL.get(c, c) for c in s.lower()),
    "fullwidth": _math(0xFF21, 0xFF41),
    "circled": _math(0x24B6, 0x24D0),
    "negative_squared": lambda s: "".join(chr(0x1F170 + ord(c) - 97) if "a" <= c <= "z" else c for c in s.lower()),
}

_EMOJI = ["✨", "🌸", "💕", "🔥", "🌈", "🦋", "👑", "💫", "🌿", "⚡️", "❤️", "🙏🏽", "👨‍👩‍👧"]
_NEUTRAL_PRONOUNS = ["(they/them)", "they/them", "| they/them", "(any/all)", "[they/them]"]


def _title(name: str) -> str:
    return " ".join(p[:1].upper() + p[1:] for p in name.split())


def _username(name: str, rng: random.Random) -> str:
    parts = [p.replace("-", "") for p in name.lower().split()]
    sep = rng.choice([".", "_", "", "__"])
    u = sep.join(parts)
    if rng.random() < 0.6:
        u += str(rng.randint(1, 2005))
    if rng.random() < 0.2:
        u = "the" + u if sep == "" else "_" + u
    return u


DECORATIONS: dict[str, Callable[[str, random.Random], str]] = {
    **{f"style_{k}": (lambda f: lambda n, rng: f(_title(n)))(f) for k, f in STYLES.items()},
    "emoji_before": lambda n, rng: rng.choice(_EMOJI) + " " + _title(n),
    "emoji_after": lambda n, rng: _title(n) + " " + rng.choice(_EMOJI) + rng.choice(_EMOJI),
    "emoji_inside": lambda n, rng: _title(n).replace(" ", " " + rng.choice(_EMOJI) + " ", 1),
    "emoji_glued": lambda n, rng: rng.choice(_EMOJI) + _title(n).replace(" ", rng.choice(_EMOJI), 1) + rng.choice(_EMOJI),
    "pronouns": lambda n, rng: _title(n) + " " + rng.choice(_NEUTRAL_PRONOUNS),
    "pronouns_first": lambda n, rng: "they/them | " + _title(n),
    "upper": lambda n, rng: n.upper(),
    "lower": lambda n, rng: n.lower(),
    "username": lambda n, rng: _username(n, rng),
    "zero_width": lambda n, rng: "\u200b".join(_title(n)[i:i + 3] for i in range(0, len(n), 3)),
}


def decorate(full_name: str, kind: str, seed: int = 0) -> str:
    """Apply decoration ``kind`` (a key of DECORATIONS) to ``full_name``; deterministic per seed."""
    return DECORATIONS[kind](full_name, random.Random(f"{kind}:{seed}"))


def decorate_all(full_name: str, seed: int = 0) -> dict[str, str]:
    """Every decoration of ``full_name``: kind -> decorated string."""
    return {k: decorate(full_name, k, seed) for k in DECORATIONS}
