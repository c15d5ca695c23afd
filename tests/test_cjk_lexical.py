"""Chinese (and other CJK) text in BM25: character bigrams at index and query time, English unchanged, and a
hybrid fusion that does not let an English-only embedder drown the lexical leg on a Chinese query."""

from __future__ import annotations

from pathlib import Path

import bm25s
import pytest
import Stemmer

from indexer.cjk import segment
from indexer.store import IndexStore, StoreHandle
from searchchat.answering.cite import numbers
from searchchat.retrieval.lexical import LexicalIndex, tokenize
from searchchat.retrieval.retriever import Retriever, convex
from searchchat.settings import Settings
from searchchat.text import cjk_numbers, cjk_share
from tests.fakes import FakeEmbedder
from tests.retrieval_helpers import make_doc, write_index

ZH_DOCS = [
    ("train", "ChatGPT的训练分为两个阶段：预训练和微调。", "ChatGPT 的训练"),
    ("gan", "生成对抗网络由生成器和判别器组成，两者相互对抗。", "生成对抗网络"),
    ("contact", "如需联系我们，请发送电子邮件或拨打电话。", "联系方式"),
    ("en", "Solar panels convert sunlight into electricity.", "Solar power"),
]


class EnglishOnlyEmbedder(FakeEmbedder):
    cjk = False


def test_cjk_runs_become_overlapping_bigrams_and_english_keeps_its_stems() -> None:
    assert tokenize("预训练和微调") == ["预训", "训练", "练和", "和微", "微调"]
    assert tokenize("ChatGPT的训练") == ["chatgpt", "的训", "训练"]
    assert tokenize("中") == ["中中"]  # a lone character is kept (bm25s drops one-character tokens)
    assert "プログラ" not in segment("プログラム") and "プロ" in tokenize("プログラム")
    english = "The quick brown foxes were running over 3 lazy dogs' kennels."
    assert segment(english) == english
    expected = bm25s.tokenize([english], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                              show_progress=False)[0]  # fmt: skip
    assert tokenize(english) == expected


def test_cjk_share() -> None:
    assert cjk_share("How is GPT trained?") == 0.0
    assert cjk_share("预训练和微调") == 1.0
    assert cjk_share("ChatGPT的训练") == 0.3  # 3 of 10 letters
    assert cjk_share("") == 0.0


def _zh_index(settings: Settings) -> Path:
    docs = [make_doc(i, text, title=title) for i, text, title in ZH_DOCS]
    write_index(settings.index_dir, docs, FakeEmbedder())
    return settings.index_dir


def test_bm25_finds_the_chinese_passage(settings: Settings) -> None:
    index = _zh_index(settings)
    store = IndexStore.open(index)
    lex = LexicalIndex(store.path)

    def docs(query: str, k: int) -> list[str]:
        found = lex.search(query, k)
        chunks = store.get_chunks([cid for cid, _ in found])
        return [chunks[cid].doc_id for cid, _ in found]

    assert docs("ChatGPT的训练分为哪两个阶段", 3)[0] == "train"
    assert docs("什么是生成对抗网络？", 1) == ["gan"]
    assert docs("联系电话", 1) == ["contact"]


def test_hybrid_trusts_bm25_for_a_chinese_query_when_the_embedder_is_english_only(settings: Settings) -> None:
    index = _zh_index(settings)
    s = settings.with_overrides(per_doc_cap=50)
    q = "生成器和判别器"
    store = IndexStore.open(index)
    bm25 = LexicalIndex(store.path).search(q, 100)
    english_only = Retriever(StoreHandle(index), EnglishOnlyEmbedder(), s)
    assert [h.chunk.chunk_id for h in english_only.search(q, k=4, mode="hybrid").hits][:1] == [bm25[0][0]]
    fused = english_only.fuse([(99, 1.0), (bm25[0][0], 0.0)], bm25, q)
    assert fused[0][0] == bm25[0][0]  # the dense leg's weight is gone for an all-Chinese query
    multilingual = Retriever(StoreHandle(index), FakeEmbedder(), s)
    dense = [(99, 1.0), (bm25[0][0], 0.0)]
    assert multilingual.fuse(dense, bm25, q) == convex(dense, bm25, multilingual.alpha)
    # an English query is fused as before, whatever the embedder knows
    assert english_only.fuse(dense, bm25, "solar panels") == convex(dense, bm25, english_only.alpha)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二十三", {"23"}),
        ("三千万人", {"30000000"}),
        ("二〇一四年", {"2014"}),
        ("分为两个阶段", {"2"}),
        ("一百零五", {"105"}),
        ("一亿三千万", {"130000000"}),
        ("一些统一的说法", set()),  # a lone 一 is not "one", as English "one" is not counted
    ],
)
def test_chinese_numerals_are_read_as_digits(text: str, expected: set[str]) -> None:
    assert cjk_numbers(text) == expected


def test_numbers_next_to_chinese_characters_are_found() -> None:
    assert numbers("ChatGPT于2022年发布，训练分为两个阶段") == {"2022", "2"}
    assert numbers("GPT-4和CD4") == set()  # digits inside names stay names
