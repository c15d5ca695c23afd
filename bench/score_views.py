"""Rescore bench/calibrate_policy.py's records (`--texts`) with an answerability model under test-time views, and
write records whose `p` is the mean of the views' probabilities, for bench/policy_tables.py and crossfit_bar.py.
Views: `lower` (the question lower-cased), `notitle` (the sentence without its document's title), or both.

    python bench/score_views.py R.jsonl --views lower --out R_lower.jsonl"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from searchchat.models.crossencoder import load_model, pair_text  # noqa: E402

VIEWS = ("lower", "notitle")


def views(question: str, chosen: list[str]) -> list[tuple[str, bool]]:
    """(question, with the title?) for the record's own view and each combination of the chosen views."""
    out = [(question, True)]
    if "lower" in chosen:
        out.append((question.lower(), True))
    if "notitle" in chosen:
        out += [(q, False) for q, _ in list(out)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, nargs="+")
    ap.add_argument("--views", nargs="+", choices=VIEWS, required=True)
    ap.add_argument(
        "--model", default=None, help="an answerability model directory (the shipped one by default)"
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = load_model(args.model)
    with args.out.open("w", encoding="utf-8") as out:
        for path in args.records:
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                cands, seen = row["candidates"], views(row["question"], args.views)
                sums = [0.0] * len(cands)
                for question, titled in seen:
                    texts = [pair_text(c.get("title", "") if titled else "", c["text"]) for c in cands]
                    sums = [a + b for a, b in zip(sums, model.score(question, texts), strict=True)]
                for c, total in zip(cands, sums, strict=True):
                    c["p"] = round(total / len(seen), 5)
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
