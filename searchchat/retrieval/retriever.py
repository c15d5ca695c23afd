"""Retrieval: dense, lexical (BM25) or hybrid search over the live index (any store), with filters, a
per-document cap and an optional reranker."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.embed import Embedder, setting_for
from indexer.store import ChunkFilter, IndexStore, ReadStore, StoreSource
from searchchat.retrieval.rerank import Reranker, get_reranker
from searchchat.settings import Settings
from searchchat.text import cjk_share
from searchchat.types import Hit

MODES = ("dense", "bm25", "hybrid")
FUSIONS = ("convex", "rrf")
CANDIDATES = 100  # chunks taken from each retriever before fusion
RERANK_POOL = 30  # fused chunks a reranker sees (at least k)
QUERY_THREADS = 1  # torch threads for one query: a second thread waits more than it works (docs/tuning.md)
DEFAULT_FUSION = (
    "convex"  # SciFact train, bench/tune_fusion.py: convex 0.729 against RRF 0.711 (docs/tuning.md)
)
DEFAULT_ALPHA = 0.5  # weight of the dense score in the convex combination

Scored = list[tuple[int, float]]  # (chunk_id, score), best first


@dataclass
class Filters:
    """Restrict a search to one source (as listed by `searchchat sources`), a URL prefix, a document type."""

    source: str | None = None
    url_prefix: str | None = None
    doctype: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.url_prefix or self.doctype)


@dataclass
class SearchResult:
    """Ranked hits for a query; the JSON contract of `search --json`."""

    query: str
    mode: str
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    query_vector: np.ndarray | None = field(
        default=None, repr=False, compare=False
    )  # what the dense leg used

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "hits": [h.to_dict() for h in self.hits],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


# -- fusion ------------------------------------------------------------------------------------------
def rrf(lists: Sequence[Scored], k: int = 60, weights: Sequence[float] | None = None) -> Scored:
    """Reciprocal-rank fusion: sum over lists of weight / (k + rank), ranks from 1."""
    fused: dict[int, float] = {}
    for li, lst in enumerate(lists):
        w = 1.0 if weights is None else weights[li]
        for rank, (cid, _) in enumerate(lst, start=1):
            fused[cid] = fused.get(cid, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def normalise(scores: Scored, method: str = "minmax") -> tuple[dict[int, float], float]:
    """Scores mapped to a common scale, and the value a chunk missing from this list gets.
    minmax: (s - min) / (max - min), missing = 0; zscore: (s - mean) / std, missing = the lowest z."""
    if not scores:
        return {}, 0.0
    s = np.asarray([v for _, v in scores], dtype=np.float64)
    if method == "minmax":
        lo, span = float(s.min()), float(s.max() - s.min())
        z = (s - lo) / span if span > 0 else np.ones_like(s)
        return {cid: float(v) for (cid, _), v in zip(scores, z, strict=True)}, 0.0
    if method == "zscore":
        std = float(s.std())
        z = (s - s.mean()) / std if std > 0 else np.zeros_like(s)
        return {cid: float(v) for (cid, _), v in zip(scores, z, strict=True)}, float(z.min())
    raise ValueError(f"unknown normalisation {method!r}; use minmax or zscore")


def convex(dense: Scored, lexical: Scored, alpha: float = 0.5, method: str = "minmax") -> Scored:
    """Calibrated score fusion: alpha * norm(dense) + (1 - alpha) * norm(bm25), lists normalised per query.
    A retriever that found nothing (a query of stopwords for BM25) leaves the other one's order intact."""
    if not lexical or not dense:
        return list(dense or lexical)
    d, d_miss = normalise(dense, method)
    b, b_miss = normalise(lexical, method)
    fused = {cid: alpha * d.get(cid, d_miss) + (1 - alpha) * b.get(cid, b_miss) for cid in {**d, **b}}
    return sorted(fused.items(), key=lambda kv: -kv[1])


def cap_per_doc(scored: Scored, doc_of: dict[int, str], cap: int, k: int) -> Scored:
    """The first k entries keeping at most `cap` chunks per document (chunks without a document dropped)."""
    seen: dict[str, int] = {}
    out: Scored = []
    for cid, score in scored:
        doc = doc_of.get(cid)
        if doc is None or seen.get(doc, 0) >= cap:
            continue
        seen[doc] = seen.get(doc, 0) + 1
        out.append((cid, score))
        if len(out) >= k:
            break
    return out


class EmbedderMismatch(ValueError):
    """The index was built with one embedder and the query would be embedded with another."""


def check_embedder(store: ReadStore, embedder: Embedder) -> None:
    """Refuse to embed a query with another model than the index's (same dimension or not, its vectors would
    be compared with vectors of another space)."""
    built_with = store.manifest.get("embedder")
    name = getattr(embedder, "name", None)
    if built_with and name and built_with != name:
        raise EmbedderMismatch(
            f"The index was built with embedder {built_with!r}, but queries would be embedded with {name!r}. "
            f"Set SEARCHCHAT_EMBEDDER={setting_for(built_with)} to search it, or rebuild the index."
        )


# -- filters -----------------------------------------------------------------------------------------
def _source_keys(source: str) -> list[str]:
    """A source as the user typed it and as the indexer stores it (absolute path, normalised URL)."""
    keys = [source]
    try:
        from indexer.sources import classify

        keys.append(classify(source).key)
    except (ValueError, OSError, ImportError):
        pass
    return list(dict.fromkeys(keys))


def chunk_filter(filters: Filters) -> ChunkFilter:
    """The filters as the store applies them (a source under each name it may be stored by)."""
    sources = tuple(_source_keys(filters.source)) if filters.source else ()
    return ChunkFilter(sources, filters.url_prefix or None, filters.doctype or None)


def allowed_chunks(store: ReadStore, filters: Filters) -> np.ndarray:
    """Chunk ids that pass the filters (the local store keeps them for the few most recent filter sets)."""
    return store.chunk_ids(chunk_filter(filters))


def dense_search(store: IndexStore, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Scored:
    """Inner-product search over a local snapshot; with `allowed`, FAISS scores only those ids."""
    return store.dense_search(vector, k, allowed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with n torch intra-op threads, then restore. With torch's OpenMP backend the setting
    belongs to the calling thread: threads already running torch work (an indexing run) keep theirs."""
    torch = sys.modules.get("torch")  # an embedder that never imported torch does not use it
    if n is None or torch is None:
        yield
        return
    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_local = threading.local()


def single_threaded_faiss() -> None:
    """One OpenMP thread for FAISS in the calling thread (OpenMP keeps it per thread; indexing only adds vectors,
    which does not use it). A one-query flat search is memory-bound and extra threads only synchronise: p50
    3.5 ms with one thread vs 8-12 ms with two on the SciFact index (9,170 chunks), on a busy 2-core machine;
    the web server's worker threads would also oversubscribe the cores."""
    if not getattr(_local, "faiss_single", False):
        import faiss

        faiss.omp_set_num_threads(1)
        _local.faiss_single = True


# -- the retriever -----------------------------------------------------------------------------------
class Retriever:
    """Searches the live index of a StoreSource (StoreHandle...) or a fixed store, in one of three modes."""

    def __init__(
        self,
        store: StoreSource | ReadStore,
        embedder: Embedder,
        settings: Settings,
        reranker: Reranker | None = None,
        fusion: str = DEFAULT_FUSION,
        alpha: float = DEFAULT_ALPHA,
        candidates: int = CANDIDATES,
        query_threads: int | None = QUERY_THREADS,
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self._store = store
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker if reranker is not None else get_reranker(settings.reranker)
        self.fusion, self.alpha, self.candidates = fusion, alpha, candidates
        self.query_threads = query_threads
        self._checked: str | None = None  # the snapshot whose embedder matched ours
        single_threaded_faiss()

    @property
    def store(self) -> ReadStore:
        if isinstance(self._store, ReadStore):
            return self._store
        return self._store.get()

    def fuse(self, dense: Scored, lexical: Scored, query: str = "") -> Scored:
        """Both legs fused. An embedder that does not know CJK scripts (the packaged MiniLM) gets less weight
        by the share of the query written in them: on cmrc2018-trial (Chinese) its dense leg reaches nDCG@10
        0.24 against BM25's 0.98, and a fixed weight drags hybrid down to 0.83."""
        if self.fusion == "rrf":
            return rrf([dense, lexical], k=self.settings.rrf_k)
        alpha = self.alpha
        if not getattr(self.embedder, "cjk", True):
            alpha *= 1.0 - cjk_share(query)
        return convex(dense, lexical, alpha)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        store: ReadStore | None = None,
        cap: int | None = None,
    ) -> SearchResult:
        """The top-k chunks for `query`, at most `cap` (else settings.per_doc_cap) per document; in `store` when
        the caller resolved the snapshot already (one per web request), else in the live one."""
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        k = self.settings.k if k is None else k
        if k < 1:
            raise ValueError("k must be at least 1")
        if not query.strip():
            raise ValueError("the query is empty")
        timings: dict[str, float] = {}
        t0 = clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = (now - clock) * 1000
            clock = now

        store = store if store is not None else self.store
        where = chunk_filter(filters) if filters else None
        depth = max(self.candidates, k)
        dense: Scored = []
        lexical: Scored = []
        vec: np.ndarray | None = None
        if mode in ("dense", "hybrid"):
            if self._checked != store.version:
                check_embedder(store, self.embedder)
                self._checked = store.version
            with torch_threads(self.query_threads):
                vec = self.embedder.embed_query(query)
            lap("embed_ms")
            dense = store.search_dense(vec, depth, where)
            lap("dense_ms")
        if mode in ("bm25", "hybrid"):
            lexical = store.search_lexical(query, depth, where)
            lap("bm25_ms")
        scored = self.fuse(dense, lexical, query) if mode == "hybrid" else (dense or lexical)
        if mode == "hybrid":
            lap("fuse_ms")
        hits = self._hits(store, scored, k, query, self.settings.per_doc_cap if cap is None else cap)
        lap("fetch_ms" if self.reranker is None else "fetch_rerank_ms")
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        vector = vec if mode in ("dense", "hybrid") else None
        return SearchResult(query=query, mode=mode, hits=hits, timings=timings, query_vector=vector)

    def _hits(self, store: ReadStore, scored: Scored, k: int, query: str, cap: int) -> list[Hit]:
        meta = store.chunk_meta([cid for cid, _ in scored])
        pool = max(k, RERANK_POOL) if self.reranker is not None else k
        kept = cap_per_doc(scored, {cid: m[0] for cid, m in meta.items()}, cap, pool)
        chunks = store.get_chunks([cid for cid, _ in kept])
        hits = [
            Hit(rank=i, score=score, chunk=chunks[cid], source=meta[cid][1], doctype=meta[cid][2])
            for i, (cid, score) in enumerate(((c, s) for c, s in kept if c in chunks), start=1)
        ]
        if self.reranker is not None:
            hits = self.reranker.rerank(query, hits)
        return hits[:k]
