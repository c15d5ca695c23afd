"""The document model of the write path: Document, Section, Chunk, and the schemes a stored URL may have."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The schemes a document's url may have: never javascript: or data:, which a client would run as a link.
LINK_SCHEMES = frozenset({"http", "https", "file"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_HIDDEN = re.compile(r"[\t\n\r]")  # a browser drops these anywhere in a URL


def url_scheme(url: str) -> str:
    """The scheme a browser reads in url, lowercased; "" for a relative reference. Leading spaces and control
    characters, and tabs or newlines anywhere, do not hide it (" java\tscript:" is javascript)."""
    m = _SCHEME.match(_HIDDEN.sub("", url).lstrip("".join(map(chr, range(33)))))
    return m.group(1).lower() if m else ""


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
