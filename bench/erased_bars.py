"""Where the answer bar belongs for a QA set without unanswerable questions (CMRC 2018): each answerable
question is paired with an answer-erased twin, the same question over the same candidates less every sentence
of each source that holds the gold answer, and truthfulness is read off the mix at each bar.

    python bench/calibrate_policy.py --datasets cmrc2018-trial --part train --limit 400 --scorer evidence \
        --records /tmp/cmrc_train.jsonl
    python bench/erased_bars.py /tmp/cmrc_train.jsonl

An answerable question answers at a bar when its best score reaches it and scores +1 when that quote was right,
-1 when wrong; its twin scores -1 when its best remaining score reaches the bar and +1 otherwise (+1 for "not
found"). The lowest bar whose mixed truthfulness is within TOLERANCE of the best is where the balanced bar
goes: on a flat stretch the bar that answers more is preferred, as for the probability scale (policy.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BARS = tuple(round(0.6 + 0.05 * i, 2) for i in range(13))  # 0.60 .. 1.20, the evidence scale's balanced range
TOLERANCE = 0.03


def pairs(rows: list[dict]) -> tuple[list[tuple[float, bool]], list[float]]:
    """(best score, quote right) of each answerable question, and each answer-erased twin's best score."""
    answerable, erased = [], []
    for r in rows:
        if r["impossible"]:
            erased.append(r["p"])
            continue
        answerable.append((r["p"], bool(r["right"])))
        gold_sources = {c["source"] for c in r["candidates"] if c["gold"]}
        rest = [c["p"] for c in r["candidates"] if c["source"] not in gold_sources]
        if gold_sources and rest:
            erased.append(max(rest))
    return answerable, erased


def table(answerable: list[tuple[float, bool]], erased: list[float]) -> tuple[str, float]:
    lines = ["| bar | answered | precision | not found (erased) | truthfulness, mix | answerable only |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    mix = {}
    for bar in BARS:
        took = [ok for p, ok in answerable if p >= bar]
        own = sum(1 if ok else -1 for ok in took)
        mix[bar] = (own + sum(-1 if p >= bar else 1 for p in erased)) / (len(answerable) + len(erased))
        lines.append(
            f"| {bar:.2f} | {len(took) / len(answerable):.3f} | {sum(took) / max(1, len(took)):.3f} | "
            f"{sum(p < bar for p in erased) / max(1, len(erased)):.3f} | {mix[bar]:+.3f} | "
            f"{own / len(answerable):+.3f} |"
        )
    best = max(mix.values())
    return "\n".join(lines), min(b for b, t in mix.items() if t >= best - TOLERANCE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, nargs="+", help="bench/calibrate_policy.py --records files")
    args = ap.parse_args(argv)
    for path in args.records:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        answerable, erased = pairs(rows)
        text, bar = table(answerable, erased)
        print(f"{path}: {len(answerable)} answerable, {len(erased)} answer-erased")
        print(text)
        print(f"lowest bar within {TOLERANCE} of the best mixed truthfulness: {bar:.2f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
