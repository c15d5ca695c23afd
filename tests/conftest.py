"""Shared fixtures: isolated SEARCHCHAT_HOME, fake embedder, scripted generator, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchchat.answering.policy import PROFILES, AnswerPolicy
from searchchat.settings import Settings
from tests.fakes import FakeEmbedder, OverlapScorer, ScriptedGenerator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for var in list(__import__("os").environ):
        if var.startswith("SEARCHCHAT_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SEARCHCHAT_HOME", str(home))
    return home


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # unit tests decide with the model-free evidence score; tests of the shipped model ask for it
    return Settings(
        home=tmp_path / "home", embedder="hash-64", generator="extractive", answerability_model="evidence"
    )


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def scripted_generator() -> ScriptedGenerator:
    return ScriptedGenerator()


# answer_min, cite_min, quote_min of each profile on the fake scorer's scale
OVERLAP_BARS = {"balanced": (0.5, 0.3, 0.5), "strict": (0.8, 0.5, 0.8), "lenient": (0.3, 0.15, 0.3)}


@pytest.fixture(autouse=True)
def _fake_answerability(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests score answerability by word overlap; integration tests load the shipped model."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setattr(
            "searchchat.answering.pipeline.get_scorer",
            lambda path=None, embed=None, reads_cjk=True: OverlapScorer(),
        )
        monkeypatch.setattr("searchchat.answering.pipeline.load_model", lambda path=None: OverlapScorer())
        for name, bars in OVERLAP_BARS.items():  # the fake scores a share of words, 0..1
            monkeypatch.setitem(PROFILES, name, AnswerPolicy(name, *bars))
