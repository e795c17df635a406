"""Normalisation of Instagram display names and usernames for name lookup.

Pure functions, no import-time work: the character map is built on first use
(``functools.lru_cache``) and then shared by the process.

Shapes
------
``fold_key(text) -> str``
    Lookup key for one name: ASCII lower-case letters only (diacritics folded,
    non-Latin scripts transliterated with ``anyascii``), e.g. ``"José-María"`` ->
    ``"josemaria"``. ``""`` when nothing letter-like is left. The table builder
    (``scripts/build_gender_table.py``) uses the same function, so keys match.
``native_key(text) -> str``
    Script-native key for non-Latin names (``"지영"``, ``"мария"``): NFKC,
    case-folded, spaces/hyphens removed; ``""`` for Latin-only text.
``clean_display(text) -> str``
    Display name with fancy alphabets mapped back to plain letters, zero-width
    characters / variation selectors / combining overlays removed, emoji and
    other symbols replaced by spaces. Keeps letters, combining marks of real
    scripts, whitespace and the punctuation ``' / & + ( ) - .`` that the
    parser needs (pronoun sets, couples, titles).
``split_username(username) -> list[str]``
    Lower-case chunks of a username split on ``. _ -`` digits and camelCase.

Errors: none raised; ``None`` and non-strings are treated as empty.
"""
from __future__ import annotations

import functools
import re
import unicodedata

# Zero-width characters, joiners, bidi marks, variation selectors, tag chars.
_INVISIBLE = (
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0000, 0xE0080))
)
# Combining overlays used by "strikethrough / underline / slash" generators, keycap.
_OVERLAYS = [0x0332, 0x0333, 0x0334, 0x0335, 0x0336, 0x0337, 0x0338, 0x20E3, 0x20DD, 0x20DE, 0x0489]

# Letters that NFKC leaves alone but which generators use as Latin look-alikes.
_SMALL_CAPS = {
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}
_FAUX = {  # "faux Cyrillic/Greek" and other look-alikes that never occur in real Latin names
    "ʝ": "j", "¢": "c", "ℓ": "l", "ɑ": "a", "ɛ": "e", "ɩ": "i", "ɱ": "m", "ɲ": "n",
    "ʂ": "s", "ƈ": "c", "ɠ": "g", "ɦ": "h", "ƙ": "k", "ρ̃": "p", "ყ": "y", "Ꭿ": "a", "Ᏸ": "b",
    "Ꮯ": "c", "Ꭰ": "d", "Ꭼ": "e", "Ꮐ": "g", "Ꮋ": "h", "Ꭻ": "j", "Ꮶ": "k", "Ꮮ": "l", "Ꮇ": "m",
    "Ꮲ": "p", "Ꭱ": "r", "Ꮪ": "s", "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w", "Ꮓ": "z",
}
# Cyrillic / Greek homoglyphs of Latin letters; applied only to tokens that mix
# scripts or are made only of homoglyphs (a genuine "Мария" is transliterated).
CONFUSABLES = {
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "є": "e", "һ": "h", "і": "i",
    "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q",
    "г": "r", "ѕ": "s", "т": "t", "υ": "u", "ц": "u", "ѵ": "v", "ш": "w", "ԝ": "w", "х": "x",
    "у": "y", "ч": "y", "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "χ": "x", "γ": "y", "ω": "w", "ѡ": "w", "з": "z",
    "ℊ": "g", "п": "n", "л": "n", "я": "r", "и": "n", "д": "d", "б": "b",
}
# Confusables that are unusual in genuine Russian/Greek words: a token containing
# one of them is read as a Latin look-alike even if it is all Cyrillic/Greek.
_STRONG_CONFUSABLES = set("ѕіјԁһӏԛԝѵѡ")

_KEEP_PUNCT = set("'/&+()-.")
_FLAG_RE = re.compile("(?<![\U0001F1E6-\U0001F1FF])[\U0001F1E6-\U0001F1FF]{2}(?![\U0001F1E6-\U0001F1FF])")


@functools.lru_cache(maxsize=1)
def _char_map() -> dict[int, str]:
    """str.translate table: fancy letters -> ASCII, invisibles -> ''."""
    m: dict[int, str] = {}
    for cp in _INVISIBLE + _OVERLAYS:
        m[cp] = ""
    for base, start in ((0x1F170, "A"), (0x1F150, "A"), (0x1F1E6, "A"), (0x1F130, "A")):
        for i in range(26):
            m[base + i] = chr(ord(start) + i)
    for i in range(26):  # parenthesized small letters U+249C..; NFKC would give "(a)"
        m[0x249C + i] = chr(ord("a") + i)
    for src, dst in list(_SMALL_CAPS.items()) + list(_FAUX.items()):
        if len(src) == 1:
            m[ord(src)] = dst
    m[0x2019] = "'"  # right single quotation mark
    m[0x02BC] = "'"
    m[0xFF07] = "'"
    return m


def clean_display(text: object) -> str:
    """Map a display name to plain letters + a few separators (see module doc)."""
    if not isinstance(text, str) or not text:
        return ""
    if text.isascii():
        return text
    # A pair of regional indicators is a flag emoji ("🇭🇺"), not the letters "HU";
    # longer runs are letter art ("🇯🇪🇸🇸…") and are read as letters below.
    text = _FLAG_RE.sub(" ", text)
    s = unicodedata.normalize("NFKC", text.translate(_char_map()))
    s = s.translate(_char_map())  # NFKC can expose mapped chars (e.g. fullwidth apostrophe)
    out = []
    cat = unicodedata.category
    for ch in s:
        if ch.isascii():
            out.append(ch)
            continue
        c = cat(ch)
        if c[0] in "LM":
            out.append(ch)
        elif c[0] == "Z":
            out.append(" ")
        elif ch in "｜|•":  # "Name | Tattoo Artist", "Name • Travel": segment separators
            out.append(" | ")
        else:
            out.append(" ")
    return "".join(out)


_NOT_LOWER_ASCII = re.compile(r"[^a-z]+")


def _ascii_letters(s: str) -> str:
    if s.isascii() and s.isalpha() and s.islower():  # the common case: nothing to drop
        return s
    return _NOT_LOWER_ASCII.sub("", s)


def _is_latin(ch: str) -> bool:
    return ch.isascii() or ord(ch) < 0x0250 or 0x1E00 <= ord(ch) <= 0x1EFF


@functools.lru_cache(maxsize=1)
def _anyascii():
    from anyascii import anyascii  # ISC licence; imported lazily (no import-time work)

    return anyascii


def skeleton(token: str) -> str:
    """Map Cyrillic/Greek look-alike letters in ``token`` to Latin; others unchanged."""
    return "".join(CONFUSABLES.get(ch, ch) for ch in token.lower())


def fold_key(text: object) -> str:
    """Lookup key: ASCII lower-case letters only (see module doc)."""
    if not isinstance(text, str) or not text:
        return ""
    if text.isascii():
        return _ascii_letters(text.lower())
    return _fold_non_ascii(text)


@functools.lru_cache(maxsize=65536)
def _fold_non_ascii(text: str) -> str:
    """``fold_key`` of a non-ASCII token; cached per process (name tokens repeat across
    followers, and folding one costs a Unicode normalisation and a transliteration)."""
    s = unicodedata.normalize("NFKC", text.translate(_char_map()))
    letters = [ch for ch in s if ch.isalpha()]
    if letters and not all(_is_latin(ch) for ch in letters):
        has_latin = any(ch.isascii() for ch in letters)
        low = s.lower()
        if (has_latin or any(ch in _STRONG_CONFUSABLES for ch in low)) and all(
            _is_latin(ch) or ch in CONFUSABLES for ch in low if ch.isalpha()
        ):
            s = skeleton(low)
    return _ascii_letters(_anyascii()(s).lower())


# Arabic harakat, superscript alef and tatweel, Hebrew points: dropped from native keys
# (names are written with or without them); Arabic alef forms and alef maqsura unified.
_NATIVE_DROP = dict.fromkeys([*range(0x064B, 0x0660), 0x0670, 0x0640, *range(0x0591, 0x05C8)])
_NATIVE_DROP.update({0x0623: "\u0627", 0x0625: "\u0627", 0x0622: "\u0627", 0x0671: "\u0627", 0x0649: "\u064A"})


def native_key(text: object) -> str:
    """Script-native key for non-Latin names; ``""`` for Latin-only text."""
    if not isinstance(text, str) or not text:
        return ""
    s = unicodedata.normalize("NFKC", text).casefold()
    if any(0x0590 <= ord(ch) <= 0x06FF for ch in s):
        s = s.translate(_NATIVE_DROP)
    s = "".join(ch for ch in s if ch.isalpha() or unicodedata.category(ch)[0] == "M")
    if not s or all(_is_latin(ch) for ch in s if ch.isalpha()):
        return ""
    return s


def skeleton_script(token: str) -> str | None:
    """``"arabic"``, ``"hebrew"``, ``"indic"`` or ``"thai"`` for a token in one of the scripts
    whose names are matched by consonant skeleton (``consonant_skeleton``), else None
    (first letter decides)."""
    for ch in token:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        if 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F or 0xFB50 <= cp <= 0xFEFF:
            return "arabic"
        if 0x0590 <= cp <= 0x05FF:
            return "hebrew"
        if 0x0900 <= cp <= 0x0DFF:  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil ... Sinhala
            return "indic"
        if 0x0E00 <= cp <= 0x0E7F:
            return "thai"
        return None
    return None


_SKELETON_PAIRS = (("sh", "S"), ("ch", "k"), ("kh", "k"), ("th", "t"), ("dh", "d"), ("gh", "g"), ("ph", "f"),
                   ("zh", "j"), ("q", "k"), ("c", "k"), ("x", "ks"), ("w", ""), ("y", ""))
_VOWELS = str.maketrans("", "", "aeiou")


def consonant_skeleton(key: str) -> str:
    """Consonant skeleton of an ASCII lower-case key, the common ground of a Latin spelling
    and the transliteration of a script that writes few vowels: "mohammed" and "mhmd"
    (محمد) -> "mhmd", "fatima" and "ftmh" (فاطمة) -> "ftm", "sarah" and "srh" (שרה) -> "sr".
    Digraphs are merged (sh; ch, kh, c, q as k; th ...), vowels, w and y dropped, doubled letters
    collapsed, a final h dropped. ``""`` for an empty key."""
    s = key
    for a, b in _SKELETON_PAIRS:
        if a in s:
            s = s.replace(a, b)
    s = s.translate(_VOWELS)
    out = []
    for ch in s:
        if not out or out[-1] != ch:
            out.append(ch)
    if out and out[-1] == "h":
        out.pop()
    return "".join(out)


def skeleton_keys(token: str) -> list[str]:
    """Skeleton lookup keys for a token of an Arabic, Hebrew, Indic or Thai script (see
    ``skeleton_script``): the skeleton of its transliteration, and for Hebrew also with
    vav read as a vowel (anyascii writes it "v": "יוסי" -> "yvsy" -> "vs" and "s")."""
    s = token.replace("\u0902", "n").replace("\u0901", "n")  # Devanagari anusvara / candrabindu before a consonant
    k = _ascii_letters(_anyascii()(unicodedata.normalize("NFKC", s)).lower())
    sk = consonant_skeleton(k)
    keys = [sk] if sk else []
    if skeleton_script(token) == "hebrew":  # vav as a vowel; het (anyascii "h") as Latin "ch"
        for alt in (k.replace("v", ""), k[:-1].replace("h", "k") + k[-1:]):
            ask = consonant_skeleton(alt)
            if ask and ask not in keys:
                keys.append(ask)
    return keys


def script_of(token: str) -> str:
    """Coarse script of a token: 'latin', 'han', 'hangul', 'kana', 'other' (first letter wins)."""
    for ch in token:
        if not ch.isalpha():
            continue
        if _is_latin(ch):
            return "latin"
        cp = ord(ch)
        if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
            return "hangul"
        if 0x3040 <= cp <= 0x30FF:
            return "kana"
        if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FFFF:
            return "han"
        return "other"
    return "none"


_USER_SPLIT = re.compile(r"[._\-\d\s]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def split_username(username: object) -> list[str]:
    """Split a username into lower-case chunks on ``. _ -``, digits and camelCase."""
    if not isinstance(username, str) or not username:
        return []
    u = clean_display(username).strip().lstrip("@")
    chunks: list[str] = []
    for part in _USER_SPLIT.split(u):
        for sub in _CAMEL.split(part):
            k = fold_key(sub)
            if k:
                chunks.append(k)
    return chunks
