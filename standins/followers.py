"""Deterministic Instagram followers for the Apify stand-in, with their true gender.

Model: a virtual population of ``POPULATION`` people, each fully determined by its index
(seeded per-person RNG), so a person has the same id, name and handle wherever they appear.
Indices below ``POPULAR_SIZE`` form a shared "popular" pool; every source account owns its own
region of the population. An account's follower list draws 75-85 % of its people from its region
and the rest from the popular pool (skewed towards its head), so lists of different accounts
share a realistic handful of followers. Lists are prefix-stable: the first N followers of an
account are the same whatever count is requested.

Public API:
- ``generate_followers(source_account, count, relation="followers") -> list[Follower]``
- ``follower_indices(source_account, count, relation="followers") -> list[int]`` and
  ``person(index) -> Follower`` (the two halves, used for lazy dataset paging)
- ``normalize_account(name) -> str``
- ``main(argv) -> int``: ``python -m standins dump-followers ACCOUNT --count N [--shape ...]``
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import struct
import sys
from dataclasses import dataclass

from standins import decorate, names

POPULATION = 1 << 36  # virtual people (ids stay within 11 digits)
POPULAR_SIZE = 50_000  # shared pool at the head of the population
POPULAR_SKEW = 4.0  # popular index = POPULAR_SIZE * u**POPULAR_SKEW (head-heavy)
BUSINESS_SHARE = 0.05
FEMALE_SHARE = 0.5
PRIVATE_SHARE = 0.33
DEFAULT_AVATAR_SHARE = 0.07

_M128 = (1 << 128) - 1
_UNPACK = struct.Struct("<32H").unpack
_SCALE16 = 1.0 / 65536.0
_ID_MULT = 0x9E3779B97F4A7C15 & ((1 << 36) - 1) | 1  # odd -> bijective modulo 2**36
_PERSON_SALT = 0x5EED_F011_0E25
_DEFAULT_AVATAR = ("https://instagram.fhel6-1.fna.fbcdn.net/v/t51.2885-19/"
                   "44884218_345707102882519_2446069589734326272_n.jpg?efg=eyJybWQiOiJpZ19hbmRyb2lkIn0"
                   "&_nc_ht=instagram.fhel6-1.fna.fbcdn.net&_nc_cat=1&_nc_ohc=standin")


def _blocks(key: bytes):
    """Endless 16-bit values: BLAKE2b(key || counter) unpacked 32 at a time."""
    ctr = 0
    while True:
        yield _UNPACK(hashlib.blake2b(key + ctr.to_bytes(4, "little"), digest_size=64,
                                      person=b"standins").digest())
        ctr += 1


class Rng:
    """Counter-mode PRNG over BLAKE2b, identical on every platform; cheap to seed per person.

    ``u16()`` and ``random()`` are C-level callables (``functools.partial(next, ...)``) because
    the generator calls them a dozen times per person.
    """

    __slots__ = ("u16", "random")

    def __init__(self, seed: int) -> None:
        stream = itertools.chain.from_iterable(_blocks((seed & _M128).to_bytes(16, "little")))
        self.u16 = functools.partial(next, stream)  # uniform int in [0, 65536)
        self.random = functools.partial(next, map(_SCALE16.__mul__, stream))  # float in [0, 1)

    def random32(self) -> float:
        """Uniform float in [0, 1) with 32-bit resolution."""
        return ((self.u16() << 16) | self.u16()) * (1.0 / 4294967296.0)

    def below(self, n: int) -> int:
        """Uniform int in [0, n) for 1 <= n <= 2**32."""
        if n <= 65536:
            return (self.u16() * n) >> 16
        return (((self.u16() << 16) | self.u16()) * n) >> 32

    def choice(self, seq):
        """Uniform element of a non-empty sequence (up to 65536 elements)."""
        return seq[(self.u16() * len(seq)) >> 16]


@dataclass(frozen=True, slots=True)
class Follower:
    """One generated Instagram account. ``truth_gender``: "female", "male" or "unknown" (business)."""

    id: str
    username: str
    full_name: str
    is_private: bool
    is_verified: bool
    profile_pic_url: str
    truth_gender: str


def normalize_account(name: str) -> str:
    """Canonical source-account handle: strips spaces, '@', instagram.com URLs; lower-cases.

    ``"@Nike"``, ``"https://www.instagram.com/nike/"`` and ``"nike"`` all give ``"nike"``.
    """
    s = str(name).strip()
    if "instagram.com/" in s:
        s = s.split("instagram.com/", 1)[1].split("?", 1)[0].strip("/").split("/", 1)[0]
    return s.lstrip("@").strip().lower()


def account_key(account: str, relation: str = "followers") -> int:
    """Stable 64-bit key of ``(normalized account, relation)``."""
    raw = f"{relation}:{normalize_account(account)}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def account_fraction(account: str, salt: str = "private") -> float:
    """Stable number in [0, 1) per account (used e.g. by the error-item fault share)."""
    return (account_key(account, salt) >> 11) / float(1 << 53)


# Display names that start like a spreadsheet formula ("=", "+", "-", "@", tab, CR), as real
# Instagram names sometimes do ("-Anna-", "@anna"): about 1 person in 64, chosen by a hash of the
# id so every other name stays as it was.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_like(pid: str, full_name: str) -> str:
    """``full_name`` with a formula-trigger prefix for the few ids picked by a hash of ``pid``."""
    h = hashlib.blake2b(pid.encode(), digest_size=2, person=b"standfml").digest()
    if h[0] >= 4 or not full_name:
        return full_name
    return FORMULA_PREFIXES[h[1] % len(FORMULA_PREFIXES)] + full_name


def person_id(index: int) -> str:
    """Instagram-style numeric id of person ``index`` (bijective, 10-11 digits)."""
    return str(1_000_000_000 + (index * _ID_MULT) % POPULATION)


@functools.lru_cache(maxsize=65_536)
def _latin(text: str) -> str:
    r = names.romanize(text).replace("'", "").replace("`", "")
    return r[:1].upper() + r[1:]


@functools.lru_cache(maxsize=262_144)
def person(index: int) -> Follower:
    """The person at ``index`` of the virtual population (pure function of ``index``; cached)."""
    rng = Rng(index * 0x2545F4914F6CDD1D + _PERSON_SALT)
    is_business = rng.random() < BUSINESS_SHARE
    locale = names.pick_locale(rng.random())
    ln = names.locale_names(locale)
    gender = "female" if rng.random() < FEMALE_SHARE else "male"
    first = (ln.first_female if gender == "female" else ln.first_male).pick(rng.random())
    last = (ln.last_female if gender == "female" else ln.last_male).pick(rng.random())
    latin = ln.script == "latin"
    parts = decorate.NameParts(
        locale, gender, first, last,
        first if latin else (ln.romanized.get(first) or _latin(first)),
        last if latin else (ln.romanized.get(last) or _latin(last)),
        latin, names.FLAGS.get(locale, ""), names.FAMILY_FIRST.get(locale),
    )
    if is_business:
        full_name, handle = decorate.business(rng, parts)
        truth = "unknown"
        is_private = rng.random() < 0.02
        is_verified = rng.random() < 0.03
    else:
        full_name = decorate.display_name(rng, parts)
        handle = decorate.username(rng, parts)
        truth = gender
        is_private = rng.random() < PRIVATE_SHARE
        is_verified = rng.random() < 0.004
    pid = person_id(index)
    full_name = formula_like(pid, full_name)
    if rng.random() < DEFAULT_AVATAR_SHARE:
        pic = _DEFAULT_AVATAR
    else:
        h = hashlib.blake2b(pid.encode(), digest_size=20, person=b"standpic").hexdigest()
        pic = (f"https://scontent.cdninstagram.com/v/t51.2885-19/{int(h[:8], 16)}_{int(h[8:20], 16)}_n.jpg"
               f"?stp=dst-jpg_s150x150&_nc_ht=scontent.cdninstagram.com&oh=00_{h[20:]}")
    return Follower(pid, handle, full_name, is_private, is_verified, pic, truth)


def follower_indices(source_account: str, count: int, relation: str = "followers") -> list[int]:
    """Population indices of the first ``count`` followers of ``source_account`` (no duplicates).

    ``relation`` ("followers" or "following") selects an independent list. Deterministic and
    prefix-stable. ``count`` < 0 raises ``ValueError``.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    key = account_key(source_account, relation)
    rng = Rng(key)
    base = POPULAR_SIZE + key % (POPULATION - POPULAR_SIZE - (1 << 30))
    popular_share = 0.15 + 0.10 * ((key >> 17) % 1000) / 1000.0
    used: set[int] = set()
    out: list[int] = []
    own = 0
    rand, rand32 = rng.random, rng.random32
    for _ in range(count):
        if rand() < popular_share:
            for _try in range(8):
                p = int(POPULAR_SIZE * rand32() ** POPULAR_SKEW)
                if p not in used:
                    used.add(p)
                    out.append(p)
                    break
            else:
                out.append(base + own)
                own += 1
        else:
            out.append(base + own)
            own += 1
    return out


def generate_followers(source_account: str, count: int, relation: str = "followers") -> list[Follower]:
    """The first ``count`` followers of ``source_account`` (see module doc); deterministic."""
    return [person(i) for i in follower_indices(source_account, count, relation)]


def main(argv: list[str]) -> int:
    """CLI: print an account's followers as JSON lines, in the actor's item shape plus ``truth_gender``.

    Options: ``ACCOUNT --count N [--shape usernames|Account|username] [--relation followers|following]``.
    The lines equal what the Apify stand-in emits for the same account and shape (private and
    missing accounts print their single error item).
    """
    from standins.apify import shapes

    parser = argparse.ArgumentParser(prog="python -m standins dump-followers",
                                     description="Print generated followers with their true gender.")
    parser.add_argument("account")
    parser.add_argument("--count", type=int, default=100, help="followers to print (default 100)")
    parser.add_argument("--shape", choices=shapes.SHAPES, default=shapes.SHAPE_USERNAMES,
                        help="actor output shape (default: usernames = datadoping style)")
    parser.add_argument("--relation", choices=("followers", "following"), default="followers")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be >= 0")
    out = sys.stdout
    for item, follower in shapes.account_items(args.shape, normalize_account(args.account), args.count,
                                               relation=args.relation):
        if follower is not None:
            item = dict(item, truth_gender=follower.truth_gender)
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
    out.flush()
    return 0
