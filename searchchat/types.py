"""Result dataclasses shared by the read and write paths."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """A parsed source document: one web page, file, or JSONL record."""

    doc_id: str
    url: str
    title: str
    text: str = ""
    sections: list[Section] = field(default_factory=list)
    doctype: str = "text"  # html, markdown, text, pdf, jsonl
    source: str = ""  # the SOURCE argument this document came from
    content_hash: str = ""
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Section:
    """A run of text under one heading path, with the anchor of its nearest heading."""

    path: list[str]
    text: str
    anchor: str | None = None


@dataclass
class Chunk:
    """A passage that is embedded and retrieved."""

    chunk_id: int | None
    doc_id: str
    url: str
    title: str
    section: str
    text: str
    anchor: str | None = None
    position: int = 0
    n_tokens: int = 0


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
        c = self.chunk
        return f"{c.url}#{c.anchor}" if c.anchor and "#" not in c.url else c.url


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
    sources: list[dict[str, Any]] = field(default_factory=list)
    abstained: bool = False
    sentences: list[Sentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    query: str | None = None  # the standalone query used for retrieval (after follow-up rewriting)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
