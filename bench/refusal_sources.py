"""Where the refusals of answerable questions come from, read off the records bench/calibrate_policy.py writes:
was the gold sentence among the scored candidates, and what probability did the model give it? A refusal whose
gold sentence scored low is the model's; one with no gold sentence among the candidates is retrieval's.

    python bench/refusal_sources.py RECORDS.jsonl [--bar 0.6]"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

LOW = 0.3  # below this, no profile's bar (lenient: 0.4) would have answered with the gold sentence


def verdict(record: dict[str, Any], bar: float) -> str:
    """One answerable question's fate at `bar`, quoting the best sentence."""
    if record["p"] >= bar:
        right = bool(record["candidates"]) and record["candidates"][0]["gold"]
        return "answered, best sentence right" if right else "answered, best sentence wrong"
    gold = [c["p"] for c in record["candidates"] if c["gold"]]
    if not gold:
        return "refused, no gold sentence among the candidates"
    return (
        f"refused, gold sentence p < {LOW}"
        if max(gold) < LOW
        else f"refused, gold sentence {LOW} <= p < {bar}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path)
    ap.add_argument("--bar", type=float, default=0.6, help="the answer bar (balanced: 0.6)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    for dataset in sorted({r["dataset"] for r in rows}):
        answerable = [r for r in rows if r["dataset"] == dataset and not r["impossible"]]
        counts = Counter(verdict(r, args.bar) for r in answerable)
        print(f"{dataset}: {len(answerable)} answerable, bar {args.bar}")
        for what, n in sorted(counts.items()):
            print(f"  {what:50s} {n:4d}  ({n / len(answerable):.1%})")
        unanswerable = [r for r in rows if r["dataset"] == dataset and r["impossible"]]
        if unanswerable:
            refused = sum(r["p"] < args.bar for r in unanswerable)
            near = sum(LOW <= r["p"] < args.bar for r in unanswerable)
            print(f"  {len(unanswerable)} unanswerable: {refused} refused ({refused / len(unanswerable):.1%}), "
                  f"{near} of them with a best sentence in [{LOW}, {args.bar})")  # fmt: skip


if __name__ == "__main__":
    main()
