"""Gender inference from an Instagram display name (and username).

``detect_gender(full_name, username=None) -> GenderGuess``

* ``gender``: ``"male"``, ``"female"`` or ``"unknown"``.
* ``probability``: posterior probability (0.5-1.0) of the returned gender; 0.0 for unknown.
* ``source``: what decided it: ``"first_name"``, ``"middle_name"``, ``"username"``,
  ``"pronoun"``, ``"title"``, ``"word"``; for unknown the reason: ``"empty"``,
  ``"business"``, ``"couple"``, ``"ambiguous"``, ``"not_found"``.

Evidence is added as log-odds (nats) of "female":
  name      per-name log-likelihood ratios from ``gender_data`` (WGND 2.0, US SSA,
            nam_dict; each source calibrated against the others, see
            ``scripts/build_gender_table.py``);
  pronoun   a "(she/her)" / "he/him" set: ±PRONOUN_LLR (they/them or mixed sets: 0);
  title     Mrs/Ms/Miss/Lady... or Mr/Sir/...: ±TITLE_LLR;
  word      gendered words (mom, wife, queen / dad, husband, king ...): ±WORD_LLR.
The answer is given only when the posterior reaches ``MIN_PROBABILITY``; business
or organisation words and couples ("Anna & Tom") give unknown. "Name | Tattoo Artist"
(or "•"): only the first segment is read as the name. After a title ("Mrs. Thompson",
"Dr Reinhardt") a single remaining token is a surname. The username is read only when
the display name leaves the answer open, and only if it shares a chunk with the display
name (or the display name is empty); a handle of two or more separated chunks
("anna.maria_smith99") goes through the same ``_name_evidence`` as the display name
"Anna Maria Smith"; see ``_username_llr``.

Pure: same input, same output. Lookup data are loaded on the first call
(``gender_data.load_table``), never at import. Never raises for odd input
(``None``, non-strings, emoji-only): such input gives unknown.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from server.utils import name_normalize as nn
from server.utils.gender_data import load_syllables, load_table, rare_llr, syllable_llr

# Posterior needed to answer. 0.9 = at most 1 wrong answer in 10 at the margin
# (average error among answers is far lower): the cost of a wrong follow vs a
# wasted profile is taken as roughly 9:1. Not tuned on evaluation data.
MIN_PROBABILITY = 0.9
_MIN_LOGODDS = math.log(MIN_PROBABILITY / (1 - MIN_PROBABILITY))
PRONOUN_LLR = 3.0   # self-declared, but may be decorative: ~95 % alone
TITLE_LLR = 4.0     # Mrs/Mr: ~98 % alone
WORD_LLR = 1.5      # "mom", "king", ...: weak, ~82 % alone (does not answer by itself)
# A given name read out of a username is less certain than from a display name
# (surname-first usernames, segmentation): evidence halved.
USERNAME_WEIGHT = 0.5


@dataclass(frozen=True)
class GenderGuess:
    """Result of :func:`detect_gender` (see module doc for the fields)."""

    gender: str
    probability: float
    source: str


_UNKNOWN = {r: GenderGuess("unknown", 0.0, r) for r in ("empty", "business", "couple", "ambiguous", "not_found")}

_PRONOUNS_F = {"she", "her", "hers", "ela", "ella", "sie"}
_PRONOUNS_M = {"he", "him", "his", "ele", "el", "er", "ihm"}
_PRONOUNS_OTHER = {"they", "them", "theirs", "xe", "xem", "ze", "zir", "hir", "it", "its", "any", "all", "elu"}
_PRONOUN_RE = re.compile(r"\b([a-z]+)(\s*/\s*[a-z]+)+\b|\(\s*(she|he|they)\s*\)")

_TITLES_F = {"mrs", "ms", "miss", "mme", "madame", "mlle", "lady", "dame", "frau", "sra", "srta", "senora",
             "signora", "sig.ra", "mistress", "madam", "mrs.", "ms.", "mademoiselle", "fr"}
_TITLES_M = {"mr", "sir", "herr", "sr", "senor", "signor", "sig", "lord", "monsieur", "mister", "hr"}
_TITLES_NEUTRAL = {"dr", "prof", "professor", "doctor", "rev", "ing", "eng", "mag", "dipl", "phd", "md",
                   "coach", "chef", "dj", "mc", "the", "its", "im", "iam", "i", "am", "real", "hi", "hey",
                   "by", "official", "team", "fan", "fans", "de", "van", "von", "der", "da", "di", "del",
                   "la", "le", "mx", "sgt", "capt", "st", "saint", "rn", "jr", "sr."}
_WORDS_F = {"mom", "mum", "mama", "mami", "mommy", "mummy", "momma", "wife", "girl", "girly", "gal", "queen",
            "princess", "sister", "sis", "daughter", "grandma", "granny", "nana", "auntie", "aunt", "mother",
            "woman", "wifey", "bride", "goddess", "babygirl", "mamma", "madre", "mutter", "femme", "girls",
            "lady", "ladies", "diva", "mrs"}
_WORDS_M = {"dad", "daddy", "papa", "papi", "husband", "guy", "boy", "king", "prince", "bro", "brother",
            "son", "grandpa", "uncle", "father", "man", "hubby", "groom", "dude", "padre", "vater", "gentleman",
            "boys", "mr"}
_BUSINESS = {
    "studio", "studios", "salon", "shop", "store", "official", "boutique", "bakery", "cafe", "coffee",
    "restaurant", "bar", "kitchen", "hair", "beauty", "nails", "nail", "spa", "clinic", "agency", "media",
    "marketing", "fitness", "gym", "design", "designs", "photography", "photo", "photos", "events", "inc",
    "ltd", "llc", "gmbh", "company", "co", "brand", "clothing", "fashion", "jewelry", "jewellery", "gallery",
    "hotel", "travel", "tours", "realty", "magazine", "news", "club", "academy", "school", "market", "foods",
    "food", "pizza", "tattoo", "tattoos", "barber", "barbershop", "collective", "collection", "records",
    "boutiques", "lashes", "brows", "skincare", "cosmetics", "apparel", "wear", "decor", "interiors", "homes",
    "estate", "properties", "consulting", "solutions", "services", "group", "center", "centre", "shoppe",
    "florist", "flowers", "boutik", "bakes", "cakes", "catering", "dental", "pharmacy", "wellness", "yoga",
    "pilates", "crossfit", "football", "fc", "tv", "radio", "app", "shopping", "sale", "deals", "memes",
    "quotes", "daily", "hq", "store", "outlet", "brewery", "winery", "bistro", "grill", "diner", "pub",
    "labs", "lab", "supply", "supplies", "repair", "repairs", "auto", "autos", "motors", "garage", "rentals",
    "rental", "cleaning", "plumbing", "construction", "studios", "florals", "bakehouse", "creamery",
    "roasters", "pizzeria", "taqueria", "trattoria", "emporium", "goods", "corp", "ltda", "srl", "nyc",
    "merch", "printing", "prints", "ventures",
}
# Professions after a separator ("Name | Tattoo Artist") describe a person, not a business.
_HONORIFICS = {"dr", "prof", "professor", "doctor", "rev", "capt", "sgt", "ing", "mag", "dipl"}
_USERNAME_PREFIXES = ("the", "its", "itz", "im", "iam", "real", "official", "hey", "hi", "mr", "mrs", "miss",
                      "ms", "dr", "lil", "little", "just", "only", "ur", "your", "yours", "queen", "king", "x")
_COUPLE = {"&", "+", "and", "und"}
_HAN_COMPOUND_SURNAMES = {"欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "令狐", "慕容", "夏侯", "尉迟", "公孙",
                          "歐陽", "諸葛", "司馬", "東方", "長孫", "宇文"}
_SPLIT_RE = re.compile(r"[\s()\[\]{}|,;:!?\"*~#@/\\<>=^_]+")


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _pronoun_llr(text: str) -> tuple[float, str]:
    """Find pronoun sets in lower-case text; return (llr, text without them)."""
    llr = 0.0
    found = False
    for m in _PRONOUN_RE.finditer(text):
        words = set(re.findall(r"[a-z]+", m.group(0)))
        allp = _PRONOUNS_F | _PRONOUNS_M | _PRONOUNS_OTHER
        if not words <= allp:
            continue
        found = True
        if words <= _PRONOUNS_F:
            llr += PRONOUN_LLR
        elif words <= _PRONOUNS_M:
            llr += -PRONOUN_LLR
        # they/them and mixed sets ("she/they"): no signal
    if found:
        text = _PRONOUN_RE.sub(
            lambda m: " " if set(re.findall(r"[a-z]+", m.group(0))) <= (_PRONOUNS_F | _PRONOUNS_M | _PRONOUNS_OTHER)
            else m.group(0), text)
    return max(-PRONOUN_LLR, min(PRONOUN_LLR, llr)), text


def _lookup_token(tok: str, table: dict[str, float]) -> float | None:
    """Name evidence for one display-name token (native script first, then folded)."""
    if tok.isascii():
        k = nn._ascii_letters(tok)
        if len(k) < 2:
            return None
        v = table.get(k)
        if v is None:
            v = rare_llr(k)
        if v is None and "-" in tok:  # hyphenated given name: first part
            first = nn._ascii_letters(tok.split("-")[0])
            if len(first) >= 2:
                v = table.get(first)
        return v
    script = nn.script_of(tok)
    if script == "han":
        letters = "".join(ch for ch in tok if ch.isalpha())
        if 2 <= len(letters) <= 4:  # family name first
            given = letters[2:] if letters[:2] in _HAN_COMPOUND_SURNAMES else letters[1:]
        else:
            given = letters
        k = nn.fold_key(given)
        return table.get(k) if len(k) >= 2 else None
    if script == "hangul":
        letters = "".join(ch for ch in tok if ch.isalpha())
        for cand in ((letters[1:], letters) if len(letters) == 3 else (letters,)):
            v = table.get(cand)
            if v is not None:
                return v
        return None
    nk = nn.native_key(tok)
    if nk:
        v = table.get(nk)
        if v is not None:
            return v
    k = nn.fold_key(tok)
    if len(k) < 2:
        return None
    v = table.get(k)
    if v is None:
        v = rare_llr(k)
    if v is None and "-" in tok:
        first = nn.fold_key(tok.split("-")[0])
        if len(first) >= 2:
            v = table.get(first)
    if v is None and k.endswith("iya"):  # Cyrillic -ия transliterated "iya"; Latin usage "ia"
        v = table.get(k[:-3] + "ia")
    return v


def _segment_prefix(chunk: str, table: dict[str, float]) -> float | None:
    """Evidence for a glued chunk ("thejessicasmith"): its known name prefixes (>= 3 letters).

    Returns the longest confident prefix's log-odds if every confident prefix
    points the same way, else None (e.g. "andreasmith": andrea / andreas disagree).
    """
    for p in _USERNAME_PREFIXES:
        if chunk.startswith(p) and len(chunk) - len(p) >= 3:
            v = _segment_prefix(chunk[len(p):], table)
            if v is not None:
                return v
    found = []
    for end in range(min(len(chunk), 12), 2, -1):
        v = table.get(chunk[:end])
        if v is not None and abs(v) >= _MIN_LOGODDS:
            found.append((end, v))
    if not found:
        return None
    end0, v0 = found[0]
    # a near-length prefix of the other gender = a real boundary ambiguity
    # ("andrea|smith" vs "andreas|mith"); a much shorter one is a contained
    # nickname ("jess" in "jessica") and does not count.
    if any(e >= end0 - 2 and (v > 0) != (v0 > 0) for e, v in found[1:]):
        return None
    return v0


def _username_llr(username: str | None, table: dict[str, float],
                  display: list[str] | None = None) -> tuple[float, float] | None:
    """(log-odds, weight) from the first name-like chunk of a username, or None.

    Later chunks are usually surnames. ``display`` = the display name's name
    tokens (folded); when given, the username must share a chunk with it (or
    start with its first name), else the handle is unrelated to the person's
    name ("mystic_cactus_66") and says nothing. A chunk that starts with the
    display first name ("kim" -> "kimberly") is the full given name: full weight.
    A username made of two or more separated chunks ("anna.smith_9") has the
    usual "given.family" shape: full weight; a single or glued chunk: half.
    """
    chunks = nn.split_username(username)
    if any(ch in _BUSINESS and ch != "official" for ch in chunks):
        return None
    if display:
        first = display[0]
        if len(first) >= 3:
            for ch in chunks:
                if ch != first and ch.startswith(first) and ch not in display:
                    v = table.get(ch)
                    if v is not None:
                        return v, 1.0
        if not any(ch in display or (len(first) >= 3 and ch.startswith(first)) for ch in chunks):
            return None
        chunks = [ch for ch in chunks if ch not in display[1:]]  # the display surname
    named = [ch for ch in chunks if ch not in _TITLES_NEUTRAL and ch not in _USERNAME_PREFIXES]
    weight = 1.0 if len(named) >= 2 else USERNAME_WEIGHT
    if len(named) >= 2:
        # "given.family" shape: read exactly as the display name "Given Family" would be
        v, _ = _name_evidence([ch if len(ch) >= 2 else "" for ch in named], table)
        return (v, 1.0) if v is not None else None
    for i, ch in enumerate(chunks[:3]):
        if ch in _TITLES_NEUTRAL or ch in _USERNAME_PREFIXES:
            continue
        if len(ch) < 3:
            return None  # an initial: what follows is a surname
        v = table.get(ch)
        if v is None or abs(v) < _MIN_LOGODDS:  # pinyin given name, as in the display-name path
            nxt = chunks[i + 1] if i + 2 < len(chunks) else ""
            skey = ch + nxt if nxt and ch in _syllables() and nxt in _syllables() else ch
            syl = syllable_llr(skey)
            if syl is not None:
                d = table.get(skey)
                if d is None or abs(d) < _MIN_LOGODDS:
                    v = (d or 0.0) + syl
        # rare one-record names only where the handle has a name shape (a chunk follows)
        if v is None and i + 1 < len(chunks):
            v = rare_llr(ch)
        if v is None and len(named) == 1:  # only a glued handle is segmented; a delimited chunk is whole
            v = _segment_prefix(ch, table)
            weight = USERNAME_WEIGHT
        return (v, weight) if v is not None else None
    return None


def _name_evidence(names: list[str], table: dict[str, float]) -> tuple[float | None, str]:
    """(log-odds, source) from the name tokens (first, middle..., last); ``""`` = initial.

    Shared by the display name and by a username's separated chunks, so a handle
    such as ``anna.maria_smith`` is read exactly like "Anna Maria Smith".
    """
    name_llr = None
    name_src = "first_name"
    used_mid = False
    if names and names[0]:
        first = names[0]
        mid = names[1] if len(names) >= 3 and names[1] else ""
        if mid:  # first + middle compound ("jean paul", "shao qing"); fallback to the first name
            comp = table.get(_key(first + mid))
            if comp is not None and abs(comp) >= _MIN_LOGODDS:
                name_llr, used_mid = comp, True
        if name_llr is None:
            name_llr = _lookup_token(first, table)
        if name_llr is None and len(names) == 1 and first.isascii() and len(first) >= 6:
            name_llr = _segment_prefix(nn._ascii_letters(first), table)
        if name_llr is None or abs(name_llr) < _MIN_LOGODDS:
            # romanised Chinese given name: two pinyin syllables, glued/hyphenated or
            # written as first + middle ("xiao-ming", "xiao ming"): syllable model
            # added to whatever direct (weak) evidence the whole name has.
            fk = _key(first)
            cands = [(fk + _key(mid), True)] if mid and fk in _syllables() and _key(mid) in _syllables() else []
            cands.append((fk, False))
            for skey, with_mid in cands:
                syl = syllable_llr(skey)
                if syl is not None:
                    direct = table.get(skey)
                    if direct is None or abs(direct) < _MIN_LOGODDS:
                        name_llr, used_mid = (direct or 0.0) + syl, with_mid
                        break
        if (name_llr is None or abs(name_llr) < _MIN_LOGODDS) and mid and not used_mid:
            m = _lookup_token(mid, table)  # the middle name as further evidence ("kim marie")
            if m is not None:
                name_llr = (name_llr or 0.0) + m
    if name_llr is None and len(names) >= 3:
        for mid in names[1:-1]:
            if mid:
                name_llr = _lookup_token(mid, table)
                name_src = "middle_name"
                break
    return name_llr, name_src


def _key(tok: str) -> str:
    return nn._ascii_letters(tok) if tok.isascii() else nn.fold_key(tok)


def _syllables() -> dict[str, float]:
    return load_syllables()[0]


@functools.lru_cache(maxsize=1)
def _all_pronoun_words() -> frozenset[str]:
    return frozenset(_PRONOUNS_F | _PRONOUNS_M | _PRONOUNS_OTHER)


def detect_gender(full_name: str | None, username: str | None = None) -> GenderGuess:
    """Infer gender from a display name, falling back to the username (see module doc)."""
    table = load_table()
    text = nn.clean_display(full_name)
    lower = text.lower()
    pron, lower = _pronoun_llr(lower) if "/" in lower or "(" in lower else (0.0, lower)

    tokens: list[str] = []
    segments = lower.split("|") if "|" in lower else (lower,)
    for seg in segments:  # "Name | Tattoo Artist": the first segment with words is the name
        for t in _SPLIT_RE.split(seg):
            t = t.strip(".'-")
            if not t:
                continue
            if t.endswith("'s") and len(t) > 3:  # possessive: "Jessica's Bakery"
                t = t[:-2]
            tokens.append(t)
        if tokens:
            break

    title = 0.0
    word = 0.0
    honorific = False
    names: list[str] = []
    for i, t in enumerate(tokens):
        key = t.replace(".", "") if t.isascii() else nn.fold_key(t)
        if key in _BUSINESS:
            return _UNKNOWN["business"]
        if t in _COUPLE and names and i + 1 < len(tokens):
            return _UNKNOWN["couple"]
        if not names and key in _TITLES_F:
            title, honorific = TITLE_LLR, True
            continue
        if not names and key in _TITLES_M:
            title, honorific = -TITLE_LLR, True
            continue
        if not names and key in _HONORIFICS:
            honorific = True
            continue
        if key in _WORDS_F:
            word = WORD_LLR
            continue
        if key in _WORDS_M:
            word = -WORD_LLR
            continue
        if key in _TITLES_NEUTRAL or key in _all_pronoun_words() and len(tokens) > 1:
            continue
        if t.isascii() and len(key) < 2:  # initials keep their slot ("j. smith": no first name)
            names.append("")
            continue
        names.append(t)

    if honorific and len(names) == 1:
        names = [""]  # "Mrs. Thompson", "Dr Reinhardt": a title is followed by the surname
    name_llr, name_src = _name_evidence(names, table)

    parts = {"title": title, "pronoun": pron, "word": word}
    if name_llr is not None:
        parts[name_src] = name_llr
    total = sum(parts.values())
    if abs(total) < _MIN_LOGODDS and username:
        u = _username_llr(username, table, [nn.fold_key(x) if x else "" for x in names])
        if u is not None:
            parts["username"] = u[1] * u[0]
            total = sum(parts.values())
    if not tokens and not parts.get("username") and pron == 0.0:
        return _UNKNOWN["empty"]
    if abs(total) < _MIN_LOGODDS:
        return _UNKNOWN["ambiguous" if (name_llr is not None or "username" in parts) else "not_found"]
    sign = 1 if total > 0 else -1
    source = max(parts, key=lambda s: sign * parts[s])
    p = _logistic(abs(total))
    return GenderGuess("female" if sign > 0 else "male", round(p, 4), source)
