"""A snapshot's dense index: exact FAISS flat, or above a size threshold an ANN index (HNSW or IVF) beside it."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.options import AnnOptions

ANN_FILE = "ann.faiss"
# A filter that leaves at most this many chunks is searched exactly over their vectors: a gather and one
# matrix product beat a filtered graph walk, which can miss allowed chunks that sit apart from the rest. At 1M
# chunks a 5% filter (50,000) cost 52 ms exact against 53 ms walking the graph, with recall@10 1.000 against
# 0.992 (bench/scale.py --filter-shares, docs/scaling.md); not an answer threshold, a speed/recall crossover.
EXACT_SUBSET = 50_000
SEARCH_WIDTH_MAX = 4096  # the most efSearch (HNSW) a filtered search widens to
IVF_TRAIN_PER_CELL = 50  # k-means training vectors per IVF cell (FAISS warns below 39)
ADD_STEP = 100_000  # vectors added to an index at a time (bounds the temporary copies)
# Prepared filters a reader keeps (FilterCache): the few most recent, within a memory budget. A filter searched
# exactly keeps its vectors (at most EXACT_SUBSET x 1.5 KB: 77 MB for 384-d), a wider one a bitmap of n / 8 bytes.
FILTER_CACHE_ENTRIES = 16
FILTER_CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class AnnRecord:
    """What the manifest says of a snapshot's ANN index, so that a reader loads and searches it as built."""

    kind: str  # 'hnsw' or 'ivf'
    file: str
    vectors: int
    hnsw_m: int = 0
    ef_construction: int = 0
    ef_search: int = 0
    ivf_nlist: int = 0
    ivf_nprobe: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v or k in ("kind", "file", "vectors")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnnRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def plan(options: AnnOptions, vectors: int) -> AnnRecord | None:
    """The ANN index a snapshot of `vectors` vectors gets under these options, or None (flat only)."""
    if options.threshold <= 0 or vectors < options.threshold:
        return None
    if options.kind == "hnsw":
        return AnnRecord(
            kind="hnsw", file=ANN_FILE, vectors=vectors, hnsw_m=options.hnsw_m,
            ef_construction=options.ef_construction, ef_search=options.ef_search,
        )  # fmt: skip
    nlist = options.ivf_nlist or max(1, int(4 * vectors**0.5))
    nlist = min(nlist, max(1, vectors // IVF_TRAIN_PER_CELL))
    return AnnRecord(
        kind="ivf", file=ANN_FILE, vectors=vectors, ivf_nlist=nlist, ivf_nprobe=min(options.ivf_nprobe, nlist)
    )


def flat_contents(flat: Any) -> tuple[np.ndarray, np.ndarray]:
    """The (n, d) vectors (a view, no copy) and the n ids of an IndexIDMap2 over an IndexFlat."""
    n, d = flat.ntotal, flat.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32), np.zeros(0, dtype=np.int64)
    inner: Any = faiss.downcast_index(flat.index)
    xb = faiss.rev_swig_ptr(inner.get_xb(), n * d).reshape(n, d)
    return xb, faiss.vector_to_array(flat.id_map).astype(np.int64)


def build(flat: Any, record: AnnRecord, seed: int = 0) -> Any:
    """An IndexIDMap2 over the ANN index that `record` describes, holding the flat index's vectors and ids."""
    xb, ids = flat_contents(flat)
    d, metric = flat.d, faiss.METRIC_INNER_PRODUCT
    index: Any
    if record.kind == "hnsw":
        index = faiss.index_factory(d, f"IDMap2,HNSW{record.hnsw_m},Flat", metric)
        hnsw: Any = faiss.downcast_index(index.index)
        hnsw.hnsw.efConstruction = record.ef_construction
    elif record.kind == "ivf":
        index = faiss.index_factory(d, f"IDMap2,IVF{record.ivf_nlist},Flat", metric)
        sample = min(len(xb), record.ivf_nlist * IVF_TRAIN_PER_CELL)
        rows = np.sort(np.random.default_rng(seed).choice(len(xb), sample, replace=False))
        index.train(np.ascontiguousarray(xb[rows]))
    else:
        raise ValueError(f"unknown ANN index kind {record.kind!r}")
    for start in range(0, len(xb), ADD_STEP):
        index.add_with_ids(np.ascontiguousarray(xb[start : start + ADD_STEP]), ids[start : start + ADD_STEP])
    return index


def carry(live: AnnRecord, planned: AnnRecord) -> AnnRecord | None:
    """The record under which the live snapshot's index, extended, serves where `planned` is due; None when
    it must be rebuilt: another kind or graph, or IVF cells a factor of 2 off what the new size wants."""
    if live.kind != planned.kind:
        return None
    if planned.kind == "hnsw":
        same = (live.hnsw_m, live.ef_construction) == (planned.hnsw_m, planned.ef_construction)
        return planned if same else None
    if not live.ivf_nlist / 2 < planned.ivf_nlist < live.ivf_nlist * 2:
        return None
    nprobe = min(planned.ivf_nprobe, live.ivf_nlist)
    return dataclasses.replace(planned, ivf_nlist=live.ivf_nlist, ivf_nprobe=nprobe)


def extend(index: Any, flat: Any) -> Any | None:
    """`index`, built from an earlier state of `flat`, with the vectors added to `flat` since; None when `flat`
    does not start with the ids `index` holds (vectors were removed: an HNSW graph cannot drop them)."""
    held = faiss.vector_to_array(index.id_map)
    xb, ids = flat_contents(flat)
    if len(held) > len(ids) or not np.array_equal(held, ids[: len(held)]):
        return None
    for start in range(len(held), len(ids), ADD_STEP):
        index.add_with_ids(np.ascontiguousarray(xb[start : start + ADD_STEP]), ids[start : start + ADD_STEP])
    return index


@dataclass
class Selection:
    """A filter's chunks, prepared for searching: their vectors gathered in one matrix (a filter searched
    exactly), or a bitmap over the index's rows with its FAISS selector (a filter walked in the graph, or
    scanned in the flat index). What FilterCache keeps, so that a repeated filter skips the preparing."""

    ids: np.ndarray  # the allowed chunk ids (int64)
    vectors: np.ndarray | None = None  # (len(ids), d) float32, row i is ids[i]'s vector
    bitmap: np.ndarray | None = None  # one bit per index row (uint8, little-endian), set for allowed rows
    selector: Any = None  # faiss.IDSelectorBitmap over `bitmap`, which it points into (so kept together)
    rows: int = 0  # allowed rows that the index holds

    @property
    def nbytes(self) -> int:
        held = self.ids.nbytes + (0 if self.vectors is None else self.vectors.nbytes)
        return held + (0 if self.bitmap is None else self.bitmap.nbytes)


class FilterCache:
    """The most recent filters' Selections, least recently used out first, bounded in entries and in bytes.
    Keyed by (store version, filter): a Selection lists rows of one snapshot's index, so the first lookup under
    another version drops every entry (a version's ids, rows and vectors are never served to another)."""

    def __init__(self, entries: int = FILTER_CACHE_ENTRIES, max_bytes: int = FILTER_CACHE_BYTES) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self.version: str | None = None
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, Selection] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, version: str, key: Hashable, build: Callable[[], Selection]) -> Selection:
        """The Selection cached for (version, key), or build()'s, kept if it fits the budget."""
        with self._lock:
            if version != self.version:
                self._items.clear()
                self._bytes, self.version = 0, version
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        made = build()  # outside the lock: a slow gather does not hold up searches under other filters
        with self._lock:
            if version == self.version and key not in self._items and made.nbytes <= self.max_bytes:
                self._items[key] = made
                self._bytes += made.nbytes
                while len(self._items) > self.entries or self._bytes > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= old.nbytes
        return made


class DenseIndex:
    """The vectors a reader searches: the flat index, or the ANN index with the parameters it was built with."""

    def __init__(self, index: Any, record: AnnRecord | None = None) -> None:
        self.index, self.record = index, record
        self.kind = record.kind if record else "flat"
        self.filters = FilterCache()
        self._rowmap: tuple[np.ndarray, np.ndarray | None] | None = None  # see _row_map
        if record is not None and record.kind == "ivf":
            ivf = faiss.extract_index_ivf(index)
            if ivf.direct_map.type == 0:  # reconstruct() by id, for exact search under narrow filters
                ivf.make_direct_map()

    @classmethod
    def load(cls, snapshot: Path, flat_file: str, manifest: Mapping[str, Any]) -> DenseIndex:
        """The snapshot's ANN index when its manifest records one, else its flat index (older snapshots)."""
        ann = manifest.get("ann")
        if ann:
            record = AnnRecord.from_dict(ann)
            return cls(faiss.read_index(str(snapshot / record.file)), record)
        return cls(faiss.read_index(str(snapshot / flat_file)))

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        return int(self.index.d)

    def search(
        self,
        vector: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        cache_key: tuple[str, Hashable] | None = None,
    ) -> list[tuple[int, float]]:
        """Inner-product search; with `allowed`, only those ids (a narrow filter still fills k). `cache_key`,
        (store version, filter), keeps the filter's prepared Selection for the next search under it."""
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        n = self.ntotal
        if n == 0 or (allowed is not None and len(allowed) == 0):
            return []
        if allowed is None:
            k = min(k, n)
            scores, ids = self.index.search(q, k, params=self._params(k, 1.0, None))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        ids_ = np.asarray(allowed, dtype=np.int64)
        if cache_key is None:
            chosen = self.select(ids_)
        else:
            chosen = self.filters.get(cache_key[0], cache_key[1], lambda: self.select(ids_))
        if chosen.vectors is not None:
            return self._exact_subset(q, k, chosen)
        k = min(k, chosen.rows)
        if k == 0:
            return []
        inner = faiss.downcast_index(self.index.index)  # searched by row, under the bitmap of rows
        params = self._params(k, chosen.rows / n, chosen.selector)
        scores, rows = inner.search(q, k, params=params)  # `chosen` keeps the selector and bitmap alive
        row_ids = self._row_ids()
        return [(int(row_ids[r]), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def select(self, allowed: np.ndarray) -> Selection:
        """`allowed` prepared: a filter of at most EXACT_SUBSET chunks on an ANN index gets its vectors
        gathered (searched exactly: a gather and one matrix product beat a filtered graph walk, which can
        miss allowed chunks that sit apart from the rest); any other a bitmap of the index rows it allows."""
        if self.kind != "flat" and len(allowed) <= EXACT_SUBSET:
            vectors = np.ascontiguousarray(self.index.reconstruct_batch(allowed), dtype=np.float32)
            return Selection(ids=allowed, vectors=vectors, rows=len(allowed))
        rows = self._rows_of(allowed)
        mask = np.zeros(self.ntotal, dtype=bool)
        mask[rows] = True
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(self.ntotal, faiss.swig_ptr(bitmap))
        return Selection(ids=allowed, bitmap=bitmap, selector=selector, rows=len(rows))

    def _row_ids(self) -> np.ndarray:
        """The chunk id of each row of the index (what the IDMap maps rows to)."""
        return self._row_map()[0]

    def _row_map(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(chunk id of each row, rows in chunk-id order or None when the ids are ascending already, as
        SQLite hands them out), read on first use; one tuple, so that threads never see half of it."""
        found = self._rowmap
        if found is None or len(found[0]) != self.ntotal:
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            ascending = len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1]))
            found = self._rowmap = (ids, None if ascending else np.argsort(ids, kind="stable"))
        return found

    def _rows_of(self, allowed: np.ndarray) -> np.ndarray:
        """The rows that hold these chunk ids (ids the index does not hold are left out)."""
        ids, order = self._row_map()
        by_id = ids if order is None else ids[order]
        at: np.ndarray = np.searchsorted(by_id, allowed).clip(0, len(ids) - 1)
        at = at[by_id[at] == allowed]
        return at if order is None else order[at]

    def _params(self, k: int, share: float, sel: Any) -> Any:
        """Search parameters, widened by 1 / share under a filter so that enough allowed ids are met."""
        record = self.record
        if record is None:
            return faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
        if record.kind == "hnsw":
            width = min(max(record.ef_search, k) / share, max(SEARCH_WIDTH_MAX, k))
            return faiss.SearchParametersHNSW(sel=sel, efSearch=int(width))  # type: ignore[attr-defined]
        nprobe = int(min(record.ivf_nprobe / share, record.ivf_nlist))
        return faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)  # type: ignore[call-arg]

    def _exact_subset(self, q: np.ndarray, k: int, chosen: Selection) -> list[tuple[int, float]]:
        assert chosen.vectors is not None
        k = min(k, len(chosen.ids))
        scores, rows = faiss.knn(q, chosen.vectors, k, metric=faiss.METRIC_INNER_PRODUCT)  # one FAISS thread
        return [(int(chosen.ids[r]), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
