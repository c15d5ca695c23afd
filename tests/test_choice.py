"""The answer choice: a judge picks the model's checked answer or the quote of the best evidence sentences."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from searchchat.answering.choice import AnswerChooser
from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import MODEL_PROFILES, get_policy
from searchchat.models.crossencoder import Scorer
from searchchat.settings import Settings
from tests.answer_helpers import ListRetriever, make_hits
from tests.fakes import FakeEmbedder, ScriptedGenerator


class TableJudge(Scorer):
    """Scores a text by the first key of `table` it contains (0.5 otherwise); records what it was asked."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table, self.asked = table, []  # type: list[str]

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        self.asked.extend(texts)
        return [next((p for key, p in self.table.items() if key in t), 0.5) for t in texts]


def test_generated_mode_never_asks_the_judge() -> None:
    judge = TableJudge({})
    choice = AnswerChooser(judge, "generated").choose("q?", ("T", "draft"), ("T", "quote"))
    assert choice.kind == "generated" and choice.quote is None and judge.asked == []


@pytest.mark.parametrize(("margin", "kind"), [(0.0, "quote"), (0.3, "generated"), (-0.2, "quote")])
def test_the_quote_wins_when_it_scores_higher_by_more_than_the_margin(margin: float, kind: str) -> None:
    judge = TableJudge({"draft": 0.4, "quote": 0.6})
    choice = AnswerChooser(judge, "judged", margin).choose("q?", ("T", "draft"), ("T", "quote"))
    assert choice.kind == kind and (choice.generated, choice.quote) == (0.4, 0.6)
    assert judge.asked == ["T | draft", "T | quote"]  # each side after its source's title


def test_a_negative_margin_lets_the_quote_win_a_near_tie() -> None:
    judge = TableJudge({"draft": 0.62, "quote": 0.55})
    assert AnswerChooser(judge, "judged", -0.1).choose("q?", ("", "draft"), ("", "quote")).kind == "quote"
    assert AnswerChooser(judge, "judged", 0.0).choose("q?", ("", "draft"), ("", "quote")).kind == "generated"


def test_without_a_quote_the_model_answer_stands() -> None:
    judge = TableJudge({})
    assert AnswerChooser(judge, "judged").choose("q?", ("T", "draft"), None).kind == "generated"
    assert judge.asked == []


def test_an_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown answer choice 'best'"):
        AnswerChooser(TableJudge({}), "best").choose("q?", ("T", "a"), ("T", "b"))


def test_every_shipped_profile_judges_the_choice() -> None:
    # conftest puts word-overlap bars in PROFILES for unit tests; the model's scale keeps the shipped ones
    assert {p.choice for p in MODEL_PROFILES.values()} == {"judged"}
    assert all(p.choice_margin < 0 for p in MODEL_PROFILES.values())


TEXTS = [
    "The Egyptian Islamic Jihad assassinated Anwar Sadat in 1981 after the peace with Israel.",
    "Sadat opened Egypt to Western investment and released Islamists from prison.",
]
DATELESS = "The Egyptian Islamic Jihad assassinated Sadat after the peace with Israel [1]."
QUESTION = "When did the Egyptian Islamic Jihad assassinate Anwar Sadat?"


def _answerer(settings: Settings, generator: ScriptedGenerator, judge: Scorer, choice: str) -> Answerer:
    fixed = settings.model_copy(update={"evidence_rerank": False})
    answerer = Answerer(ListRetriever(make_hits(*TEXTS), FakeEmbedder()), generator, fixed)
    open_bars = dataclasses.replace(get_policy(), answer_min=0.0, cite_min=0.0, quote_min=0.0)
    answerer.fixed_policy = dataclasses.replace(open_bars, choice=choice, choice_margin=0.0)
    answerer.judge = judge
    return answerer


def test_an_answer_that_restates_the_question_gives_way_to_the_quote(
    settings: Settings, scripted_generator: ScriptedGenerator
) -> None:
    scripted_generator.enqueue(DATELESS)  # passes the citation check, but says no date
    judge = TableJudge({"1981": 0.9})
    final = _answerer(settings, scripted_generator, judge, "judged").ask(QUESTION)
    assert final["kind"] == "quote" and "1981" in final["answer"] and final["answer"].startswith("\u201c")
    assert [c["n"] for c in final["citations"]] == [1] and not final["abstained"]


def test_a_better_model_answer_stands_and_generated_mode_keeps_it(
    settings: Settings, scripted_generator: ScriptedGenerator
) -> None:
    judge = TableJudge({"peace with Israel": 0.3})  # the quote; the model's answer gets 0.5
    scripted_generator.enqueue("The Egyptian Islamic Jihad assassinated Anwar Sadat in 1981 [1].")
    final = _answerer(settings, scripted_generator, judge, "judged").ask(QUESTION)
    assert final["kind"] == "generated" and final["answer"].startswith("The Egyptian")
    scripted_generator.enqueue(DATELESS)
    judge = TableJudge({"1981": 0.9})
    final = _answerer(settings, scripted_generator, judge, "generated").ask(QUESTION)
    assert final["kind"] == "generated" and judge.asked == []
