"""Reranker interface (applied after fusion) and a sentence-transformers CrossEncoder from a local path."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from searchchat.types import Hit


class RerankerError(ValueError):
    """A configured reranker cannot be loaded; the message says what to do."""


class Reranker:
    """Reorders fused hits for a query. Subclasses implement `score`; `rerank` sorts and renumbers."""

    name: str = "reranker"

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        """One relevance score per hit, higher is better."""
        raise NotImplementedError

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """The hits sorted by the reranker's score (stable for ties), with score and rank replaced."""
        if not hits:
            return []
        scores = self.score(query, hits)
        if len(scores) != len(hits):
            raise ValueError(f"{self.name} returned {len(scores)} scores for {len(hits)} hits")
        order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))
        return [
            dataclasses.replace(hits[i], rank=rank, score=float(scores[i])) for rank, i in enumerate(order, 1)
        ]


class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder loaded from a local directory (never from a hub)."""

    def __init__(self, path: str | Path, batch_size: int = 32) -> None:
        p = Path(path).expanduser()
        if not p.is_dir():
            raise RerankerError(
                f"Reranker model not found at {p}. Set SEARCHCHAT_RERANKER to a local cross-encoder "
                "directory (sentence-transformers format), or leave it unset to skip reranking."
            )
        from sentence_transformers import CrossEncoder

        try:
            self.model: Any = CrossEncoder(str(p), device="cpu", local_files_only=True)
        except Exception as e:  # a broken or non-cross-encoder directory
            raise RerankerError(f"Could not load a cross-encoder from {p}: {e}") from e
        self.name = str(p)
        self.batch_size = batch_size

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        pairs = [(query, f"{h.chunk.title}\n{h.chunk.text}" if h.chunk.title else h.chunk.text) for h in hits]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]


class AnswerabilityReranker(Reranker):
    """The shipped answerability model as a reranker: a passage scores as its best sentence does (the model
    reads a question and one sentence, models/crossencoder.py)."""

    name = "answerability"

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        from searchchat.models.crossencoder import pair_text
        from searchchat.text import split_sentences

        owners: list[int] = []
        texts: list[str] = []
        for i, h in enumerate(hits):
            for sentence in split_sentences(h.chunk.text) or [h.chunk.text]:
                owners.append(i)
                texts.append(pair_text(h.chunk.title, sentence))
        best = [0.0] * len(hits)
        for i, p in zip(owners, self.scorer.score(query, texts), strict=True):
            best[i] = max(best[i], float(p))
        return best


@functools.lru_cache(maxsize=2)
def _load(path: str) -> Reranker:
    if path == "answerability":
        from searchchat.models.crossencoder import load_model

        return AnswerabilityReranker(load_model(None))
    return CrossEncoderReranker(path)


def get_reranker(name: str | None) -> Reranker | None:
    """The reranker named in settings, loaded once: "answerability" (the shipped answerability model) or a
    local cross-encoder path; None when unset."""
    if not name:
        return None
    return _load(name)
