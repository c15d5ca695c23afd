"""BM25 search over a snapshot's chunks (indexer.bm25_index, loaded once by the store); and the CJK
measures the answer path uses (characters, numerals, share of the text)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from indexer.bm25 import analyze, stemmer
from indexer.bm25_index import LexicalIndex
from indexer.cjk import CJK_RUN

if TYPE_CHECKING:
    from indexer.store import IndexStore

__all__ = ["LexicalIndex", "cjk_chars", "cjk_numbers", "cjk_share", "lexical_index", "tokenize"]


@functools.cache
def _shared_stemmer() -> Any:
    return stemmer()


def tokenize(text: str) -> list[str]:
    """One text's tokens as the index has them."""
    return analyze([text], _shared_stemmer())[0]


def cjk_chars(text: str) -> set[str]:
    """The CJK characters of the text: what a reordered or reworded Chinese phrase keeps of its source."""
    return {ch for run in CJK_RUN.findall(text) for ch in run}


_CJK_DIGITS = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}
_CJK_BIG = {"万": 10**4, "亿": 10**8}
_CJK_NUMERAL = re.compile(f"[{''.join(_CJK_DIGITS)}{''.join(_CJK_UNITS)}{''.join(_CJK_BIG)}]+")


def _cjk_value(run: str) -> int | None:
    """The value of a Chinese numeral ("二十三" 23, "三千万" 30000000, "二〇一四" 2014), None if malformed."""
    if not any(ch in _CJK_UNITS or ch in _CJK_BIG for ch in run):  # digit by digit, as years are written
        return int("".join(str(_CJK_DIGITS[ch]) for ch in run))
    total = section = digit = 0
    for ch in run:
        if ch in _CJK_DIGITS:
            if digit and _CJK_DIGITS[ch]:
                return None  # two digits without a unit between them: not one numeral
            digit = _CJK_DIGITS[ch]
        elif ch in _CJK_UNITS:
            section += (digit or 1) * _CJK_UNITS[ch]
            digit = 0
        else:
            group = section + digit
            if not (group or total):
                return None
            total = (total + group) * _CJK_BIG[ch] if ch == "亿" else total + group * _CJK_BIG[ch]
            section = digit = 0
    return total + section + digit


def cjk_numbers(text: str) -> set[str]:
    """Chinese numerals as digits; a lone "一" (one, also "a", "the same", "all") is not counted, as English
    "one" is not."""
    found = set()
    for run in _CJK_NUMERAL.findall(text):
        if run in ("一", "零", "〇", "万", "亿"):
            continue
        value = _cjk_value(run)
        if value is not None:
            found.add(str(value))
    return found


def cjk_share(text: str) -> float:
    """The share of the text's letters and digits that are CJK characters (0 for text without any)."""
    total = sum(ch.isalnum() for ch in text)
    return sum(len(m) for m in CJK_RUN.findall(text)) / total if total else 0.0


def lexical_index(store: IndexStore) -> LexicalIndex:
    """The BM25 index of an IndexStore snapshot, loaded once by the store."""
    return store.bm25
