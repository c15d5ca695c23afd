"""bench/crossfit_bar.py: truthfulness at a bar, folds by document, and each fold read at the other fold's bar;
bench/score_views.py's views."""

from __future__ import annotations

from tests.helpers import bench_module

bench_module("policy_tables")  # crossfit_bar imports it as a sibling script
crossfit_bar = bench_module("crossfit_bar")
score_views = bench_module("score_views")


def _row(doc: str, n: int, p: float, gold: bool, impossible: bool = False) -> dict:
    return {"dataset": "explain", "qid": f"{doc}-q{n}", "impossible": impossible,
            "candidates": [{"p": p, "gold": gold}, {"p": p / 2, "gold": not gold}]}  # fmt: skip


def test_truthfulness_quotes_the_best_sentence_at_or_above_the_bar() -> None:
    rows = [
        _row("a", 1, 0.9, True),
        _row("a", 2, 0.7, False),
        _row("a", 3, 0.3, True),
        _row("a", 4, 0.8, False, True),
    ]
    assert crossfit_bar.truthfulness(rows, 0.5) == {"explain": (1 - 1 + 0 - 1) / 4}
    assert crossfit_bar.truthfulness(rows, 0.95) == {"explain": (0 + 0 + 0 + 1) / 4}


def test_a_documents_questions_share_a_fold_and_each_fold_is_read_at_the_others_bar() -> None:
    docs = [f"doc{i}" for i in range(40)]
    folds = {d: crossfit_bar.fold(_row(d, 1, 0.5, True), {}) for d in docs}
    assert set(folds.values()) == {0, 1}
    assert all(crossfit_bar.fold(_row(d, n, 0.5, True), {}) == folds[d] for d in docs for n in range(3))
    # fold 0 is best read at a low bar (its right answers score 0.3), fold 1 at a high one (wrong answers at 0.6)
    rows = [_row(d, 1, 0.3, True) if folds[d] == 0 else _row(d, 1, 0.6, False) for d in docs]
    rows += [_row(d, 2, 0.95, True) for d in docs]
    bars, read = crossfit_bar.crossfit(rows, {}, sets=("explain",))
    assert bars[0] <= 0.3 and bars[1] > 0.6
    fold0 = [r for r in rows if folds[r["qid"].split("-q")[0]] == 0]
    fold1 = [r for r in rows if folds[r["qid"].split("-q")[0]] == 1]
    expected = (
        crossfit_bar.truthfulness(fold1, bars[0])["explain"]
        + crossfit_bar.truthfulness(fold0, bars[1])["explain"]
    ) / 2
    assert read["explain"] == expected


def test_views_combine_the_lower_cased_question_and_the_untitled_sentence() -> None:
    assert score_views.views("What is BM25?", ["lower"]) == [("What is BM25?", True), ("what is bm25?", True)]
    assert score_views.views("Q", ["notitle"]) == [("Q", True), ("Q", False)]
    assert len(score_views.views("Q", ["lower", "notitle"])) == 4
