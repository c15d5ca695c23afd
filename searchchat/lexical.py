"""BM25 over chunks (bm25s, English stopwords, Snowball stemmer; Chinese, Japanese and Korean as overlapping
character bigrams), built into each snapshot, cached on read."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

BM25_DIR = "bm25"
# Bumped whenever what goes into the BM25 index changes; `needs_rebuild` compares it with a snapshot's.
BM25_VERSION = 3  # 3: CJK text as character bigrams
# What each chunk contributes: its title and nearest heading, then its text (BEIR indexes title + text).
# SciFact train, document-level nDCG@10 (bench/tune_fusion.py): text only 0.668, title + text 0.689;
# hybrid 0.720 vs 0.729.
INDEX_TITLE = True
K1, B = 1.5, 0.75  # bm25s defaults (Lucene BM25); the best of a small grid on SciFact train gained 0.004


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.cache
def _shared_stemmer() -> Any:
    return _stemmer()


def tokenize(text: str) -> list[str]:
    """One text's tokens as the index has them."""
    return _tokenize([text], _shared_stemmer())[0]


# Han, kana, Hangul (and their compatibility forms): scripts written without spaces between words. The ranges
# as regex character-class contents, for every module that needs them.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KANA = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
CJK = KANA + HAN + HANGUL
_CJK_RUN = re.compile(f"[{CJK}]+")


def _bigrams(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) == 1:
        return f" {run}{run} "  # bm25s keeps tokens of two or more characters: a lone character, doubled
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def segment(text: str) -> str:
    """CJK runs as overlapping character bigrams between spaces, as Lucene's CJKAnalyzer does (measured on
    cmrc2018-trial against jieba words: README); other text unchanged, so English keeps its stemmed words."""
    return _CJK_RUN.sub(_bigrams, text)


def cjk_grams(word: str) -> list[str]:
    """A word with CJK characters as the overlapping bigrams of its CJK runs (a lone character as itself) and
    its other parts; any other word as itself. How word-overlap measures see Chinese, Japanese and Korean."""
    if word.isascii():  # the common case, without a regex scan (content_terms calls this for every word)
        return [word]
    runs = _CJK_RUN.findall(word)
    if not runs:
        return [word]
    grams = [r[i : i + 2] for r in runs for i in range(max(1, len(r) - 1))]
    return grams + [w for w in _CJK_RUN.split(word) if w]


def cjk_chars(text: str) -> set[str]:
    """The CJK characters of the text: what a reordered or reworded Chinese phrase keeps of its source."""
    return {ch for run in _CJK_RUN.findall(text) for ch in run}


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
    return sum(len(m) for m in _CJK_RUN.findall(text)) / total if total else 0.0


def _tokenize(texts: Sequence[str], stemmer: Any) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize([segment(t) for t in texts], stopwords="en", stemmer=stemmer, return_ids=False,
                          show_progress=False)  # fmt: skip


def _heads(snapshot: Path, chunk_ids: Sequence[int]) -> dict[int, str]:
    """chunk_id -> the head the embedder also sees (title, or title — section), read from the snapshot."""
    from indexer.chunk import embed_text
    from indexer.document import Chunk

    db = sqlite3.connect(f"file:{snapshot / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT chunk_id, title, section FROM chunks").fetchall()
    finally:
        db.close()
    wanted = set(chunk_ids)
    out = {}
    for cid, title, section in rows:
        if cid in wanted:
            head = embed_text(Chunk(cid, "", "", title or "", section or "", ""))
            out[cid] = head.strip()
    return out


def build_bm25(snapshot: Path, chunk_ids: list[int], texts: list[str]) -> None:
    """Snapshot hook: index every chunk; row i of the BM25 index is chunk_ids[i]. Rebuilt on every commit, so
    it always matches the snapshot's chunks, after additions and deletions alike."""
    import bm25s

    out = snapshot / BM25_DIR
    out.mkdir(exist_ok=True)
    if INDEX_TITLE and chunk_ids:
        heads = _heads(snapshot, chunk_ids)
        texts = [f"{heads.get(cid, '')}\n{t}" for cid, t in zip(chunk_ids, texts, strict=True)]
    (out / "ids.json").write_text(json.dumps(chunk_ids))
    (out / "searchchat.json").write_text(json.dumps({"version": BM25_VERSION, "title": INDEX_TITLE}))
    tokens = _tokenize(texts, _stemmer())
    if not any(tokens):
        return
    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index(tokens, show_progress=False)
    retriever.save(str(out))


def needs_rebuild(snapshot: Path) -> bool:
    """True when the snapshot's BM25 index is missing or was built by an older version of this module."""
    try:
        meta = json.loads((snapshot / BM25_DIR / "searchchat.json").read_text())
    except (FileNotFoundError, ValueError):
        return True
    return meta.get("version") != BM25_VERSION


def rebuild_bm25(snapshot: Path) -> None:
    """Rebuild the BM25 index of an existing snapshot from its chunks (for private caches such as eval's)."""
    db = sqlite3.connect(f"file:{snapshot / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT chunk_id, text FROM chunks ORDER BY chunk_id").fetchall()
    finally:
        db.close()
    build_bm25(snapshot, [r[0] for r in rows], [r[1] for r in rows])


class LexicalIndex:
    """A loaded BM25 index that returns (chunk_id, score) pairs, best first."""

    def __init__(self, snapshot: Path) -> None:
        import bm25s

        d = snapshot / BM25_DIR
        self.ids = np.asarray(json.loads((d / "ids.json").read_text()), dtype=np.int64)
        self.retriever: Any = None
        if len(self.ids) and (d / "params.index.json").exists():
            self.retriever = bm25s.BM25.load(str(d))
        self.stemmer = _stemmer()
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
        tokens = _tokenize([query], self.stemmer)[0]
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
