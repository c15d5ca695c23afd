"""Compare answerability models each at its own bar, cross-fitted: the validation questions fall into two folds by
document; on one fold the single bar that maximises the mean truthfulness over the chosen sets is picked, and the
other fold is read at it; the two read-outs are averaged. A model whose probabilities are compressed is then not
judged at another model's operating point, and no figure is read on the questions its bar was chosen on.

    python bench/crossfit_bar.py shipped=en.jsonl,zx.jsonl,yn.jsonl candidate=en2.jsonl,zx2.jsonl,yn2.jsonl

Records are bench/calibrate_policy.py's (`--records`), read as bench/policy_tables.py reads them."""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections import defaultdict
from pathlib import Path

from policy_tables import best_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from searchchat.training.split import article_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BARS = tuple(round(0.2 + 0.05 * i, 2) for i in range(15))
FOUR = ("squad20-dev-part", "covidqa", "cmrc2018-trial", "explain")
WRITTEN = ("explain", "terms", "yesno")  # written sets: a question id is its document's id, "-q", a number


def documents(data: Path) -> dict[tuple[str, str], str]:
    """(dataset, question id) -> document (a SQuAD article, not its paragraph) for the shared QA sets."""
    out = {}
    for name in ("squad20-dev-part", "covidqa", "cmrc2018-trial"):
        path = data / name / "qa.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
            row = json.loads(line)
            out[(name, row["_id"])] = article_of(name, row["document_id"])
    return out


def fold(row: dict, docs: dict[tuple[str, str], str]) -> int:
    """0 or 1, by a CRC-32 of the question's document, so that one document's questions share a fold."""
    ds, qid = row["dataset"], row["qid"]
    doc = qid.rsplit("-q", 1)[0] if ds in WRITTEN else docs.get((ds, qid), qid)
    return zlib.crc32(f"{ds}:{doc}".encode()) % 2


def truthfulness(rows: list[dict], bar: float) -> dict[str, float]:
    """Per dataset, quoting each question's best sentence when it scores at least `bar` (policy_tables' rule)."""
    scores: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        p, right = best_of(row, lambda c: c["p"])
        if row["impossible"]:
            scores[row["dataset"]].append(-1 if p >= bar else 1)
        else:
            scores[row["dataset"]].append((1 if right else -1) if p >= bar else 0)
    return {ds: sum(v) / len(v) for ds, v in scores.items()}


def crossfit(rows: list[dict], docs: dict[tuple[str, str], str], sets: tuple[str, ...] = FOUR) -> tuple[list[float], dict[str, float]]:  # fmt: skip
    """The bar picked on each fold, and each dataset's truthfulness read on the other fold, averaged."""
    bars, read = [], defaultdict(float)
    for k in (0, 1):
        cal = [r for r in rows if fold(r, docs) == k]
        other = [r for r in rows if fold(r, docs) != k]
        bar = max(BARS, key=lambda b: sum(truthfulness(cal, b).get(d, 0.0) for d in sets))
        bars.append(bar)
        for ds, v in truthfulness(other, bar).items():
            read[ds] += v / 2
    return bars, dict(read)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="NAME=RECORDS[,RECORDS...]")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    docs = documents(args.data)
    for spec in args.models:
        name, _, files = spec.partition("=")
        rows = [json.loads(line) for f in files.split(",") for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip
        bars, read = crossfit(rows, docs)
        four = sum(read.get(d, 0.0) for d in FOUR) / len(FOUR)
        print(f"{name}: bars {bars[0]:.2f} / {bars[1]:.2f}, four-set mean {four:+.3f}; "
              + ", ".join(f"{ds} {v:+.3f}" for ds, v in sorted(read.items())))  # fmt: skip


if __name__ == "__main__":
    main()
