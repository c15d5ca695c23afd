"""Compact evidence windows: the best sentences with their neighbours, and the answerer's use of them."""

from __future__ import annotations

from searchchat.answering.pipeline import Answerer
from searchchat.answering.windows import GAP, Spot, windows
from searchchat.settings import Settings
from tests.answer_helpers import ListRetriever, make_hits
from tests.fakes import FakeEmbedder, ScriptedGenerator

LONG = (
    "Alpha opens the page. Beta follows the opening. Gamma sits in the middle. Delta comes next here. "
    "Epsilon is nearly last. Zeta closes the page."
)


def _span(text: str, sentence: str) -> tuple[int, int]:
    start = text.index(sentence)
    return start, start + len(sentence)


def test_a_window_keeps_the_best_sentence_and_its_neighbours_in_source_order() -> None:
    s, e = _span(LONG, "Gamma sits in the middle.")
    (out,) = windows([LONG], [Spot(1, s, e)], neighbours=1)
    assert out == "Beta follows the opening. Gamma sits in the middle. Delta comes next here."


def test_runs_that_do_not_touch_are_joined_by_a_gap() -> None:
    a = Spot(1, *_span(LONG, "Alpha opens the page."))
    z = Spot(1, *_span(LONG, "Zeta closes the page."))
    (out,) = windows([LONG], [z, a], neighbours=0)
    assert out == f"Alpha opens the page.{GAP}Zeta closes the page."


def test_a_source_without_a_best_sentence_keeps_its_lead_and_a_single_sentence_stays_whole() -> None:
    spot = Spot(2, 0, 5)
    out = windows([LONG, "One sentence only, no stop"], [spot], neighbours=1)
    assert out == ["Alpha opens the page.", "One sentence only, no stop"]


def test_the_answerer_prompts_with_windows_but_checks_citations_against_the_whole_source(
    settings: Settings, scripted_generator: ScriptedGenerator, fake_embedder: FakeEmbedder
) -> None:
    filler = " ".join(f"Filler sentence number {i} says nothing at all." for i in range(12))
    text = f"{filler} The Eiffel Tower is 330 metres tall. {filler}"
    on = settings.model_copy(update={"context": "windows", "window_neighbours": 0, "evidence_rerank": False})
    answerer = Answerer(ListRetriever(make_hits(text), fake_embedder), scripted_generator, on)
    scripted_generator.enqueue("The Eiffel Tower is 330 metres tall [1].")
    final = answerer.ask("How tall is the Eiffel Tower?")
    prompt = scripted_generator.prompts[0].messages[-1]["content"]
    assert "The Eiffel Tower is 330 metres tall." in prompt
    assert prompt.count("Filler sentence") < 12  # cut: the whole source has 24
    assert not final["abstained"] and final["citations"][0]["n"] == 1
    assert final["sources"][0]["text"] == text  # the card shows the whole source
