"""The Milvus store's read side: one committed run's chunks, documents and sources, dense and BM25 search."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.document import Chunk
from indexer.milvus import schema as ms
from indexer.store.layout import IndexNotFound
from indexer.store.reader import ChunkFilter, IndexStats, StoredDocument

CHUNK_FIELDS = ["chunk_id", "doc_id", "url", "title", "section", "anchor", "position", "text", "n_tokens"]


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=int(row["chunk_id"]), doc_id=row["doc_id"], url=row["url"], title=row["title"],
        section=row["section"] or "", anchor=row["anchor"] or None, position=int(row["position"] or 0),
        text=row["text"], n_tokens=int(row["n_tokens"] or 0),
    )  # fmt: skip


def chunk_filter(where: ChunkFilter | None) -> str:
    """A ChunkFilter as a Milvus expression over the chunk rows' denormalised source, url and doctype. A URL
    prefix is a range, not LIKE: '_' and '%' are common in URLs and Milvus Lite's LIKE cannot escape them."""
    if where is None:
        return ""
    conds: list[str] = []
    if where.sources:
        conds.append(f"source in {ms.lits(list(where.sources))}")
    if where.url_prefix:
        conds.append(
            f"url >= {ms.lit(where.url_prefix)} and url < {ms.lit(where.url_prefix + chr(0x10FFFF))}"
        )
    if where.doctype:
        conds.append(f"doctype == {ms.lit(where.doctype.lower())}")
    return " and ".join(f"({c})" for c in conds)


class MilvusStore:
    """A read-only view of one committed run of a Milvus-backed index (rows with born <= run < died)."""

    def __init__(self, uri: str, ns: str, state: dict[str, Any]) -> None:
        self.uri, self.ns = uri, ns
        self.mc = ms.client(uri)
        self.chunks, self.documents, self.meta = ms.names(ns)
        self.run = int(state["run"])
        self.version = str(self.run)
        self.dim = int(state["dim"])
        self.manifest: dict[str, Any] = {
            "version": self.version, "embedder": state["embedder"], "dim": self.dim, "store": "milvus",
            "uri": uri, "collections": ns,
        }  # fmt: skip
        self._live = ms.visible(self.run)
        ms.load(self.mc, self.chunks, self.documents, self.meta)

    @classmethod
    def open(cls, uri: str, ns: str, index_dir: Path | None = None) -> MilvusStore:
        state = ms.read_state(ms.client(uri), ms.names(ns)[2])
        if state is None:
            raise IndexNotFound(
                f"No index in Milvus at {uri} (collections {ns}_*). "
                "Build one first: searchchat index SOURCE..." + (f" --index {index_dir}" if index_dir else "")
            )
        return cls(uri, ns, state)

    def _where(self, *conds: str) -> str:
        return " and ".join(f"({c})" for c in (self._live, *conds) if c)

    def _query(
        self, collection: str, expr: str, fields: list[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        kwargs = {"limit": limit} if limit else {}
        return list(self.mc.query(collection, filter=self._where(expr), output_fields=fields, **kwargs))

    def _by_ids(self, ids: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        unique = sorted({int(i) for i in ids})
        for start in range(0, len(unique), ms.PAGE):
            part = unique[start : start + ms.PAGE]
            rows += self._query(self.chunks, f"chunk_id in {part}", fields)
        return rows

    # -- chunks ----------------------------------------------------------------------------------
    def get_chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        return {int(r["chunk_id"]): _chunk(r) for r in self._by_ids(ids, CHUNK_FIELDS)}

    def chunk_meta(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        rows = self._by_ids(ids, ["chunk_id", "doc_id", "source", "doctype"])
        return {int(r["chunk_id"]): (r["doc_id"], r["source"] or "", r["doctype"] or "") for r in rows}

    def all_chunks(self) -> Iterable[Chunk]:
        rows = ms.scan(self.mc, self.chunks, self._live, CHUNK_FIELDS)
        yield from sorted((_chunk(r) for r in rows), key=lambda c: c.chunk_id or 0)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        rows = ms.scan(self.mc, self.chunks, self._where(f"doc_id == {ms.lit(doc_id)}"), CHUNK_FIELDS)
        return sorted((_chunk(r) for r in rows), key=lambda c: c.position)

    def chunk_ids(self, where: ChunkFilter) -> np.ndarray:
        rows = ms.scan(self.mc, self.chunks, self._where(chunk_filter(where)), ["chunk_id"])
        return np.asarray(sorted(int(r["chunk_id"]) for r in rows), dtype=np.int64)

    # -- documents and sources -------------------------------------------------------------------
    def find_document(self, url_or_id: str) -> StoredDocument | None:
        key = ms.lit(url_or_id)
        rows = self._query(
            self.documents, f"url == {key} or doc_id == {key}", ["doc_id", "url", "title", "doctype"], 1
        )
        return (
            StoredDocument(rows[0]["doc_id"], rows[0]["url"], rows[0]["title"], rows[0]["doctype"])
            if rows
            else None
        )

    def document_keys(self, keys: Iterable[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 400):
            part = ms.lits(ordered[start : start + 400])
            for r in self._query(self.documents, f"doc_id in {part} or url in {part}", ["doc_id", "url"]):
                found.update((r["doc_id"], r["url"]))
        return found

    def _source_rows(self) -> list[dict[str, Any]]:
        rows = self._query(self.meta, 'key like "source:%"', ["name", "value", "indexed_at"])
        return sorted(rows, key=lambda r: r["name"])

    def stats(self) -> IndexStats:
        sources = self._source_rows()
        last = max((r["indexed_at"] for r in sources), default=None)
        return IndexStats(
            documents=ms.count(self.mc, self.documents, self._live),
            chunks=ms.count(self.mc, self.chunks, self._live), sources=len(sources), last_indexed=last,
            version=self.version, embedder=self.manifest["embedder"], dim=self.dim,
        )  # fmt: skip

    def sources(self) -> list[dict[str, Any]]:
        out = []
        for r in self._source_rows():
            name = ms.lit(r["name"])
            out.append({
                "source": r["name"], "kind": json.loads(r["value"]).get("kind"),
                "last_indexed": r["indexed_at"],
                "documents": ms.count(self.mc, self.documents, self._where(f"source == {name}")),
                "chunks": ms.count(self.mc, self.chunks, self._where(f"source == {name}")),
            })  # fmt: skip
        return out

    def source_options(self, source: str) -> tuple[str, dict[str, Any]] | None:
        rows = self._query(self.meta, f'name == {ms.lit(source)} and key like "source:%"', ["value"], 1)
        if not rows:
            return None
        value = json.loads(rows[0]["value"])
        options = value.get("options")
        return str(value.get("kind")), options if isinstance(options, dict) else {}

    # -- search ----------------------------------------------------------------------------------
    def _search(self, data: Any, field: str, metric: str, k: int, where: ChunkFilter | None) -> list[Any]:
        res = self.mc.search(
            self.chunks, data=[data], anns_field=field, limit=max(1, min(k, 16_384)),
            filter=self._where(chunk_filter(where)), search_params={"metric_type": metric}, output_fields=[],
        )  # fmt: skip
        return list(res[0]) if res else []

    def search_dense(
        self, vector: np.ndarray, k: int, where: ChunkFilter | None = None
    ) -> list[tuple[int, float]]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        return [(int(h["chunk_id"]), float(h["distance"])) for h in self._search(q, "vector", "IP", k, where)]

    def search_lexical(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[int, float]]:
        """BM25 over the analysed field (Milvus Lite reports -score as the distance, Milvus the score)."""
        text = ms.lexical_query(query)
        if not text or k <= 0:
            return []
        hits = [
            (int(h["chunk_id"]), abs(float(h["distance"])))
            for h in self._search(text, "sparse", "BM25", k, where)
        ]
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))

    def close(self) -> None:
        """The client is shared by the process (ms.client); nothing to release per view."""


class MilvusHandle:
    """Holds the latest committed run for a long-running reader; get() picks up a newer commit."""

    def __init__(self, uri: str, ns: str, index_dir: Path | None = None) -> None:
        self.uri, self.ns, self.index_dir = uri, ns, index_dir
        self._store: MilvusStore | None = None
        self._lock = threading.Lock()

    def get(self) -> MilvusStore:
        state = ms.read_state(ms.client(self.uri), ms.names(self.ns)[2])
        with self._lock:
            if self._store is not None and (state is None or str(state["run"]) == self._store.version):
                return self._store
            self._store = MilvusStore.open(self.uri, self.ns, self.index_dir)
            return self._store
