"""Crash-safe index store: immutable snapshots of SQLite metadata + FAISS vectors + BM25, published atomically.

The only module that speaks SQL to a snapshot: readers use IndexStore (reader.py), an indexing run IndexWriter
(writer.py); layout.py says what a snapshot is on disk, ann.py which dense index (flat, or ANN above a size) it
carries and how it is searched. protocol.py is the interface every store satisfies, and backends.py picks one by
name (SEARCHCHAT_STORE: local, or Milvus in indexer.milvus)."""

from indexer.store.backends import StoreSpec, has_index, open_handle, open_reader, open_writer, parse_store
from indexer.store.layout import (
    CURRENT,
    LOCK,
    MANIFEST,
    META_DB,
    VECTORS,
    IndexError_,
    IndexLocked,
    IndexMismatch,
    IndexNotFound,
    current_snapshot,
)
from indexer.store.protocol import ReadStore, StoreSource, WriteStore
from indexer.store.reader import ChunkFilter, IndexStats, IndexStore, StoredDocument, StoreHandle
from indexer.store.writer import IndexWriter, rebuild_bm25

__all__ = [
    "CURRENT",
    "LOCK",
    "MANIFEST",
    "META_DB",
    "VECTORS",
    "ChunkFilter",
    "IndexError_",
    "IndexLocked",
    "IndexMismatch",
    "IndexNotFound",
    "IndexStats",
    "IndexStore",
    "IndexWriter",
    "ReadStore",
    "StoreHandle",
    "StoreSource",
    "StoreSpec",
    "StoredDocument",
    "WriteStore",
    "current_snapshot",
    "has_index",
    "open_handle",
    "open_reader",
    "open_writer",
    "parse_store",
    "rebuild_bm25",
]
