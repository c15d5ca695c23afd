"""What the answer pipeline holds for one question between its steps: the candidate sentences, what retrieval
found, the model's draft, and the sources as the answer JSON shows them."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from searchchat.answering.events import Preview
from searchchat.answering.policy import AnswerPolicy
from searchchat.answering.prompt import source_text
from searchchat.markers import neutralise
from searchchat.types import Hit, SourceCard


@dataclass
class Candidate:
    """A sentence of a source that may answer the question, located in the text the model was given."""

    source: int  # 1-based source number
    start: int
    end: int
    text: str
    prior: float  # the evidence reranker's score (cosine plus lexical bonus): which sentences get scored
    p: float = 0.0  # the answerability model's probability that it answers the question


@dataclass
class Found:
    """What retrieval found for one question: the passages that fit the prompt, their best sentences scored,
    and whether the policy lets the model answer."""

    query: str
    hits: list[Hit]
    texts: list[str]
    cands: list[Candidate]  # best first
    answerable: bool

    @property
    def best(self) -> float:
        return self.cands[0].p if self.cands else 0.0

    def allowed(self, policy: AnswerPolicy) -> set[int]:
        """The sources that may be cited: those with a sentence at or above policy.cite_min."""
        best = {n: 0.0 for n in range(1, len(self.hits) + 1)}
        for c in self.cands:
            best[c.source] = max(best[c.source], c.p)
        return {n for n, p in best.items() if p >= policy.cite_min}

    @functools.cached_property
    def sources(self) -> list[SourceCard]:
        """The numbered sources of the answer JSON."""
        return [
            source_dict(i, h, t) for i, (h, t) in enumerate(zip(self.hits, self.texts, strict=True), start=1)
        ]

    def preview(self, policy: AnswerPolicy) -> Preview | None:
        """The top passage, before the model writes: only when the policy would quote it."""
        if not (self.answerable and self.cands and self.cands[0].p >= policy.quote_min):
            return None
        top = self.cands[0]
        return Preview(source=top.source, quote=top.text, start=top.start, end=top.end, score=round(top.p, 4))


@dataclass
class Draft:
    """The model's answer as it streams, and when its first piece came."""

    parts: list[str] = field(default_factory=list)
    first: float | None = None

    def add(self, piece: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.parts.append(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(neutralise(text).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def source_dict(n: int, hit: Hit, text: str | None = None) -> SourceCard:
    """A source as the JSON shows it; `text` is what the model was given (reference markers removed)."""
    c = hit.chunk
    text = source_text(hit) if text is None else text
    return {"n": n, "url": hit.link, "title": c.title, "section": c.section, "snippet": snippet(text),
            "text": text, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "score": round(float(hit.score), 6)}  # fmt: skip
