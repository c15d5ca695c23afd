"""One indexing run's writes: a private copy of the live snapshot, changed and then published atomically."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.bm25 import build_bm25
from indexer.chunk import chunk_head
from indexer.document import Chunk, Document
from indexer.events import DocState
from indexer.options import AnnOptions
from indexer.store import ann
from indexer.store.layout import (
    BM25_ROWS,
    CURRENT,
    LOCK,
    MANIFEST,
    META_DB,
    SCHEMA,
    VECTORS,
    IndexLocked,
    IndexMismatch,
    current_snapshot,
    fsync_dir,
)


def _build_bm25(snapshot: Path, rows: Sequence[Sequence[Any]]) -> None:
    """The snapshot's BM25 index from its (chunk_id, title, section, text) rows, in chunk_id order."""
    heads = [chunk_head(r[1] or "", r[2] or "").strip() for r in rows]
    build_bm25(snapshot, [r[0] for r in rows], [r[3] for r in rows], heads)


def rebuild_bm25(snapshot: Path) -> None:
    """Rebuild the BM25 index of an existing snapshot from its chunks (for private caches such as eval's)."""
    db = sqlite3.connect(f"file:{snapshot / META_DB}?mode=ro", uri=True)
    try:
        rows = db.execute(BM25_ROWS).fetchall()
    finally:
        db.close()
    _build_bm25(snapshot, rows)


def snapshot_name(ns: int) -> str:
    """A snapshot's name from one clock reading: local date and time, then nanoseconds, so that names sort as
    the commits happened (two readings could straddle a second and sort a later commit first)."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(ns // 10**9))}-{ns % 10**9:09d}"


class IndexWriter:
    """One indexing run: copy the live snapshot, apply changes, publish atomically on `commit()`.

    Until `commit()` renames the CURRENT pointer, readers and a later run see the previous snapshot, so a
    failed or killed run loses nothing. An exclusive lock keeps two writers apart.
    """

    def __init__(
        self, index_dir: Path, embedder: str, dim: int, ann_options: AnnOptions | None = None
    ) -> None:
        self.index_dir = Path(index_dir)
        self.embedder, self.dim = embedder, dim
        self.ann_options = ann_options or AnnOptions()
        self._live_ann: tuple[Path, ann.AnnRecord] | None = None  # the live snapshot's ANN index, if any
        self._removed = False  # whether this run removed vectors (an ANN index then is rebuilt, not extended)
        self._lock_fd: int | None = None
        self.tmp: Path | None = None
        self.db: sqlite3.Connection | None = None
        self.vectors: Any = None
        self.committed_version: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> IndexWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        snaps = self.index_dir / "snapshots"
        snaps.mkdir(exist_ok=True)
        for stale in snaps.glob(".tmp-*"):  # left by a killed run; nobody else can be writing now
            shutil.rmtree(stale, ignore_errors=True)
        live = current_snapshot(self.index_dir)
        if live is not None:
            for unpublished in snaps.iterdir():  # renamed by a commit killed before CURRENT named it
                if unpublished.name > live.name and not unpublished.name.startswith("."):
                    shutil.rmtree(unpublished, ignore_errors=True)
        self.tmp = snaps / f".tmp-{os.getpid()}-{time.time_ns()}"
        self.tmp.mkdir()
        if live is not None:
            manifest = json.loads((live / MANIFEST).read_text())
            if manifest.get("dim") != self.dim or manifest.get("embedder") != self.embedder:
                self.close()
                raise IndexMismatch(
                    f"The index at {self.index_dir} was built with embedder {manifest.get('embedder')!r} "
                    f"({manifest.get('dim')}-d); this run uses {self.embedder!r} ({self.dim}-d). "
                    "Use another --index directory or delete this one."
                )
            src = sqlite3.connect(f"file:{live / META_DB}?mode=ro", uri=True)
            dst = sqlite3.connect(self.tmp / META_DB)
            src.backup(dst)
            src.close()
            dst.close()
            self.vectors = faiss.read_index(str(live / VECTORS))
            if manifest.get("ann"):
                record = ann.AnnRecord.from_dict(manifest["ann"])
                self._live_ann = (live / record.file, record)
        else:
            self.vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.db = sqlite3.connect(self.tmp / META_DB)
        self.db.executescript(SCHEMA)
        self.db.execute("PRAGMA journal_mode=OFF")  # the whole file is discarded on failure anyway
        self.db.execute("PRAGMA synchronous=OFF")

    def _acquire_lock(self) -> None:
        path = self.index_dir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise IndexLocked(
                f"Another indexer (pid {holder}) is writing to {self.index_dir}; wait for it to finish."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock; a run that did not commit leaves no trace."""
        if self.db is not None:
            self.db.close()
            self.db = None
        if self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- reads inside the run --------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        assert self.db is not None, "IndexWriter used outside its context"
        return self.db

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT doc_id, source, url, content_hash, etag, last_modified, n_chunks FROM documents "
            "WHERE doc_id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            return None
        keys = ("doc_id", "source", "url", "content_hash", "etag", "last_modified", "n_chunks")
        return dict(zip(keys, row, strict=True))

    def find_by_hash(self, content_hash: str) -> str | None:
        row = self._db.execute(
            "SELECT doc_id FROM documents WHERE content_hash = ? LIMIT 1", (content_hash,)
        ).fetchone()
        return row[0] if row else None

    def known_documents(self, source: str) -> dict[str, DocState]:
        """What the index knows of each document of a source, for conditional requests and change checks."""
        rows = self._db.execute(
            "SELECT doc_id, url, content_hash, etag, last_modified FROM documents WHERE source = ?", (source,)
        )
        return {r[0]: DocState(*r) for r in rows}

    def document_ids(self, source: str) -> set[str]:
        rows = self._db.execute("SELECT doc_id FROM documents WHERE source = ?", (source,))
        return {r[0] for r in rows}

    def counts(self) -> tuple[int, int]:
        docs = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return docs, chunks

    # -- writes ----------------------------------------------------------------------------------
    def upsert_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Replace a document and its chunks; returns the number of chunks removed."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        removed = self.delete_document(doc.doc_id)
        self._db.execute(
            "INSERT INTO documents (doc_id, source, url, title, doctype, content_hash, etag, last_modified, "
            "indexed_at, n_chunks) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                doc.doc_id, doc.source, doc.url, doc.title, doc.doctype, doc.content_hash,
                doc.etag, doc.last_modified, time.time(), len(chunks),
            ),
        )  # fmt: skip
        ids = []
        for c in chunks:
            cur = self._db.execute(
                "INSERT INTO chunks (doc_id, url, title, section, anchor, position, text, n_tokens) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (doc.doc_id, c.url, c.title, c.section, c.anchor, c.position, c.text, c.n_tokens),
            )
            c.chunk_id = int(cur.lastrowid or 0)
            ids.append(c.chunk_id)
        if ids:
            self.vectors.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )
        return removed

    def touch_document(self, doc_id: str, etag: str | None, last_modified: str | None) -> None:
        self._db.execute(
            "UPDATE documents SET etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified) "
            "WHERE doc_id = ?",
            (etag, last_modified, doc_id),
        )

    def delete_document(self, doc_id: str) -> int:
        ids = [r[0] for r in self._db.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))]
        if ids:
            self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))
            self._removed = True
            self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return len(ids)

    def touch_source(self, source: str, kind: str, options: dict[str, Any] | None = None) -> None:
        self._db.execute(
            "INSERT INTO sources (source, kind, last_indexed, options) VALUES (?,?,?,?) "
            "ON CONFLICT(source) DO UPDATE SET kind=excluded.kind, last_indexed=excluded.last_indexed, "
            "options=excluded.options",
            (source, kind, time.time(), json.dumps(options or {})),
        )

    def remove_source(self, source: str) -> tuple[int, int]:
        """Delete a source and its documents; returns (documents, chunks) removed."""
        docs = self.document_ids(source)
        chunks = sum(self.delete_document(d) for d in docs)
        self._db.execute("DELETE FROM sources WHERE source = ?", (source,))
        return len(docs), chunks

    def has_source(self, source: str) -> bool:
        return self._db.execute("SELECT 1 FROM sources WHERE source = ?", (source,)).fetchone() is not None

    # -- publish ---------------------------------------------------------------------------------
    def commit(self) -> str:
        """Write the snapshot and its BM25 index, then atomically point CURRENT at it."""
        assert self.tmp is not None
        db = self._db
        db.commit()
        rows = db.execute(BM25_ROWS).fetchall()
        if len(rows) != self.vectors.ntotal:  # a bug, never a state to publish
            raise RuntimeError(f"index inconsistent: {len(rows)} chunks, {self.vectors.ntotal} vectors")
        db.execute("PRAGMA journal_mode=DELETE")
        db.close()
        self.db = None
        faiss.write_index(self.vectors, str(self.tmp / VECTORS))
        record = self._write_ann()
        _build_bm25(self.tmp, rows)
        version = snapshot_name(time.time_ns())
        manifest: dict[str, Any] = {
            "version": version, "embedder": self.embedder, "dim": self.dim,
            "chunks": len(rows), "created": time.time(),
        }  # fmt: skip
        if record is not None:
            manifest["ann"] = record.to_dict()
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        for f in self.tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
        final = self.tmp.parent / version
        os.rename(self.tmp, final)
        self.tmp = None
        fsync_dir(final.parent)
        pointer = self.index_dir / (CURRENT + ".tmp")
        with open(pointer, "w") as fh:
            fh.write(version)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, self.index_dir / CURRENT)
        fsync_dir(self.index_dir)
        self.committed_version = version
        self._collect_garbage(keep={version})
        return version

    def _write_ann(self) -> ann.AnnRecord | None:
        """Into the snapshot being written: the ANN index the options give for its size (none below the
        threshold). The live snapshot's is extended when this run only added vectors and the build parameters
        are the same; otherwise it is built afresh from the flat index."""
        assert self.tmp is not None
        record = ann.plan(self.ann_options, self.vectors.ntotal)
        if record is None:
            return None
        index = None
        if self._live_ann is not None and not self._removed:
            path, live = self._live_ann
            carried = ann.carry(live, record)
            if carried is not None:
                index = ann.extend(faiss.read_index(str(path)), self.vectors)
                record = carried if index is not None else record
        if index is None:
            index = ann.build(self.vectors, record)
        faiss.write_index(index, str(self.tmp / record.file))
        return record

    def _collect_garbage(self, keep: set[str], keep_last: int = 2) -> None:
        """Remove old snapshots, keeping the newest few for readers that still have them open."""
        snaps = sorted(
            (p for p in (self.index_dir / "snapshots").iterdir() if not p.name.startswith(".")),
            key=lambda p: p.name,
        )
        for old in snaps[:-keep_last]:
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
