"""Instagram-style decoration of generated people: display names, usernames, business accounts.

Every function takes ``rng`` - any object with ``random() -> float in [0, 1)``,
``below(n) -> int in [0, n)`` and ``choice(seq)`` - so the caller controls determinism. Names
come in as a ``NameParts``; nothing here reads files, the environment or global randomness.

Display-name styles and their approximate shares among personal accounts (``STYLE_SHARES``):
plain "Jessica Smith", first name only, lower/upper case, emoji, fancy Unicode letters, pronouns,
titles, nicknames, "Jessica S.", a short bio tail, and empty names.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple


class NameParts(NamedTuple):
    """One person's name: native spelling plus a Latin-script spelling (equal for Latin scripts)."""

    locale: str
    gender: str  # "female" | "male"
    first: str
    last: str
    first_latin: str
    last_latin: str
    latin: bool
    flag: str
    family_first_sep: str | None  # separator when the native name is written family-name first


# (style, share) for personal accounts; shares add up to 1.
STYLE_SHARES: tuple[tuple[str, float], ...] = (
    ("plain", 0.43),
    ("empty", 0.03),
    ("first_only", 0.08),
    ("lower", 0.07),
    ("upper", 0.03),
    ("emoji", 0.11),
    ("fancy", 0.05),
    ("pronouns", 0.03),
    ("title", 0.02),
    ("nickname", 0.04),
    ("last_initial", 0.03),
    ("bio_tail", 0.03),
    ("romanized_only", 0.05),
)

EMOJI = ("🌸", "✨", "💕", "🔥", "🌙", "💫", "🦋", "🌺", "💖", "🌷", "☀️", "🌊", "⚡", "👑", "💎",
         "🍀", "🌈", "🖤", "🤍", "💙", "🎶", "📸", "🌻", "😎", "⚽", "🏀", "💪", "🎧", "🙏", "❤️")

PRONOUNS = {
    "female": ("(she/her)", "she/her", "she/they", "(she/they)", "• she/her"),
    "male": ("(he/him)", "he/him", "he/they", "(he/they)", "• he/him"),
}

TITLES = {
    "female": ("Dr.", "Dr", "Mrs.", "Ms.", "Prof.", "Coach", "Chef"),
    "male": ("Dr.", "Dr", "Mr.", "Prof.", "Coach", "Chef", "DJ"),
}

BIO_TAILS = {
    "female": ("| Photographer", "• Makeup Artist", "| Fitness Coach", "• Travel", "| Nurse",
               "| Realtor", "• Artist", "| Student", "• Designer", "| Mom of 3", "| Mama of 2",
               "• Model", "| Tattoo Artist", "| Personal Trainer", "| Lash Tech"),
    "male": ("| Photographer", "| Fitness Coach", "• Travel", "| Nurse", "| Realtor", "• Artist",
             "| Student", "• Designer", "| Dad of 2", "• Model", "| Tattoo Artist", "• Barber",
             "| Personal Trainer", "| Chef", "• Producer"),
}

NICKNAMES = {
    "Jessica": ("Jess", "Jessie"), "Jennifer": ("Jen", "Jenny"), "Elizabeth": ("Liz", "Beth", "Lizzy"),
    "Katherine": ("Kate", "Katie"), "Catherine": ("Cathy", "Cat"), "Michael": ("Mike", "Mikey"),
    "William": ("Will", "Billy"), "Robert": ("Rob", "Bobby"), "Christopher": ("Chris",),
    "Alexander": ("Alex", "Xander"), "Nicholas": ("Nick",), "Matthew": ("Matt",), "Daniel": ("Dan", "Danny"),
    "Joseph": ("Joe", "Joey"), "Anthony": ("Tony",), "James": ("Jim", "Jimmy", "Jamie"), "Jonathan": ("Jon",),
    "Samantha": ("Sam", "Sammy"), "Alexandra": ("Lexi", "Alex"), "Victoria": ("Vicky", "Tori"),
    "Rebecca": ("Becky", "Becca"), "Margaret": ("Maggie", "Peggy"), "Patricia": ("Patty", "Trish"),
    "Stephanie": ("Steph",), "Abigail": ("Abby",), "Isabella": ("Bella", "Izzy"), "Gabriella": ("Gabby",),
    "Kimberly": ("Kim",), "Christina": ("Tina",), "Benjamin": ("Ben", "Benji"), "Zachary": ("Zach",),
    "Andrew": ("Andy", "Drew"), "Thomas": ("Tom", "Tommy"), "Richard": ("Rick", "Richie"),
    "Edward": ("Ed", "Eddie"), "Timothy": ("Tim",), "Francisco": ("Paco", "Pancho"), "José": ("Pepe",),
    "Alejandro": ("Ale", "Alex"), "Guadalupe": ("Lupe",), "Giuseppe": ("Peppe", "Beppe"),
    "Francesca": ("Fra", "Franci"), "Mariana": ("Mari",), "Fernanda": ("Nanda", "Fer"), "Gabriel": ("Gabe",),
    "Anastasia": ("Nastya", "Stacy"), "Aleksandr": ("Sasha",), "Dmitry": ("Dima",), "Natalia": ("Nati",),
    "Johanna": ("Jo", "Hanna"), "Jacqueline": ("Jackie",), "Emily": ("Em", "Emmy"), "Olivia": ("Liv", "Livvy"),
    "Charlotte": ("Charlie", "Lottie"), "Madison": ("Maddie",), "Jacob": ("Jake",), "Joshua": ("Josh",),
    "Nathan": ("Nate",), "Samuel": ("Sam", "Sammy"), "Douglas": ("Doug",), "Kenneth": ("Ken", "Kenny"),
}

# Word lists for handles unrelated to the person's name and for business names.
HANDLE_ADJ = ("lazy", "sunny", "wild", "little", "dark", "golden", "crazy", "happy", "lost", "urban",
              "cosmic", "silent", "mystic", "sweet", "salty", "velvet", "neon", "lucky", "pure", "real",
              "frozen", "electric", "sleepy", "broken", "hidden", "lonely", "brave", "cherry", "midnight",
              "quiet", "rusty", "stormy", "tiny", "vintage", "wicked", "cozy", "retro", "savage", "chill", "lunar")
HANDLE_NOUN = ("dreamer", "panda", "vibes", "soul", "wanderer", "sunset", "moon", "rebel", "ghost",
               "fox", "bunny", "wolf", "spirit", "flower", "ocean", "pixel", "tiger", "angel", "kid", "star",
               "coffee", "gamer", "rider", "nomad", "poet", "storm", "mango", "kitten", "shadow", "daisy",
               "pilot", "koala", "cactus", "comet", "raven", "biscuit", "vibe", "hustler", "boi", "queen")
USER_SUFFIX = ("art", "photo", "fit", "official", "makeup", "design", "music", "travel", "style",
               "nails", "bakes", "films", "ink", "studio", "life", "xo", "real", "mua")
BUSINESS_KINDS = ("Hair Studio", "Nail Bar", "Pizza", "Fitness", "Boutique", "Photography", "Bakery",
                  "Barbershop", "Beauty Salon", "Café", "Tattoo", "Coffee", "Dental Care", "Yoga Studio",
                  "Realty", "Auto Repair", "Flowers", "Catering", "Kitchen", "Boxing Gym", "Lash Studio")
CITIES = ("NYC", "LA", "Miami", "London", "Madrid", "Paris", "Berlin", "Milano", "São Paulo", "CDMX",
          "Istanbul", "Dubai", "Toronto", "Sydney", "Chicago", "Lisboa", "Warszawa", "Amsterdam")
BRAND_WORDS = ("Urban", "Golden", "Bloom", "Velvet", "Nova", "Luxe", "Prime", "Coastal", "Wild",
               "Pure", "Bold", "Little", "Royal", "Sunny", "Fresh", "Vintage", "Modern", "Happy")
BRAND_TAILS = ("& Co.", "Collective", "Official", "Store", "Shop", "Agency", "Club", "Market",
               "Supply", "Labs", "Media", "Events", "Design", "Wear")

# Fancy alphabets: Unicode name templates for capital/small letters.
_FANCY_STYLES = (
    "MATHEMATICAL BOLD", "MATHEMATICAL ITALIC", "MATHEMATICAL BOLD ITALIC", "MATHEMATICAL SCRIPT",
    "MATHEMATICAL BOLD SCRIPT", "MATHEMATICAL FRAKTUR", "MATHEMATICAL DOUBLE-STRUCK",
    "MATHEMATICAL SANS-SERIF BOLD", "MATHEMATICAL MONOSPACE", "SMALL CAPS", "FULLWIDTH", "CIRCLED",
)
_LETTERLIKE_FALLBACK = {"MATHEMATICAL SCRIPT": "SCRIPT", "MATHEMATICAL FRAKTUR": "BLACK-LETTER",
                        "MATHEMATICAL DOUBLE-STRUCK": "DOUBLE-STRUCK"}
_SMALL_CAPS = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡxʏᴢ"))


def _lookup(name: str) -> str | None:
    try:
        return unicodedata.lookup(name)
    except KeyError:
        return None


@functools.lru_cache(maxsize=None)
def fancy_alphabet(style: str) -> dict[str, str]:
    """Map ASCII letters to the fancy alphabet ``style`` (one of ``_FANCY_STYLES``); cached."""
    table: dict[str, str] = {}
    for low in "abcdefghijklmnopqrstuvwxyz":
        up = low.upper()
        if style == "SMALL CAPS":
            table[low] = _SMALL_CAPS[low]
            continue
        if style == "FULLWIDTH":
            table[up] = _lookup(f"FULLWIDTH LATIN CAPITAL LETTER {up}") or up
            table[low] = _lookup(f"FULLWIDTH LATIN SMALL LETTER {up}") or low
            continue
        if style == "CIRCLED":
            table[up] = _lookup(f"CIRCLED LATIN CAPITAL LETTER {up}") or up
            table[low] = _lookup(f"CIRCLED LATIN SMALL LETTER {up}") or low
            continue
        for case, char in (("CAPITAL", up), ("SMALL", low)):
            found = _lookup(f"{style} {case} {up}")
            if found is None and style in _LETTERLIKE_FALLBACK:
                found = _lookup(f"{_LETTERLIKE_FALLBACK[style]} {case} {up}")
            if found is None and style == "MATHEMATICAL ITALIC" and char == "h":
                found = "\u210e"  # PLANCK CONSTANT stands in for italic small h
            table[char] = found or char
    return table


def fancify(text: str, style: str) -> str:
    """Rewrite the Latin letters of ``text`` in a fancy alphabet; diacritics stay as combining marks."""
    table = fancy_alphabet(style)
    out = []
    for ch in unicodedata.normalize("NFD", text):
        out.append(table.get(ch, ch))
    return "".join(out)


_STYLE_CUM: tuple[tuple[float, str], ...] = tuple(
    (sum(share for _, share in STYLE_SHARES[: i + 1]), style) for i, (style, _) in enumerate(STYLE_SHARES))


def _pick_style(u: float) -> str:
    for bound, style in _STYLE_CUM:
        if u < bound:
            return style
    return "plain"


def native_full(n: NameParts) -> str:
    """The person's full name as they would write it in their own script."""
    if n.family_first_sep is not None and not n.latin:
        return f"{n.last}{n.family_first_sep}{n.first}"
    return f"{n.first} {n.last}"


def display_name(rng, n: NameParts) -> str:
    """A personal account's Instagram display name (``full_name``); may be ``""`` (≈3 %).

    Non-Latin people write in their own script about 60 % of the time, else romanized.
    """
    style = _pick_style(rng.random())
    native = not n.latin and rng.random() < 0.6
    first = n.first if native else n.first_latin
    last = n.last if native else n.last_latin
    full = native_full(n) if native else f"{first} {last}"
    if style == "empty":
        return ""
    if style == "plain" or style == "romanized_only":
        return full if style == "plain" else f"{n.first_latin} {n.last_latin}"
    if style == "first_only":
        return first
    if style == "lower":
        return full.lower()
    if style == "upper":
        return full.upper()
    if style == "emoji":
        e1 = n.flag if rng.random() < 0.2 else rng.choice(EMOJI)
        e2 = rng.choice(EMOJI)
        where = rng.below(5)
        base = full if rng.random() < 0.75 else first
        if where == 0:
            return f"{e1} {base}"
        if where == 1:
            return f"{first} {e1} {last}" if base == full and not native else f"{base} {e1}"
        if where == 2:
            return f"{base} {e1}{e2 if rng.random() < 0.4 else ''}"
        if where == 3:
            return f"{e1}{base}{e1}"
        return f"{e1} {base} {e2}"
    if style == "fancy":
        s = rng.choice(_FANCY_STYLES)
        base = f"{n.first_latin} {n.last_latin}" if rng.random() < 0.7 else n.first_latin
        text = fancify(base, s)
        return f"{text} {rng.choice(EMOJI)}" if rng.random() < 0.3 else text
    if style == "pronouns":
        p = rng.choice(PRONOUNS[n.gender])
        base = full if rng.random() < 0.7 else first
        return f"{base} {p}" if rng.random() < 0.8 else f"{base} | {p.strip('()• ')}"
    if style == "title":
        return f"{rng.choice(TITLES[n.gender])} {first} {last}" if rng.random() < 0.7 else \
            f"{rng.choice(TITLES[n.gender])} {last}"
    if style == "nickname":
        nicks = NICKNAMES.get(n.first_latin)
        if not nicks:
            return full
        nick = rng.choice(nicks)
        return f"{nick} {n.last_latin}" if rng.random() < 0.7 else nick
    if style == "last_initial":
        return f"{first} {last[:1]}." if last else first
    if style == "bio_tail":
        return f"{full} {rng.choice(BIO_TAILS[n.gender])}"
    return full


_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_HANDLE = re.compile(r"[^a-z0-9._]+")
_HANDLE_OK = re.compile(r"[a-z0-9._]*")


@functools.lru_cache(maxsize=65_536)
def slug(text: str) -> str:
    """Lower-case ASCII letters/digits of ``text`` after transliteration (``"José" -> "jose"``)."""
    from standins.names import romanize

    return _NON_ALNUM.sub("", romanize(text).lower())


def _digits(rng) -> str:
    """Handle digits: 2-digit (35 %), birth year (20 %), 3-digit (25 %), 4-digit (20 %)."""
    u = rng.random()
    if u < 0.35:
        return f"{rng.below(100):02d}"
    if u < 0.55:
        return str(1965 + rng.below(45))
    if u < 0.80:
        return str(100 + rng.below(900))
    return str(1000 + rng.below(9000))


def finish_username(name: str, fallback: str) -> str:
    """Clamp to Instagram's rules: [a-z0-9._], 1-30 chars, no leading/trailing dot, no '..'."""
    if not name.isascii() or not _HANDLE_OK.fullmatch(name):
        name = _NOT_HANDLE.sub("", name.lower())
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip(".")
    if len(name) > 30:
        name = name[:30].rstrip(".")
    return name or fallback


def username(rng, n: NameParts) -> str:
    """An Instagram handle for a personal account, usually derived from the romanized name.

    Examples: ``jessica.smith_99``, ``jess_smith``, ``thejessicasmith``, ``smith.jessica``,
    ``j.smith.art``; ≈10 % are unrelated handles like ``xx_dreamer_07``.
    """
    f = slug(n.first_latin) or "user"
    l = slug(n.last_latin) or f
    nick = NICKNAMES.get(n.first_latin)
    u = rng.random()
    if u < 0.05:
        h = f"{f}.{l}"
    elif u < 0.09:
        h = f"{f}_{l}"
    elif u < 0.13:
        h = f"{f}{l}"
    elif u < 0.27:
        h = f"{f}.{l}{rng.choice(('', '_', '.'))}{_digits(rng)}"
    elif u < 0.36:
        h = f"{f}_{l}{_digits(rng)}"
    elif u < 0.45:
        h = f"{f}{l}{_digits(rng)}"
    elif u < 0.47:
        h = f"the{f}{l}"
    elif u < 0.50:
        h = f"{l}.{f}"
    elif u < 0.52:
        h = f"{l}.{f}{_digits(rng)}"
    elif u < 0.57:
        h = f"{f[0]}.{l}{rng.choice(('', '_' + _digits(rng), _digits(rng)))}"
    elif u < 0.60:
        h = f"{f[0]}.{l}.{rng.choice(USER_SUFFIX)}"
    elif u < 0.63:
        h = f"{f}.{l}.{rng.choice(USER_SUFFIX)}"
    elif u < 0.68:
        h = f"{f}{rng.choice(('', '_', '.'))}{_digits(rng)}{rng.below(100):02d}"
    elif u < 0.71:
        h = f"{f}_{l[0]}{_digits(rng)}"
    elif u < 0.73:
        h = f"_{f}.{l}_"
    elif u < 0.76:
        h = f"{slug(rng.choice(nick))}_{l}" if nick else f"{f}__{l}"
    elif u < 0.79:
        h = f"{f}.{rng.choice(USER_SUFFIX)}{_digits(rng)}"
    elif u < 0.81:
        h = f"xx_{f}.{l}_xx"
    elif u < 0.85:
        h = f"its{f}{rng.choice(('', '_', 'x'))}{l[:3]}{rng.below(100)}"
    else:
        h = unrelated_handle(rng)
    return finish_username(h, f"user{rng.below(10**6)}")


def unrelated_handle(rng) -> str:
    """A handle with no trace of the person's name, e.g. ``xx_dreamer_07``, ``sunset.vibes22``."""
    a, b = rng.choice(HANDLE_ADJ), rng.choice(HANDLE_NOUN)
    kind = rng.below(5)
    if kind == 0:
        return f"xx_{a}{b}_{rng.below(1000):02d}"
    if kind == 1:
        return f"{a}.{b}{_digits(rng)}"
    if kind == 2:
        return f"{a}_{b}_{_digits(rng)}"
    if kind == 3:
        return f"its.{a}.{b}.{rng.below(1000)}"
    return f"{b}{rng.choice(('.', '_'))}{a}{_digits(rng)}"


def business(rng, n: NameParts) -> tuple[str, str]:
    """``(full_name, username)`` of a business/brand account, e.g. ``("Bella Hair Studio", "bellahairstudio")``."""
    first, last = n.first_latin, n.last_latin
    kind = rng.below(6)
    if kind == 0:
        name = f"{first} {rng.choice(BUSINESS_KINDS)}"
    elif kind == 1:
        name = f"{first}'s {rng.choice(BUSINESS_KINDS)} {rng.choice(CITIES)}"
    elif kind == 2:
        name = f"{last} {rng.choice(BRAND_TAILS)}"
    elif kind == 3:
        name = f"{rng.choice(BRAND_WORDS)} {rng.choice(BUSINESS_KINDS)}"
    elif kind == 4:
        name = f"{rng.choice(BRAND_WORDS)} {rng.choice(BRAND_WORDS)} {rng.choice(BRAND_TAILS)}"
    else:
        name = f"{rng.choice(CITIES)} {rng.choice(BUSINESS_KINDS)}"
    if rng.random() < 0.25:
        name = name.upper()
    elif rng.random() < 0.1:
        name = f"{name} {rng.choice(EMOJI)}"
    words = [slug(w) for w in name.replace("&", "and").split()]
    words = [w for w in words if w]
    sep = rng.choice(("", "", ".", "_"))
    handle = sep.join(words)
    if rng.random() < 0.3:
        handle = f"{handle}{rng.choice(('', '.', '_'))}{rng.choice(('official', 'shop', 'co', str(rng.below(100))))}"
    return name, finish_username(handle, f"shop{rng.below(10**6)}")
