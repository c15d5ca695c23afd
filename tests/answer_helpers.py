"""Builders for answer tests: hits from plain texts and a retriever that returns them."""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.document import Chunk
from indexer.embed import Embedder
from searchchat.retrieval.retriever import SearchResult
from searchchat.types import Hit


def make_hits(*texts: str, title: str = "Doc") -> list[Hit]:
    return [
        Hit(
            rank=i,
            score=1.0 / i,
            chunk=Chunk(
                chunk_id=i,
                doc_id=f"d{i}",
                url=f"file:///docs/{i}.md",
                title=f"{title} {i}",
                section="Intro",
                text=text,
            ),  # fmt: skip
        )
        for i, text in enumerate(texts, start=1)
    ]


@dataclass
class ListRetriever:
    """Returns the same hits for every query (first k) and records the queries and per-document caps asked."""

    hits: list[Hit]
    embedder: Embedder
    queries: list[str] = field(default_factory=list)
    caps: list[int | None] = field(default_factory=list)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: object = None,
        store: object = None,
        cap: int | None = None,
    ) -> SearchResult:
        self.queries.append(query)
        self.caps.append(cap)
        return SearchResult(query=query, mode=mode or "hybrid", hits=self.hits[: k or len(self.hits)])
