"""An experiment, not shipped: blend the trained answerability model with the evidence score, as one logistic
over the model's logit and the evidence score per candidate sentence, fitted on the validation records of
bench/calibrate_policy.py; prints the question-level risk-coverage tables of the blend beside the question AUCs of
the model alone and the evidence score alone (results in docs/answerability.md, "Limits").

    python bench/calibrate_policy.py --scorer shipped --limit 300 --records R.jsonl
    cd bench && python fit_blend.py R.jsonl

The records carry "ev" (the evidence score of the scorer's input, title | sentence) beside "p" (the model's
probability). Each dataset weighs the same in the fit. The last lines give question AUCs of fits made on the
other folds' questions."""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from policy_tables import table  # type: ignore[import-not-found]

from searchchat.training.train import auc

BARS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def features(c: dict) -> list[float]:
    return [logit(c["p"]), c["ev"]]


def fit(rows: list[dict]) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    x, y, w = [], [], []
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["dataset"]] = counts.get(r["dataset"], 0) + len(r["candidates"])
    for r in rows:
        for c in r["candidates"]:
            x.append(features(c))
            y.append(int(c["gold"]))
            w.append(1.0 / counts[r["dataset"]])
    model = LogisticRegression(C=1.0).fit(x, y, sample_weight=[v * len(w) for v in w])
    return [float(v) for v in model.coef_[0]], float(model.intercept_[0])


def blend(c: dict, coef: list[float], bias: float) -> float:
    z = sum(a * b for a, b in zip(coef, features(c), strict=True)) + bias
    return 1 / (1 + math.exp(-z))


def question_auc(rows: list[dict], key) -> float:  # type: ignore[no-untyped-def]
    best = [max(r["candidates"], key=key) for r in rows if r["candidates"]]
    return auc([float(c["gold"]) for c in best], [key(c) for c in best])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    coef, bias = fit(rows)
    print(f"blend: sigmoid({coef[0]:.4f} * logit(p) + {coef[1]:.4f} * evidence + {bias:.4f})")
    keys = {"model": lambda c: c["p"], "evidence": lambda c: c["ev"],
            "blend": lambda c: blend(c, coef, bias)}  # fmt: skip
    for dataset in sorted({r["dataset"] for r in rows}):
        sub = [r for r in rows if r["dataset"] == dataset]
        print(
            f"\n# {dataset}: question AUC "
            + ", ".join(f"{k} {question_auc(sub, f):.3f}" for k, f in keys.items())
        )
        print("\n".join(table(sub, keys["blend"], BARS)))
    # held-out AUC: fit on the other folds' questions (folds by question id, seeded)
    ids = sorted({(r["dataset"], r["qid"]) for r in rows})
    random.Random(7).shuffle(ids)
    fold = {q: i % args.folds for i, q in enumerate(ids)}
    scored: dict[str, list[tuple[float, bool]]] = {}
    for k in range(args.folds):
        train = [r for r in rows if fold[(r["dataset"], r["qid"])] != k]
        cf, b = fit(train)
        for r in rows:
            if fold[(r["dataset"], r["qid"])] == k and r["candidates"]:
                c = max(r["candidates"], key=lambda c: blend(c, cf, b))
                scored.setdefault(r["dataset"], []).append((blend(c, cf, b), c["gold"]))
    for dataset, pairs in sorted(scored.items()):
        print(
            f"{dataset}: cross-validated question AUC of the blend {auc([float(g) for _, g in pairs], [s for s, _ in pairs]):.3f}"
        )


if __name__ == "__main__":
    main()
