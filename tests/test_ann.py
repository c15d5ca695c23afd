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
from indexer.store import IndexStore, IndexWriter
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
