"""Metric code against values computed by hand on a tiny judged dataset (graded, as trec_eval scores it)."""

from __future__ import annotations

import math

import pytest

from searchchat.evaluation.metrics import dcg, evaluate, mrr_at_k, ndcg_at_k, percentile, recall_at_k

# q1: graded judgments, one judged-but-irrelevant document (grade 0) ranked first.
# q2: its only relevant document is not retrieved at all.
# q3: judged, but the system returned nothing for it.
QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0},
    "q2": {"d9": 1},
    "q3": {"d1": 1},
}
RUN = {"q1": ["d3", "d1", "d4", "d2"], "q2": ["d1", "d2", "d3"]}

L3, L5 = math.log2(3), math.log2(5)  # discounts of ranks 2 and 4
IDCG_Q1 = 2 / 1 + 1 / L3  # ideal order d1 (2), d2 (1)


def test_dcg_uses_gain_over_log2_rank_plus_one() -> None:
    assert dcg([3, 2, 0, 1], 10) == pytest.approx(3 + 2 / L3 + 0 + 1 / L5)
    assert dcg([3, 2, 0, 1], 1) == pytest.approx(3)


def test_graded_ndcg_by_hand() -> None:
    # ranks: d3 (0) d1 (2) d4 (unjudged) d2 (1)
    assert ndcg_at_k(RUN["q1"], QRELS["q1"], 3) == pytest.approx((2 / L3) / IDCG_Q1)  # 0.4796
    assert ndcg_at_k(RUN["q1"], QRELS["q1"], 10) == pytest.approx((2 / L3 + 1 / L5) / IDCG_Q1)  # 0.6433
    assert ndcg_at_k(["d1", "d2"], QRELS["q1"], 10) == pytest.approx(1.0)
    # a binary judgment would weigh d1 and d2 alike; the graded one puts d1 first
    assert ndcg_at_k(["d2", "d1"], QRELS["q1"], 10) < 1.0


def test_recall_and_mrr_ignore_grade_zero() -> None:
    assert recall_at_k(RUN["q1"], QRELS["q1"], 3) == pytest.approx(0.5)
    assert recall_at_k(RUN["q1"], QRELS["q1"], 4) == pytest.approx(1.0)
    assert mrr_at_k(RUN["q1"], QRELS["q1"], 10) == pytest.approx(0.5)  # d3 (grade 0) is not a hit
    assert mrr_at_k(RUN["q1"], QRELS["q1"], 1) == 0.0


def test_query_without_relevant_results_scores_zero() -> None:
    assert ndcg_at_k(RUN["q2"], QRELS["q2"], 10) == 0.0
    assert recall_at_k(RUN["q2"], QRELS["q2"], 10) == 0.0
    assert mrr_at_k(RUN["q2"], QRELS["q2"], 10) == 0.0
    assert ndcg_at_k(["d1"], {"d1": 0}, 10) == 0.0  # nothing relevant judged: no division by zero


def test_evaluate_averages_over_all_judged_queries() -> None:
    m = evaluate(RUN, QRELS, ks=(3, 10))
    assert m["NDCG@10"] == pytest.approx(((2 / L3 + 1 / L5) / IDCG_Q1) / 3)
    assert m["NDCG@3"] == pytest.approx(((2 / L3) / IDCG_Q1) / 3)
    assert m["Recall@3"] == pytest.approx(0.5 / 3)
    assert m["Recall@10"] == pytest.approx(1 / 3)
    assert m["MRR@10"] == pytest.approx(0.5 / 3)
    assert set(m) == {f"{n}@{k}" for n in ("NDCG", "Recall", "MRR") for k in (3, 10)}


def test_percentile_interpolates_like_numpy() -> None:
    xs = [10.0, 20.0, 30.0, 40.0]
    assert percentile(xs, 50) == pytest.approx(25.0)
    assert percentile(xs, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0
