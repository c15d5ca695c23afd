"""One indexing run against Milvus: rows written as run C + 1, made visible together by one state-row upsert.

A run R = C + 1 inserts new rows with born = R (readers, who see born <= C < died, skip them) and retires old
ones by setting died = R (readers still see them). `commit()` upserts the state row to run R: both switch at
once. Then the retired rows are deleted. A killed run leaves rows that no reader sees; the next run (or this
one's close) deletes its born > C rows and revives its died > C rows before it starts."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.document import Chunk, Document
from indexer.events import DocState
from indexer.milvus import schema as ms
from indexer.store.layout import LOCK, IndexLocked, IndexMismatch

DOC_FIELDS = ["key", "doc_id", "source", "url", "content_hash", "etag", "last_modified", "n_chunks", "born"]
_run_locks: dict[str, threading.Lock] = {}  # one writer per index within a process, too


class MilvusWriter:
    """One indexing run on a Milvus-backed index; the same methods as the local IndexWriter."""

    def __init__(self, uri: str, ns: str, index_dir: Path, embedder: str, dim: int) -> None:
        self.uri, self.ns, self.index_dir = uri, ns, Path(index_dir)
        self.embedder, self.dim = embedder, dim
        self.chunks, self.documents, self.meta = ms.names(ns)
        self.mc: Any = None
        self.committed_version: str | None = None
        self._lock_fd: int | None = None
        self._thread_lock = _run_locks.setdefault(f"{uri}#{ns}", threading.Lock())
        self.base = 0  # the committed run C
        self.run = 1  # this run, C + 1
        self.next_id = 1

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> MilvusWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._acquire_lock()
        try:
            self.mc = ms.client(self.uri)
            state = ms.read_state(self.mc, self.meta)
            if state is not None and (state.get("dim") != self.dim or state.get("embedder") != self.embedder):
                raise IndexMismatch(
                    f"The index in Milvus ({self.ns}_*) was built with embedder {state.get('embedder')!r} "
                    f"({state.get('dim')}-d); this run uses {self.embedder!r} ({self.dim}-d). "
                    "Use another --index directory or drop those collections."
                )
            ms.create_collections(self.mc, self.ns, self.dim)
            ms.load(self.mc, self.chunks, self.documents, self.meta)
            self.base = int(state["run"]) if state else 0
            self.run = self.base + 1
            self.next_id = int(state["next_id"]) if state else 1
            self._roll_back()
        except BaseException:
            self.close()
            raise

    def _acquire_lock(self) -> None:
        """A lock file in the index directory keeps two writers on this machine apart, as locally."""
        if not self._thread_lock.acquire(blocking=False):
            raise IndexLocked(f"Another indexing run in this process is writing to {self.ns}; wait for it.")
        self.index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            self._thread_lock.release()
            raise IndexLocked(
                f"Another indexer (pid {holder}) is writing to {self.index_dir}; wait for it to finish."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock; a run that did not commit takes its rows back first (a killed run: the next one)."""
        if self.mc is not None and self.committed_version is None:
            self._roll_back()
        self.mc = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
            self._thread_lock.release()

    def _roll_back(self) -> None:
        """Undo whatever an uncommitted run left (delete rows born after the committed run, revive rows it
        retired) and finish a committed one's clean-up (rows retired at or before the committed run)."""
        for coll, pk in ((self.chunks, "chunk_id"), (self.documents, "key"), (self.meta, "key")):
            if not self.mc.has_collection(coll):
                continue
            self.mc.delete(coll, filter=f"born > {self.base} or died <= {self.base}")
            expr = f"died > {self.base} and died < {ms.ALIVE}"
            revived = [{pk: r[pk], "died": ms.ALIVE} for r in ms.scan(self.mc, coll, expr, [pk])]
            for start in range(0, len(revived), ms.PAGE):
                self.mc.upsert(coll, revived[start : start + ms.PAGE], partial_update=True)

    # -- reads inside the run --------------------------------------------------------------------
    def _mine(self, *conds: str) -> str:
        """Rows as this run sees them: its own writes in, its own retirements out."""
        return " and ".join(f"({c})" for c in (ms.visible(self.run), *conds) if c)

    def _docs(self, expr: str, limit: int | None = None) -> list[dict[str, Any]]:
        if limit:
            return list(
                self.mc.query(self.documents, filter=self._mine(expr), output_fields=DOC_FIELDS, limit=limit)
            )
        return list(ms.scan(self.mc, self.documents, self._mine(expr), DOC_FIELDS))

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._docs(f"doc_id == {ms.lit(doc_id)}", 1)
        if not rows:
            return None
        keys = ("doc_id", "source", "url", "content_hash", "etag", "last_modified", "n_chunks")
        return {k: rows[0][k] or None if k in ("etag", "last_modified") else rows[0][k] for k in keys}

    def find_by_hash(self, content_hash: str) -> str | None:
        rows = self._docs(f"content_hash == {ms.lit(content_hash)}", 1)
        return rows[0]["doc_id"] if rows else None

    def known_documents(self, source: str) -> dict[str, DocState]:
        rows = self._docs(f"source == {ms.lit(source)}")
        return {
            r["doc_id"]: DocState(
                r["doc_id"], r["url"], r["content_hash"], r["etag"] or None, r["last_modified"] or None
            )
            for r in rows
        }

    def document_ids(self, source: str) -> set[str]:
        return {r["doc_id"] for r in self._docs(f"source == {ms.lit(source)}")}

    def counts(self) -> tuple[int, int]:
        return ms.count(self.mc, self.documents, self._mine()), ms.count(self.mc, self.chunks, self._mine())

    # -- writes ----------------------------------------------------------------------------------
    def _retire(self, coll: str, pk: str, rows: Sequence[dict[str, Any]]) -> None:
        """Rows this run wrote go at once; older ones get died = this run: readers keep them until commit."""
        own = [r[pk] for r in rows if int(r["born"]) == self.run]
        older = [{pk: r[pk], "died": self.run} for r in rows if int(r["born"]) != self.run]
        for start in range(0, len(own), ms.PAGE):
            self.mc.delete(coll, ids=own[start : start + ms.PAGE])
        for start in range(0, len(older), ms.PAGE):
            self.mc.upsert(coll, older[start : start + ms.PAGE], partial_update=True)

    def upsert_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Replace a document and its chunks; returns the number of chunks removed."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        removed = self.delete_document(doc.doc_id)
        self.mc.insert(self.documents, [{
            "key": f"{self.run}:{doc.doc_id}", "doc_id": doc.doc_id, "source": doc.source, "url": doc.url,
            "title": ms.fit(doc.title), "doctype": doc.doctype or "", "content_hash": doc.content_hash,
            "etag": doc.etag or "", "last_modified": doc.last_modified or "", "n_chunks": len(chunks),
            "indexed_at": time.time(), "born": self.run, "died": ms.ALIVE, "vector": [0.0] * ms.DUMMY_DIM,
        }])  # fmt: skip
        rows = []
        vecs = np.asarray(vectors, dtype=np.float32)
        for c, vec, lexical in zip(chunks, vecs, ms.lexical_texts(chunks), strict=True):
            c.chunk_id = self.next_id
            self.next_id += 1
            rows.append({
                "chunk_id": c.chunk_id, "doc_id": doc.doc_id, "source": doc.source, "url": c.url,
                "title": ms.fit(c.title), "section": ms.fit(c.section), "anchor": c.anchor or "",
                "text": ms.fit(c.text), "doctype": (doc.doctype or "").lower(), "position": c.position,
                "n_tokens": c.n_tokens, "born": self.run, "died": ms.ALIVE, "lexical": lexical,
                "vector": vec.tolist(),
            })  # fmt: skip
        for start in range(0, len(rows), ms.PAGE):
            self.mc.insert(self.chunks, rows[start : start + ms.PAGE])
        return removed

    def touch_document(self, doc_id: str, etag: str | None, last_modified: str | None) -> None:
        """New validators for an unchanged document, in place: they describe content already indexed."""
        if etag is None and last_modified is None:
            return
        for row in self._docs(f"doc_id == {ms.lit(doc_id)}", 1):
            update: dict[str, Any] = {"key": row["key"]}
            if etag is not None:
                update["etag"] = etag
            if last_modified is not None:
                update["last_modified"] = last_modified
            self.mc.upsert(self.documents, [update], partial_update=True)

    def delete_document(self, doc_id: str) -> int:
        key = ms.lit(doc_id)
        chunks = list(ms.scan(self.mc, self.chunks, self._mine(f"doc_id == {key}"), ["chunk_id", "born"]))
        self._retire(self.chunks, "chunk_id", chunks)
        self._retire(self.documents, "key", self._docs(f"doc_id == {key}"))
        return len(chunks)

    def _source_rows(self, source: str) -> list[dict[str, Any]]:
        expr = self._mine(f"name == {ms.lit(source)}", 'key like "source:%"')
        return list(self.mc.query(self.meta, filter=expr, output_fields=["key", "born"]))

    def touch_source(self, source: str, kind: str, options: dict[str, Any] | None = None) -> None:
        self._retire(self.meta, "key", self._source_rows(source))
        value = json.dumps({"kind": kind, "options": options or {}})
        self.mc.insert(self.meta, [{"key": f"source:{self.run}:{source}", "name": source, "value": value,
                                    "indexed_at": time.time(), "born": self.run, "died": ms.ALIVE,
                                    "vector": [0.0] * ms.DUMMY_DIM}])  # fmt: skip

    def remove_source(self, source: str) -> tuple[int, int]:
        docs = self.document_ids(source)
        chunks = sum(self.delete_document(d) for d in docs)
        self._retire(self.meta, "key", self._source_rows(source))
        return len(docs), chunks

    def has_source(self, source: str) -> bool:
        return bool(self._source_rows(source))

    # -- publish ---------------------------------------------------------------------------------
    def commit(self) -> str:
        """Make the run visible with one upsert of the state row, then delete the rows it retired."""
        for coll in (self.chunks, self.documents, self.meta):
            self.mc.flush(coll)
        state = {"run": self.run, "next_id": self.next_id, "embedder": self.embedder, "dim": self.dim,
                 "index_dir": str(self.index_dir), "committed": time.time()}  # fmt: skip
        self.mc.upsert(self.meta, [{"key": ms.STATE, "name": ms.STATE, "value": json.dumps(state),
                                    "indexed_at": time.time(), "born": 0, "died": ms.ALIVE,
                                    "vector": [0.0] * ms.DUMMY_DIM}])  # fmt: skip
        self.mc.flush(self.meta)
        self.committed_version = str(self.run)
        for coll in (self.chunks, self.documents, self.meta):
            self.mc.delete(coll, filter=f"died <= {self.run}")
        return self.committed_version
