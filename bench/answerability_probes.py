"""Plain cases the answerability model should get right: a question with one sentence that obviously answers it,
or obviously does not, with and without a page title (bench/data/probes.jsonl, written for the project: English
and Chinese, factoid and explanatory). A sanity check of a trained model beside its validation figures, never
used to train or to set a bar.

    python bench/answerability_probes.py [--model shipped --model /tmp/other-model] [--bar 0.5] [--casual]
                                         [--probes bench/data/probes_yesno.jsonl]

bench/data/probes_yesno.jsonl holds yes/no questions (English and Chinese), none in the QA sets the model was
trained on: each with a sentence that settles it and one on the same subject that does not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from searchchat.models.crossencoder import load_model, pair_text
from searchchat.training.data import casual

PROBES = Path(__file__).resolve().parent / "data" / "probes.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="shipped (default) or a directory; repeat to compare")
    ap.add_argument("--bar", type=float, default=0.5)
    ap.add_argument(
        "--casual", action="store_true", help="ask as typed into a search box (lower case, no '?')"
    )
    ap.add_argument("--probes", type=Path, default=PROBES, help="a JSONL file of probes")
    args = ap.parse_args()
    probes = [
        json.loads(line) for line in args.probes.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if args.casual:
        probes = [p | {"question": casual(p["question"])} for p in probes]
    models = args.model or ["shipped"]
    scores = {}
    for name in models:
        model = load_model(None if name == "shipped" else name)
        scores[name] = [model.score(p["question"], [pair_text(p["title"], p["sentence"])])[0] for p in probes]
    for i, p in enumerate(probes):
        cells = "  ".join(f"{scores[m][i]:.3f}" for m in models)
        print(
            f"{'yes' if p['answers'] else 'no ':3}  {cells}  {p['question']} | {p['title']} | {p['sentence'][:70]}"
        )
    for m in models:
        right = sum((s >= args.bar) == p["answers"] for s, p in zip(scores[m], probes, strict=True))
        print(f"{m}: {right}/{len(probes)} on the right side of {args.bar}")


if __name__ == "__main__":
    main()
