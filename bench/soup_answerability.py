"""Average the weights of two answerability models trained from the same base (a "model soup"): no training,
and the average scores as fast as either. The result is a model directory like the trainer's.

    python bench/soup_answerability.py searchchat/models/answerability OTHER_DIR --weight 0.7 --out DIR

--weight is the first model's share. Both must come from the same base (card.json "base") and hold the same
tensors; the word table, frozen in training and not saved, stays the base's (docs/answerability.md)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from searchchat import int8
from searchchat.models.crossencoder import WEIGHTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--weight", type=float, default=0.5, help="the first model's share, 0..1")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    cards = [json.loads((d / "card.json").read_text(encoding="utf-8")) for d in (args.first, args.second)]
    states = [int8.load(d / WEIGHTS) for d in (args.first, args.second)]
    if cards[0].get("base") != cards[1].get("base") or states[0].keys() != states[1].keys():
        print("error: the two models were not trained from the same base", file=sys.stderr)
        return 2
    if not 0.0 <= args.weight <= 1.0:
        print("error: --weight is a share between 0 and 1", file=sys.stderr)
        return 2
    w = args.weight
    soup = {k: w * states[0][k] + (1 - w) * states[1][k] for k in states[0]}
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.first.iterdir():
        if f.is_file() and f.name not in (WEIGHTS, "card.json"):
            shutil.copy(f, args.out / f.name)
    int8.save(soup, args.out / WEIGHTS)
    card = {**cards[0], "soup": {"models": [str(args.first), str(args.second)], "weights": [w, 1 - w],
                                 "cards": cards}}  # fmt: skip
    (args.out / "card.json").write_text(
        json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"saved {args.out}: {w:g} x {args.first} + {1 - w:g} x {args.second}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
