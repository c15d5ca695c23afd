"""Two scorers' records (bench/calibrate_policy.py --records) compared question by question: per dataset, the
change in truthfulness when each quotes its best sentence at one bar, with a paired bootstrap 95% interval over
the questions, and how many questions changed. It says how far apart two runs must be before the validation
parts can tell them apart.

    python bench/policy_compare.py BASE.jsonl OTHER.jsonl [--bar 0.6]"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from policy_tables import best_of  # type: ignore[import-not-found]


def truth(row: dict, bar: float) -> int:
    """CRAG-style score of quoting the best sentence when it reaches `bar`."""
    p, right = best_of(row, lambda c: c["p"])
    if row["impossible"]:
        return -1 if p >= bar else 1
    return 0 if p < bar else (1 if right else -1)


def interval(diffs: list[int], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean of `diffs` resampled with replacement."""
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path)
    ap.add_argument("other", type=Path)
    ap.add_argument("--bar", type=float, default=0.6)
    args = ap.parse_args()
    runs = [{(r["dataset"], r["qid"]): truth(r, args.bar) for r in map(json.loads, p.read_text().splitlines())}
            for p in (args.base, args.other)]  # fmt: skip
    print(
        "| dataset | questions | truthfulness base -> other | change | 95% interval | changed |\n|---|---|---|---|---|---|"
    )
    for dataset in sorted({d for d, _ in runs[0]}):
        keys = [k for k in runs[0] if k[0] == dataset and k in runs[1]]
        diffs = [runs[1][k] - runs[0][k] for k in keys]
        low, high = interval(diffs)
        base, other = (sum(run[k] for k in keys) / len(keys) for run in runs)
        print(f"| {dataset} | {len(keys)} | {base:+.3f} -> {other:+.3f} | {other - base:+.3f} | "
              f"[{low:+.3f}, {high:+.3f}] | {sum(d != 0 for d in diffs)} |")  # fmt: skip


if __name__ == "__main__":
    main()
