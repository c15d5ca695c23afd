"""Would a second view of each pair help the answerability model? Each candidate sentence of calibration records
is scored again, without its title (`--view untitled`) or under the question as typed into a search box
(`--view casual`: lower-cased, no closing question mark; the title kept), and the best-sentence quote is decided
by the shipped view, the other view, their maximum and their mean.

    python bench/calibrate_policy.py --scorer shipped --limit 300 --texts --records R.jsonl
    python bench/title_views.py R.jsonl [--view untitled|casual] [--model shipped] [--bar 0.6]

Prints, per dataset and view, the policy_tables row at the bar (answered, precision, correct_cited, "not found"
on the unanswerable, truthfulness) and the question AUC."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from policy_tables import table

from searchchat.models.crossencoder import load_model, pair_text
from searchchat.training.data import casual

VIEWS: dict[str, Callable[[dict], float]] = {
    "shipped": lambda c: c["p"],
    "other view": lambda c: c["p_other"],
    "max": lambda c: max(c["p"], c["p_other"]),
    "mean": lambda c: (c["p"] + c["p_other"]) / 2,
}


def other_view(view: str, question: str, candidates: list[dict]) -> tuple[str, list[str]]:
    """The question and the pair texts the second view scores: untitled sentences, or the titled pairs (records
    written since the seventeenth session hold the title) under the casually typed question."""
    if view == "untitled":
        return question, [c["text"] for c in candidates]
    if any("title" not in c for c in candidates):
        raise SystemExit(
            "--view casual needs records with candidate titles (bench/calibrate_policy.py --texts)"
        )
    return casual(question), [pair_text(c["title"], c["text"]) for c in candidates]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="bench/calibrate_policy.py --texts records")
    ap.add_argument("--model", default="shipped", help="the model the records were scored with")
    ap.add_argument("--bar", type=float, default=0.6)
    ap.add_argument("--view", choices=["untitled", "casual"], default="untitled", help="the second view")
    args = ap.parse_args()
    model = load_model(None if args.model == "shipped" else args.model)
    rows = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    for r in rows:
        if r["candidates"]:
            question, texts = other_view(args.view, r["question"], r["candidates"])
            for c, p in zip(r["candidates"], model.score(question, texts), strict=True):
                c["p_other"] = float(p)
    for dataset in sorted({r["dataset"] for r in rows}):
        sub = [r for r in rows if r["dataset"] == dataset]
        print(
            f"\n## {dataset}, bar {args.bar}, other view: {args.view}\n| view | answered | precision | correct_cited | not found | truthfulness | question AUC |"
        )
        for name, key in VIEWS.items():
            head, *_, row = table(sub, key, (args.bar,))  # the summary line, then one row: the bar's
            cells = row[row.index("|", 1) :]  # the row without its bar column
            print(f"| {name} {cells} {head.rsplit(' ', 1)[-1]} |")


if __name__ == "__main__":
    main()
