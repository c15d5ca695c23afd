"""Ranking metrics as BEIR computes them with pytrec_eval: graded nDCG@k, Recall@k, MRR@k."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]  # query_id -> {doc_id: graded relevance}
Run = Mapping[str, Sequence[str]]  # query_id -> ranked doc_ids, best first


def dcg(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first k gains: sum of gain_i / log2(i + 1), ranks from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]) if g)


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain = graded relevance (trec_eval's ndcg_cut); 0 when nothing relevant is judged."""
    ideal = dcg(sorted((r for r in judged.values() if r > 0), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([max(judged.get(d, 0), 0) for d in ranked], k) / ideal


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Share of the relevant (grade > 0) documents found in the first k."""
    relevant = {d for d, r in judged.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the first k, else 0."""
    for i, d in enumerate(ranked[:k]):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(run: Run, qrels: Qrels, ks: Sequence[int] = (10, 100)) -> dict[str, float]:
    """Mean metrics over every judged query (a query missing from the run scores 0), BEIR's key names:
    NDCG@k, Recall@k, MRR@k for each k."""
    out: dict[str, float] = {}
    queries = list(qrels)
    n = max(len(queries), 1)
    for k in ks:
        out[f"NDCG@{k}"] = sum(ndcg_at_k(run.get(q, ()), qrels[q], k) for q in queries) / n
        out[f"Recall@{k}"] = sum(recall_at_k(run.get(q, ()), qrels[q], k) for q in queries) / n
        out[f"MRR@{k}"] = sum(mrr_at_k(run.get(q, ()), qrels[q], k) for q in queries) / n
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation, as numpy's default; 0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
