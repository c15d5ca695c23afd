"""End to end with the real packaged models on the demo corpus: index, search, and a cited local answer."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from indexer.embed import get_embedder
from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.answering.pipeline import Answerer
from searchchat.generators import get_generator
from searchchat.indexing import index_options
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

MODEL_CACHE = ROOT / ".cache" / "models"  # the one-time model conversion is kept between test runs


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, model_cache=MODEL_CACHE, generator="local", embedder="minilm")
    summary = index_sources([str(ROOT / "corpus")], index_options(settings))
    assert summary.documents_added >= 30 and summary.skipped.get("parse_error", 0) == 0
    return settings


def test_real_embedder_finds_the_gan_documents(corpus_index: Settings) -> None:
    retriever = Retriever(IndexStore.open(corpus_index.index_dir), get_embedder(corpus_index), corpus_index)
    hits = retriever.search("Is ChatGPT a GAN?", k=5).hits
    names = {Path(urlsplit(h.chunk.url).path).name for h in hits}
    assert names & {"chatgpt-is-not-a-gan.md", "gan-vs-gpt.md", "what-is-chatgpt.md", "gans-explained.md"}


def test_local_model_answers_with_citations_to_documents_that_say_so(corpus_index: Settings) -> None:
    settings = corpus_index
    retriever = Retriever(IndexStore.open(settings.index_dir), get_embedder(settings), settings)
    answerer = Answerer(retriever, get_generator(settings), settings)
    answer = answerer.ask("Is ChatGPT a GAN?")
    assert answer["answer"].strip() and not answer["abstained"], answer
    assert answer["citations"], answer
    n_sources = len(answer["sources"])
    for n in map(int, re.findall(r"\[(\d+)\]", answer["answer"])):
        assert 1 <= n <= n_sources  # no invented citation number is shown
    cited_text = " ".join(answer["sources"][c["n"] - 1]["text"] for c in answer["citations"])
    assert re.search(r"not (a|an) (GAN|generative adversarial)", cited_text, re.I), cited_text
    assert answer["timings"]["retrieve_ms"] > 0 and answer["timings"]["generate_ms"] > 0


def test_a_chinese_question_on_the_demo_corpus_gets_a_chinese_answer_that_says_no(
    corpus_index: Settings,
) -> None:
    settings = corpus_index
    retriever = Retriever(IndexStore.open(settings.index_dir), get_embedder(settings), settings)
    answer = Answerer(retriever, get_generator(settings), settings).ask("ChatGPT是生成对抗网络吗？")
    assert not answer["abstained"] and answer["citations"], answer
    said = " ".join(s["text"] for s in answer["sentences"])
    assert re.search(r"[\u4e00-\u9fff]", said) and "不是生成对抗网络" in said, answer  # no, in Chinese
    cited = {Path(urlsplit(answer["sources"][c["n"] - 1]["url"]).path).name for c in answer["citations"]}
    assert cited & {"zh-chatgpt-not-gan.md", "chatgpt-is-not-a-gan.md"}, cited
