"""The BM25 build: every chunk of a snapshot, analysed (bm25s, English stopwords, Snowball stemmer, CJK as
character bigrams), written into the snapshot by the commit. Loading and search: indexer.bm25_index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.cjk import segment

BM25_DIR = "bm25"
# Bumped whenever what goes into the BM25 index changes; `needs_rebuild` compares it with a snapshot's.
BM25_VERSION = 3  # 3: CJK text as character bigrams
# What each chunk contributes: its title and nearest heading, then its text (BEIR indexes title + text).
# SciFact train, document-level nDCG@10 (bench/tune_fusion.py): text only 0.668, title + text 0.689;
# hybrid 0.720 vs 0.729.
INDEX_TITLE = True
K1, B = 1.5, 0.75  # bm25s defaults (Lucene BM25); the best of a small grid on SciFact train gained 0.004


def stemmer() -> Any:
    """A fresh English Snowball stemmer (PyStemmer's are not shared between threads)."""
    import Stemmer

    return Stemmer.Stemmer("english")


def analyze(texts: Sequence[str], stem: Any) -> list[list[str]]:
    """Each text's tokens as the BM25 index has them: the one analysis for building and for queries."""
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize([segment(t) for t in texts], stopwords="en", stemmer=stem,
                                             return_ids=False, show_progress=False)  # fmt: skip
    return tokens


def build_bm25(snapshot: Path, chunk_ids: list[int], texts: list[str], heads: Sequence[str]) -> None:
    """Index every chunk into snapshot/bm25; row i is chunk_ids[i], with its head (title — section, as the
    embedder sees it) heads[i]. The commit calls it, so the index always matches the snapshot's chunks."""
    import bm25s

    out = snapshot / BM25_DIR
    out.mkdir(exist_ok=True)
    if INDEX_TITLE and chunk_ids:
        texts = [f"{head}\n{t}" for head, t in zip(heads, texts, strict=True)]
    (out / "ids.json").write_text(json.dumps(chunk_ids))
    (out / "searchchat.json").write_text(json.dumps({"version": BM25_VERSION, "title": INDEX_TITLE}))
    tokens = analyze(texts, stemmer())
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
    return bool(meta.get("version") != BM25_VERSION)
