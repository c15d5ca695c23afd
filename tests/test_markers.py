"""Reference markers that sources carry ([12], [3, 4], [5-7]) never reach the model or a snippet."""

from __future__ import annotations

import pytest

from searchchat.answering.pipeline import snippet
from searchchat.answering.prompt import build_prompt
from searchchat.markers import has_markers, neutralise
from tests.answer_helpers import make_hits

# Excerpts of COVID-QA (CORD-19) articles, with their reference markers as extracted.
COVID_TEXT = (
    "Mother-to-child transmission (MTCT) is the main cause of HIV-1 infection in children worldwide [1]. "
    "DC-SIGNR is expressed at the maternal-fetal interface [2, 3] and binds HIV-1 [5-7]. "
    "Previous studies reported antifungal [15, 16] , anti-inflamatory [15, [17] [18] [19] and antiviral "
    "activity [20–22]. The hospital was divided into four areas [6]: contamination, buffer and clean zones."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("children worldwide [1].", "children worldwide."),
        ("at the interface [2, 3] and", "at the interface and"),
        ("binds HIV-1 [5-7].", "binds HIV-1."),
        ("binds HIV-1 [5\u20137].", "binds HIV-1."),
        ("anti-inflamatory [15, [17] [18] [19] and", "anti-inflamatory and"),
        ("four areas [6]: contamination", "four areas: contamination"),
        ("a footnote[^2] here", "a footnote here"),
    ],
)
def test_reference_markers_are_removed(text: str, expected: str) -> None:
    assert neutralise(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "95% CI [1.2-3.4] overall",  # a confidence interval is data
        "1-pyridylimidazo[1,5-a]pyridine",  # chemistry
        "use x[0] and P[4]-type",  # indexing, labels glued to a word
        "see [1](https://example.org) for more",  # a Markdown link
        "run `grep [1]` or\n```\na[1] = 2 [3]\n```",  # code
    ],
)
def test_data_and_code_are_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_covid_excerpt_has_no_markers_left_in_prompt_or_snippets() -> None:
    clean = neutralise(COVID_TEXT)
    assert not has_markers(clean)
    assert "[" not in clean
    assert "children worldwide. DC-SIGNR" in clean and "activity. The hospital" in clean
    hits = make_hits(COVID_TEXT)
    prompt = build_prompt("What is the main cause of HIV-1 infection in children?", hits)
    user = prompt.messages[-1]["content"]
    assert user.startswith("Source 1 (Doc 1 — Intro):\nMother-to-child")
    assert "[1]" not in user.split("Question:")[0] and "[15" not in user and "[5-7]" not in user
    assert "[" not in snippet(COVID_TEXT, limit=1000)
