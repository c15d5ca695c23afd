"""Retrieval: fusion arithmetic, per-document cap, filters, modes, BM25 consistency, reranker hook."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from indexer.store import IndexStore, StoreHandle
from searchchat.retrieval.lexical import LexicalIndex
from searchchat.retrieval.rerank import (
    AnswerabilityReranker,
    CrossEncoderReranker,
    RerankerError,
    get_reranker,
)
from searchchat.retrieval.retriever import Filters, Retriever, cap_per_doc, convex, normalise, rrf
from searchchat.settings import Settings
from tests.answer_helpers import make_hits
from tests.fakes import FakeEmbedder, OverlapScorer
from tests.retrieval_helpers import ReverseReranker, make_doc, write_index

SOLAR = (
    "Solar panels convert sunlight into electricity with photovoltaic cells. Panel efficiency depends on "
    "temperature, shading and the angle to the sun. "
)


def corpus() -> list:
    long_text = "\n\n".join(
        f"Part {i}. {SOLAR}Section {i} covers solar panel efficiency in detail." for i in range(6)
    )
    return [
        make_doc("long", long_text, title="Solar handbook", source="site-a"),
        make_doc(
            "wind",
            "Wind turbines generate electricity from moving air; blades turn a generator.",
            source="site-a",
        ),  # fmt: skip
        make_doc(
            "roof",
            "Roof mounted solar panels on houses need a sturdy frame and good sun exposure.",
            source="site-a",
        ),  # fmt: skip
        make_doc(
            "manual",
            "Installation manual: mount the inverter near the battery and the solar array.",
            source="files",
            doctype="pdf",
            url="https://other.org/docs/manual.pdf",
        ),  # fmt: skip
        make_doc(
            "algae",
            "These notes describe ponds, water and light in spring.",
            title="Photosynthesis in algae",
            source="files",
            doctype="markdown",
            url="https://other.org/notes/algae",
        ),  # fmt: skip
    ]


@pytest.fixture
def index(settings: Settings, fake_embedder: FakeEmbedder) -> Path:
    write_index(settings.index_dir, corpus(), fake_embedder)
    return settings.index_dir


def retriever(index: Path, settings: Settings, **kw: object) -> Retriever:
    return Retriever(StoreHandle(index), FakeEmbedder(), settings.with_overrides(**kw))


# -- fusion ------------------------------------------------------------------------------------------
def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([[(1, 0.9), (2, 0.8), (3, 0.7)], [(3, 5.0), (1, 4.0)]], k=60)
    assert [cid for cid, _ in fused] == [1, 3, 2]
    assert dict(fused)[1] == pytest.approx(1 / 61 + 1 / 62)
    assert dict(fused)[3] == pytest.approx(1 / 63 + 1 / 61)
    assert dict(fused)[2] == pytest.approx(1 / 62)


def test_convex_minmax_weights_the_two_lists() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]  # normalised 1, 0.5, 0
    bm25 = [(3, 12.0), (4, 6.0), (2, 2.0)]  # normalised 1, 0.4, 0
    fused = convex(dense, bm25, alpha=0.6)
    assert [cid for cid, _ in fused] == [1, 3, 2, 4]
    assert dict(fused) == pytest.approx({1: 0.6, 2: 0.3, 3: 0.4, 4: 0.16})
    assert [cid for cid, _ in convex(dense, bm25, alpha=0.3)] == [3, 1, 4, 2]


def test_convex_keeps_the_other_list_when_one_is_empty() -> None:
    dense = [(7, 0.4), (8, 0.3)]
    assert convex(dense, [], alpha=0.5) == dense
    assert convex([], [(9, 3.0)], alpha=0.5) == [(9, 3.0)]


def test_zscore_normalisation() -> None:
    z, missing = normalise([(1, 3.0), (2, 1.0)], "zscore")
    assert z == pytest.approx({1: 1.0, 2: -1.0})
    assert missing == pytest.approx(-1.0)
    same, _ = normalise([(1, 2.0), (2, 2.0)], "minmax")
    assert same == {1: 1.0, 2: 1.0}
    with pytest.raises(ValueError, match="normalisation"):
        normalise([(1, 1.0)], "softmax")


def test_cap_per_doc_keeps_order_and_limits_each_document() -> None:
    scored = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]
    doc_of = {1: "a", 2: "a", 3: "a", 4: "b", 5: "c"}
    assert cap_per_doc(scored, doc_of, cap=2, k=10) == [(1, 0.9), (2, 0.8), (4, 0.6), (5, 0.5)]
    assert cap_per_doc(scored, doc_of, cap=1, k=2) == [(1, 0.9), (4, 0.6)]
    assert cap_per_doc(scored, {1: "a"}, cap=5, k=5) == [(1, 0.9)]  # unknown chunks are dropped


# -- the retriever on a small index ------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes_return_ranked_hits_with_the_json_shape(index: Path, settings: Settings, mode: str) -> None:
    res = retriever(index, settings).search("solar panels electricity", k=4, mode=mode)
    assert res.mode == mode and res.query == "solar panels electricity"
    assert 1 <= len(res.hits) <= 4
    assert [h.rank for h in res.hits] == list(range(1, len(res.hits) + 1))
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    d = res.to_dict()
    assert set(d) == {"query", "mode", "hits", "timings"}
    assert set(d["hits"][0]) == {"rank", "score", "doc_id", "chunk_id", "url", "title", "section", "text"}
    assert d["timings"]["total_ms"] >= 0
    assert ("embed_ms" in d["timings"]) == (mode != "bm25")
    assert ("bm25_ms" in d["timings"]) == (mode != "dense")


def test_hybrid_is_the_fusion_of_both_lists(index: Path, settings: Settings) -> None:
    r = retriever(index, settings, per_doc_cap=50)
    q = "wind turbine generator"
    store = IndexStore.open(index)
    dense = store.dense_search(FakeEmbedder().embed_query(q), 100)
    bm25 = LexicalIndex(store.path).search(q, 100)
    expected = [cid for cid, _ in convex(dense, bm25, r.alpha)][:5]
    assert [h.chunk.chunk_id for h in r.search(q, k=5, mode="hybrid").hits] == expected
    r_rrf = Retriever(
        StoreHandle(index), FakeEmbedder(), settings.with_overrides(per_doc_cap=50), fusion="rrf"
    )
    expected_rrf = [cid for cid, _ in rrf([dense, bm25], k=settings.rrf_k)][:5]
    assert [h.chunk.chunk_id for h in r_rrf.search(q, k=5, mode="hybrid").hits] == expected_rrf
    assert r_rrf.search(q, k=5).hits[0].chunk.doc_id == "wind"


def test_per_document_cap(index: Path, settings: Settings) -> None:
    q = "solar panel efficiency"
    capped = retriever(index, settings, per_doc_cap=2).search(q, k=6, mode="bm25").hits
    assert sum(h.chunk.doc_id == "long" for h in capped) == 2
    assert {h.chunk.doc_id for h in capped} >= {"long", "roof"}
    uncapped = retriever(index, settings, per_doc_cap=10).search(q, k=6, mode="bm25").hits
    assert sum(h.chunk.doc_id == "long" for h in uncapped) > 2
    per_call = retriever(index, settings, per_doc_cap=2).search(q, k=6, mode="bm25", cap=10).hits
    assert [h.chunk.chunk_id for h in per_call] == [h.chunk.chunk_id for h in uncapped]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_restrict_before_ranking(index: Path, settings: Settings, mode: str) -> None:
    r = retriever(index, settings)
    q = "solar panels"
    by_source = r.search(q, k=5, mode=mode, filters=Filters(source="files")).hits
    assert by_source and {h.chunk.doc_id for h in by_source} <= {"manual", "algae"}
    assert all(h.source == "files" for h in by_source)
    pdf = r.search(q, k=5, mode=mode, filters=Filters(doctype="PDF")).hits
    assert [h.chunk.doc_id for h in pdf] == ["manual"] and pdf[0].doctype == "pdf"
    prefix = r.search(q, k=5, mode=mode, filters=Filters(url_prefix="https://example.com/")).hits
    assert prefix and all(h.chunk.url.startswith("https://example.com/") for h in prefix)
    both = r.search(q, k=5, mode=mode, filters=Filters(source="site-a", doctype="pdf")).hits
    assert both == []


def test_url_prefix_is_literal_not_a_like_pattern(index: Path, settings: Settings) -> None:
    r = retriever(index, settings)
    assert r.search("solar", k=5, mode="dense", filters=Filters(url_prefix="https://other.org/%")).hits == []
    notes = r.search("algae ponds", k=5, mode="dense", filters=Filters(url_prefix="https://other.org/notes/"))
    assert [h.chunk.doc_id for h in notes.hits] == ["algae"]


def test_bm25_indexes_titles(index: Path, settings: Settings) -> None:
    hits = retriever(index, settings).search("photosynthesis", k=3, mode="bm25").hits
    assert [h.chunk.doc_id for h in hits] == ["algae"]
    assert retriever(index, settings).search("the and of", k=3, mode="bm25").hits == []  # stopwords only


def test_bm25_follows_updates_and_deletions(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    write_index(settings.index_dir, corpus(), fake_embedder)
    r = retriever(settings.index_dir, settings)
    assert [h.chunk.doc_id for h in r.search("turbines", k=3, mode="bm25").hits] == ["wind"]
    first_store = r.store
    extra = make_doc("geo", "Geothermal turbines use steam from deep wells.", source="site-a")
    write_index(settings.index_dir, [extra], fake_embedder, delete=["wind"])
    assert r.store is not first_store  # the handle picked up the new snapshot, with its own BM25 cache
    assert [h.chunk.doc_id for h in r.search("turbines", k=3, mode="bm25").hits] == ["geo"]
    assert all(h.chunk.doc_id != "wind" for h in r.search("wind turbines", k=10, mode="hybrid").hits)


def test_bad_requests_are_clear_errors(index: Path, settings: Settings) -> None:
    r = retriever(index, settings)
    with pytest.raises(ValueError, match="unknown mode"):
        r.search("x", mode="sparse")
    with pytest.raises(ValueError, match="empty"):
        r.search("   ")
    with pytest.raises(ValueError, match="unknown fusion"):
        Retriever(StoreHandle(index), FakeEmbedder(), settings, fusion="max")


def test_default_k_comes_from_settings(index: Path, settings: Settings) -> None:
    assert len(retriever(index, settings, k=2).search("solar panels", mode="hybrid").hits) == 2


# -- reranker ----------------------------------------------------------------------------------------
def test_reranker_runs_after_fusion_and_cap(index: Path, settings: Settings) -> None:
    fake = ReverseReranker()
    s = settings.with_overrides(per_doc_cap=1)
    plain = Retriever(StoreHandle(index), FakeEmbedder(), s).search("solar panels", k=5, mode="hybrid").hits
    reranked = (
        Retriever(StoreHandle(index), FakeEmbedder(), s, reranker=fake).search("solar panels", k=5).hits
    )
    assert fake.calls == [("solar panels", len(plain))]  # the pool is every capped candidate (< 30 here)
    assert [h.chunk.chunk_id for h in reranked] == [h.chunk.chunk_id for h in reversed(plain)]
    assert [h.rank for h in reranked] == list(range(1, len(plain) + 1))
    assert reranked[0].score == pytest.approx(len(plain))


def test_reranker_rejects_wrong_score_count() -> None:
    class Broken(ReverseReranker):
        def score(self, query, hits):  # type: ignore[no-untyped-def]
            return [1.0]

    from indexer.document import Chunk
    from searchchat.types import Hit

    hits = [Hit(rank=i, score=0.0, chunk=Chunk(i, "d", "u", "t", "", "x")) for i in (1, 2)]
    with pytest.raises(ValueError, match="2 hits"):
        Broken().rerank("q", hits)
    assert Broken().rerank("q", []) == []


def test_missing_cross_encoder_is_a_clear_error(index: Path, settings: Settings, tmp_path: Path) -> None:
    assert get_reranker(None) is None
    with pytest.raises(RerankerError, match="SEARCHCHAT_RERANKER"):
        CrossEncoderReranker(tmp_path / "no-such-model")
    with pytest.raises(RerankerError, match="not found"):
        Retriever(
            StoreHandle(index), FakeEmbedder(), settings.with_overrides(reranker=str(tmp_path / "nope"))
        )


def test_scores_are_finite(index: Path, settings: Settings) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        assert all(math.isfinite(h.score) for h in retriever(index, settings).search("solar", mode=mode).hits)


class FakeTorch:
    """Stands in for torch's thread setting, to check that the query path sets and restores it."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, []

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> None:
        self.calls.append(n)
        self.n = n


def test_query_embedding_runs_single_threaded_and_restores(
    index: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    fake = FakeTorch(2)
    monkeypatch.setitem(sys.modules, "torch", fake)
    seen: list[int] = []

    class Spy(FakeEmbedder):
        def embed_query(self, text: str):  # type: ignore[no-untyped-def]
            seen.append(fake.n)
            return super().embed_query(text)

    Retriever(StoreHandle(index), Spy(), settings).search("solar", mode="hybrid")
    assert seen == [1] and fake.calls == [1, 2] and fake.n == 2
    Retriever(StoreHandle(index), Spy(), settings, query_threads=None).search("solar", mode="dense")
    assert seen == [1, 2] and fake.calls == [1, 2]
    Retriever(StoreHandle(index), Spy(), settings).search("solar", mode="bm25")
    assert seen == [1, 2]  # BM25 alone embeds nothing


def test_answerability_reranker_ranks_a_passage_by_its_best_sentence() -> None:
    hits = make_hits(
        "Transformers use attention. Many layers are stacked.",
        "Unrelated opening sentence here. BM25 ranks documents by term frequency and inverse document frequency.",
    )
    ranked = AnswerabilityReranker(OverlapScorer()).rerank("How does BM25 rank documents?", hits)
    assert [h.chunk.chunk_id for h in ranked] == [2, 1] and ranked[0].score == 1.0 and ranked[0].rank == 1
