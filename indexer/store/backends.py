"""Which store an index lives in, by name (SEARCHCHAT_STORE): 'local' snapshots, or Milvus by URI.

    local                        the snapshot store in the index directory (the default)
    milvus:///path/lite.db       Milvus Lite, in process, on that file
    milvus://host:19530          a Milvus server (standalone or cluster)

A Milvus URI may end in ?collection=NAME, the prefix of the collection names (default 'searchchat'); each
index directory gets its own collections under that prefix, and keeps its crawl cache and write lock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from indexer.options import AnnOptions
from indexer.store.layout import current_snapshot
from indexer.store.protocol import ReadStore, StoreSource, WriteStore
from indexer.store.reader import IndexStore, StoreHandle
from indexer.store.writer import IndexWriter

STORE_KINDS = ("local", "milvus")


@dataclass(frozen=True)
class StoreSpec:
    """A parsed SEARCHCHAT_STORE: its kind, the Milvus URI the client connects to, the collection prefix."""

    kind: str
    uri: str = ""
    prefix: str = "searchchat"

    def namespace(self, index_dir: Path) -> str:
        from indexer.milvus.schema import namespace

        return namespace(self.prefix, index_dir)


def parse_store(value: str | None) -> StoreSpec:
    """A StoreSpec from 'local', 'milvus:///path/lite.db' or 'milvus://host:port'; ValueError otherwise."""
    value = (value or "local").strip()
    if value == "local":
        return StoreSpec("local")
    parts = urlsplit(value)
    if parts.scheme != "milvus":
        raise ValueError(f"Unknown store {value!r}: use local, milvus:///path/lite.db or milvus://host:19530")
    prefix = parse_qs(parts.query).get("collection", ["searchchat"])[0]
    if not prefix.replace("_", "a").isalnum() or not prefix[0].isalpha():
        raise ValueError(
            f"Invalid collection prefix {prefix!r}: letters, digits and '_', starting with a letter"
        )
    if parts.netloc:
        return StoreSpec("milvus", f"http://{parts.netloc}", prefix)
    if not parts.path.endswith(".db"):
        raise ValueError(f"A Milvus Lite store is a .db file (milvus:///path/lite.db), not {parts.path!r}")
    return StoreSpec("milvus", str(Path(parts.path).expanduser()), prefix)


def open_reader(store: str | None, index_dir: Path) -> ReadStore:
    """The committed index (IndexNotFound when there is none)."""
    spec = parse_store(store)
    if spec.kind == "local":
        return IndexStore.open(index_dir)
    from indexer.milvus import MilvusStore

    return MilvusStore.open(spec.uri, spec.namespace(index_dir), index_dir)


def open_handle(store: str | None, index_dir: Path) -> StoreSource:
    """For long-running readers: follows new commits."""
    spec = parse_store(store)
    if spec.kind == "local":
        return StoreHandle(index_dir)
    from indexer.milvus import MilvusHandle

    return MilvusHandle(spec.uri, spec.namespace(index_dir), index_dir)


def open_writer(
    store: str | None, index_dir: Path, embedder: str, dim: int, ann: AnnOptions | None = None
) -> WriteStore:
    """An indexing run's writer (use it as a context manager); `ann` is the local store's ANN index (Milvus
    keeps its own dense index)."""
    spec = parse_store(store)
    if spec.kind == "local":
        return IndexWriter(index_dir, embedder, dim, ann)
    from indexer.milvus import MilvusWriter

    return MilvusWriter(spec.uri, spec.namespace(index_dir), index_dir, embedder, dim)


def has_index(store: str | None, index_dir: Path) -> bool:
    """Whether a committed index exists (cheap for the local store: one small file read)."""
    spec = parse_store(store)
    if spec.kind == "local":
        return current_snapshot(Path(index_dir)) is not None
    from indexer.milvus.schema import client, names, read_state

    return read_state(client(spec.uri), names(spec.namespace(index_dir))[2]) is not None
