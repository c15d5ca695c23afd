"""Does the page title help the answerability model? Each candidate sentence of calibration records is scored
again without its title, and the best-sentence quote is decided by the title view (as shipped), the no-title
view, their maximum and their mean.

    python bench/calibrate_policy.py --scorer shipped --limit 300 --texts --records R.jsonl
    python bench/title_views.py R.jsonl [--model shipped] [--bar 0.6]

Prints, per dataset and view, the policy_tables row at the bar (answered, precision, correct_cited, "not found"
on the unanswerable, truthfulness) and the question AUC."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from policy_tables import table

from searchchat.models.crossencoder import load_model

VIEWS: dict[str, Callable[[dict], float]] = {
    "title (shipped)": lambda c: c["p"],
    "no title": lambda c: c["p_untitled"],
    "max": lambda c: max(c["p"], c["p_untitled"]),
    "mean": lambda c: (c["p"] + c["p_untitled"]) / 2,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="bench/calibrate_policy.py --texts records")
    ap.add_argument("--model", default="shipped", help="the model the records were scored with")
    ap.add_argument("--bar", type=float, default=0.6)
    args = ap.parse_args()
    model = load_model(None if args.model == "shipped" else args.model)
    rows = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    for r in rows:
        if r["candidates"]:
            for c, p in zip(r["candidates"], model.score(r["question"], [c["text"] for c in r["candidates"]]),
                            strict=True):  # fmt: skip
                c["p_untitled"] = float(p)
    for dataset in sorted({r["dataset"] for r in rows}):
        sub = [r for r in rows if r["dataset"] == dataset]
        print(
            f"\n## {dataset}, bar {args.bar}\n| view | answered | precision | correct_cited | not found | truthfulness | question AUC |"
        )
        for name, key in VIEWS.items():
            head, *_, row = table(sub, key, (args.bar,))  # the summary line, then one row: the bar's
            cells = row[row.index("|", 1) :]  # the row without its bar column
            print(f"| {name} {cells} {head.rsplit(' ', 1)[-1]} |")


if __name__ == "__main__":
    main()
