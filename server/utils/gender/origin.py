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


def korean_given(key: str) -> bool:
    """True if ``key`` splits into exactly two romanised Korean syllables ("minji")."""
    if not 3 <= len(key) <= 12 or key in KOREAN_SURNAMES:
        return False
    syl = korean_syllables()
    return any(key[:i] in syl and key[i:] in syl for i in range(1, len(key)))
