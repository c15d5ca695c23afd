"""Result dataclasses of the read path: hits, citations, answers (the document model is indexer.document)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from indexer.document import LINK_SCHEMES, Chunk, url_scheme


def safe_link(url: str) -> str:
    """url, or "" when its scheme is not one a link may carry (javascript:, data:, vbscript:, ...)."""
    scheme = url_scheme(url)
    return url if not scheme or scheme in LINK_SCHEMES else ""


@dataclass
class Hit:
    """A retrieved chunk with its score and rank."""

    rank: int
    score: float
    chunk: Chunk
    source: str = ""
    doctype: str = ""

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "doc_id": c.doc_id,
            "chunk_id": c.chunk_id,
            "url": self.link,  # with the section's #anchor, as answers' sources and citations have it
            "title": c.title,
            "section": c.section,
            "text": c.text,
        }

    @property
    def link(self) -> str:
        """The URL with the section's #anchor; "" for a stored URL that must not be a link."""
        c, url = self.chunk, safe_link(self.chunk.url)
        return f"{url}#{c.anchor}" if url and c.anchor and "#" not in url else url


class SourceCard(TypedDict):
    """A numbered passage the answer may cite, as the answer JSON and the "sources" event carry it."""

    n: int
    url: str
    title: str
    section: str
    snippet: str
    text: str  # what the model was given (reference markers removed); citation offsets index into it
    doc_id: str
    chunk_id: int | None
    score: float


@dataclass
class Citation:
    """A numbered source that the answer cites."""

    n: int
    url: str
    title: str
    section: str
    snippet: str
    quote: str | None = None  # the evidence sentence, as the source's text has it
    start: int | None = None  # its character offsets in the source's text (sources[n - 1]["text"])
    end: int | None = None


@dataclass
class Sentence:
    """One sentence of an answer, with the citations the verifier kept."""

    text: str
    citations: list[int] = field(default_factory=list)
    supported: bool = True


@dataclass
class Answer:
    """A cited answer: the JSON contract of `ask --json` and `POST /ask`."""

    question: str
    answer: str
    citations: list[Citation] = field(default_factory=list)
    sources: list[SourceCard] = field(default_factory=list)
    abstained: bool = False
    sentences: list[Sentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    query: str | None = None  # the standalone query used for retrieval (after follow-up rewriting)
    raw_answer: str = ""  # what the model wrote, as streamed
    changed: bool = False  # the check altered the model's answer (or replaced it)
    kind: str | None = None  # "generated", "quote" (the best evidence sentences), None when not found
    policy: str | None = None  # the answer policy's profile
    answerability: float | None = None  # the best sentence's score
    reason: str | None = None  # why "not found" (policy.REASONS), None when it answered
    closest: Citation | None = None  # "not found": a close source's best sentence, not an answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
