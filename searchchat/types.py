"""Result dataclasses shared by the read and write paths."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# The schemes a document's url may have: never javascript: or data:, which a client would run as a link.
LINK_SCHEMES = frozenset({"http", "https", "file"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_HIDDEN = re.compile(r"[\t\n\r]")  # a browser drops these anywhere in a URL


def url_scheme(url: str) -> str:
    """The scheme a browser reads in url, lowercased; "" for a relative reference. Leading spaces and control
    characters, and tabs or newlines anywhere, do not hide it (" java\tscript:" is javascript)."""
    m = _SCHEME.match(_HIDDEN.sub("", url).lstrip("".join(map(chr, range(33)))))
    return m.group(1).lower() if m else ""


def safe_link(url: str) -> str:
    """url, or "" when its scheme is not one a link may carry (javascript:, data:, vbscript:, ...)."""
    scheme = url_scheme(url)
    return url if not scheme or scheme in LINK_SCHEMES else ""


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
        """The URL with the section's #anchor; "" for a stored URL that must not be a link."""
        c, url = self.chunk, safe_link(self.chunk.url)
        return f"{url}#{c.anchor}" if url and c.anchor and "#" not in url else url


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
    raw_answer: str = ""  # what the model wrote, as streamed
    changed: bool = False  # the check altered the model's answer (or replaced it)
    kind: str | None = None  # "generated", "quote" (the best evidence sentences), None when not found
    policy: str | None = None  # the answer policy's profile
    answerability: float | None = None  # the best sentence's score
    reason: str | None = None  # why "not found" (policy.REASONS), None when it answered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
