"""Write a COVID-QA sample that shares no question with the eval-qa sample (seed 13) or the tuning questions.

    python bench/covidqa_fresh_sample.py TUNE.jsonl [TUNE2.jsonl ...] --out fresh.jsonl [--seed 29 --size 200]

TUNE files are QA or eval-qa --out files of the questions used for tuning (their "_id" or "qid" is read).
The output is QA JSONL for `searchchat eval-qa fresh.jsonl --index <the COVID-QA index>`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from covidqa_common import COVIDQA

from searchchat.evaluation.qa import load_qa, sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tuning", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--size", type=int, default=200)
    args = ap.parse_args()
    items = load_qa(COVIDQA / "qa.jsonl")
    used = {i.qid for i in sample(items, 200, 13)}  # the eval-qa sample
    for path in args.tuning:
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                used.add(str(rec.get("_id", rec.get("qid"))))
    rest = [i for i in items if i.qid not in used]
    with args.out.open("w", encoding="utf-8") as fh:
        for i in sample(rest, args.size, args.seed):
            fh.write(
                json.dumps({"_id": i.qid, "question": i.question, "answers": i.answers}, ensure_ascii=False)
                + "\n"
            )
    print(
        f"{len(items)} questions, {len(used)} used, {len(rest)} left; wrote {min(args.size, len(rest))} to {args.out}"
    )


if __name__ == "__main__":
    main()
