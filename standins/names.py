"""Real first/last-name lists per locale, extracted once per process from Faker's data.

The follower generator (``standins.followers``) draws people from these lists. Only Faker's
static provider tables are read (no ``Faker()`` instance, no randomness), so the lists - and
therefore every generated follower - are identical for the same Faker version (pinned by the
project; see the stand-in's README notes).

Public API:
- ``LOCALES``: ``(locale, weight, script)`` rows; ``script`` is ``"latin"`` or the native script.
- ``locale_names(locale) -> LocaleNames``: cached name tables for one locale.
- ``romanize(text) -> str``: ASCII transliteration (``anyascii``), e.g. ``"Анна" -> "Anna"``.
"""
from __future__ import annotations

import bisect
import functools
import importlib
import itertools
from dataclasses import dataclass

# (Faker locale, relative weight, script). Latin-script locales carry ~85 % of the weight.
LOCALES: tuple[tuple[str, float, str], ...] = (
    ("en_US", 22.0, "latin"),
    ("en_GB", 6.0, "latin"),
    ("en_IN", 2.5, "latin"),
    ("es_ES", 5.0, "latin"),
    ("es_MX", 6.0, "latin"),
    ("es_AR", 2.5, "latin"),
    ("es_CO", 2.0, "latin"),
    ("pt_BR", 9.0, "latin"),
    ("pt_PT", 1.5, "latin"),
    ("it_IT", 5.0, "latin"),
    ("fr_FR", 4.0, "latin"),
    ("de_DE", 4.0, "latin"),
    ("pl_PL", 2.0, "latin"),
    ("nl_NL", 2.0, "latin"),
    ("tr_TR", 3.0, "latin"),
    ("sv_SE", 1.0, "latin"),
    ("da_DK", 0.5, "latin"),
    ("fi_FI", 0.5, "latin"),
    ("cs_CZ", 1.0, "latin"),
    ("ro_RO", 1.0, "latin"),
    ("hu_HU", 0.5, "latin"),
    ("id_ID", 2.5, "latin"),
    ("yo_NG", 1.0, "latin"),
    ("ru_RU", 4.0, "cyrillic"),
    ("uk_UA", 1.5, "cyrillic"),
    ("el_GR", 1.0, "greek"),
    ("ar_AA", 2.5, "arabic"),
    ("hi_IN", 2.0, "devanagari"),
    ("ja_JP", 1.5, "japanese"),
    ("ko_KR", 1.5, "hangul"),
    ("zh_CN", 1.0, "han"),
)

# Country flag per locale (used by the emoji decorations).
FLAGS: dict[str, str] = {
    "en_US": "🇺🇸", "en_GB": "🇬🇧", "en_IN": "🇮🇳", "es_ES": "🇪🇸", "es_MX": "🇲🇽", "es_AR": "🇦🇷",
    "es_CO": "🇨🇴", "pt_BR": "🇧🇷", "pt_PT": "🇵🇹", "it_IT": "🇮🇹", "fr_FR": "🇫🇷", "de_DE": "🇩🇪",
    "pl_PL": "🇵🇱", "nl_NL": "🇳🇱", "tr_TR": "🇹🇷", "sv_SE": "🇸🇪", "da_DK": "🇩🇰", "fi_FI": "🇫🇮",
    "cs_CZ": "🇨🇿", "ro_RO": "🇷🇴", "hu_HU": "🇭🇺", "id_ID": "🇮🇩", "yo_NG": "🇳🇬", "ru_RU": "🇷🇺",
    "uk_UA": "🇺🇦", "el_GR": "🇬🇷", "ar_AA": "🇦🇪", "hi_IN": "🇮🇳", "ja_JP": "🇯🇵", "ko_KR": "🇰🇷",
    "zh_CN": "🇨🇳",
}

# Locales whose native full name is written family-name first.
FAMILY_FIRST = {"ja_JP": " ", "ko_KR": "", "zh_CN": "", "hu_HU": " "}


@dataclass(frozen=True)
class WeightedNames:
    """A name table; ``pick(u)`` maps a uniform ``u`` in [0, 1) to a name (frequency-weighted)."""

    names: tuple[str, ...]
    cumulative: tuple[float, ...]  # empty -> uniform

    def pick(self, u: float) -> str:
        """Return the name at quantile ``u`` (0 <= u < 1)."""
        if not self.cumulative:
            return self.names[int(u * len(self.names))]
        i = bisect.bisect_right(self.cumulative, u * self.cumulative[-1])
        return self.names[min(i, len(self.names) - 1)]


@dataclass(frozen=True)
class LocaleNames:
    """Name tables of one locale. ``romanized`` maps native-script names to ASCII spellings."""

    locale: str
    script: str
    first_female: WeightedNames
    first_male: WeightedNames
    last_female: WeightedNames
    last_male: WeightedNames
    romanized: dict[str, str]


def _table(data) -> WeightedNames:
    """Build a WeightedNames from a Faker tuple/list (uniform) or an ordered name->weight dict."""
    if isinstance(data, dict):
        names = tuple(str(k) for k in data)
        weights = [float(v) for v in data.values()]
        return WeightedNames(names, tuple(itertools.accumulate(weights)))
    seen: dict[str, None] = {}
    for name in data:
        seen.setdefault(str(name), None)
    return WeightedNames(tuple(seen), ())


def _polish_female(name: str) -> str:
    """Feminine form of a Polish surname (Kowalski -> Kowalska)."""
    for suffix in ("ski", "cki", "dzki"):
        if name.endswith(suffix):
            return name[:-1] + "a"
    return name


@functools.lru_cache(maxsize=None)
def locale_names(locale: str) -> LocaleNames:
    """Return the cached name tables of ``locale`` (a code from ``LOCALES``).

    Raises ``KeyError`` for an unknown locale and ``ValueError`` when Faker lacks gendered
    first names for it.
    """
    script = {loc: s for loc, _, s in LOCALES}[locale]
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    first_f = getattr(provider, "first_names_female", None)
    first_m = getattr(provider, "first_names_male", None)
    if not first_f or not first_m:
        raise ValueError(f"Faker locale {locale} has no gendered first names")
    if locale == "pl_PL":
        male = list(provider.male_last_names) + list(provider.unisex_last_names)
        female = [_polish_female(n) for n in provider.male_last_names] + list(provider.unisex_last_names)
        last_f, last_m = _table(female), _table(male)
    else:
        last_f = _table(getattr(provider, "last_names_female", None) or provider.last_names)
        last_m = _table(getattr(provider, "last_names_male", None) or provider.last_names)
    romanized: dict[str, str] = {}
    if locale == "ja_JP":
        for native, roman in (
            (provider.first_names_female, provider.first_romanized_names_female),
            (provider.first_names_male, provider.first_romanized_names_male),
            (provider.last_names, provider.last_romanized_names),
        ):
            romanized.update(zip(native, roman))
    return LocaleNames(locale, script, _table(first_f), _table(first_m), last_f, last_m, romanized)


@functools.lru_cache(maxsize=None)
def locale_picker() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Return ``(locales, cumulative_weights)`` for drawing a locale from ``LOCALES``."""
    codes = tuple(loc for loc, _, _ in LOCALES)
    return codes, tuple(itertools.accumulate(w for _, w, _ in LOCALES))


def pick_locale(u: float) -> str:
    """Map a uniform ``u`` in [0, 1) to a locale code, weighted by ``LOCALES``."""
    codes, cum = locale_picker()
    return codes[min(bisect.bisect_right(cum, u * cum[-1]), len(codes) - 1)]


@functools.lru_cache(maxsize=65536)
def romanize(text: str) -> str:
    """ASCII transliteration of ``text`` (``anyascii``); ``"Ιωάννα" -> "Ioanna"``, ``"王芳" -> "WangFang"``."""
    from anyascii import anyascii

    return anyascii(text)


def preload() -> None:
    """Extract every locale's tables now (the first generation call otherwise does it lazily)."""
    for loc, _, _ in LOCALES:
        locale_names(loc)
