"""Token-based chunking that follows headings: windows of the embedder's tokens, with overlap."""

from __future__ import annotations

import re
from collections.abc import Callable

from searchchat.types import Chunk, Document

Tokenize = Callable[[str], list[tuple[int, int]]]  # text -> character spans of its tokens

_BREAK = re.compile(r"(?<=[.!?:;])\s+|\n+")


def _cut_point(text: str, spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Choose the token index in [lo, hi] to end a window at: the last sentence or line break, else hi."""
    if hi >= len(spans):
        return len(spans)
    floor = lo + (hi - lo) * 3 // 5
    for i in range(hi, floor, -1):
        gap = text[spans[i - 1][1] : spans[i][0]]
        if "\n" in gap or (gap and text[spans[i - 1][1] - 1] in ".!?;:"):
            return i
    return hi


def split_section(text: str, tokenize: Tokenize, size: int, overlap: int) -> list[tuple[str, int]]:
    """Split text into (passage, n_tokens) windows of at most `size` tokens, overlapping by `overlap`."""
    spans = tokenize(text)
    if len(spans) <= size:
        return [(text.strip(), len(spans))] if text.strip() else []
    out = []
    start = 0
    while start < len(spans):
        end = _cut_point(text, spans, start, min(start + size, len(spans)))
        out.append((text[spans[start][0] : spans[end - 1][1]].strip(), end - start))
        if end >= len(spans):
            break
        start = max(end - overlap, start + 1)
        # begin the overlap on a word boundary: skip sub-word pieces glued to the previous token
        while start < end and spans[start][0] == spans[start - 1][1] and text[spans[start][0]].isalnum():
            start += 1
    return out


def chunk_document(doc: Document, tokenize: Tokenize, size: int = 220, overlap: int = 32) -> list[Chunk]:
    """Chunks for a document: sections are never merged across headings; small neighbours under the same
    heading path are. Each chunk records document, URL, title, section path, anchor and position."""
    chunks: list[Chunk] = []
    pending: tuple[str, list[str], str | None] | None = None  # a tiny section waiting to join the next

    def emit(text: str, path: list[str], anchor: str | None) -> None:
        for passage, n in split_section(text, tokenize, size, overlap):
            chunks.append(
                Chunk(
                    chunk_id=None, doc_id=doc.doc_id, url=doc.url, title=doc.title,
                    section=" > ".join(path), text=passage, anchor=anchor, position=len(chunks), n_tokens=n,
                )
            )  # fmt: skip

    for sec in doc.sections:
        text, path, anchor = sec.text, sec.path, sec.anchor
        if pending is not None:
            ptext, ppath, panchor = pending
            if ppath == path[: len(ppath)]:  # a parent heading's short intro joins its first child
                text = ptext + "\n" + text
                if ppath != path:
                    path, anchor = path, anchor or panchor
            else:
                emit(ptext, ppath, panchor)
            pending = None
        if len(tokenize(text)) < max(12, size // 10):
            pending = (text, path, anchor)
            continue
        emit(text, path, anchor)
    if pending is not None:
        emit(*pending)
    return chunks


def embed_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: title and section give the passage its context."""
    head = chunk.title if not chunk.section else f"{chunk.title} — {chunk.section.split(' > ')[-1]}"
    return f"{head}\n{chunk.text}" if head else chunk.text
