"""A snapshot's dense index: exact FAISS flat, or above a size threshold an ANN index (HNSW or IVF) beside it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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


class DenseIndex:
    """The vectors a reader searches: the flat index, or the ANN index with the parameters it was built with."""

    def __init__(self, index: Any, record: AnnRecord | None = None) -> None:
        self.index, self.record = index, record
        self.kind = record.kind if record else "flat"
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
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Inner-product search; with `allowed`, only those ids (a narrow filter still fills k)."""
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        n = self.ntotal
        if n == 0 or (allowed is not None and len(allowed) == 0):
            return []
        if allowed is not None and self.kind != "flat" and len(allowed) <= EXACT_SUBSET:
            return self._exact_subset(q, k, np.asarray(allowed, dtype=np.int64))
        k = min(k, n if allowed is None else len(allowed))
        share = 1.0 if allowed is None else len(allowed) / n
        sel = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        scores, ids = self.index.search(q, k, params=self._params(k, share, sel))  # `sel` lives until here
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

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

    def _exact_subset(self, q: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        vectors = self.index.reconstruct_batch(allowed)  # (len(allowed), d); one FAISS thread, like search
        scores, rows = faiss.knn(q, vectors, min(k, len(allowed)), metric=faiss.METRIC_INNER_PRODUCT)
        return [(int(allowed[r]), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
