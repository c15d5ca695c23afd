"""Test doubles: a deterministic embedder and a generator whose replies are scripted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from indexer.embed import HashEmbedder
from searchchat.generators.base import Generator, Prompt
from searchchat.models.crossencoder import Scorer
from searchchat.text import content_terms


class FakeEmbedder(HashEmbedder):
    """Deterministic, model-free: similar word sets give similar vectors."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)


class ScriptedGenerator(Generator):
    """Replies with enqueued texts in order, streamed word by word; records every prompt it was given."""

    name = "scripted"

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.prompts: list[Prompt] = []

    def enqueue(self, *texts: str) -> ScriptedGenerator:
        self.replies.extend(texts)
        return self

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.prompts.append(prompt)
        if not self.replies:
            raise AssertionError("ScriptedGenerator has no reply queued")
        text = self.replies.pop(0)
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "


class OverlapScorer(Scorer):
    """A model-free answerability scorer: the share of the question's content words in the text."""

    name = "overlap"

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        q = content_terms(question)
        return [len(q & content_terms(t)) / len(q) if q else 0.0 for t in texts]
