"""What the answer pipeline holds for one question between its steps: the candidate sentences, what retrieval
found, the model's draft, and the sources as the answer JSON shows them."""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field

from searchchat.answering.events import Preview
from searchchat.answering.policy import AnswerPolicy
from searchchat.answering.prompt import source_text
from searchchat.markers import neutralise
from searchchat.text import join_sentences, sentence_spans
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

    def quote(self, policy: AnswerPolicy) -> list[Candidate]:
        """What the policy would quote (quote_of), each sentence read whole; empty when not answerable."""
        chosen = quote_of(self.cands, policy) if self.answerable else []
        return whole_sentences(chosen, self.texts[chosen[0].source - 1]) if chosen else []

    def preview(self, policy: AnswerPolicy) -> Preview | None:
        """What the policy would quote, before the model writes (None when it would quote nothing)."""
        chosen = self.quote(policy)
        if not chosen:
            return None
        return Preview(source=chosen[0].source, quote=quote_text(chosen), start=chosen[0].start,
                       end=chosen[-1].end, score=round(self.cands[0].p, 4))  # fmt: skip


def quote_of(cands: list[Candidate], policy: AnswerPolicy) -> list[Candidate]:
    """The sentences to quote when the model's answer fails, in the source's order: the best one, if it is sure
    enough, and the next best of the same source that is sure enough too (a two-sentence answer), wherever it
    ranks."""
    if not cands or cands[0].p < policy.quote_min:
        return []
    chosen = [cands[0]]
    for c in cands[1:]:
        if len(chosen) == policy.quote_sentences:
            break
        if c.p >= policy.quote_min and c.source == cands[0].source:
            chosen.append(c)
    return sorted(chosen, key=lambda c: c.start)


def whole_sentences(chosen: list[Candidate], text: str) -> list[Candidate]:
    """The chosen candidates of one source widened to the whole sentences that hold them: a Chinese clause that
    ends at ； is scored alone but quoted with the rest of its sentence, to 。 (text.sentence_spans)."""
    spans = sentence_spans(text, whole=True)
    out: list[Candidate] = []
    for c in chosen:
        start, end = next(((s, e) for s, e in spans if s <= c.start < e), (c.start, c.end))
        end = max(end, c.end)
        if all(o.start != start for o in out):
            out.append(dataclasses.replace(c, start=start, end=end, text=text[start:end]))
    return out


def quote_text(chosen: list[Candidate]) -> str:
    """The quoted sentences as one text, whitespace collapsed."""
    return join_sentences([" ".join(c.text.split()) for c in chosen])


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
