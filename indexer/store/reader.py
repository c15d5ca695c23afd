"""The read side of the store: one published snapshot's chunks, documents, sources, dense and BM25 search."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.bm25_index import LexicalIndex
from indexer.document import Chunk
from indexer.store.ann import DenseIndex
from indexer.store.layout import (
    CHUNK_COLS,
    MANIFEST,
    META_DB,
    VECTORS,
    IndexNotFound,
    chunk_from_row,
    current_snapshot,
)

FILTER_CACHE = 16  # filter sets whose chunk ids a store keeps


@dataclass
class IndexStats:
    documents: int
    chunks: int
    sources: int
    last_indexed: float | None
    version: str
    embedder: str
    dim: int


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a search may return: from any of these sources, under a URL prefix, of a document type."""

    sources: tuple[str, ...] = ()
    url_prefix: str | None = None
    doctype: str | None = None


@dataclass
class StoredDocument:
    """A document as the index lists it."""

    doc_id: str
    url: str
    title: str | None
    doctype: str | None


def _batches(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class IndexStore:
    """A read-only view of one published snapshot: chunk lookup, dense search, stats."""

    def __init__(self, snapshot: Path) -> None:
        self.path = snapshot
        self.version = snapshot.name
        self.manifest: dict[str, Any] = json.loads((snapshot / MANIFEST).read_text())
        self._db = sqlite3.connect(
            f"file:{snapshot / META_DB}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        # the ANN index when the manifest records one (a reader never guesses), else the exact flat index
        self.dense = DenseIndex.load(snapshot, VECTORS, self.manifest)
        self.vectors: Any = self.dense.index
        self.dim = int(self.manifest.get("dim", self.dense.d))
        self._filtered: dict[ChunkFilter, np.ndarray] = {}

    @classmethod
    def open(cls, index_dir: Path) -> IndexStore:
        snap = current_snapshot(Path(index_dir))
        if snap is None:
            raise IndexNotFound(
                f"No index at {index_dir}. Build one first: searchchat index SOURCE... --index {index_dir}"
            )
        return cls(snap)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @functools.cached_property
    def bm25(self) -> LexicalIndex:
        """The snapshot's BM25 index, loaded on first use."""
        return LexicalIndex(self.path)

    # -- the store interface's two retrieval legs (indexer.store.protocol.ReadStore) ----------------
    def search_dense(
        self, vector: np.ndarray, k: int, where: ChunkFilter | None = None
    ) -> list[tuple[int, float]]:
        if where is None:
            return self.dense.search(vector, k)
        # the filter's prepared selection is kept for the next search under it (a user searching one source)
        return self.dense.search(vector, k, self.chunk_ids(where), cache_key=(self.version, where))

    def search_lexical(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[int, float]]:
        return self.bm25.search(query, k, None if where is None else self.chunk_ids(where))

    # -- chunks ----------------------------------------------------------------------------------
    def get_chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        for part in _batches([int(i) for i in ids], 500):
            marks = ",".join("?" * len(part))
            for row in self._rows(f"SELECT {CHUNK_COLS} FROM chunks WHERE chunk_id IN ({marks})", part):
                out[row[0]] = chunk_from_row(row)
        return out

    def chunk_meta(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """chunk_id -> (doc_id, source, doctype), for filters and per-document caps."""
        out: dict[int, tuple[str, str, str]] = {}
        for part in _batches([int(i) for i in ids], 500):
            marks = ",".join("?" * len(part))
            sql = (
                "SELECT c.chunk_id, c.doc_id, d.source, d.doctype FROM chunks c "
                f"JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id IN ({marks})"
            )
            for cid, doc_id, source, doctype in self._rows(sql, part):
                out[cid] = (doc_id, source or "", doctype or "")
        return out

    def all_chunks(self) -> Iterable[Chunk]:
        for row in self._rows(f"SELECT {CHUNK_COLS} FROM chunks ORDER BY chunk_id"):
            yield chunk_from_row(row)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in reading order."""
        rows = self._rows(f"SELECT {CHUNK_COLS} FROM chunks WHERE doc_id = ? ORDER BY position", (doc_id,))
        return [chunk_from_row(r) for r in rows]

    def chunk_ids(self, where: ChunkFilter) -> np.ndarray:
        """Sorted ids of the chunks that pass the filter (cached for the few most recent filters)."""
        if where in self._filtered:
            return self._filtered[where]
        conds: list[str] = []
        params: list[str] = []
        if where.sources:
            conds.append(f"d.source IN ({','.join('?' * len(where.sources))})")
            params.extend(where.sources)
        if where.url_prefix:
            escaped = where.url_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append("c.url LIKE ? ESCAPE '\\'")
            params.append(escaped + "%")
        if where.doctype:
            conds.append("d.doctype = ?")
            params.append(where.doctype.lower())
        sql = "SELECT c.chunk_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
        rows = self._rows(sql + (" WHERE " + " AND ".join(conds) if conds else ""), params)
        ids = np.asarray(sorted(r[0] for r in rows), dtype=np.int64)
        if len(self._filtered) >= FILTER_CACHE:
            self._filtered.pop(next(iter(self._filtered)))
        self._filtered[where] = ids
        return ids

    # -- documents and sources -------------------------------------------------------------------
    def find_document(self, url_or_id: str) -> StoredDocument | None:
        """The document with this URL or doc_id, if the index holds one."""
        rows = self._rows(
            "SELECT doc_id, url, title, doctype FROM documents WHERE url = ? OR doc_id = ? LIMIT 1",
            (url_or_id, url_or_id),
        )
        return StoredDocument(*rows[0]) if rows else None

    def document_keys(self, keys: Iterable[str]) -> set[str]:
        """The doc_ids and URLs of the documents whose doc_id or URL is one of `keys`."""
        found: set[str] = set()
        for part in _batches(sorted(keys), 400):
            marks = ",".join("?" * len(part))
            rows = self._rows(
                f"SELECT doc_id, url FROM documents WHERE doc_id IN ({marks}) OR url IN ({marks})",
                (*part, *part),
            )
            found.update(v for row in rows for v in row)
        return found

    def stats(self) -> IndexStats:
        (docs,), (chunks,), (sources,) = (
            self._rows("SELECT COUNT(*) FROM documents")[0],
            self._rows("SELECT COUNT(*) FROM chunks")[0],
            self._rows("SELECT COUNT(*) FROM sources")[0],
        )
        last = self._rows("SELECT MAX(last_indexed) FROM sources")[0][0]
        return IndexStats(
            documents=docs, chunks=chunks, sources=sources, last_indexed=last, version=self.version,
            embedder=self.manifest.get("embedder", ""), dim=self.dim,
        )  # fmt: skip

    def sources(self) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT s.source, s.kind, s.last_indexed, COUNT(d.doc_id), COALESCE(SUM(d.n_chunks), 0) "
            "FROM sources s LEFT JOIN documents d ON d.source = s.source GROUP BY s.source ORDER BY s.source"
        )
        return [
            {"source": r[0], "kind": r[1], "last_indexed": r[2], "documents": r[3], "chunks": r[4]}
            for r in rows
        ]

    def source_options(self, source: str) -> tuple[str, dict[str, Any]] | None:
        """A source's kind and the crawl options it was indexed with (empty when none or unreadable); None
        for a source not in the index."""
        rows = self._rows("SELECT kind, options FROM sources WHERE source = ?", (source,))
        if not rows:
            return None
        try:
            options = json.loads(rows[0][1] or "{}")
        except ValueError:
            options = {}
        return str(rows[0][0]), options if isinstance(options, dict) else {}

    # -- dense search ----------------------------------------------------------------------------
    def dense_search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Inner-product search; with `allowed`, only those ids are scored (a narrow filter still fills k)."""
        return self.dense.search(vector, k, allowed)

    def close(self) -> None:
        self._db.close()


class StoreHandle:
    """Holds the live snapshot for a long-running reader and swaps in a newer one when it is published."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self._store: IndexStore | None = None
        self._lock = threading.Lock()

    def get(self) -> IndexStore:
        snap = current_snapshot(self.index_dir)
        with self._lock:
            if self._store is not None and (snap is None or snap.name == self._store.version):
                return self._store
            self._store = IndexStore.open(self.index_dir)
            return self._store
