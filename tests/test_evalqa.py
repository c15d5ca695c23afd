"""eval-qa: scoring functions, truthfulness, the report, and the command on a tiny QA folder beside a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from searchchat.cli import _register, app
from searchchat.cli.evalqa import baseline_path
from searchchat.evaluation.qa import (
    QAItem,
    contains,
    format_table,
    load_ids,
    load_qa,
    normalize,
    restrict,
    run_systems,
    score,
    summarise,
    supports_gold,
    token_f1,
)

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


def test_a_quotes_curly_marks_do_not_hide_its_first_and_last_words() -> None:
    quote = "\u201cViruses are the most abundant biological entities on Earth.\u201d [1]"
    assert normalize(quote) == "viruses are most abundant biological entities on earth"
    assert contains(quote, ["Viruses"]) and contains(quote, ["entities on Earth"])
    assert contains("Its \u2018spike\u2019 protein \u2014 the S1 unit.", ["spike protein", "S1 unit"])


def test_cjk_text_is_compared_per_character() -> None:
    assert normalize("他在……4 分钟内，完成了《红楼梦》！[2] The COVID-19 test.") == (
        "他 在 4 分 钟 内 完 成 了 红 楼 梦 covid 19 test"
    )
    assert contains("患者在……4 分钟内……恢复。", ["4分钟"]) and contains("“东京タワー”에서", ["东京"])
    assert not contains("四分钟内", ["4分钟"]) and not contains("14 分钟", ["4分钟"])
    assert token_f1("4分钟内", ["4分钟"]) == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))
    assert supports_gold("研究发现，潜伏期平均为5.2天。", ["5.2天"])
    assert normalize("ＡＢＣ１２，東京") == "abc12 東 京"  # full-width forms


def _final(answer: str, cited: list[int], sources: list[str], **extra: object) -> dict[str, object]:
    return {"answer": answer, "abstained": False, "citations": [{"n": n} for n in cited],
            "sources": [{"n": i, "text": t} for i, t in enumerate(sources, start=1)], **extra}  # fmt: skip


ABSTAINED = {"answer": "Not found.", "abstained": True, "citations": [], "sources": []}
GOOD, OTHER = "The incubation period was 5.2 days.", "Masks reduce the spread of droplets."


def test_truthfulness_per_question() -> None:
    item, none = QAItem("2", "q", ["5.2 days"]), QAItem("u", "q", [], is_impossible=True)
    right = score(item, _final("It was 5.2 days [1].", [1], [GOOD], kind="quote"))
    assert right.correct_cited and right.truth == 1 and right.kind == "quote" and right.reason is None
    wrong_cite = score(item, _final("It was 5.2 days [2].", [2], [GOOD, OTHER]))
    assert wrong_cite.contains and not wrong_cite.correct_cited and wrong_cite.truth == -1
    assert wrong_cite.kind == "generated"  # no kind given
    wrong_text = score(item, _final("It was a week [1].", [1], [GOOD]))
    assert not wrong_text.correct_cited and wrong_text.truth == -1
    abstained = score(item, {**ABSTAINED, "reason": "unsupported"})
    assert abstained.truth == 0 and abstained.reason == "unsupported" and abstained.kind is None
    assert score(none, {**ABSTAINED, "reason": "not_relevant"}).truth == 1
    answered = score(none, _final("It was 5.2 days [1].", [1], [GOOD]))
    assert answered.truth == -1 and not answered.correct_cited and answered.is_impossible
    assert score(none, {**ABSTAINED}).reason == "unknown"  # an abstention without a reason code
    zh = score(QAItem("z", "q", ["4分钟"]), _final("在……4 分钟内[1]。", [1], ["测试在4分钟内完成。"]))
    assert zh.correct_cited and zh.truth == 1


def test_summary_means_over_the_right_questions() -> None:
    item, none = QAItem("2", "q", ["5.2 days"]), QAItem("u", "q", [], is_impossible=True)
    records = [
        score(item, _final("It was 5.2 days [1].", [1], [GOOD], kind="quote")),  # +1
        score(item, _final("It was 5.2 days [2].", [2], [GOOD, OTHER])),  # -1, answered wrongly
        score(item, {**ABSTAINED, "reason": "unsupported"}),  # 0
        score(none, {**ABSTAINED, "reason": "not_relevant"}),  # +1
        score(none, _final("Masks [1].", [1], [OTHER])),  # -1, answered wrongly
        score(none, {**ABSTAINED, "reason": "not_relevant"}),  # +1
    ]
    r = summarise(records)
    assert (r.questions, r.answerable, r.unanswerable, r.answered) == (6, 3, 3, 3)
    assert r.truthfulness == round(1 / 6, 4) and r.correct_cited == round(1 / 3, 4)
    assert r.wrong_answered == round(2 / 6, 4)
    assert r.abstention_answerable == round(1 / 3, 4) and r.abstention_unanswerable == round(2 / 3, 4)
    assert r.abstention_rate == 0.5
    # citations over answerable questions only: 1 right of 2 shown; recall over the 2 answered answerable
    assert r.citations_shown == 2 and r.citation_precision == 0.5 and r.citation_recall == 0.5
    assert r.containment == round(2 / 3, 4) and r.gold_in_sources == round(
        2 / 3, 4
    )  # the abstention had none
    assert r.reasons == {"not_relevant": 2, "unsupported": 1}
    assert r.kinds == {"quote": 1, "generated": 2}
    table = format_table({"default (local)": r, "baseline (extractive)": summarise(records[:3])})
    header, *rows = table.splitlines()
    assert "default (local)" in header and header.index("default") < header.index("baseline (extractive)")
    assert any(row.startswith("truthfulness") and "+0.167" in row and "+0.000" in row for row in rows)


def test_run_systems_interleaves_the_answerers() -> None:
    asked: list[tuple[str, str]] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name = name

        def ask(self, question: str, k: int | None = None, mode: str | None = None) -> dict[str, object]:
            asked.append((self.name, question))
            return dict(ABSTAINED)

    items = [QAItem("1", "a", ["x"]), QAItem("2", "b", [], is_impossible=True)]
    seen: list[tuple[int, str]] = []
    main, base = run_systems(
        [Fake("m"), Fake("b")], items, on_record=lambda i, rec: seen.append((i, rec.qid))
    )
    assert asked == [("m", "a"), ("b", "a"), ("m", "b"), ("b", "b")]
    assert seen == [(0, "1"), (1, "1"), (0, "2"), (1, "2")]
    assert [r.truth for r in main] == [0, 1] and [r.truth for r in base] == [0, 1]


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
    flag = tmp_path / "flag.jsonl"
    flag.write_text('{"question": "x", "answers": [], "is_impossible": "yes"}\n')
    with pytest.raises(ValueError, match="flag.jsonl:1: is_impossible"):
        load_qa(flag)
    listed = tmp_path / "list.jsonl"
    listed.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="list.jsonl:1"):
        load_qa(listed)


def test_load_qa_keeps_unanswerable_questions(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"_id": "a", "question": "x?", "answers": ["y"]}\n'
        '{"_id": "b", "question": "no gold?", "answers": []}\n'  # answerable without answers: skipped
        '{"_id": "c", "question": "who?", "answers": [], "is_impossible": true}\n'
        '{"id": "d", "question": "what?", "is_impossible": true}\n'
    )
    items = load_qa(qa)
    assert [(i.qid, i.is_impossible, i.answers) for i in items] == [
        ("a", False, ["y"]), ("c", True, []), ("d", True, [])
    ]  # fmt: skip
    ids = tmp_path / "ids.txt"
    ids.write_text("# held out\nd\n\na\nzz\n")
    kept, missing = restrict(items, load_ids(ids))
    assert [i.qid for i in kept] == ["a", "d"] and missing == ["zz"]


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
    out = json.loads(result.stdout)
    assert out["baseline"] is None  # the system is the extractive baseline itself
    report = out["system"]
    assert report["questions"] == 3 and report["out_of_range"] == 0
    assert report["citation_precision"] == 1.0 and report["citations_shown"] >= 2
    assert report["answered"] >= 2 and report["f1"] > 0.3
    for key in ("abstention_rate", "containment", "citation_recall", "first_token_ms_p50", "tokens_per_s",
                "correct_cited", "wrong_answered", "truthfulness", "abstention_answerable",
                "abstention_unanswerable", "answerable", "unanswerable", "reasons", "kinds"):  # fmt: skip
        assert key in report
    again = runner.invoke(app, ["eval-qa", str(qa_folder / "qa.jsonl"), "--generator", "extractive",
                                "--index", report["settings"]["index"], "--limit", "2", "--seed", "1"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "citation precision" in again.stdout and "truthfulness" in again.stdout
    assert any(line.split()[:2] == ["questions", "2"] for line in again.stdout.splitlines())


def test_eval_qa_beside_a_baseline(qa_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import searchchat.generators as generators

    real = generators.get_generator
    built: list[str] = []

    def fake(settings):  # type: ignore[no-untyped-def]
        built.append(settings.generator)  # no server here: every generator answers extractively
        return real(settings.with_overrides(generator="extractive"))

    monkeypatch.setattr(generators, "get_generator", fake)
    qa = [dict(q) for q in QA]
    qa[2] = {"_id": "3", "question": QA[2]["question"], "answers": [], "is_impossible": True}
    (qa_folder / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in qa))
    ids = tmp_path / "ids.txt"
    ids.write_text("2\n3\n")
    out = tmp_path / "run.jsonl"
    args = ["eval-qa", str(qa_folder), "--generator", "openai", "--qa-ids", str(ids), "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert built == ["openai", "extractive"]
    both = json.loads(result.stdout)
    system, base = both["system"], both["baseline"]
    assert system["settings"]["generator"] == "openai" and base["settings"]["generator"] == "extractive"
    assert (
        (system["answerable"], system["unanswerable"]) == (1, 1) == (base["answerable"], base["unanswerable"])
    )
    assert "[2/2] baseline (extractive): truth" in result.stderr
    main_lines = [json.loads(line) for line in out.read_text().splitlines()]
    base_lines = [json.loads(line) for line in baseline_path(out).read_text().splitlines()]
    assert baseline_path(out).name == "run.baseline.jsonl"
    assert [r["qid"] for r in main_lines] == ["2", "3"] == [r["qid"] for r in base_lines]
    assert all(r["truth"] in (-1, 0, 1) and "correct_cited" in r and "reason" in r for r in main_lines)
    assert main_lines[1]["is_impossible"] and main_lines[1]["gold"] == []
    text = runner.invoke(app, [*args, "-q"])
    assert text.exit_code == 0, text.output
    header = text.stdout.splitlines()[0]
    assert "default (openai)" in header and "baseline (extractive)" in header
    solo = runner.invoke(app, [*args, "-q", "--json", "--baseline", "none"])
    assert solo.exit_code == 0 and json.loads(solo.stdout)["baseline"] is None
    bad = runner.invoke(app, [*args, "--baseline", "nope"])
    assert bad.exit_code == 2 and "unknown baseline" in bad.stderr
    ids.write_text("zz\n")
    none = runner.invoke(app, args)
    assert none.exit_code == 1 and "has an id listed" in none.stderr


def test_eval_qa_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval-qa", str(tmp_path / "nope.jsonl"), "--generator", "extractive"])
    assert result.exit_code == 1 and "No QA file" in result.stderr
