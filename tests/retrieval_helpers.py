"""Helpers for the retrieval tests: a small index written straight through IndexWriter, a fake reranker."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from indexer.chunk import chunk_document, embed_text
from indexer.document import Document, Section
from indexer.embed import Embedder
from indexer.parse import content_hash
from indexer.store import IndexWriter
from searchchat.retrieval.rerank import Reranker
from searchchat.types import Hit


def make_doc(
    doc_id: str,
    text: str,
    *,
    title: str = "",
    source: str = "s",
    doctype: str = "html",
    url: str | None = None,
) -> Document:
    secs = [Section([], text)]
    return Document(doc_id=doc_id, url=url or f"https://example.com/{doc_id}", title=title or doc_id,
                    text=text, sections=secs, doctype=doctype, source=source,
                    content_hash=content_hash(text))  # fmt: skip


def write_index(index_dir: Path, docs: Sequence[Document], embedder: Embedder, chunk_tokens: int = 40,
                delete: Sequence[str] = ()) -> str:  # fmt: skip
    """Upsert `docs` (chunked small, so long documents give several chunks), delete doc ids, commit."""
    with IndexWriter(index_dir, embedder.name, embedder.dim) as w:
        for doc in docs:
            chunks = chunk_document(doc, embedder.tokenize, size=chunk_tokens, overlap=0)
            w.upsert_document(doc, chunks, embedder.embed([embed_text(c) for c in chunks]))
        for doc_id in delete:
            w.delete_document(doc_id)
        for source in {d.source for d in docs}:
            w.touch_source(source, "web")
        return w.commit()


class ReverseReranker(Reranker):
    """Scores hits in reverse of their fused order and records what it saw."""

    name = "reverse"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        self.calls.append((query, len(hits)))
        return [float(h.rank) for h in hits]
