"""Per-dataset risk-coverage tables from the records bench/calibrate_policy.py writes: for each bar, quoting the
single best candidate sentence, the share answered, its precision, correct_cited, "not found" on the
unanswerable questions and truthfulness; ranked by the answerability model ("p") and by the evidence score
("prior"), with the question-level AUC of "the best sentence is right".

    python bench/policy_tables.py bench/results/policy_calibration.jsonl"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from searchchat.training.train import auc

P_BARS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
PRIOR_BARS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2)


def best_of(row: dict, key: Callable[[dict], float]) -> tuple[float, bool]:
    cands = row["candidates"]
    if not cands:
        return float("-inf"), False
    c = max(cands, key=key)
    return key(c), bool(c["gold"])


def table(rows: list[dict], key: Callable[[dict], float], bars: tuple[float, ...]) -> list[str]:
    best = [(*best_of(r, key), r["impossible"]) for r in rows]
    answerable = [b for b in best if not b[2]]
    impossible = [b for b in best if b[2]]
    right = [b[1] for b in best]
    lines = [f"n={len(best)} answerable={len(answerable)} best-is-right {sum(b[1] for b in answerable) / max(1, len(answerable)):.3f} "
             f"question AUC {auc([float(x) for x in right], [b[0] for b in best]):.3f}",  # fmt: skip
             "| bar | answered | precision | correct_cited | not found (unanswerable) | truthfulness |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for bar in bars:
        taken = [b for b in best if b[0] >= bar]
        truth = sum((1 if b[1] else -1) if b[0] >= bar else 0 for b in answerable)
        truth += sum(-1 if b[0] >= bar else 1 for b in impossible)
        nf = f"{sum(b[0] < bar for b in impossible) / len(impossible):.3f}" if impossible else "-"
        lines.append(f"| {bar:.2f} | {len(taken) / len(best):.3f} | {sum(b[1] for b in taken) / max(1, len(taken)):.3f} | "
                     f"{sum(b[1] for b in answerable if b[0] >= bar) / max(1, len(answerable)):.3f} | {nf} | "
                     f"{truth / len(best):+.3f} |")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    for dataset in sorted({r["dataset"] for r in rows}):
        sub = [r for r in rows if r["dataset"] == dataset]
        for name, key, bars in (("p", lambda c: c["p"], P_BARS), ("prior", lambda c: c["prior"], PRIOR_BARS)):
            print(f"\n## {dataset}, ranked and decided by {name}")
            print("\n".join(table(sub, key, bars)))


if __name__ == "__main__":
    main()
