"""A snapshot's BM25 index (built by indexer.bm25 at each commit), loaded for search: (chunk_id, score) pairs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.bm25 import BM25_DIR, analyze, stemmer


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
