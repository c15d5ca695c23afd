"""The citation checker on crafted cases: only citations that a source supports are shown."""

from __future__ import annotations

import pytest

from searchchat.answering.cite import (
    BEST_MARGIN,
    CitationChecker,
    names,
    numbers,
    parse_markers,
    split_sentences,
)
from tests.fakes import FakeEmbedder

SOURCES = [
    "Mother-to-child transmission is the main cause of HIV-1 infection in children worldwide. "
    "In 2008, more than 400,000 children were infected, mostly in sub-Saharan Africa.",
    "BM25 ranks documents by term frequency saturation and inverse document frequency. "
    "Its parameters k1 and b control saturation and length normalisation.",
    "FAISS searches dense vectors. IndexFlatIP computes exact inner products between normalised embeddings.",
]


@pytest.fixture
def checker() -> CitationChecker:
    return CitationChecker(FakeEmbedder())


def test_supported_citation_is_kept(checker: CitationChecker) -> None:
    v = checker.verify(
        "Mother-to-child transmission is the main cause of HIV-1 infection in children [1].", SOURCES
    )
    assert v.cited == [1] and not v.changed
    assert v.sentences[0].citations == [1] and v.sentences[0].supported
    assert v.text == "Mother-to-child transmission is the main cause of HIV-1 infection in children [1]."


def test_wrong_citation_number_is_replaced_by_the_supporting_source(checker: CitationChecker) -> None:
    v = checker.verify(
        "BM25 ranks documents by term frequency saturation and inverse document frequency [3].", SOURCES
    )
    assert v.sentences[0].citations == [2] and v.changed
    assert "[3]" not in v.text and v.text.endswith("[2].")


def test_citation_number_that_does_not_exist_is_never_shown(checker: CitationChecker) -> None:
    v = checker.verify(
        "FAISS searches dense vectors [7]. IndexFlatIP computes exact inner products [9, 3].", SOURCES
    )
    assert "[7]" not in v.text and "[9]" not in v.text
    assert all(1 <= n <= len(SOURCES) for s in v.sentences for n in s.citations)
    assert v.sentences[1].citations == [3]


def test_uncited_supported_sentence_gets_its_source(checker: CitationChecker) -> None:
    v = checker.verify("IndexFlatIP computes exact inner products between normalised embeddings.", SOURCES)
    assert v.sentences[0].citations == [3] and v.sentences[0].supported and v.changed
    assert v.text == "IndexFlatIP computes exact inner products between normalised embeddings [3]."


def test_unsupported_sentence_is_marked(checker: CitationChecker) -> None:
    answer = "BM25 ranks documents by inverse document frequency [2]. The Eiffel Tower was painted green in Paris [2]."
    v = checker.verify(answer, SOURCES)
    first, second = v.sentences
    assert first.citations == [2] and first.supported
    assert second.citations == [] and not second.supported
    assert (
        v.text
        == "BM25 ranks documents by inverse document frequency [2]. The Eiffel Tower was painted green in Paris."
    )


def test_numbers_that_differ_from_the_source_are_not_supported(checker: CitationChecker) -> None:
    v = checker.verify(
        "In 2008, more than 300,000 children were infected, mostly in sub-Saharan Africa [1].", SOURCES
    )
    assert v.sentences[0].citations == [] and not v.sentences[0].supported
    same = checker.verify(
        "In 2008, more than 400,000 children were infected, mostly in sub-Saharan Africa [1].", SOURCES
    )
    assert same.sentences[0].citations == [1]


def test_number_written_differently_still_matches(checker: CitationChecker) -> None:
    v = checker.verify("More than 400000 children were infected in 2008 [1].", SOURCES)
    assert v.sentences[0].citations == [1]


def test_a_name_missing_from_the_source_is_not_supported(checker: CitationChecker) -> None:
    v = checker.verify(
        "Mother-to-child transmission is the main cause of HIV-2 infection in children [1].", SOURCES
    )
    assert v.sentences[0].citations == []


def test_reference_marker_in_a_source_does_not_count_as_its_number(checker: CitationChecker) -> None:
    sources = ["Infected children were mostly treated in district hospitals [12]."]
    v = checker.verify("12 infected children were mostly treated in district hospitals [1].", sources)
    assert v.sentences[0].citations == []


def test_markers_after_the_full_stop_and_lists(checker: CitationChecker) -> None:
    answer = "FAISS searches dense vectors. [3] Its parameters k1 and b control saturation [2].\n- Yes."
    v = checker.verify(answer, SOURCES)
    assert [s.citations for s in v.sentences] == [[3], [2], []]
    assert v.sentences[2].supported  # "Yes." claims nothing
    assert (
        v.text == "FAISS searches dense vectors [3]. Its parameters k1 and b control saturation [2].\n- Yes."
    )


def test_sentence_splitting_keeps_decimals_and_abbreviations() -> None:
    text = "The risk rose 3.6-fold, e.g. in Zimbabwe (Smith et al. 2009). It fell. Then 0.5 mg was given [2]."
    assert split_sentences(text) == [
        "The risk rose 3.6-fold, e.g. in Zimbabwe (Smith et al. 2009).",
        "It fell.",
        "Then 0.5 mg was given [2].",
    ]
    # "no." before a number is an abbreviation; before a word, or as a reply, it ends a sentence
    text = "It is in GenBank (accession no. MN975262) [1]. The answer is no. Vol. 3 of it says so."
    assert split_sentences(text) == [
        "It is in GenBank (accession no. MN975262) [1].",
        "The answer is no.",
        "Vol. 3 of it says so.",
    ]


@pytest.mark.parametrize(
    ("text", "cited"),
    [
        ("A [1].", [1]),
        ("A [1, 3].", [1, 3]),
        ("A [1][2].", [1, 2]),
        ("A [2-4].", [2, 3, 4]),
        ("A [Source 2].", [2]),
        ("A [sources 1 and 3].", [1, 3]),
        ("A (Source 2).", [2]),
    ],
)
def test_parse_markers(text: str, cited: list[int]) -> None:
    assert parse_markers(text) == ("A.", cited)


def test_numbers_and_names() -> None:
    assert numbers("400,000 cases, 3.60-fold, 90% in 2008-2009 and two weeks") == {
        "400000",
        "3.6",
        "90",
        "2008",
        "2009",
        "2",
    }
    assert numbers("HIV-1 and COVID-19 and CD4") == set()
    assert names("Cases of HIV-1 rose in Zimbabwe after SARS-CoV-2") == {"hiv-1", "zimbabwe", "sars-cov-2"}


def test_restating_the_question_is_not_a_claim(checker: CitationChecker) -> None:
    question = "How many children were infected with HIV-1 in 2008?"
    echo = checker.verify("Children were infected with HIV-1 in 2008 [1].", SOURCES, question=question)
    assert echo.sentences[0].citations == [] and echo.cited == []
    answer = checker.verify(
        "More than 400,000 children were infected in 2008 [1].", SOURCES, question=question
    )
    assert answer.sentences[0].citations == [1]
    negated = checker.verify(
        "BM25 is not a neural network [2].", SOURCES, question="Is BM25 a neural network?"
    )
    assert negated.sentences[0].citations == []  # a claim, but source 2 does not say it
    assert not negated.sentences[0].supported


VEEV = [
    "Venezuelan equine encephalitis virus (VEEV): transmission and outbreaks in humans.",
    "Venezuelan equine encephalitis virus (VEEV) is transmitted by mosquitoes to humans and horses.",
]


def test_a_source_that_only_shares_the_questions_words_gives_way_to_the_one_with_the_answer(
    checker: CitationChecker,
) -> None:
    q = "How is Venezuelan equine encephalitis virus transmitted?"
    answer = "Venezuelan equine encephalitis virus (VEEV) is transmitted by mosquitoes to humans [1]."
    row = checker.supports([answer.replace(" [1]", "")], VEEV, question=q)[0]
    assert row[0].answer_share < row[1].answer_share == 1.0  # source 1 lacks "mosquitoes"
    assert checker.support_threshold <= row[0].score <= row[1].score - BEST_MARGIN  # it passes, but far worse
    v = checker.verify(answer, VEEV, question=q)
    assert v.sentences[0].citations == [2] and v.changed


def test_names_and_numbers_of_the_question_are_not_required_in_the_source(checker: CitationChecker) -> None:
    sources = ["Chinese authorities built a 1000-bed hospital in Wuhan in 10 days."]
    q = "How long did it take to build the COVID-19 hospital in Wuhan?"
    claim = "The COVID-19 hospital in Wuhan was built in 10 days."
    assert checker.supports([claim], sources, question=q)[0][0].missing == []
    assert checker.supports([claim], sources)[0][0].missing == ["covid-19"]  # without the question: gated
    # a number the question does not have is still checked
    assert checker.supports(["The COVID-19 hospital was built in 12 days."], sources, question=q)[0][
        0
    ].missing == ["12"]


def test_a_chinese_answer_is_checked_by_character_bigrams(checker: CitationChecker) -> None:
    from searchchat.text import content_terms

    assert {"训练", "阶段", "chatgpt"} <= content_terms("ChatGPT的训练分为哪两个阶段？")
    sources = ["ChatGPT的训练分为两个阶段：预训练和微调。", "生成对抗网络由生成器和判别器组成。"]
    v = checker.verify("ChatGPT的训练分为预训练和微调两个阶段[2]。", sources)
    assert v.sentences[0].citations == [1] and v.sentences[0].supported  # moved to the source that says it
    wrong = checker.verify("ChatGPT是生成对抗网络，由生成器和判别器训练而成[1]。", sources[:1])
    assert not wrong.cited
