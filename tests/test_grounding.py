"""grounding.ungrounded and the policy's grounding modes in the answer path."""

from __future__ import annotations

import dataclasses

import pytest

from searchchat.answering.grounding import signs, ungrounded
from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import get_policy
from searchchat.settings import Settings
from tests.answer_helpers import ListRetriever, make_hits
from tests.fakes import FakeEmbedder, ScriptedGenerator

SOURCE = (
    "In 2014 the construction industry had around $960 billion in annual revenue, the Census Bureau says."
)
QUESTION = "What was the construction industry's annual revenue in 2014?"


def test_a_changed_currency_sign_is_ungrounded() -> None:
    assert signs("£960 and ¥5 and €2") == {"£", "¥", "€"}
    assert not ungrounded("The revenue was $960 billion.", QUESTION, [SOURCE])
    missing = ungrounded("The revenue was £960 billion.", QUESTION, [SOURCE])
    assert missing and missing.signs == {"£"} and not missing.terms and not missing.numbers


def test_words_and_numbers_the_evidence_lacks_are_named() -> None:
    missing = ungrounded("The revenue was 980 billion, says the Treasury.", QUESTION, [SOURCE])
    assert missing.numbers == {"980"} and missing.terms == {"treasuri"}
    # the question's own words never count against the answer, and stems match ("revenues" / "revenue")
    assert not ungrounded("Annual revenues in 2014 were about $960 billion.", QUESTION, [SOURCE])


def test_chinese_is_compared_by_character_bigrams() -> None:
    source = "ChatGPT的训练分为两个阶段：预训练和微调。"
    assert not ungrounded("分为预训练和微调两个阶段。", "ChatGPT的训练分为哪两个阶段？", [source])
    assert ungrounded("分为预训练和强化学习。", "ChatGPT的训练分为哪两个阶段？", [source]).terms


TEXTS = [
    "Mortgage bankers, accountants, and cost engineers are likely participants in the financial plan.",
    "Construction projects need a financial plan that covers the whole building project.",
]


@pytest.fixture
def make_answerer(settings: Settings, scripted_generator: ScriptedGenerator, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    def build(mode: str) -> Answerer:
        fixed = settings.model_copy(update={"evidence_rerank": False})
        answerer = Answerer(ListRetriever(make_hits(*TEXTS), fake_embedder), scripted_generator, fixed)
        open_bars = dataclasses.replace(get_policy(), answer_min=0.0, cite_min=0.0, quote_min=0.0)
        answerer.fixed_policy = dataclasses.replace(open_bars, grounding=mode)
        return answerer

    return build


QUESTION_2 = "Who are likely participants in the financial plan?"


@pytest.mark.parametrize("mode", ["terms", "evidence"])
def test_an_answer_that_adds_a_word_is_replaced_by_the_quote(
    make_answerer, scripted_generator, mode: str
) -> None:  # type: ignore[no-untyped-def]
    scripted_generator.enqueue(
        "Investment bankers, accountants, and cost engineers are likely participants [1]."
    )
    final = make_answerer(mode).ask(QUESTION_2)
    assert final["kind"] == "quote" and "Mortgage bankers" in final["answer"]
    assert [c["n"] for c in final["citations"]] == [1]


@pytest.mark.parametrize("mode", ["off", "terms", "evidence"])
def test_a_grounded_answer_stands(make_answerer, scripted_generator, mode: str) -> None:  # type: ignore[no-untyped-def]
    scripted_generator.enqueue("Mortgage bankers, accountants and cost engineers [1].")
    final = make_answerer(mode).ask(QUESTION_2)
    assert final["kind"] == "generated" and final["answer"].startswith("Mortgage bankers")


def test_without_grounding_the_added_word_passes(make_answerer, scripted_generator) -> None:  # type: ignore[no-untyped-def]
    scripted_generator.enqueue(
        "Investment bankers, accountants, and cost engineers are likely participants [1]."
    )
    final = make_answerer("off").ask(QUESTION_2)
    assert final["kind"] == "generated" and "Investment" in final["answer"]
