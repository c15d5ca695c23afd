"""The Milvus store's collections (chunks, documents, meta), their row visibility, filter-expression helpers.

Every row carries `born` (the run that wrote it) and `died` (the run that retired it, ALIVE while it lives).
The meta collection's "state" row names the committed run C; a reader sees exactly the rows with
born <= C < died, so a run's writes (born = C + 1) and retirements (died = C + 1) switch together when the state row does."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from indexer.bm25 import INDEX_TITLE, K1, B, analyze, stemmer
from indexer.chunk import chunk_head
from indexer.store.layout import IndexError_, IndexLocked

log = logging.getLogger(__name__)

ALIVE = 2**62  # `died` of a row no run has retired
VARCHAR = 65_535  # Milvus' largest VARCHAR, in bytes
DUMMY_DIM = 2  # Milvus wants a vector field in every collection; documents and meta rows carry a zero one
PAGE = 1000  # rows per query page
LITE_KEEPALIVE_MS = 600_000  # gRPC keepalive to the in-process Lite server: rare pings, which it answered with GOAWAY too_many_pings
STATE = "state"
ANALYZER = {
    "tokenizer": "standard"
}  # the text arrives analysed by indexer.bm25 (stems, stopwords, CJK bigrams)


MIN_SERVER = (2, 5)  # sparse vectors came in Milvus 2.4, BM25 functions (full-text search) in 2.5


class StoreUnavailable(IndexError_):
    """The Milvus client is not installed."""


class UnsupportedServer(IndexError_):
    """The Milvus server is older than the store's schema needs."""


def check_server(uri: str, version: str) -> None:
    """Refuse a Milvus server older than MIN_SERVER (its version as get_server_version gives it: 'v2.3.5-lite',
    'v2.5.4', ...), which would otherwise fail later and obscurely (Milvus 2.3 takes the collection but refuses
    the index on the sparse field). Versions in another form (Milvus Lite's 'milvus_lite-3.2.2') pass."""
    found = re.match(r"v?(\d+)\.(\d+)\.", version)
    if found and (int(found[1]), int(found[2])) < MIN_SERVER:
        need = ".".join(map(str, MIN_SERVER))
        raise UnsupportedServer(
            f"The Milvus server at {uri} is {version}; searchchat's Milvus store needs Milvus {need} or later "
            "(a BM25 full-text field and sparse vectors)."
        )


_clients: dict[str, Any] = {}
_lite: set[int] = set()  # ids of the clients of Milvus Lite files
_clients_lock = threading.Lock()


def client(uri: str) -> Any:
    """One MilvusClient per URI and process (Milvus Lite serves a .db file from one process at a time)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # an optional backend: a clear message, never a crash at import
        raise StoreUnavailable(
            "SEARCHCHAT_STORE=milvus needs pymilvus (and milvus-lite for a .db file): "
            "pip install 'searchchat[milvus]'"
        ) from exc
    with _clients_lock:
        if uri not in _clients:
            options: dict[str, Any] = {}
            if uri.endswith(".db"):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                # in process, over loopback: no keepalive pings (the server answers pings more often than every
                # five minutes with GOAWAY "too_many_pings", and logs it)
                options = {
                    "grpc.keepalive_time_ms": LITE_KEEPALIVE_MS,
                    "grpc.keepalive_permit_without_calls": 0,
                }
            quiet = logging.getLogger("milvus_lite.server_manager")  # we say why below, without its traceback
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)
            try:
                mc = MilvusClient(uri=uri, grpc_options=options)
            except Exception as exc:
                if not uri.endswith(".db"):
                    raise
                raise IndexLocked(
                    f"Could not open the Milvus Lite file {uri}: Milvus Lite serves a file from one process at a "
                    "time, and another (a running `searchchat serve` or `index`) may hold it. Stop it, index from "
                    "the web app's Sources page, or use a Milvus server (milvus://host:19530)."
                ) from exc
            finally:
                quiet.setLevel(level)
            if not uri.endswith(".db"):
                try:
                    check_server(uri, str(mc.get_server_version()))
                except UnsupportedServer:
                    mc.close()
                    raise
            _clients[uri] = mc
            if uri.endswith(".db"):
                _lite.add(id(mc))
        return _clients[uri]


def namespace(prefix: str, index_dir: Path) -> str:
    """The collection-name prefix of one index: each index directory (eval's too) has its own collections."""
    digest = hashlib.sha1(str(Path(index_dir).expanduser().resolve()).encode()).hexdigest()[:10]
    return f"{prefix}_{digest}"


def names(ns: str) -> tuple[str, str, str]:
    """The (chunks, documents, meta) collection names."""
    return f"{ns}_chunks", f"{ns}_documents", f"{ns}_meta"


def lit(value: str) -> str:
    """A filter-expression string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\t", "\\t") + '"'


def lits(values: Sequence[str]) -> str:
    return "[" + ",".join(lit(v) for v in values) + "]"


def visible(run: int) -> str:
    """The rows a reader of committed run `run` sees (a writer of run R sees its own state with run=R)."""
    return f"born <= {int(run)} and died > {int(run)}"


def fit(text: str | None, limit: int = VARCHAR) -> str:
    """Text cut to fit a VARCHAR of `limit` bytes (UTF-8), on a character boundary."""
    text = text or ""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


_local = threading.local()


def _analyze(texts: list[str]) -> list[str]:
    """Texts analysed as indexer.bm25 does, tokens joined by spaces (one PyStemmer per thread)."""
    if not hasattr(_local, "stemmer"):
        _local.stemmer = stemmer()
    return [" ".join(tokens) for tokens in analyze(texts, _local.stemmer)]


def lexical_texts(chunks: Sequence[Any]) -> list[str]:
    """What the BM25 field holds for each chunk: its head and text as the local store's BM25 analyses them."""
    texts = [
        f"{chunk_head(c.title or '', c.section or '').strip()}\n{c.text}" if INDEX_TITLE else c.text
        for c in chunks
    ]
    return [fit(t) for t in _analyze(texts)] if texts else []


def lexical_query(query: str) -> str:
    return _analyze([query])[0]


def primary(collection: str) -> str:
    return "chunk_id" if collection.endswith("_chunks") else "key"


def scan(mc: Any, collection: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    """Every row matching `expr`, in primary-key order, page by page (a plain query stops at Milvus' result
    window): each page asks for the keys above the last one seen; a query answers the lowest keys first."""
    pk = primary(collection)
    last: Any = None
    while True:
        after = "" if last is None else f"{pk} > {last if isinstance(last, int) else lit(last)}"
        where = " and ".join(f"({c})" for c in (expr, after) if c)
        page = mc.query(collection, filter=where, output_fields=list({*fields, pk}), limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        last = max(row[pk] for row in page)


def count(mc: Any, collection: str, expr: str) -> int:
    rows = mc.query(collection, filter=expr, output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


_loaded: set[tuple[int, str]] = set()


def load(mc: Any, *collections: str) -> None:
    """Load collections for search and query (a reopened Milvus Lite file starts with them released)."""
    for name in collections:
        if (id(mc), name) in _loaded:
            continue
        state = mc.get_load_state(name).get("state")
        if str(state).rsplit(".", 1)[-1] != "Loaded":
            try:
                mc.load_collection(name)
            except Exception as exc:
                if id(mc) not in _lite:
                    raise
                rebuild_vector_index(mc, name, exc)
        _loaded.add((id(mc), name))


def rebuild_vector_index(mc: Any, name: str, error: Exception) -> None:
    """Milvus Lite writes a segment's index file in place, so a run killed while it wrote one leaves the file cut
    short and the collection no longer loads. The index is derived from the stored vectors: drop it, with its
    files, and build it again. Still failing, the index is unreadable, and the error says so."""
    log.warning(
        "Milvus Lite could not load %s (%s); rebuilding its vector index from the stored vectors", name, error
    )
    try:
        mc.release_collection(name)
        mc.drop_index(name, "vector")
        mc.create_index(name, vector_index(mc))
        mc.load_collection(name)
    except Exception as exc:
        raise IndexError_(f"The Milvus Lite collection {name} cannot be loaded ({error}), and rebuilding its "
                          f"vector index failed too ({exc}); index the sources again into a new file.") from exc  # fmt: skip


def vector_index(mc: Any) -> Any:
    """Index parameters of a collection's dense vectors: exact inner product."""
    ip = mc.prepare_index_params()
    ip.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    return ip


def read_state(mc: Any, meta: str) -> dict[str, Any] | None:
    """The committed state (run, next chunk id, embedder, dim), or None for an index never committed."""
    if not mc.has_collection(meta):
        return None
    load(mc, meta)
    rows = mc.query(meta, filter=f"key == {lit(STATE)}", output_fields=["value"])
    return json.loads(rows[0]["value"]) if rows else None


def create_collections(mc: Any, ns: str, dim: int) -> None:
    """The three collections with their indexes, where missing."""
    from pymilvus import DataType, Function, FunctionType

    chunks, documents, meta = names(ns)
    if not mc.has_collection(chunks):
        s = mc.create_schema(auto_id=False)
        s.add_field("chunk_id", DataType.INT64, is_primary=True)
        for name in ("doc_id", "source", "url", "title", "section", "anchor", "text", "doctype"):
            s.add_field(name, DataType.VARCHAR, max_length=VARCHAR)
        for name in ("position", "n_tokens", "born", "died"):
            s.add_field(name, DataType.INT64)
        s.add_field("lexical", DataType.VARCHAR, max_length=VARCHAR, enable_analyzer=True,
                    analyzer_params=ANALYZER)  # fmt: skip
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["lexical"],
                                output_field_names=["sparse"]))  # fmt: skip
        ip = vector_index(mc)
        ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": K1, "bm25_b": B})  # fmt: skip
        mc.create_collection(chunks, schema=s, index_params=ip, consistency_level="Strong")
    varchar = {
        documents: (
            "key",
            "doc_id",
            "source",
            "url",
            "title",
            "doctype",
            "content_hash",
            "etag",
            "last_modified",
        ),
        meta: ("key", "name", "value"),
    }
    for name, fields in varchar.items():
        if mc.has_collection(name):
            continue
        s = mc.create_schema(auto_id=False)
        s.add_field("key", DataType.VARCHAR, max_length=VARCHAR, is_primary=True)
        for f in fields[1:]:
            s.add_field(f, DataType.VARCHAR, max_length=VARCHAR)
        for f in ("born", "died", "n_chunks", "first_chunk") if name == documents else ("born", "died"):
            s.add_field(f, DataType.INT64)
        s.add_field("indexed_at", DataType.DOUBLE)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
        mc.create_collection(name, schema=s, index_params=vector_index(mc), consistency_level="Strong")
