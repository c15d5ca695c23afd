"""eval-qa: scoring functions, the report, and the command on a tiny QA folder (corpus.jsonl + qa.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from searchchat.cli import _register, app
from searchchat.evalqa import QAItem, contains, load_qa, normalize, score, summarise, supports_gold, token_f1

_register()
runner = CliRunner()

CORPUS = [
    {"_id": "d1", "title": "Transmission", "text": "Mother-to-child transmission (MTCT) is the main cause of HIV-1 "
     "infection in children worldwide [1]. Breastfeeding adds to the risk of infection [2, 3]."},
    {"_id": "d2", "title": "Incubation", "text": "The incubation period of the novel coronavirus was estimated "
     "at 5.2 days on average, with a range of 2 to 14 days [4-6]."},
    {"_id": "d3", "title": "Masks", "text": "Surgical masks reduce the spread of respiratory droplets from an "
     "infected person to others nearby."},
]  # fmt: skip
QA = [
    {"_id": "1", "question": "What is the main cause of HIV-1 infection in children?",
     "answers": ["Mother-to-child transmission (MTCT) is the main cause of HIV-1 infection in children worldwide"]},
    {"_id": "2", "question": "What was the average incubation period of the novel coronavirus?",
     "answers": ["5.2 days"]},
    {"_id": "3", "question": "Which team won the 1998 football World Cup final in Paris?", "answers": ["France"]},
]  # fmt: skip


def test_normalisation_and_token_f1() -> None:
    assert normalize("The [3] answer, is: 5.2 days!") == "answer is 5 2 days"
    assert token_f1("It is 5.2 days [1].", ["5.2 days"]) == pytest.approx(2 * (3 / 5) * 1 / (3 / 5 + 1))
    assert token_f1("nothing here", ["5.2 days"]) == 0.0
    assert contains("On average 5.2 days [2].", ["5.2 days", "x"]) and not contains("5.25 days", ["5.2 days"])


def test_supports_gold_contains_or_overlaps() -> None:
    gold = ["mother to child transmission is the main cause of HIV-1 infection in children worldwide"]
    assert supports_gold(CORPUS[0]["text"], gold)
    assert supports_gold(
        "… is the main cause of HIV-1 infection in children worldwide", gold
    )  # cut by chunking
    assert not supports_gold(CORPUS[2]["text"], gold)
    assert not supports_gold("children", ["5.2 days"])


def test_score_counts_good_and_out_of_range_citations() -> None:
    item = QAItem("2", "q", ["5.2 days"])
    final = {
        "answer": "It was 5.2 days [1][2]. See also [9].",
        "abstained": False,
        "citations": [{"n": 1}, {"n": 2}],
        "sources": [{"n": 1, "text": "The incubation period was 5.2 days."}, {"n": 2, "text": "Masks help."}],
        "sentences": [{"text": "It was 5.2 days."}, {"text": "See also."}],
        "timings": {"first_token_ms": 300, "retrieve_ms": 100, "rewrite_ms": 0, "generate_ms": 1200,
                    "total_ms": 1300, "tokens": 11},
    }  # fmt: skip
    rec = score(item, final)
    assert (rec.citations, rec.good_citations, rec.out_of_range) == (2, 1, 1)
    assert rec.contains and rec.gold_in_sources and rec.decode_ms == 1000
    report = summarise([rec, score(QAItem("3", "q", ["France"]), {"abstained": True, "answer": "No."})])
    assert report.citation_precision == 0.5 and report.citation_recall == 1.0 and report.out_of_range == 1
    assert report.abstention_rate == 0.5 and report.tokens_per_s == 10.0


def test_load_qa_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "answers": ["y"]}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        load_qa(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"question": "x", "answers": []}\n')
    with pytest.raises(ValueError, match="no questions"):
        load_qa(empty)


@pytest.fixture
def qa_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    folder = tmp_path / "tinyqa"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (folder / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QA))
    return folder


def test_eval_qa_command_on_a_folder(qa_folder: Path) -> None:
    result = runner.invoke(app, ["eval-qa", str(qa_folder), "--generator", "extractive", "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 3 and report["out_of_range"] == 0
    assert report["citation_precision"] == 1.0 and report["citations_shown"] >= 2
    assert report["answered"] >= 2 and report["f1"] > 0.3
    for key in ("abstention_rate", "containment", "citation_recall", "first_token_ms_p50", "tokens_per_s"):
        assert key in report
    again = runner.invoke(app, ["eval-qa", str(qa_folder / "qa.jsonl"), "--generator", "extractive",
                                "--index", report["settings"]["index"], "--limit", "2", "--seed", "1"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "citation precision" in again.stdout and "questions           2" in again.stdout


def test_eval_qa_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval-qa", str(tmp_path / "nope.jsonl"), "--generator", "extractive"])
    assert result.exit_code == 1 and "No QA file" in result.stderr
