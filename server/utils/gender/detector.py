"""Gender inference from an Instagram display name (and username).

``detect_gender(full_name, username=None) -> GenderGuess``

* ``gender``: ``"male"``, ``"female"`` or ``"unknown"``.
* ``probability``: posterior probability (0.5-1.0) of the returned gender; 0.0 for unknown.
* ``source``: what decided it: ``"first_name"``, ``"middle_name"``, ``"username"``,
  ``"pronoun"``, ``"title"``, ``"word"``; for unknown the reason: ``"empty"``,
  ``"business"``, ``"couple"`` (also families), ``"ambiguous"``, ``"not_found"`` (and
  ``"low_probability"`` from ``GenderGuess.at_least``, a caller's stricter cut).

Evidence is added as log-odds (nats) of "female":
  name      per-name log-likelihood ratios from ``lookup`` (WGND 2.0, US SSA,
            nam_dict; each source calibrated against the others, see
            ``scripts/build_gender_table.py``); a romanised Chinese name (pinyin family
            name + two-syllable given name) is read by the pinyin syllable model only, a
            romanised Korean one from the Korean records' Hangul names
            (``origin.korean_romanised``); other Chinese/Korean table evidence is scaled
            and capped (``Tuning.east_asian_scale`` / ``east_asian_cap``); names known
            only as one-off WGND records weigh ``Tuning.rare_llr``; a given name in no
            source, its ending (``Tuning.suffix_weight``); Arabic, Hebrew, Indic and Thai
            script names not in the native keys, by consonant skeleton (``_skeleton_llr``);
  pronoun   a "(she/her)" / "he/him" set: ±PRONOUN_LLR (they/them or mixed sets: 0);
            a set against confident other evidence ("Michael (she/her)") gives unknown;
  title     Mrs/Ms/Miss/Lady... or Mr/Sir/...: ±TITLE_LLR;
  word      gendered words (mom, wife, queen / dad, husband, king ...): ±WORD_LLR.
Name order: a family name first is moved last when the US census has it far more often
as a family name (``wilson.emma``; ``Tuning.surname_margin``), as is a Korean family name
before a Korean given name ("Park Minji") (``_given_first``); the family name He after a
pinyin given name ("Li Juan He") is a name, not the pronoun. Every tunable value is in
``data/tuning.json``, chosen by cross-validation (``bench/gender_cv.py``); ``use_tuning``
installs another set (for that cross-validation).
The answer is given only when the posterior reaches ``Tuning.min_probability``; business
or organisation words, couples and families give unknown: "Anna & Tom", "Mr & Mrs
Smith", "Smith Family", and, when both names are confident given names of opposite
genders, "Anna 💑 Tom", "Anna y Carlos", "Juan y María", "Anna x Tom"; shops named after a
person in other languages ("Loja da Maria", "Chez Marie", "Casa de Ana"). "Name | Tattoo Artist"
(or "•"): only the first segment is read as the name. After a title ("Mrs. Thompson",
"Dr Reinhardt") a single remaining token is a surname. Camel-case words are split
("MariaGarcia") unless the whole word is a name ("DeShawn"). Names in Han characters
written family name first with a space ("山田 花子") are reordered (``_family_first``).
The username is read only when the display name leaves the answer open, and only for
what the display name lacks (see ``_username_llr``); a handle of two or more separated
chunks ("anna.maria_smith99") goes through the same ``_name_evidence`` as the display
name "Anna Maria Smith".

Pure: same input, same output. Lookup data are loaded on the first call
(``lookup.load_table``), never at import. Never raises for odd input
(``None``, non-strings, emoji-only): such input gives unknown.
"""
from __future__ import annotations

import functools
import math
import re
from typing import NamedTuple

from server.utils.gender import names as nn
from server.utils.gender import origin
from server.utils.gender.lookup import (is_common_word, load_rare, load_skeletons, load_source, load_surnames, load_syllables,
                                         load_suffixes, load_table, rare_llr, suffix_llr, surname_ratio,
                                         syllable_llr)
from server.utils.gender.tuning import Tuning, load_tuning

PRONOUN_LLR = 3.0   # self-declared, but may be decorative: ~95 % alone
TITLE_LLR = 4.0     # Mrs/Mr: ~98 % alone
WORD_LLR = 1.5      # "mom", "king", ...: weak, ~82 % alone
MAX_USERNAME_LENGTH = 30  # Instagram's limit for a username
MAX_INPUT_LENGTH = 200  # longer inputs are cut: Instagram allows 30 (username) and 64 (name) characters


class _Active:
    """The tuning in force, its fields as attributes and the cut as log-odds (read on every call)."""

    def __init__(self, t: Tuning):
        self.tuning = t
        self.cut = t.cut
        self.rare_llr = t.rare_llr
        self.username_weight = t.username_weight
        self.east_asian_scale = t.east_asian_scale
        self.east_asian_cap = t.east_asian_cap
        self.surname_margin = t.surname_margin
        self.suffix_weight = t.suffix_weight
        self.pinyin_scale = t.pinyin_scale


_T: _Active = None  # type: ignore[assignment]  # set on the first call (_load_all) or by use_tuning


def use_tuning(t: Tuning | None) -> Tuning:
    """Install ``t`` for later calls (None: the shipped ``data/tuning.json``); returns the
    tuning in force before. Used by the cross-validation (``bench/gender_cv.py``)."""
    global _T
    _load_all()
    prev = _T.tuning
    _T = _Active(load_tuning() if t is None else t)
    return prev


class GenderGuess(NamedTuple):
    """Result of :func:`detect_gender` (see module doc for the fields); immutable."""

    gender: str
    probability: float
    source: str

    def at_least(self, min_probability: float | None) -> GenderGuess:
        """This guess, or unknown (source ``"low_probability"``) if its probability is below
        ``min_probability`` (0.5-1.0; None keeps the guess). Used for a stricter per-job cut."""
        if min_probability is None or self.gender == "unknown" or self.probability >= min_probability:
            return self
        return _UNKNOWN["low_probability"]


_UNKNOWN = {r: GenderGuess("unknown", 0.0, r)
            for r in ("empty", "business", "couple", "ambiguous", "not_found", "low_probability")}

_PRONOUNS_F = {"she", "her", "hers", "ela", "ella", "sie"}
_PRONOUNS_M = {"he", "him", "his", "ele", "el", "er", "ihm"}
_PRONOUNS_OTHER = {"they", "them", "theirs", "xe", "xem", "ze", "zir", "hir", "it", "its", "any", "all", "elu"}
_ALL_PRONOUNS = frozenset(_PRONOUNS_F | _PRONOUNS_M | _PRONOUNS_OTHER)
# Pronouns standing alone in a name ("Jessica she her") are skipped; those that are also
# given names ("Ella", "Ela", "Ele", "El") are read as names outside a pronoun set.
_PRONOUN_WORDS = frozenset({"she", "her", "hers", "he", "him", "his", "they", "them", "theirs", "xe", "xem",
                            "ze", "zir", "hir"})
_PRONOUN_RE = re.compile(r"\b([a-z]+)(\s*/\s*[a-z]+)+\b|\(\s*(she|he|they)\s*\)")

_TITLES_F = {"mrs", "ms", "miss", "mme", "madame", "mlle", "lady", "dame", "frau", "sra", "srta", "senora",
             "signora", "sig.ra", "mistress", "madam", "mrs.", "ms.", "mademoiselle", "fr"}
_TITLES_M = {"mr", "sir", "herr", "sr", "senor", "signor", "sig", "lord", "monsieur", "mister", "hr"}
_TITLES_NEUTRAL = {"dr", "prof", "professor", "doctor", "rev", "ing", "eng", "mag", "dipl", "phd", "md",
                   "coach", "chef", "dj", "mc", "the", "its", "im", "iam", "i", "am", "real", "hi", "hey",
                   "by", "official", "team", "fan", "fans", "de", "van", "von", "der", "da", "di", "del",
                   "la", "le", "mx", "sgt", "capt", "st", "saint", "rn", "jr", "sr.", "just", "simply", "hello",
                   "love", "lil", "little", "only"}
# Lead-in words ("I'm Anna", "Hey it's Tom") are skipped only before the name.
_LEAD_INS = frozenset({"the", "its", "im", "iam", "i", "am", "hi", "hey", "hello", "just", "simply", "by"})
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
    # other languages: shops and trades often named after a person ("Loja da Maria", "Chez Marie",
    # "Pasticceria di Anna", "Salão da Ana", "Bei Anna", "Магазин Ольги")
    "loja", "lojas", "chez", "bei", "maison", "atelier", "atelie", "tienda", "peluqueria", "salao", "friseur",
    "boulangerie", "patisserie", "panaderia", "pasteleria", "ristorante", "osteria", "pizzaria", "padaria",
    "confeitaria", "doceria", "doces", "bolos", "cantinho", "cozinha", "cocina", "cucina", "moda", "modas",
    "estetica", "kosmetik", "kosmetikstudio", "backerei", "metzgerei", "kuafor", "butik", "pastanesi",
    "cafeteria", "confiteria", "floreria", "floristeria", "fleurs", "fleuriste", "joyeria", "joalheria",
    "otica", "optica", "farmacia", "drogaria", "papelaria", "sorveteria", "lanchonete", "churrascaria",
    "hamburgueria", "tasca", "taberna", "mercearia", "emporio", "negozio", "bottega", "gelateria",
    "pasticceria", "macelleria", "salumeria", "sapataria", "roupas", "acessorios", "semijoias", "brecho",
    "toko", "warung", "kedai", "magazin", "studiya", "kafe", "delicias", "sabores", "artesanato", "boutik",
    "institut", "beaute", "coiffure", "coiffeur", "epicerie", "traiteur", "creperie", "brasserie", "friterie",
    "heladeria", "carniceria", "zapateria", "libreria", "reposteria", "dulces", "postres", "tortas", "bazar",
}
# "Casa de Maria", "Casa da Ana": a business only before a name particle (Casa is also a family name)
_BUSINESS_BEFORE_PARTICLE = {"casa", "cantina", "forno", "sabor", "mundo", "espaco", "espacio", "espace"}
_PARTICLES = {"da", "de", "do", "di", "del", "della", "du", "des", "dos", "das"}
# Professions after a separator ("Name | Tattoo Artist") describe a person, not a business.
_HONORIFICS = {"dr", "prof", "professor", "doctor", "rev", "capt", "sgt", "ing", "mag", "dipl"}
_USERNAME_PREFIXES = ("the", "its", "itz", "im", "iam", "real", "official", "hey", "hi", "mr", "mrs", "miss",
                      "ms", "dr", "lil", "little", "just", "only", "ur", "your", "yours", "queen", "king", "x")
_COUPLE = {"&", "+", "and", "und"}
# Words and couple emoji that join two people in other languages or styles ("Anna y
# Carlos", "Anna x Tom", "Anna 💑 Tom") but also occur in one person's name ("Maria E.
# Thomas", "Ana García y Martín", "Lisa x Louis Vuitton"): a couple only when the whole
# name is one given name, the word or emoji, and one given name of the opposite gender.
# Hearts and rings are not among them: they decorate single names ("Anna ❤️ Martin").
_COUPLE_MAYBE = {"y", "e", "et", "i", "og", "en", "és", "es", "ve", "и", "x", "with", "w", "con", "mit", "avec",
                 "com", "och"}
_COUPLE_EMOJI_RE = re.compile("[\U0001F491\U0001F48F\U0001F46B]")  # 💑 💏 👫
_FAMILY = {"family", "familia", "famille", "familie", "famiglia", "familj", "rodzina", "семья"}
_HAN_COMPOUND_SURNAMES = {"欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "令狐", "慕容", "夏侯", "尉迟", "公孙",
                          "歐陽", "諸葛", "司馬", "東方", "長孫", "宇文"}
_ANY_CUE = frozenset(_BUSINESS | _BUSINESS_BEFORE_PARTICLE | _TITLES_F | _TITLES_M | _HONORIFICS | _WORDS_F | _WORDS_M | _TITLES_NEUTRAL
                     | _PRONOUN_WORDS | _FAMILY)
_LOGOGRAPHIC = ("han", "kana", "hangul")
_CAMEL_WORD = re.compile(r"(?<![A-Za-z])[A-Z][a-z]+(?:[A-Z][a-z]+)+(?![A-Za-z])")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT_RE = re.compile(r"[\s()\[\]{}|,;:!?\"*~#@/\\<>=^_]+")


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _pronoun_llr(text: str) -> tuple[float, str]:
    """Find pronoun sets in lower-case text; return (llr, text without them)."""
    llr = 0.0
    found = False
    for m in _PRONOUN_RE.finditer(text):
        words = set(re.findall(r"[a-z]+", m.group(0)))
        if not words <= _ALL_PRONOUNS:
            continue
        found = True
        if words <= _PRONOUNS_F:
            llr += PRONOUN_LLR
        elif words <= _PRONOUNS_M:
            llr += -PRONOUN_LLR
        # they/them and mixed sets ("she/they"): no signal
    if found:
        text = _PRONOUN_RE.sub(
            lambda m: " " if set(re.findall(r"[a-z]+", m.group(0))) <= _ALL_PRONOUNS
            else m.group(0), text)
    return max(-PRONOUN_LLR, min(PRONOUN_LLR, llr)), text


def _lookup_token(tok: str, table: dict[str, float]) -> float | None:
    """Name evidence for one display-name token (native script first, then folded)."""
    if not tok.isascii():
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
        sk_script = nn.skeleton_script(tok)
        if sk_script is not None:
            return _skeleton_llr(tok, sk_script, table)
    k = _key(tok)
    if len(k) < 2:
        return None
    v = table.get(k)
    if v is None:
        v = rare_llr(k)
        if v is not None:
            v = _T.rare_llr if v > 0 else -_T.rare_llr
    if v is None and "-" in tok:  # hyphenated given name: first part
        first = _key(tok.split("-")[0])
        if len(first) >= 2:
            v = table.get(first)
    if v is None and not tok.isascii() and k.endswith("iya"):  # Cyrillic -ия read "iya"; Latin usage "ia"
        v = table.get(k[:-3] + "ia")
    if v is None and _T.suffix_weight and "-" not in tok:  # a name in no source: its ending
        v = suffix_llr(k)
        if v is not None:
            v *= _T.suffix_weight
    return v


def _skeleton_llr(tok: str, script: str, table: dict[str, float]) -> float | None:
    """Evidence for a token in Arabic, Hebrew, Indic or Thai script that the native keys lack.

    Indic and Thai transliterations spell most vowels ("प्रिया" -> "priya"), so the folded
    key is looked up first; Arabic and Hebrew ones do not ("محمد" -> "mhmd", which as a
    Latin key would be noise). Then the consonant skeleton (``names.skeleton_keys``) in
    that script's skeleton table; several keys (Hebrew vav) must agree.
    """
    if script in ("indic", "thai"):
        k = _key(tok)
        if len(k) >= 2:
            v = table.get(k)
            if v is None and script == "indic":  # a Thai transliteration lacks the unwritten
                v = rare_llr(k)                  # vowels: its key would hit one-off records at random
                if v is not None:
                    v = _T.rare_llr if v > 0 else -_T.rare_llr
            if v is not None:
                return v
    sk = load_skeletons()[script]
    vals = [sk[k] for k in nn.skeleton_keys(tok) if k in sk]
    if not vals or (min(vals) < 0 < max(vals)):
        return None
    return min(vals, key=abs)


def _segment_prefix(chunk: str, table: dict[str, float], strip: int = 2) -> float | None:
    """Evidence for a glued chunk ("thejessicasmith"): its known name prefixes (>= 3 letters).

    Returns the longest confident prefix's log-odds if every confident prefix
    points the same way, else None (e.g. "andreasmith": andrea / andreas disagree).
    Up to ``strip`` handle prefixes ("the", "its", "real" ...) are tried off the
    front. A chunk longer than an Instagram username (30 characters) is not a
    handle: None.
    """
    if len(chunk) > MAX_USERNAME_LENGTH:
        return None
    if strip:
        for p in _USERNAME_PREFIXES:
            if chunk.startswith(p) and len(chunk) - len(p) >= 3:
                v = _segment_prefix(chunk[len(p):], table, strip - 1)
                if v is not None:
                    return v
    found = []
    for end in range(min(len(chunk), 12), 2, -1):
        v = table.get(chunk[:end])
        if v is not None and abs(v) >= _T.cut:
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
    """(log-odds, weight) of "female" read from a username, or None.

    ``display`` = the display name's name tokens (folded; ``""`` = an initial).
    A handle only adds what the display name lacks:
      * a chunk that extends the display first name ("kim" -> "kimberly"): full weight;
      * a given name next to the display surname ("K. Smith" or "Xyz Smith" with
        "kate.smith"): the handle's chunks other than the display name's, read as a name.
    A handle that repeats the display first name adds nothing (its other chunks
    are surnames: "Zilfa", "zilfa.sener"), nor does one that shares no chunk with
    the display name ("mystic_cactus_66"): None.
    Without a display name, two or more separated chunks ("anna.smith_9") are read
    like the display name "Anna Smith" (full weight); a single or glued chunk
    counts ``Tuning.username_weight``, and a glued one is segmented by its known
    name prefixes (``_segment_prefix``); a handle with no name but a gendered word
    ("proud_mom") gives ±WORD_LLR. Business and family handles ("smithfamily"): None.
    """
    chunks = nn.split_username(username)
    if any((ch in _BUSINESS and ch != "official") or any(f in ch for f in _FAMILY) for ch in chunks):
        return None
    found = _handle_name_llr(chunks, table, display)
    if found is None and not (display and any(display)):  # no name at all: "proud_mom", "mom.of.three"
        word = sum(WORD_LLR if ch in _WORDS_F else -WORD_LLR for ch in chunks if ch in _WORDS_F or ch in _WORDS_M)
        return (max(-WORD_LLR, min(WORD_LLR, word)), 1.0) if word else None
    return found


def _handle_name_llr(chunks: list[str], table: dict[str, float],
                     display: list[str] | None) -> tuple[float, float] | None:
    """The name part of :func:`_username_llr`: (log-odds, weight) or None."""
    if display and any(display):
        first = display[0]
        if len(first) >= 3:
            for ch in chunks:
                if ch != first and ch.startswith(first) and ch not in display:
                    v = table.get(ch)
                    if v is not None:
                        return v, 1.0
        if (first and first in chunks) or not any(ch in display for ch in chunks):
            return None
        chunks = [ch for ch in chunks if ch not in display]
    named = [ch for ch in chunks if ch not in _ANY_CUE and ch not in _USERNAME_PREFIXES]  # "dad_life": no name
    if len(named) >= 2:
        # in the given-name order (``_given_first``: "smith.anna" -> anna, smith), a common
        # English word before the family-name slot is no name ("brave.shadow") unless nam_dict,
        # a dictionary of given names, has it ("grace.hill", "mark_stone", "kim.marie.jones")
        given = load_source("namdict_names.tsv.gz")
        named = _given_first([ch if len(ch) >= 2 else "" for ch in named], table)
        last = len(named) - 1
        names = [ch if i == last or not ch or ch in given or not is_common_word(ch) else ""
                 for i, ch in enumerate(named)]
        v, _ = _name_evidence(names, table)
        return (v, 1.0) if v is not None else None
    if not named or len(named[0]) < 3:
        return None
    ch = named[0]
    v = table.get(ch)
    if v is None or abs(v) < _T.cut:  # a lone pinyin given name, as in the display-name path
        syl = _pinyin(ch)
        if syl is not None:
            v = (v or 0.0) + syl
    if v is None:
        v = _segment_prefix(ch, table)
    return (v, _T.username_weight) if v is not None else None


def _name_evidence(names: list[str], table: dict[str, float]) -> tuple[float | None, str]:
    """(log-odds, source) from the name tokens (first, middle..., last); ``""`` = initial.

    Shared by the display name and by a username's separated chunks, so a handle
    such as ``anna.maria_smith`` is read exactly like "Anna Maria Smith".
    """
    name_llr = None
    name_src = "first_name"
    used_mid = False
    names = _given_first(names, table)
    toks = [t for t in names if t] if "" in names else names
    # Chinese or Korean: a pinyin syllable or a Chinese/Korean family name at either end
    # (most names stop here)
    cjk = len(toks) >= 2 and (_key(toks[-1]) in _cjk_keys() or _key(toks[0]) in _cjk_keys())
    if cjk:
        cn = _chinese_given(names)
        if cn is not None:
            return cn, "first_name"
        ko = _korean_given(names)
        if ko is not None:
            return max(-_T.east_asian_cap, min(_T.east_asian_cap, ko * _T.east_asian_scale)), "first_name"
    if names and names[0]:
        first = names[0]
        mid = names[1] if len(names) >= 3 and names[1] else ""
        if mid:  # first + middle compound ("jean paul", "shao qing"); fallback to the first name
            comp = table.get(_key(first + mid))
            if comp is not None and abs(comp) >= _T.cut:
                name_llr, used_mid = comp, True
        if name_llr is None:
            name_llr = _lookup_token(first, table)
        if (name_llr is None or abs(name_llr) < _T.cut) and len(names) == 1 and (
                first.isascii() or nn.script_of(first) == "latin"):
            # a lone romanised given name of two pinyin syllables ("xiaoming", "xiao-ming"):
            # syllable model added to whatever (weak) evidence the whole name has
            syl = _pinyin(_key(first))
            if syl is not None:
                name_llr = (name_llr or 0.0) + syl
        if (name_llr is None or abs(name_llr) < _T.cut) and mid and not used_mid:
            m = _lookup_token(mid, table)  # the middle name as further evidence ("kim marie")
            if m is not None:
                name_llr = (name_llr or 0.0) + m
    if name_llr is None and len(names) >= 3:
        for mid in names[1:-1]:
            if mid:
                name_llr = _lookup_token(mid, table)
                name_src = "middle_name"
                break
    if name_llr is not None and cjk and _east_asian(names):
        name_llr = max(-_T.east_asian_cap, min(_T.east_asian_cap, name_llr * _T.east_asian_scale))
    return name_llr, name_src


def _given_first(names: list[str], table: dict[str, float]) -> list[str]:
    """The name tokens with the given name first, for the two orders read here:

    * romanised Korean written family name first: a Korean family name, then a
      two-syllable Korean given name, as one token or two ("Park Minji", "park.min.ji",
      "Kim Ji-won") -> "Minji ... Park";
    * a family name first (``wilson.emma``, "Roberts Kelly"): the first token is borne as a
      family name ``Tuning.surname_margin`` (log ratio) more often than as a given name in
      the US census, and the last is not, and is a confident given name.
    Anything else is returned unchanged.
    """
    toks = [t for t in names if t] if "" in names else names
    if not 2 <= len(toks) <= 3 or not (toks[0].isascii() or nn.script_of(toks[0]) == "latin"):
        return names
    first = _key(toks[0])
    if first in origin.KOREAN_SURNAMES:
        last = _key(toks[-1])
        keys = [_key(t) for t in toks]
        given = "".join(keys[1:])
        if origin.korean_given(given):
            if last not in origin.KOREAN_SURNAMES:
                return toks[1:] + toks[:1]
            # "Park Hye Jin" or "Ha Lim Oh": both ends are family names; the Korean records
            # know only one of the two given names
            kr = origin.korean_romanised()
            if len(toks) == 3 and given in kr and keys[0] + keys[1] not in kr:
                return toks[1:] + toks[:1]
    if len(toks) == 2 and surname_ratio(first) >= _T.surname_margin:
        last = _key(toks[-1])
        v = table.get(last) if last not in origin.CHINESE_SURNAMES else None
        if v is not None and abs(v) >= _T.cut and surname_ratio(last) == 0.0:
            return toks[::-1]
    return names


def _korean_given(names: list[str]) -> float | None:
    """Log-odds for a romanised Korean name from the Korean records' own spellings
    (``origin.korean_romanised``), or None if it is not one or they lack its given name.

    A Korean name here is a Korean family name last and a two-syllable Korean given name
    before it, as one token or two ("jihyun kim", "ji hyun kim", "ji-hyun kim"). The
    folded Latin table mixes every language's use of the same letters ("hyungsoon" female
    there, 형순 male in the Korean records), so the Korean records decide.
    """
    toks = [t for t in names if t] if "" in names else names
    if not 2 <= len(toks) <= 3 or _key(toks[-1]) not in origin.KOREAN_SURNAMES or not all(t.isascii() for t in toks):
        return None
    given = "".join(_key(t) for t in toks[:-1])
    if not origin.korean_given(given):
        return None
    return origin.korean_romanised().get(given)


def _east_asian(names: list[str]) -> bool:
    """True for a romanised Chinese or Korean name read from the table: a Chinese or Korean
    family name last and a syllabic given name first ("ji hyun jang", "yu chen"), or two short
    given-name words in any romanisation ("puay hoon tan", "sze ki luk"), that nam_dict does
    not know confidently."""
    toks = [t for t in names if t] if "" in names else names
    if len(toks) < 2:
        return False
    last = _key(toks[-1])
    if last not in origin.CHINESE_SURNAMES and last not in origin.KOREAN_SURNAMES:
        return False
    first = _key(toks[0])
    if not (first in _syllables() or first in origin.korean_syllables() or origin.korean_given(first)
            or syllable_llr(first) is not None
            or (len(toks) == 3 and len(first) <= 5 and len(_key(toks[1])) <= 5)):  # "puay hoon tan"
        return False
    known = load_source("namdict_names.tsv.gz").get(first)
    return known is None or abs(known) < _T.cut


def _opposite(a: str, b: str) -> bool:
    """True if tokens ``a`` and ``b`` are given names of opposite genders: both in nam_dict, a
    dictionary of given names only (the summed table also holds surnames that babies were
    given, such as "smith" or "lopez"), with opposite directions there, and each read
    confidently (at the answer cut) by the whole table in that direction."""
    given = load_source("namdict_names.tsv.gz")
    ka, kb = _key(a), _key(b)
    ga, gb = given.get(ka), given.get(kb)
    if ga is None or gb is None or (ga > 0) == (gb > 0):
        return False
    table = load_table()  # the direction is nam_dict's, the strength the whole table's ("juan", "maria")
    va, vb = table.get(ka, 0.0), table.get(kb, 0.0)
    return abs(va) >= _T.cut and abs(vb) >= _T.cut and (va > 0) == (ga > 0) and (vb > 0) == (gb > 0)


def _couple_emoji(raw: str) -> bool:
    """True for "Anna 💑 Tom": a couple emoji between two given names of opposite genders."""
    parts = _COUPLE_EMOJI_RE.split(raw, maxsplit=1)
    if len(parts) != 2:
        return False
    left = nn.clean_display(parts[0]).lower().split()
    right = nn.clean_display(parts[1]).lower().split()
    return len(left) == 1 and len(right) == 1 and _opposite(left[0], right[0])


def _split_camel(text: str, table: dict[str, float]) -> str:
    """Split display-name words glued in camel case ("MariaGarcia" -> "Maria Garcia").

    A glued word that is itself a known name ("MacKenzie", "DeShawn", "LaToya") stays whole.
    """
    if text.islower() or text.isupper():
        return text
    return _CAMEL_WORD.sub(
        lambda m: m.group(0) if m.group(0).lower() in table else _CAMEL_BOUNDARY.sub(" ", m.group(0)), text)


def _drop_symbol_glyphs(names: list[str]) -> list[str]:
    """Without single Han/kana characters used as ornaments next to a Latin name
    ("★彡 Jessica Smith 彡★", "ツ Anna"); a name written wholly in those scripts is kept."""
    if not any(t.isascii() for t in names if t):
        return names
    return [t for t in names if not (len(t) == 1 and not t.isascii() and nn.script_of(t) in _LOGOGRAPHIC)]


def _family_first(names: list[str]) -> list[str]:
    """Reorder a name written family name first in Han characters (or Hangul), with a space.

    "王 小明" (a one-character or compound Chinese family name) is read as the
    single token "王小明", whose family name the Han lookup strips. "山田 花子",
    "太田 さゆり" (a two-character family name: Japanese order) keep only the
    given name; a given name in kanji gives no evidence (the tables hold Chinese
    readings, which say nothing about a Japanese name), one in kana is looked up.
    Any other list is returned unchanged.
    """
    if len(names) < 2 or not names[0] or names[0].isascii():
        return names
    script = nn.script_of(names[0])
    if script == "hangul" and len(names[0]) == 1 and nn.script_of(names[1]) == "hangul":
        return [names[0] + names[1]] + names[2:]  # "김 민지" is read as "김민지"
    if script != "han":
        return names
    family = "".join(ch for ch in names[0] if ch.isalpha())
    if len(family) == 1 or family in _HAN_COMPOUND_SURNAMES:
        return [names[0] + names[1]] + names[2:]
    return [names[1] if nn.script_of(names[1]) not in ("han", "none") else ""]


def _chinese_given(names: list[str]) -> float | None:
    """Syllable-model log-odds for a romanised Chinese name, or None if it is not one.

    A Chinese name here is a one-syllable pinyin family name next to a two-syllable
    pinyin given name, in either order: "xiaoming wang", "xiao ming wang",
    "xiao-ming wang" or "wang xiaoming". Its given name is read only by the
    syllable model: the folded table mixes every language's use of the same
    letters ("jun", "yan", "hui" ...) and pinyin merges characters of both
    genders, so the table's per-key evidence does not carry over to Chinese
    given names. Middle initials are skipped. Returns None (the caller reads the
    name as usual) when the given name does not split uniquely into two
    syllables, or is a name nam_dict knows confidently ("sean li", "anna long").
    Two one-syllable tokens ("wang fang") are a one-character given name in
    either order: 0.0 (no evidence) when the table reads the two tokens as
    opposite genders, else None.
    """
    if len(names) < 2 or not names[0] or not names[-1]:
        return None
    syl = _syllables()
    first, last = names[0], names[-1]  # lower-case tokens: an ASCII one is its own key
    if ((last if last.isascii() else _key(last)) not in syl
            and (first if first.isascii() else _key(first)) not in syl):
        return None  # no pinyin family name at either end: most names stop here
    names = [t for t in names if t]  # middle initials ("jianhua m. li") say nothing here
    if not all(t.isascii() or nn.script_of(t) == "latin" for t in names):
        return None
    keys = [_key(t) for t in names]
    if len(keys) == 2 and keys[0] in syl and keys[1] in syl:
        # "wang fang" / "fang wang": a one-character given name, either order; the
        # table may read the family name as a given name ("wang"): when the two
        # readings disagree, no evidence, else the usual reading of the first token
        table = load_table()
        a, b = table.get(keys[0]), table.get(keys[1])
        return 0.0 if a is not None and b is not None and (a > 0) != (b > 0) else None
    if keys[-1] in syl and len(keys) <= 3:  # given name first
        given = keys[0] + keys[1] if len(keys) == 3 and keys[0] in syl and keys[1] in syl else keys[0]
        if len(keys) == 3 and given == keys[0]:
            return None
    elif len(keys) == 2 and keys[0] in syl:  # family name first
        given = keys[1]
    else:
        return None
    known = load_source("namdict_names.tsv.gz").get(given)
    if known is not None and abs(known) >= _T.cut:
        return None  # a given name nam_dict knows ("sean", "anna"), not two syllables
    return _pinyin(given)


def _pinyin_given(names: list[str]) -> bool:
    """True if the tokens form a pinyin given name: one or two syllables ("wei", "li juan") or
    a two-syllable token ("yongfu") that nam_dict does not know as a given name of its own."""
    keys = [_key(t) for t in names]
    syl = _syllables()
    if all(k in syl for k in keys):
        return True
    return len(keys) == 1 and syllable_llr(keys[0]) is not None and keys[0] not in load_source("namdict_names.tsv.gz")


def _pinyin(key: str) -> float | None:
    """The pinyin syllable model's log-odds for ``key`` (``lookup.syllable_llr``) times
    ``Tuning.pinyin_scale``, or None."""
    v = syllable_llr(key)
    return None if v is None else v * _T.pinyin_scale


@functools.lru_cache(maxsize=1)
def _load_all() -> dict[str, float]:
    """Load every lookup file on the first call (one pause of about a second per process,
    not one per kind of name); returns the main table."""
    global _T
    load_source("namdict_names.tsv.gz")
    load_syllables()
    load_rare()
    load_surnames()
    load_skeletons()
    load_suffixes()
    origin.korean_syllables()
    origin.korean_romanised()
    _cjk_keys()
    if _T is None:
        _T = _Active(load_tuning())
    return load_table()


def _key(tok: str) -> str:
    return nn._ascii_letters(tok) if tok.isascii() else nn.fold_key(tok)


@functools.lru_cache(maxsize=1)
def _cjk_keys() -> frozenset[str]:
    """Pinyin syllables and Chinese and Korean family names: a name with none of them at
    either end is neither Chinese nor Korean here."""
    return frozenset(_syllables()) | origin.CHINESE_SURNAMES | origin.KOREAN_SURNAMES


def _syllables() -> dict[str, float]:
    return load_syllables()[0]  # the syllable inventory: the model's first-syllable keys


def detect_gender(full_name: str | None, username: str | None = None) -> GenderGuess:
    """Infer gender from a display name, falling back to the username (see module doc)."""
    table = _load_all()
    if isinstance(full_name, str) and len(full_name) > MAX_INPUT_LENGTH:
        full_name = full_name[:MAX_INPUT_LENGTH]
    if isinstance(username, str) and len(username) > MAX_INPUT_LENGTH:
        username = username[:MAX_INPUT_LENGTH]
    if isinstance(full_name, str) and not full_name.isascii() and _couple_emoji(full_name):
        return _UNKNOWN["couple"]
    text = _split_camel(nn.clean_display(full_name), table)
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
        if t.isascii():
            key = t.replace(".", "")
        else:  # cue words are matched in Latin, Cyrillic, Greek ... ("мама"), never in
            # Han/kana/Hangul readings (the name 娜娜 reads "nana", which is not the word)
            key = t if nn.script_of(t) in _LOGOGRAPHIC else nn.fold_key(t)
        if key not in _ANY_CUE and t not in _COUPLE and t not in _COUPLE_MAYBE:  # a plain name token (most)
            names.append("" if len(key) < 2 and t.isascii() else t)
            continue
        if key in _BUSINESS:
            return _UNKNOWN["business"]
        if key in _BUSINESS_BEFORE_PARTICLE and i + 2 < len(tokens) and tokens[i + 1] in _PARTICLES:
            return _UNKNOWN["business"]
        if t in _COUPLE and (names or title) and i + 1 < len(tokens):  # "Anna & Tom", "Mr & Mrs Smith"
            return _UNKNOWN["couple"]
        if (t in _COUPLE_MAYBE and i == 1 and len(tokens) == 3 and f"{t}." not in lower
                and _opposite(tokens[0], tokens[2])):  # "Anna y Carlos", not "Maria E. Thomas"
            return _UNKNOWN["couple"]
        if key in _FAMILY and (i == len(tokens) - 1 or (i == 0 and len(tokens) <= 3)):
            return _UNKNOWN["couple"]  # "Smith Family", "Familia Pérez"; not "Anna, Family Lawyer"
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
        if key in _LEAD_INS and names and t.isascii():  # "Hyungsoon Im": a family name after the name
            names.append(t)
            continue
        if (key in origin.CHINESE_SURNAMES and i == len(tokens) - 1 and len(names) in (1, 2)
                and all(names) and _pinyin_given(names)):
            names.append(t)  # "Wei He", "Li Juan He": the family name He, not the pronoun
            continue
        if key in _TITLES_NEUTRAL or key in _PRONOUN_WORDS and len(tokens) > 1:
            continue
        if t.isascii() and len(key) < 2:  # initials keep their slot ("j. smith": no first name)
            names.append("")
            continue
        names.append(t)

    if honorific and len(names) == 1:
        names = [""]  # "Mrs. Thompson", "Dr Reinhardt": a title is followed by the surname
    if not text.isascii() and len(names) > 1:
        names = _drop_symbol_glyphs(names)
    names = _family_first(names)
    name_llr, name_src = _name_evidence(names, table)

    parts = [(title, "title"), (pron, "pronoun"), (word, "word")]
    if name_llr is not None:
        parts.append((name_llr, name_src))
    total = title + pron + word + (name_llr or 0.0)
    user_llr = None
    if -_T.cut < total < _T.cut and username:
        u = _username_llr(username, table, [nn.fold_key(x) if x else "" for x in names])
        if u is not None:
            user_llr = u[1] * u[0]
            parts.append((user_llr, "username"))
            total += user_llr
    if not tokens and user_llr is None and pron == 0.0:
        return _UNKNOWN["not_found" if nn.split_username(username) else "empty"]
    if pron and (total - pron) * pron < -_T.cut * PRONOUN_LLR:
        # "Michael (she/her)", or "Jessica, Liam's mom (he/him)": a pronoun set against
        # confident other evidence may be the person's or someone else's: unknown
        return _UNKNOWN["ambiguous"]
    if -_T.cut < total < _T.cut:
        return _UNKNOWN["ambiguous" if (name_llr is not None or user_llr is not None) else "not_found"]
    female = total > 0
    source = (max(parts) if female else min(parts))[1]  # the strongest evidence for the answer
    return GenderGuess("female" if female else "male", round(_logistic(abs(total)), 4), source)
