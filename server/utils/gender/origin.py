"""Romanised Chinese and Korean family names, and the shape of a romanised Korean given name.

Pure data and functions; the syllable inventory is built on first use from ``anyascii``'s
Hangul readings (Revised Romanisation) plus the spellings common in passports and
publications (McCune-Reischauer-like ``eo -> u/o``, ``u -> oo``, ``i -> ee``, ``yeo -> yo/you``).

``CHINESE_SURNAMES`` / ``KOREAN_SURNAMES``: frozensets of lower-case ASCII family names
(the common ones of each language in pinyin, Wade-Giles, Cantonese, Hokkien and the usual
Korean spellings; sources: the family-name frequency lists of both languages as published
in national statistics, spelled as they appear in romanised records).
``korean_given(key) -> bool``: ``key`` (ASCII lower-case) is two Korean syllables
("minji", "jisoo", "seoyeon"), e.g. the given name in "Park Minji".
"""
from __future__ import annotations

import functools

CHINESE_SURNAMES = frozenset("""
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song tang
han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren yao shen
zhong cui tan fan liao shi jin jia xia fu fang zou xiong bai meng qin qiu hou yin xue yan duan lei long tao
gu mao hao gong shao wan qian wen lv lyu kong xing qi mo chang dai niu zhan kang
chan wong cheung lau leung ng ho tsai kuo hsu lai hung tseng yeh chou kwok tsang yip lam chow lo tam tse
fung poon hui luk yap teo tay goh ong koh toh neoh leu chua chong foo khoo ooi yeo chin chiu tsui mak
siu chau kwan lui yuen au wai hsieh hsiao chiang chien chuang chung tsao tung pang kao sung teng
""".split())
KOREAN_SURNAMES = frozenset("""
kim lee yi rhee park pak bak choi choe jung jeong chung kang cho jo yoon yun jang chang lim im han oh seo suh
shin sin kwon gwon hwang ahn an song jeon jun chun hong yoo yu ryu moon mun son sohn bae baek paik heo huh
nam noh roh ha yang chae cha joo ju woo min kwak kweon sung seong choo hyun jin na do gil ma ko go
""".split())

_HANGUL_VARIANTS = (("eo", ("u", "o")), ("u", ("oo",)), ("i", ("ee",)), ("yeo", ("yo", "you")),
                    ("eu", ("u",)), ("ae", ("ai",)), ("k", ("g",)), ("g", ("k",)), ("j", ("ch",)),
                    ("b", ("p",)), ("d", ("t",)), ("ng", ("ng",)))


@functools.lru_cache(maxsize=1)
def korean_syllables() -> frozenset[str]:
    """Romanised Hangul syllables (about 4,000 spellings)."""
    from anyascii import anyascii

    base = set()
    for cp in range(0xAC00, 0xD7A4):
        t = anyascii(chr(cp)).lower()
        if t.isalpha():
            base.add(t)
    out = set(base)
    for s in base:
        for a, bs in _HANGUL_VARIANTS:
            if a in s:
                for b in bs:
                    out.add(s.replace(a, b, 1))
    return frozenset(out)


_SYLLABLE_VARIANTS = (("eo", "u"), ("eo", "o"), ("u", "oo"), ("i", "ee"), ("yeo", "yo"), ("yeo", "you"),
                      ("eu", "u"), ("ae", "ai"), ("oo", "ou"), ("wo", "o"))
_INITIAL_VARIANTS = (("l", "r"), ("g", "k"), ("k", "g"), ("b", "p"), ("d", "t"), ("j", "ch"), ("s", "sh"))


def syllable_spellings(syl: str) -> set[str]:
    """Romanised spellings of one Hangul syllable: anyascii's (Revised Romanisation, initial
    ㄹ as "l") and the common variants, up to two changes ("형" hyeong -> hyung, hyoung ...)."""
    from anyascii import anyascii

    base = anyascii(syl).lower()
    out = {base}
    for _ in range(2):
        for s in list(out):
            for a, b in _SYLLABLE_VARIANTS:
                if a in s:
                    out.add(s.replace(a, b, 1))
            for a, b in _INITIAL_VARIANTS:
                if s.startswith(a):
                    out.add(b + s[len(a):])
    return out


@functools.lru_cache(maxsize=1)
def korean_romanised() -> dict[str, float]:
    """Romanised two-syllable Korean given name -> log-odds "female" (nats), the mean over the
    Hangul given names in the name table (WGND 2.0's Korean records, ``lookup.load_table``)
    that it can spell: "hyungsoon" <- 형순 (male), "jihyun" <- 지현 (weak). About 7,000
    Hangul names, 90k spellings; built on first call (about a second) and cached."""
    from server.utils.gender.lookup import load_table

    acc: dict[str, list[float]] = {}
    cache: dict[str, set[str]] = {}
    hangul = sorted((k, v) for k, v in load_table().items()
                    if len(k) == 2 and not k.isascii() and all(0xAC00 <= ord(ch) <= 0xD7A3 for ch in k))
    for k, v in hangul:
        spell = []
        for ch in k:
            if ch not in cache:
                cache[ch] = syllable_spellings(ch)
            spell.append(cache[ch])
        for a in spell[0]:
            for b in spell[1]:
                e = acc.setdefault(a + b, [0.0, 0])
                e[0] += v
                e[1] += 1
    return {k: s_ / n for k, (s_, n) in acc.items()}


def korean_given(key: str) -> bool:
    """True if ``key`` splits into exactly two romanised Korean syllables ("minji")."""
    if not 3 <= len(key) <= 12 or key in KOREAN_SURNAMES:
        return False
    syl = korean_syllables()
    return any(key[:i] in syl and key[i:] in syl for i in range(1, len(key)))
