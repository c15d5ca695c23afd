"""Question coverage (coverage.py) and its citation gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.answering.cite import CitationChecker
from searchchat.answering.coverage import chance_matches, coverage, spelled_out, tokens
from searchchat.indexing import index_options
from searchchat.retrieval.lexical import lexical_index
from searchchat.settings import Settings
from tests.fakes import FakeEmbedder
from tests.helpers import write_docs


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # sources keep the retriever's order (evidence reranking has its own tests)
    return Settings(home=tmp_path / "home", embedder="hash-64", generator="extractive", evidence_rerank=False)


def test_question_words_and_stopwords_do_not_count() -> None:
    assert tokens("What does the survey say, and how was it?") == ["survey", "say"]
    assert coverage("What is it?", ["anything"]) == [1.0]  # nothing to weigh


def test_rare_question_words_weigh_most() -> None:
    df = {"respons": 40, "rate": 50, "survey": 30, "korean": 2, "mer": 3}
    doc_freq = lambda ts: ([df.get(t, 0) for t in ts], 100)  # noqa: E731
    question = "What response rate did the Korean MERS survey have?"
    generic = "A hospital survey in Texas had a response rate of 64%."
    specific = "In Korea, Korean MERS patients were followed for a month."
    plain = coverage(question, [generic, specific])
    weighted = coverage(question, [generic, specific], doc_freq)
    assert plain[0] > plain[1]  # every word alike: the generic passage has more of them
    assert weighted[1] > weighted[0]  # by IDF: the passage about the question's rare subject covers more
    assert weighted[0] < 0.5 <= plain[0]


def test_an_acronym_counts_as_covered_where_the_source_spells_it_out() -> None:
    assert "gan" in spelled_out("A generative adversarial network trains two models.")
    assert "rlhf" in spelled_out("reinforcement learning from human feedback")
    gan, other = coverage("What is a GAN?", ["A generative adversarial network trains two models.", "BM25."])
    assert gan == 1.0 and other == 0.0
    assert coverage("Who trains GANs?", ["Generative adversarial networks are trained by..."]) == [1.0]


def test_doc_freq_reads_the_bm25_index(tmp_path: Path, settings: Settings) -> None:
    index_sources([str(write_docs(tmp_path / "docs"))], index_options(settings))
    lex = lexical_index(IndexStore.open(settings.index_dir))
    (gan, absent), n = lex.doc_freq(["gan", "zzzunknown"])
    assert n >= 3 and 1 <= gan < n and absent == 0


WRONG_STUDY = "A hospital survey in Texas had a response rate of 64% among nurses."
RIGHT_STUDY = "The Korean MERS household survey reported a response rate of 81%."
QUESTION = "What response rate did the Korean MERS household survey report?"


def test_a_source_other_than_the_most_relevant_needs_more_of_the_question(
    fake_embedder: FakeEmbedder,
) -> None:
    sources = [RIGHT_STUDY, WRONG_STUDY]
    answer = "The response rate was 64% among nurses [2]."
    loose = CitationChecker(fake_embedder, relevance_margin=0.3, second_coverage=0.0)
    strict = CitationChecker(fake_embedder, relevance_margin=0.3, second_coverage=0.8)
    args = {"question": QUESTION, "relevance": [1.0, 0.9]}
    assert loose.verify(answer, sources, coverage=[1.0, 0.6], **args).cited == [2]
    # source 2 covers the question enough to be cited (0.6 >= 0.5) but is not the most relevant: refused
    refused = strict.verify(answer, sources, coverage=[1.0, 0.6], **args)
    assert refused.cited == [] and not refused.sentences[0].supported
    assert strict.verify(answer, sources, coverage=[1.0, 0.8], **args).cited == [2]  # about the question
    # the most relevant source about the question is the first one that passes MIN_COVERAGE, here source 2
    assert strict.verify(answer, sources, coverage=[0.3, 0.6], **args).cited == [2]
    # without coverage (a question in another language) the rule does not apply
    assert strict.verify(answer, sources, **args).cited == [2]


def test_chance_matches_says_whether_the_words_single_out_a_passage() -> None:
    df = {"mani": 250, "patient": 470, "studi": 840, "male": 37, "hantaan": 3}
    doc_freq = lambda ts: ([df.get(t, 0) for t in ts], 2600)  # noqa: E731
    vague = chance_matches("How many patients were studied?", doc_freq)
    assert vague == pytest.approx(2600 * (250 / 2600) * (470 / 2600) * (840 / 2600))  # about 14 passages
    assert chance_matches("How many Hantaan patients were male?", doc_freq) < 0.01  # one rare word pins it
    assert chance_matches("What is zzyzx?", doc_freq) == pytest.approx(0.5)  # a word the index lacks
    assert chance_matches("What is it?", doc_freq) == 0.0  # no words to weigh
    assert chance_matches("How many patients?", lambda ts: ([0 for _ in ts], 0)) == 0.0  # an empty index
