"""Evidence reranking before answering, and the citation gate on the passages' relevance to the question."""

from __future__ import annotations

import numpy as np
import pytest

from searchchat.answering.cite import CitationChecker
from searchchat.answering.evidence import EvidenceReranker, sentences
from searchchat.answering.pipeline import Answerer
from searchchat.settings import Settings
from tests.answer_helpers import ListRetriever, make_hits
from tests.fakes import FakeEmbedder, ScriptedGenerator

# Passage 1 shares many of the question's words over several sentences; passage 2 has the one sentence that
# answers it.
WORDY = (
    "Vaccine trials for influenza are run every year. Influenza vaccine strains are chosen by the WHO. "
    "Trials compare vaccine strains across seasons."
)
ANSWERING = (
    "Pigs were farmed near the clinic. The influenza vaccine trial enrolled 400 volunteers in 2019. "
    "Results came later."
)
OFF_TOPIC = "Zebras have black and white stripes that confuse biting flies."
QUESTION = "How many volunteers did the influenza vaccine trial enroll?"


def test_the_passage_with_the_answering_sentence_moves_first(fake_embedder: FakeEmbedder) -> None:
    hits = make_hits(WORDY, OFF_TOPIC, ANSWERING)
    checker = CitationChecker(fake_embedder)
    reranked = EvidenceReranker(checker.embed).rerank(QUESTION, hits)
    assert [h.chunk.text for h in reranked] == [ANSWERING, WORDY, OFF_TOPIC]
    assert [h.rank for h in reranked] == [1, 2, 3]
    assert reranked[0].score > reranked[1].score > reranked[2].score
    # the sentence vectors went through the checker's cache, which verification reuses
    assert all(s in checker._cache for s in sentences(ANSWERING))


def test_sentences_are_split_as_the_checker_splits_them() -> None:
    assert sentences("Short. " + ANSWERING) == [
        "Pigs were farmed near the clinic.",
        "The influenza vaccine trial enrolled 400 volunteers in 2019.",
        "Results came later.",
    ]
    assert sentences("tiny") == ["tiny"]
    assert EvidenceReranker(FakeEmbedder().embed).score(QUESTION, []) == []


def test_a_citation_needs_a_source_close_to_the_most_relevant(fake_embedder: FakeEmbedder) -> None:
    sources = [ANSWERING, WORDY]
    answer = "Influenza vaccine strains are chosen by the WHO [2]."
    free = CitationChecker(fake_embedder, relevance_margin=None).verify(
        answer, sources, question=QUESTION, relevance=[1.0, 0.4]
    )
    assert free.cited == [2]  # source 2 supports the sentence: without the gate it stands
    gated = CitationChecker(fake_embedder, relevance_margin=0.3)
    v = gated.verify(answer, sources, question=QUESTION, relevance=[1.0, 0.4])
    assert v.cited == [] and not v.sentences[0].supported  # 0.6 below the best source: not shown
    close = gated.verify(answer, sources, question=QUESTION, relevance=[1.0, 0.8])
    assert close.cited == [2]
    right = gated.verify(
        "The trial enrolled 400 volunteers [1].", sources, question=QUESTION, relevance=[1.0, 0.4]
    )
    assert right.cited == [1]
    # a sentence that cites a source outside the margin goes to the best source inside it that supports it
    moved = gated.verify(
        "The trial enrolled 400 volunteers [1].", [WORDY + " " + ANSWERING, ANSWERING], question=QUESTION,
        relevance=[0.4, 1.0],
    )  # fmt: skip
    assert moved.cited == [2] and moved.changed
    # no relevance given, or one score per source missing: every source may be cited
    assert gated.verify(answer, sources, question=QUESTION).cited == [2]
    assert gated.verify(answer, sources, question=QUESTION, relevance=[1.0]).cited == [2]


def test_answerer_reranks_a_wider_pool_and_numbers_sources_in_the_new_order(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    texts = [WORDY, OFF_TOPIC, OFF_TOPIC + " Stripes.", ANSWERING]
    retriever = ListRetriever(make_hits(*texts), fake_embedder)
    gen = ScriptedGenerator().enqueue("The influenza vaccine trial enrolled 400 volunteers [1].")
    answerer = Answerer(retriever, gen, settings.model_copy(update={"k": 2, "evidence_rerank": True}))
    final = answerer.ask(QUESTION)
    assert [s["text"] for s in final["sources"]] == [ANSWERING, WORDY]  # passage 4 of the pool came first
    assert final["citations"][0]["n"] == 1 and not final["abstained"]
    assert "Source 1 (Doc 4" in gen.prompts[0].messages[-1]["content"]


def test_a_configured_reranker_keeps_its_order(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    retriever = ListRetriever(make_hits(WORDY, OFF_TOPIC, ANSWERING), fake_embedder)
    gen = ScriptedGenerator().enqueue("The influenza vaccine trial enrolled 400 volunteers [1].")
    crossed = settings.model_copy(update={"k": 2, "reranker": "some-cross-encoder"})
    final = Answerer(retriever, gen, crossed).ask(QUESTION)
    assert [s["text"] for s in final["sources"]] == [WORDY, OFF_TOPIC]  # the retriever's (reranked) order


def test_evidence_rerank_can_be_turned_off(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    retriever = ListRetriever(make_hits(WORDY, OFF_TOPIC, ANSWERING), fake_embedder)
    gen = ScriptedGenerator().enqueue("The influenza vaccine trial enrolled 400 volunteers [1].")
    off = settings.model_copy(update={"k": 2, "evidence_rerank": False})
    final = Answerer(retriever, gen, off).ask(QUESTION)
    assert [s["text"] for s in final["sources"]] == [WORDY, OFF_TOPIC]


class CalibratedFake(FakeEmbedder):
    """Named like the packaged MiniLM, so that the Answerer applies the thresholds calibrated on it."""

    def __init__(self) -> None:
        super().__init__()
        self.name = "fake-minilm"


def test_strict_mode_answers_only_when_a_passage_matches_the_question_closely(settings: Settings) -> None:
    embedder = CalibratedFake()
    question = (
        "The influenza vaccine trial enrolled how many volunteers in 2019?"  # close to passage 1's words
    )
    reply = "The influenza vaccine trial enrolled 400 volunteers in 2019 [1]."
    strict = settings.model_copy(update={"k": 2, "strict": True})
    close = ListRetriever(make_hits(ANSWERING, OFF_TOPIC), embedder)
    gen = ScriptedGenerator().enqueue(reply)
    final = Answerer(close, gen, strict).ask(question)
    assert not final["abstained"] and final["citations"][0]["n"] == 1
    # a loose match: "not found" with the closest sources, and the model is not even asked
    loose = ListRetriever(make_hits(WORDY, OFF_TOPIC), embedder)
    gen = ScriptedGenerator().enqueue(reply)
    final = Answerer(loose, gen, strict).ask(QUESTION)
    assert final["abstained"] and gen.prompts == [] and len(final["sources"]) == 2
    # without strict mode the model is asked (and its answer checked as usual)
    relaxed = settings.model_copy(update={"k": 2})
    gen = ScriptedGenerator().enqueue(reply)
    Answerer(loose, gen, relaxed).ask(QUESTION)
    assert len(gen.prompts) == 1


def test_a_chinese_question_is_scored_by_overlap_when_the_embedder_cannot_read_it() -> None:
    from searchchat.answering.evidence import sentence_scores

    def blind(texts):  # type: ignore[no-untyped-def]  # an embedder that sees no difference between the texts
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    texts = ["ChatGPT的训练分为两个阶段：预训练和微调。", "联系我们：电话和地址。"]
    question = "ChatGPT的训练分为哪两个阶段？"
    read = sentence_scores(question, texts, blind)  # an embedder said to read Chinese: its cosines count
    scored = sentence_scores(question, texts, blind, reads_cjk=False)
    assert scored[0] > scored[1] + 0.5 and scored[0] - scored[1] > read[0] - read[1]
    english = ["BM25 ranks documents by term frequency.", "Contact us by phone."]
    assert sentence_scores("How does BM25 rank?", english, blind, reads_cjk=False) == sentence_scores(
        "How does BM25 rank?", english, blind
    )  # a question without CJK is scored as before


def test_the_predicted_cosine_carries_the_calibration_shift_in_proportion_to_the_unread_share() -> None:
    from searchchat.answering import evidence

    def fixed(texts):  # type: ignore[no-untyped-def]  # the embedder's own cosine is sqrt(0.75) for every text
        v = np.zeros((len(texts), 2), dtype=np.float32)
        v[0] = [1.0, 0.0]
        v[1:] = [np.sqrt(0.75), 0.5]
        return v

    unrelated = ["联系我们：电话和地址。"]  # no bigram in common with the question
    [score] = evidence.sentence_scores("训练分为哪两个阶段？", unrelated, fixed, reads_cjk=False)
    assert score == pytest.approx(evidence.OVERLAP_AT_ZERO + evidence.UNREAD_SHIFT)
    [read] = evidence.sentence_scores("训练分为哪两个阶段？", unrelated, fixed, reads_cjk=True)
    assert read == pytest.approx(np.sqrt(0.75))  # an embedder that reads it: its own cosine, no shift


def test_a_long_chinese_sentence_that_holds_more_of_the_question_beats_a_short_one_that_holds_less() -> None:
    from searchchat.answering.evidence import sentence_scores

    def blind(texts):  # type: ignore[no-untyped-def]
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    question = "乍都节公园位于什么地方？"
    answer = (
        "乍都节公园位于泰国的首都曼谷的乍都节县，是拍凤裕庭路、威拍哇丽兰室路、甘烹碧路之间的一处公众游园地。"
    )
    aside = (
        "乍都节公园面积0.3平方公里。"  # names the park only: a word-set cosine favoured it for being short
    )
    scored = sentence_scores(question, [answer, aside], blind, reads_cjk=False)
    assert scored[0] > scored[1]


def test_a_reworded_chinese_answer_keeps_its_characters_where_it_loses_bigrams() -> None:
    from searchchat.answering.evidence import question_share, sentence_scores

    def blind(texts):  # type: ignore[no-untyped-def]
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    question = "王爱爱有什么美誉？"  # the answer says 誉为 ("is hailed as"), not 美誉 ("fine reputation")
    answer, aside = (
        "王爱爱被誉为晋剧皇后。",
        "王爱爱，女，1940年生，山西省榆次人。",
    )  # the same two bigrams each
    scored = sentence_scores(question, [answer, aside], blind, reads_cjk=False)
    assert scored[0] > scored[1]
    english = question_share("What is BM25?", ["BM25 ranks documents.", "Contact us."])
    assert english == [1.0, 0.0]  # a question without CJK: the share of its terms alone
