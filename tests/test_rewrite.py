"""Follow-up rewriting: heuristic for extractive, the generator's rewrite (checked) for language models."""

from __future__ import annotations

import pytest

from searchchat.answering.rewrite import clean_rewrite, heuristic_rewrite, needs_rewrite, rewrite
from searchchat.generators.extractive import ExtractiveGenerator
from tests.fakes import ScriptedGenerator

HISTORY = [
    {"role": "user", "content": "What is BM25 used for?"},
    {"role": "assistant", "content": "BM25 ranks documents for a keyword query [1]."},
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How is it computed?", True),  # pronoun
        ("And for dense retrieval?", True),  # leading conjunction
        ("What about FAISS?", True),
        ("Why?", True),  # too short to stand alone
        ("How does FAISS compute inner products between normalised embeddings?", False),
    ],
)
def test_needs_rewrite(question: str, expected: bool) -> None:
    assert needs_rewrite(question, HISTORY) is expected
    assert needs_rewrite(question, None) is False
    assert needs_rewrite(question, [{"role": "assistant", "content": "Hello"}]) is False


def test_heuristic_adds_the_previous_questions_key_terms() -> None:
    assert heuristic_rewrite("How is it computed?", HISTORY) == "How is it computed? (BM25)"
    assert heuristic_rewrite("What about its parameters?", HISTORY) == "What about its parameters? (BM25)"
    standalone = "How does FAISS compute inner products between normalised embeddings?"
    assert heuristic_rewrite(standalone, HISTORY) == standalone


def test_extractive_uses_the_heuristic() -> None:
    assert rewrite("How is it computed?", HISTORY, ExtractiveGenerator()) == "How is it computed? (BM25)"


def test_language_model_rewrites_and_sees_the_conversation() -> None:
    gen = ScriptedGenerator().enqueue("Standalone question: How is the BM25 score computed?")
    assert rewrite("How is it computed?", HISTORY, gen) == "How is the BM25 score computed?"
    prompt = gen.prompts[0].messages[-1]["content"]
    assert "User: What is BM25 used for?" in prompt and "Follow-up question: How is it computed?" in prompt
    assert "[1]" not in prompt


def test_unusable_model_rewrite_falls_back_to_the_heuristic() -> None:
    gen = ScriptedGenerator().enqueue("")
    assert rewrite("How is it computed?", HISTORY, gen) == "How is it computed? (BM25)"
    long_reply = ScriptedGenerator().enqueue("word " * 400)
    assert rewrite("How is it computed?", HISTORY, long_reply) == "How is it computed? (BM25)"


def test_standalone_question_and_no_history_are_left_alone() -> None:
    gen = ScriptedGenerator()  # nothing queued: calling it would fail
    q = "How does FAISS compute inner products between normalised embeddings?"
    assert rewrite(q, HISTORY, gen) == q
    assert rewrite("How is it computed?", [], gen) == "How is it computed?"
    assert gen.prompts == []


def test_clean_rewrite() -> None:
    assert clean_rewrite('"What is BM25?"\nExtra line', "q") == "What is BM25?"
    assert clean_rewrite("   ", "q") is None


def test_a_standalone_follow_up_opening_with_and_is_not_rewritten() -> None:
    from searchchat.answering.rewrite import needs_rewrite

    history = [{"role": "user", "content": "Is ChatGPT a GAN?"}]
    assert not needs_rewrite("And what does BM25 use for scoring documents?", history)
    assert needs_rewrite("And what about BERT?", history)
    assert needs_rewrite("And how big is it?", history)
