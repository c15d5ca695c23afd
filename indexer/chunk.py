"""Token-based chunking that follows headings: windows of the embedder's tokens, with overlap."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from indexer.cjk import CLAUSE_END, SENTENCE_ENDS
from indexer.document import Chunk, Document

# Raise when the chunker cuts documents differently: indexes re-chunk their documents at the next run
# (indexer.fingerprint). 2: windows end at CJK full stops and begin at a sentence start.
CHUNKER_VERSION = 2

Tokenize = Callable[[str], list[tuple[int, int]]]  # text -> character spans of its tokens

MAX_CHARS = 4000  # characters in a chunk at most, whatever the tokenizer counts (Settings.chunk_max_chars)
# Where a window may end: after a Latin sentence end followed by a space, after a CJK one (。！？；, no space
# needed), or at a line break; closing quotes and brackets after the mark stay with the sentence.
_LATIN_ENDS = ".!?;:"
_CJK_ENDS = SENTENCE_ENDS + CLAUSE_END
_CLOSERS = "\"'\u201d\u2019)]\uff09\u300d\u300f\u3011"


def _sentence_break(text: str, spans: list[tuple[int, int]], i: int) -> bool:
    """Whether a sentence ends between token i - 1 and token i."""
    gap = text[spans[i - 1][1] : spans[i][0]]
    if "\n" in gap:
        return True
    mark = text[max(0, spans[i - 1][1] - 8) : spans[i - 1][1]].rstrip(_CLOSERS)[-1:]
    if not mark:
        return False
    return mark in _CJK_ENDS or (bool(gap) and mark in _LATIN_ENDS)


def _cut_point(text: str, spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Choose the token index in [lo, hi] to end a window at: the last sentence or line break, else hi."""
    if hi >= len(spans):
        return len(spans)
    floor = lo + (hi - lo) * 3 // 5
    for i in range(hi, floor, -1):
        if _sentence_break(text, spans, i):
            return i
    return hi


def _next_start(text: str, spans: list[tuple[int, int]], start: int, end: int, overlap: int) -> int:
    """Where the window after [start, end) begins: at the first sentence start among its last `overlap` tokens,
    so that no window opens on half a sentence; at `end` when none starts there but a sentence ends at `end`;
    else `overlap` tokens back, on a word boundary."""
    lo = max(end - overlap, start + 1)
    for i in range(lo, end):
        if _sentence_break(text, spans, i):
            return i
    if overlap and end < len(spans) and _sentence_break(text, spans, end):
        return end
    nxt = lo
    # skip sub-word pieces glued to the previous token
    while nxt < end and spans[nxt][0] == spans[nxt - 1][1] and text[spans[nxt][0]].isalnum():
        nxt += 1
    return nxt


def _bounded_spans(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Token spans with none longer than max_chars (a longer one is cut in pieces); whitespace-separated words
    stand in when the tokenizer found nothing in a text too long for one chunk."""
    if not spans and len(text.strip()) > max_chars:
        spans = [m.span() for m in re.finditer(r"\S+", text)]
    if all(b - a <= max_chars for a, b in spans):
        return spans
    out: list[tuple[int, int]] = []
    for a, b in spans:
        out.extend((i, min(i + max_chars, b)) for i in range(a, b, max_chars))
    return out


def split_section(text: str, tokenize: Tokenize, size: int, overlap: int,
                  max_chars: int = MAX_CHARS) -> list[tuple[str, int]]:  # fmt: skip
    """Split text into (passage, n_tokens) windows of at most `size` tokens and `max_chars` characters
    (whatever the tokenizer says), overlapping by `overlap` tokens."""
    spans = _bounded_spans(text, tokenize(text), max_chars)
    if len(spans) <= size and len(text.strip()) <= max_chars:
        return [(text.strip(), len(spans))] if text.strip() else []
    ends = [b for _, b in spans]
    out = []
    start = 0
    while start < len(spans):
        fits = max(bisect.bisect_right(ends, spans[start][0] + max_chars, lo=start), start + 1)
        end = _cut_point(text, spans, start, min(start + size, fits, len(spans)))
        out.append((text[spans[start][0] : spans[end - 1][1]].strip(), end - start))
        if end >= len(spans):
            break
        start = _next_start(text, spans, start, end, overlap)
    return out


def chunk_document(doc: Document, tokenize: Tokenize, size: int = 220, overlap: int = 32,
                   max_chars: int = MAX_CHARS) -> list[Chunk]:  # fmt: skip
    """Chunks for a document: sections are never merged across headings; small neighbours under the same
    heading path are. No chunk is longer than max_chars. Each chunk records document, URL, title, section
    path, anchor and position."""
    chunks: list[Chunk] = []
    pending: tuple[str, list[str], str | None] | None = None  # a tiny section waiting to join the next

    def emit(text: str, path: list[str], anchor: str | None) -> None:
        for passage, n in split_section(text, tokenize, size, overlap, max_chars):
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


def chunk_head(title: str, section: str) -> str:
    """A chunk's head: its title, or title — nearest heading. The embedder and BM25 both see it."""
    return title if not section else f"{title} — {section.split(' > ')[-1]}"


def embed_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: title and section give the passage its context."""
    head = chunk_head(chunk.title, chunk.section)
    return f"{head}\n{chunk.text}" if head else chunk.text
