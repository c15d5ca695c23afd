"""One indexing run against Milvus: rows written as run C + 1, made visible together by one state-row upsert.

A run R = C + 1 inserts new rows with born = R (readers, who see born <= C < died, skip them) and retires old
ones by setting died = R (readers still see them). `commit()` upserts the state row to run R: both switch at
once. Then the retired rows are deleted. A killed run leaves rows that no reader sees; the next run (or this
one's close) deletes its born > C rows and revives its died > C rows before it starts."""

from __future__ import annotations

import contextlib
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
from indexer.milvus.pending import Pending
from indexer.store.layout import LOCK, IndexLocked, IndexMismatch

DOC_FIELDS = ["key", "doc_id", "source", "url", "content_hash", "etag", "last_modified", "n_chunks", "first_chunk",
              "born"]  # fmt: skip
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
        self.pending = Pending(None)  # the run's unsent writes (open() gives it the client)
        self.docs: dict[str, dict[str, Any]] = {}  # the document rows as this run sees them, by doc_id
        self.hashes: dict[str, set[str]] = {}  # content hash -> doc_ids

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
            self.pending = Pending(self.mc)
            self._load_documents()
        except BaseException:
            with contextlib.suppress(Exception):  # the error that stopped the open is the one to report
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
        try:
            if self.mc is not None and self.committed_version is None:
                self._roll_back()
        finally:  # a roll-back that fails (the next run's open redoes it) still frees the index
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

    # -- reads inside the run: from the run's copy of the document rows --------------------------
    def _load_documents(self) -> None:
        """The committed document rows, kept for the run: its reads need no query, its deletes know the chunk ids
        (each document's chunks have consecutive ids from first_chunk)."""
        self.docs, self.hashes = {}, {}
        for row in ms.scan(self.mc, self.documents, ms.visible(self.base), DOC_FIELDS):
            self._remember(row)

    def _remember(self, row: dict[str, Any]) -> None:
        self.docs[row["doc_id"]] = row
        self.hashes.setdefault(row["content_hash"], set()).add(row["doc_id"])

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        row = self.docs.get(doc_id)
        if row is None:
            return None
        keys = ("doc_id", "source", "url", "content_hash", "etag", "last_modified", "n_chunks")
        return {k: row[k] or None if k in ("etag", "last_modified") else row[k] for k in keys}

    def find_by_hash(self, content_hash: str) -> str | None:
        return next(iter(sorted(self.hashes.get(content_hash, ()))), None)

    def known_documents(self, source: str) -> dict[str, DocState]:
        return {
            r["doc_id"]: DocState(
                r["doc_id"], r["url"], r["content_hash"], r["etag"] or None, r["last_modified"] or None
            )
            for r in self.docs.values()
            if r["source"] == source
        }

    def document_ids(self, source: str) -> set[str]:
        return {d for d, r in self.docs.items() if r["source"] == source}

    def counts(self) -> tuple[int, int]:
        return len(self.docs), sum(int(r["n_chunks"]) for r in self.docs.values())

    # -- writes ----------------------------------------------------------------------------------
    def _retire(self, collection: str, key: Any, born: int) -> None:
        """A row this run wrote goes at once; an older one gets died = this run: readers keep it until commit."""
        if born == self.run:
            self.pending.delete(collection, key)
        else:
            self.pending.update(collection, key, {"died": self.run})

    def upsert_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Replace a document and its chunks; returns the number of chunks removed."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        removed = self.delete_document(doc.doc_id)
        row = {
            "key": f"{self.run}:{doc.doc_id}", "doc_id": doc.doc_id, "source": doc.source, "url": doc.url,
            "title": ms.fit(doc.title), "doctype": doc.doctype or "", "content_hash": doc.content_hash,
            "etag": doc.etag or "", "last_modified": doc.last_modified or "", "n_chunks": len(chunks),
            "first_chunk": self.next_id, "indexed_at": time.time(), "born": self.run, "died": ms.ALIVE,
            "vector": [0.0] * ms.DUMMY_DIM,
        }  # fmt: skip
        self.pending.insert(self.documents, row)
        self._remember(row)
        vecs = np.asarray(vectors, dtype=np.float32)
        for c, vec, lexical in zip(chunks, vecs, ms.lexical_texts(chunks), strict=True):
            c.chunk_id = self.next_id
            self.next_id += 1
            self.pending.insert(self.chunks, {
                "chunk_id": c.chunk_id, "doc_id": doc.doc_id, "source": doc.source, "url": c.url,
                "title": ms.fit(c.title), "section": ms.fit(c.section), "anchor": c.anchor or "",
                "text": ms.fit(c.text), "doctype": (doc.doctype or "").lower(), "position": c.position,
                "n_tokens": c.n_tokens, "born": self.run, "died": ms.ALIVE, "lexical": lexical,
                "vector": vec.tolist(),
            })  # fmt: skip
        return removed

    def touch_document(self, doc_id: str, etag: str | None, last_modified: str | None) -> None:
        """New validators for an unchanged document, in place: they describe content already indexed."""
        row = self.docs.get(doc_id)
        fields = {k: v for k, v in (("etag", etag), ("last_modified", last_modified)) if v is not None}
        if row is not None and fields:
            row.update(fields)
            self.pending.update(self.documents, row["key"], fields)

    def delete_document(self, doc_id: str) -> int:
        row = self.docs.pop(doc_id, None)
        if row is None:
            return 0
        self.hashes.get(row["content_hash"], set()).discard(doc_id)
        born, first, n = int(row["born"]), int(row["first_chunk"]), int(row["n_chunks"])
        for chunk_id in range(first, first + n):
            self._retire(self.chunks, chunk_id, born)
        self._retire(self.documents, row["key"], born)
        return n

    def _source_rows(self, source: str) -> list[dict[str, Any]]:
        self.pending.send()
        expr = " and ".join((ms.visible(self.run), f"name == {ms.lit(source)}", 'key like "source:%"'))
        return list(self.mc.query(self.meta, filter=expr, output_fields=["key", "born"]))

    def touch_source(self, source: str, kind: str, options: dict[str, Any] | None = None) -> None:
        for row in self._source_rows(source):
            self._retire(self.meta, row["key"], int(row["born"]))
        value = json.dumps({"kind": kind, "options": options or {}})
        self.pending.insert(self.meta, {"key": f"source:{self.run}:{source}", "name": source, "value": value,
                                        "indexed_at": time.time(), "born": self.run, "died": ms.ALIVE,
                                        "vector": [0.0] * ms.DUMMY_DIM})  # fmt: skip

    def remove_source(self, source: str) -> tuple[int, int]:
        docs = self.document_ids(source)
        chunks = sum(self.delete_document(d) for d in docs)
        for row in self._source_rows(source):
            self._retire(self.meta, row["key"], int(row["born"]))
        return len(docs), chunks

    def has_source(self, source: str) -> bool:
        return bool(self._source_rows(source))

    # -- publish ---------------------------------------------------------------------------------
    def commit(self) -> str:
        """Make the run visible with one upsert of the state row, then delete the rows it retired."""
        self.pending.send()
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
