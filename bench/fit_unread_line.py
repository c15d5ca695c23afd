"""Fit the line that predicts the embedder's cosine from word overlap, for questions it cannot read (CJK with
the packaged MiniLM): cosine ~ OVERLAP_AT_ZERO + OVERLAP_SLOPE * share, where share is the fraction of the
question's content terms that the sentence holds (searchchat/answering/evidence.py).

    python bench/calibrate_policy.py --datasets squad20-dev-part covidqa --part validation --limit 300 \
        --scorer evidence --texts --records /tmp/en_val.jsonl
    python bench/fit_unread_line.py /tmp/en_val.jsonl

The pairs are English (question, candidate sentence) pairs, where the embedder's real cosine is known; the line
puts a predicted score on the same scale, so that a blended (mixed-language) question is scored consistently."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from indexer.embed import get_embedder
from searchchat.answering.evidence import question_share
from searchchat.settings import Settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "records", type=Path, help="bench/calibrate_policy.py --texts records (English questions)"
    )
    args = ap.parse_args(argv)
    rows = [
        json.loads(line) for line in args.records.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    embedder = get_embedder(Settings())
    cos: list[float] = []
    share: list[float] = []
    for r in rows:
        texts = [c["text"] for c in r["candidates"]]
        if not texts:
            continue
        vecs = embedder.embed([r["question"], *texts])
        cos.extend(float(x) for x in vecs[1:] @ vecs[0])
        share.extend(question_share(r["question"], texts))
    x, y = np.asarray(share), np.asarray(cos)
    slope, at_zero = np.polyfit(x, y, 1)
    corr = float(np.corrcoef(x, y)[0, 1])
    print(f"{len(x)} pairs from {len(rows)} questions: cosine ~ {at_zero:.3f} + {slope:.3f} * share "
          f"(correlation {corr:.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
