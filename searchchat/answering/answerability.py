"""The answer decision's scorer: the trained cross-encoder (models/crossencoder.py) by default, or the evidence
score when it is asked for, both behind the one-method `Scorer` interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from searchchat.models.crossencoder import Scorer, load_model


class EvidenceScorer(Scorer):
    """The model-free decision (SEARCHCHAT_ANSWERABILITY_MODEL=evidence): the evidence reranker's score of the
    sentence (cosine with the question plus the lexical bonus, evidence.py), not a probability."""

    name = "evidence"

    def __init__(self, embed: Callable[[Sequence[str]], Any], reads_cjk: bool = True) -> None:
        self.embed, self.reads_cjk = embed, reads_cjk

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        from searchchat.answering.evidence import sentence_scores

        return sentence_scores(question, texts, self.embed, self.reads_cjk)


def get_scorer(path: str | None, embed: Callable[[Sequence[str]], Any], reads_cjk: bool = True) -> Scorer:
    """The trained model in the package by default (unset or "shipped"), "evidence" for the evidence score, or a
    directory that bench/train_answerability.py wrote."""
    if path == "evidence":
        return EvidenceScorer(embed, reads_cjk)
    return load_model(None if path in (None, "shipped") else path)
