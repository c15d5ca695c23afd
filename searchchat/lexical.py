"""BM25 search over a snapshot's chunks (built by indexer.bm25 at each commit), cached on read; and the CJK
measures the answer path uses (characters, numerals, share of the text)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.bm25 import BM25_DIR, analyze, stemmer
from indexer.cjk import CJK_RUN


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


class LexicalIndex:
    """A loaded BM25 index that returns (chunk_id, score) pairs, best first."""

    def __init__(self, snapshot: Path) -> None:
        import bm25s

        d = snapshot / BM25_DIR
        self.ids = np.asarray(json.loads((d / "ids.json").read_text()), dtype=np.int64)
        self.retriever: Any = None
        if len(self.ids) and (d / "params.index.json").exists():
            self.retriever = bm25s.BM25.load(str(d))
        self.stemmer = stemmer()
        self._df: np.ndarray | None = None

    def doc_freq(self, tokens: Sequence[str]) -> tuple[list[int], int]:
        """How many chunks hold each token (0 for a token the index lacks), and the number of chunks."""
        if self.retriever is None:
            return [0 for _ in tokens], 0
        if self._df is None:
            self._df = np.diff(np.asarray(self.retriever.scores["indptr"]))
        vocab = self.retriever.vocab_dict
        out = []
        for t in tokens:
            i = vocab.get(t)
            out.append(int(self._df[i]) if i is not None and i < len(self._df) else 0)
        return out, int(self.retriever.scores["num_docs"])

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k chunks with a positive score; `allowed` (chunk ids) restricts the search before ranking."""
        if self.retriever is None or k <= 0:
            return []
        tokens = analyze([query], self.stemmer)[0]
        ids = self.retriever.get_tokens_ids(tokens)
        if not ids:
            return []
        scores = np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)
        if allowed is not None:
            scores = np.where(np.isin(self.ids, allowed), scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # by score, then by row for a stable order
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]


def lexical_index(store: Any) -> LexicalIndex:
    """The BM25 index of an IndexStore snapshot, loaded once and kept in `store.extras`."""
    lex = store.extras.get("bm25")
    if lex is None:
        lex = store.extras["bm25"] = LexicalIndex(store.path)
    return lex
