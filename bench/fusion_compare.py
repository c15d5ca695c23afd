"""Hybrid fusions compared on saved legs (bench/fusion_legs.py): nDCG@10 on the tuning and held-out halves.

    python bench/fusion_compare.py /tmp/legs/legs_*.pkl

Each test set's queries are split in two halves by a fixed seed (fusion_legs.halves); SciFact's train split is
its tuning set and its test split is reported whole. Choose on `tune` only; `held` is the report.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion_legs import halves, ndcg  # noqa: E402

from searchchat.retrieval.retriever import Scored, convex, rrf  # noqa: E402
from searchchat.text import cjk_share  # noqa: E402

Fuse = Callable[[str, Scored, Scored], Scored]


def variants(legs: dict[str, Any], cjk_embedder: bool) -> dict[str, Fuse]:
    """Every fusion compared: the legs alone, the fixed ones, and the confidence-weighted ones."""
    queries = legs["queries"]

    def lang(q: str) -> float:  # the dense weight's share left by the query's CJK text (MiniLM only)
        return 1.0 if cjk_embedder else 1.0 - cjk_share(queries[q])

    out: dict[str, Fuse] = {
        "dense": lambda q, d, b: d,
        "bm25": lambda q, d, b: b,
        "rrf": lambda q, d, b: rrf([d, b]),
        "convex 0.5": lambda q, d, b: convex(d, b, 0.5),
        "convex 0.5 +lang (main)": lambda q, d, b: convex(d, b, 0.5 * lang(q)),
    }
    for p in (1.0, 2.0, 3.0):
        out[f"conf p={p:g}"] = lambda q, d, b, p=p: convex(d, b, confident_alpha(d, b, 0.5, p))
        out[f"conf p={p:g} +lang"] = lambda q, d, b, p=p: convex(
            d, b, confident_alpha(d, b, 0.5 * lang(q), p)
        )
    for depth in (5, 10):
        out[f"gap@{depth} +lang"] = lambda q, d, b, n=depth: convex(d, b, gap_alpha(d, b, 0.5 * lang(q), n))
    return out


def confidence(scores: Scored) -> float:
    """How far a leg's best chunk stands out of its candidate list: (top - mean) / std of the list's scores,
    0 for a flat list. Cosines and BM25 scores alike: the measure is free of their scales."""
    if len(scores) < 2:
        return 0.0
    s = np.asarray([v for _, v in scores], dtype=np.float64)
    std = float(s.std())
    return max(float((s.max() - s.mean()) / std), 0.0) if std > 0 else 0.0


def confident_alpha(dense: Scored, lexical: Scored, alpha: float, power: float = 1.0) -> float:
    """The dense weight for this query: the prior `alpha` shifted towards the leg whose best chunk stands out
    more (confidence ** power, each leg weighted by its prior). Lists too short to judge keep the prior."""
    if len(dense) < 2 or len(lexical) < 2:
        return alpha
    d = alpha * confidence(dense) ** power
    b = (1 - alpha) * confidence(lexical) ** power
    return d / (d + b) if d + b > 0 else alpha


def gap(scores: Scored, depth: int) -> float:
    """The drop from the best score to the depth-th, as a share of the list's whole range."""
    if len(scores) <= depth:
        return 0.0
    s = [v for _, v in scores]
    span = s[0] - s[-1]
    return (s[0] - s[depth - 1]) / span if span > 0 else 0.0


def gap_alpha(dense: Scored, lexical: Scored, alpha: float, depth: int) -> float:
    d, b = alpha * gap(dense, depth), (1 - alpha) * gap(lexical, depth)
    return d / (d + b) if d + b > 0 else alpha


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("legs", type=Path, nargs="+")
    args = ap.parse_args()
    loaded = [pickle.loads(p.read_bytes()) for p in args.legs]
    for legs in loaded:
        cjk = not legs["embedder"].startswith("all-MiniLM")
        if legs["split"] == "train":
            tune, held = list(legs["qrels"]), []
        else:
            tune, held = halves(list(legs["qrels"]))
        print(
            f"\n{legs['dataset']} [{legs['split']}] {legs['embedder']}  ({len(tune)} tune / {len(held)} held)"
        )
        for name, fuse in variants(legs, cjk).items():
            row = f"  {name:26s} tune {ndcg(legs, tune, fuse):.3f}"
            if held:
                row += f"  held {ndcg(legs, held, fuse):.3f}  all {ndcg(legs, tune + held, fuse):.3f}"
            print(row)


if __name__ == "__main__":
    main()
