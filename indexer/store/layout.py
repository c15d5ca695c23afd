"""What a snapshot is on disk: the SQLite schema, the file names, the CURRENT pointer, the store's errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.document import Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, kind TEXT, last_indexed REAL, options TEXT
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT, url TEXT, title TEXT, doctype TEXT,
    content_hash TEXT, etag TEXT, last_modified TEXT, indexed_at REAL, n_chunks INTEGER
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, url TEXT, title TEXT,
    section TEXT, anchor TEXT, position INTEGER, text TEXT, n_tokens INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""

CHUNK_COLS = "chunk_id, doc_id, url, title, section, anchor, position, text, n_tokens"
BM25_ROWS = "SELECT chunk_id, title, section, text FROM chunks ORDER BY chunk_id"
META_DB, VECTORS, MANIFEST, CURRENT, LOCK = (
    "meta.sqlite",
    "vectors.faiss",
    "manifest.json",
    "CURRENT",
    "index.lock",
)


class IndexError_(Exception):
    """Base class for index problems that the CLI and web app report as clear messages."""


class IndexNotFound(IndexError_):
    pass


class IndexLocked(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


def chunk_from_row(row: Sequence[Any]) -> Chunk:
    """A Chunk from a row of CHUNK_COLS."""
    return Chunk(
        chunk_id=row[0], doc_id=row[1], url=row[2], title=row[3], section=row[4] or "",
        anchor=row[5], position=row[6] or 0, text=row[7], n_tokens=row[8] or 0,
    )  # fmt: skip


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_snapshot(index_dir: Path) -> Path | None:
    """The published snapshot directory, or None when the index was never committed."""
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    path = index_dir / "snapshots" / name
    return path if name and path.is_dir() else None
