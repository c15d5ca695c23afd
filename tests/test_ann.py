"""The ANN index chosen by size: flat below the threshold, HNSW or IVF above, recorded in and reloaded from the
snapshot, extended or rebuilt on commit, and searched with filters and the per-document cap as flat is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import indexer.store.ann as ann_mod
from indexer.document import Chunk, Document
from indexer.options import AnnOptions
from indexer.store import ChunkFilter, IndexStore, IndexWriter
from searchchat.indexing import ann_options
from searchchat.retrieval.retriever import Filters, Retriever
from searchchat.settings import Settings
from tests.fakes import FakeEmbedder

DIM = 16
HNSW = AnnOptions(threshold=100, hnsw_m=16, ef_construction=40, ef_search=32)
IVF = AnnOptions(threshold=100, kind="ivf", ivf_nlist=8, ivf_nprobe=4)


def unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write(index_dir: Path, vectors: np.ndarray, options: AnnOptions, first: int = 0, per_doc: int = 1,
          delete: tuple[str, ...] = ()) -> IndexStore:  # fmt: skip
    """Documents d{first}... with `per_doc` chunks each over `vectors`, committed; the reopened store."""
    with IndexWriter(index_dir, "fake", vectors.shape[1], options) as w:
        for i in range(0, len(vectors), per_doc):
            n = first + i // per_doc
            doc = Document(doc_id=f"d{n}", url=f"file:///s{n % 2}/d{n}", title=f"Doc {n}", source=f"s{n % 2}",
                           content_hash=f"h{n}", doctype="pdf" if n % 3 == 0 else "html")  # fmt: skip
            chunks = [
                Chunk(None, doc.doc_id, doc.url, doc.title, "", f"t{n}.{j}", position=j)
                for j in range(per_doc)
            ]
            w.upsert_document(doc, chunks, vectors[i : i + per_doc])
        for doc_id in delete:
            w.delete_document(doc_id)
        w.touch_source("s0", "folder")
        w.commit()
    return IndexStore.open(index_dir)


def exact_top(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return [int(ids[i]) for i in np.argsort(-(vectors @ q), kind="stable")[:k]]


def test_the_index_switches_from_flat_to_ann_at_the_threshold(tmp_path):
    vecs = unit(100)
    below = write(tmp_path, vecs[:99], HNSW)
    assert below.dense.kind == "flat" and "ann" not in below.manifest
    assert not (below.path / ann_mod.ANN_FILE).exists()
    at = write(tmp_path, vecs[99:], HNSW, first=99)
    assert (
        at.dense.kind == "hnsw" and (at.path / "ann.faiss").exists() and (at.path / "vectors.faiss").exists()
    )
    assert at.manifest["ann"] == {
        "kind": "hnsw", "file": "ann.faiss", "vectors": 100, "hnsw_m": 16, "ef_construction": 40, "ef_search": 32,
    }  # fmt: skip
    assert at.vectors.ntotal == at.stats().chunks == 100


@pytest.mark.parametrize("options", [HNSW, IVF], ids=["hnsw", "ivf"])
def test_ann_recall_at_10_is_high_on_a_small_set(tmp_path, options):
    vecs, queries = unit(2000), unit(50, seed=1)
    store = write(tmp_path, vecs, options)
    assert store.dense.kind == options.kind
    ids = np.arange(1, 2001)  # chunk ids as SQLite gave them
    recall = np.mean(
        [
            len({c for c, _ in store.dense_search(q, 10)} & set(exact_top(vecs, ids, q, 10))) / 10
            for q in queries
        ]
    )
    assert recall >= 0.9


def test_a_snapshot_with_an_ann_index_reopens_as_it_was_built(tmp_path):
    vecs = unit(300)
    write(tmp_path, vecs, HNSW)
    store = IndexStore.open(tmp_path)
    assert store.dense.record == ann_mod.AnnRecord("hnsw", "ann.faiss", 300, 16, 40, 32)
    (cid, score), *_ = store.dense_search(vecs[123], 3)
    assert store.get_chunks([cid])[cid].text == "t123.0" and score == pytest.approx(1.0, abs=1e-5)


def test_an_old_flat_snapshot_loads_and_a_later_commit_adds_the_ann_index(tmp_path):
    vecs = unit(150)
    old = write(tmp_path, vecs[:120], AnnOptions(threshold=0))  # as every snapshot was before ANN
    manifest = json.loads((old.path / "manifest.json").read_text())
    assert "ann" not in manifest and old.dense.kind == "flat"
    assert [c for c, _ in old.dense_search(vecs[5], 1)] == [6]
    new = write(tmp_path, vecs[120:], HNSW, first=120)
    assert new.dense.kind == "hnsw" and new.vectors.ntotal == 150
    assert [c for c, _ in new.dense_search(vecs[140], 1)] == [141]


def test_a_commit_that_only_adds_extends_the_ann_index_and_one_that_removes_rebuilds_it(
    tmp_path, monkeypatch
):
    builds = []
    real_build = ann_mod.build
    monkeypatch.setattr(
        ann_mod, "build", lambda flat, record: builds.append(record) or real_build(flat, record)
    )
    vecs = unit(260)
    write(tmp_path, vecs[:200], HNSW)
    grown = write(tmp_path, vecs[200:230], HNSW, first=200)
    assert len(builds) == 1 and grown.dense.record.vectors == grown.vectors.ntotal == 230
    assert [c for c, _ in grown.dense_search(vecs[215], 1)] == [216]
    shrunk = write(tmp_path, vecs[230:], HNSW, first=230, delete=("d3", "d215"))
    assert len(builds) == 2 and shrunk.vectors.ntotal == 258
    found = {c for q in vecs[[3, 215]] for c, _ in shrunk.dense_search(q, 50)}
    assert not found & {4, 216}  # the removed chunks' ids


def test_a_commit_that_fails_while_building_the_ann_index_publishes_nothing(tmp_path, monkeypatch):
    vecs = unit(150)
    before = write(tmp_path, vecs[:50], HNSW)

    def fail(flat, record):
        raise MemoryError("killed while building the graph")

    monkeypatch.setattr(ann_mod, "build", fail)
    with pytest.raises(MemoryError):
        write(tmp_path, vecs[50:], HNSW, first=50)
    after = IndexStore.open(tmp_path)
    assert (after.version, after.dense.kind, after.vectors.ntotal) == (before.version, "flat", 50)
    assert [p.name for p in (tmp_path / "snapshots").iterdir()] == [
        before.version
    ]  # no half-written snapshot


def test_changed_build_parameters_rebuild_and_a_changed_ef_search_is_recorded(tmp_path):
    vecs = unit(220)
    write(tmp_path, vecs[:200], HNSW)
    wider = write(
        tmp_path,
        vecs[200:210],
        AnnOptions(threshold=100, hnsw_m=16, ef_construction=40, ef_search=64),
        first=200,
    )
    assert wider.dense.record.ef_search == 64
    other = write(tmp_path, vecs[210:], AnnOptions(threshold=100, hnsw_m=8), first=210)
    assert other.dense.record.hnsw_m == 8 and other.vectors.ntotal == 220


@pytest.mark.parametrize("exact_subset", [ann_mod.EXACT_SUBSET, 0], ids=["exact-subset", "filtered-walk"])
@pytest.mark.parametrize("options", [HNSW, IVF], ids=["hnsw", "ivf"])
def test_a_filter_returns_only_allowed_chunks_and_fills_k(tmp_path, monkeypatch, options, exact_subset):
    monkeypatch.setattr(ann_mod, "EXACT_SUBSET", exact_subset)
    vecs = unit(1000)
    store = write(tmp_path, vecs, options)
    allowed = np.arange(1, 1001, 7, dtype=np.int64)  # 143 chunks, 14% of them
    for q in unit(10, seed=3):
        hits = [c for c, _ in store.dense_search(q, 20, allowed)]
        assert len(hits) == 20 and set(hits) <= set(allowed.tolist())
        exact = exact_top(vecs[allowed - 1], allowed, q, 10)
        assert len(set(hits[:10]) & set(exact)) >= 8
    assert store.dense_search(unit(1)[0], 5, np.zeros(0, dtype=np.int64)) == []


class QueryVectors(FakeEmbedder):
    """Embeds a query as the random unit vector its text seeds (random vectors have no ties to reorder)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.name = "fake"  # the embedder write() records, so the retriever's embedder check lets it search

    def embed_query(self, text: str) -> np.ndarray:
        return unit(1, seed=sum(map(ord, text)), dim=self.dim)[0]


def test_retriever_filters_and_cap_give_the_same_hits_on_ann_as_on_flat(tmp_path, settings):
    embedder, vecs = QueryVectors(DIM), unit(240)
    flat = write(tmp_path / "flat", vecs, AnnOptions(threshold=0), per_doc=3)
    hnsw = write(tmp_path / "hnsw", vecs, AnnOptions(threshold=100, ef_search=200), per_doc=3)
    assert (flat.dense.kind, hnsw.dense.kind) == ("flat", "hnsw")
    s = settings.with_overrides(per_doc_cap=1)
    for query, filters in enumerate(
        (None, Filters(source="s1"), Filters(doctype="pdf"), Filters(url_prefix="file:///s0/"))
    ):
        results = [
            Retriever(store, embedder, s, reranker=None).search(
                f"query {query}", k=8, mode="dense", filters=filters
            )
            for store in (flat, hnsw)
        ]
        hits = [[(h.chunk.chunk_id, h.source, h.doctype) for h in r.hits] for r in results]
        assert hits[0] == hits[1] and len(hits[0]) == 8
        assert len({h.chunk.doc_id for h in results[1].hits}) == 8  # one chunk per document
        if filters and filters.doctype:
            assert {h.doctype for h in results[1].hits} == {"pdf"}


def test_settings_give_the_ann_options_and_bad_ones_are_refused():
    options = ann_options(Settings(ann_threshold=5000, ann_kind="ivf", ann_ivf_nprobe=8))
    assert (options.threshold, options.kind, options.ivf_nprobe, options.hnsw_m) == (5000, "ivf", 8, 32)
    assert ann_options(Settings()) == AnnOptions()
    with pytest.raises(ValueError, match="kind must be one of hnsw, ivf"):
        AnnOptions(kind="flat")
    assert ann_mod.plan(AnnOptions(threshold=0), 10**7) is None
    assert ann_mod.plan(AnnOptions(kind="ivf"), 1_000_000).ivf_nlist == 4000


# -- the filter cache: a repeated filter reuses its prepared selection ------------------------------------


def _selection(nbytes: int) -> ann_mod.Selection:
    return ann_mod.Selection(ids=np.zeros(nbytes // 8, dtype=np.int64))


def test_the_filter_cache_is_an_lru_bounded_in_entries_and_bytes():
    cache = ann_mod.FilterCache(entries=3, max_bytes=10_000)
    built = []

    def get(key, nbytes=800):
        return cache.get("v1", key, lambda: built.append(key) or _selection(nbytes))

    for key in "abc":
        get(key)
    get("a")  # a hit, and now the most recent
    get("d")  # a fourth entry: the least recent ("b") goes
    assert built == ["a", "b", "c", "d"] and len(cache) == 3
    get("a"), get("c"), get("d")
    assert built == ["a", "b", "c", "d"] and (cache.hits, cache.misses) == (4, 4)
    get("b")
    assert built[-1] == "b" and len(cache) == 3  # "b" was rebuilt; "a" (least recent) went
    get("big", nbytes=9_600)  # fits alone: the others go to make room
    assert len(cache) == 1 and cache.nbytes == 9_600
    get("huge", nbytes=20_000)  # larger than the whole budget: served, never kept
    get("huge", nbytes=20_000)
    assert built[-2:] == ["huge", "huge"] and len(cache) == 1 and cache.nbytes == 9_600


def test_the_filter_cache_drops_every_entry_when_the_store_version_changes():
    cache = ann_mod.FilterCache()
    built = []
    for version, key in (("v1", "a"), ("v1", "b"), ("v1", "a"), ("v2", "a"), ("v2", "a"), ("v1", "a")):
        cache.get(version, key, lambda v=version, k=key: built.append((v, k)) or _selection(80))
    assert built == [("v1", "a"), ("v1", "b"), ("v2", "a"), ("v1", "a")]
    assert len(cache) == 1 and cache.version == "v1"


@pytest.mark.parametrize("options", [HNSW, IVF, AnnOptions(threshold=0)], ids=["hnsw", "ivf", "flat"])
@pytest.mark.parametrize("exact_subset", [ann_mod.EXACT_SUBSET, 0], ids=["exact-subset", "filtered-walk"])
def test_a_repeated_filter_is_served_from_the_cache_with_the_same_hits(
    tmp_path, monkeypatch, options, exact_subset
):
    monkeypatch.setattr(ann_mod, "EXACT_SUBSET", exact_subset)
    vecs = unit(600)
    store = write(tmp_path, vecs, options)
    where = ChunkFilter(sources=("s1",))  # every other document
    allowed = store.chunk_ids(where)
    for q in unit(5, seed=4):
        uncached = store.dense_search(q, 20, allowed)
        assert store.search_dense(q, 20, where) == uncached
        assert {c for c, _ in uncached} <= set(allowed.tolist()) and len(uncached) == 20
    assert (store.dense.filters.misses, store.dense.filters.hits) == (1, 4)
    chosen = store.dense.filters._items[where]
    assert (chosen.vectors is not None) == (
        options.kind != "flat" and exact_subset > 0 and options.threshold > 0
    )


def test_a_selection_is_never_served_to_a_later_version_of_the_index(tmp_path):
    """The same filter after a commit that added allowed chunks: the new snapshot's hits include them."""
    vecs = unit(260)
    first = write(tmp_path, vecs[:200], HNSW)
    where = ChunkFilter(sources=("s0",))
    first.search_dense(vecs[0], 5, where)
    second = write(tmp_path, vecs[200:], HNSW, first=200)  # d200, d202, ... are in s0 too
    assert second.version != first.version
    (top, score), *_ = second.search_dense(vecs[250], 5, where)
    assert top == 251 and score == pytest.approx(1.0, abs=1e-5)
    # one DenseIndex extended in place (as a writer extends the live graph) and asked under a new version
    dense = first.dense
    dense.search(vecs[0], 5, first.chunk_ids(where), cache_key=(first.version, where))
    dense.index.add_with_ids(vecs[200:], np.arange(201, 261, dtype=np.int64))
    allowed = second.chunk_ids(where)
    hits = dense.search(vecs[250], 5, allowed, cache_key=(second.version, where))
    assert hits[0][0] == 251 and len(dense.filters) == 1 and dense.filters.version == second.version


def test_filtered_search_over_ids_in_any_order(tmp_path):
    """A flat index whose ids are not ascending (the rows are found by a sorted lookup, not by position)."""
    vecs = unit(300)
    ids = np.random.default_rng(5).permutation(np.arange(1000, 1300)).astype(np.int64)
    flat = ann_mod.faiss.IndexIDMap2(ann_mod.faiss.IndexFlatIP(DIM))
    flat.add_with_ids(vecs, ids)
    dense = ann_mod.DenseIndex(flat)
    allowed = np.sort(ids[::3])
    for q in unit(5, seed=6):
        hits = [c for c, _ in dense.search(q, 10, allowed, cache_key=("v", "f"))]
        keep = np.isin(ids, allowed)
        assert hits == exact_top(vecs[keep], ids[keep], q, 10)
    assert dense.search(vecs[0], 3, np.array([5, 6], dtype=np.int64)) == []  # ids it does not hold
