"""Re-check the raw answers of an `eval-qa --out` file with other citation thresholds, without generating again:
how citation precision / recall and abstention move with SUPPORT_THRESHOLD and ADD_THRESHOLD.

    python bench/covidqa_rescore.py bench/results/covidqa_local_200.jsonl --support 0.5 0.6 0.7 --add 0.6 0.7 0.8

(The headers of the sources are not in the file, so names found only in a title count as missing here.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from indexer.embed import get_embedder
from searchchat.answer import declines
from searchchat.cite import CitationChecker
from searchchat.evalqa import QAItem, score, summarise
from searchchat.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path)
    ap.add_argument("--support", type=float, nargs="+", default=[0.6])
    ap.add_argument("--add", type=float, nargs="+", default=[0.7])
    args = ap.parse_args()
    recs = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    embedder = get_embedder(Settings())
    print("support  add   answered  cit.prec  cit.recall  F1     shown")
    for support in args.support:
        for add in args.add:
            checker = CitationChecker(embedder, support_threshold=support, add_threshold=add)
            scored = []
            for r in recs:
                final: dict = {"abstained": True, "answer": "", "citations": [], "sentences": [],
                               "sources": [{"n": i, "text": t} for i, t in enumerate(r["sources"], start=1)],
                               "timings": {}}  # fmt: skip
                if r["raw_answer"]:
                    v = checker.verify(r["raw_answer"], r["sources"], question=r["question"])
                    if any(s.citations and not declines(s.text) for s in v.sentences):
                        final |= {"abstained": False, "answer": v.text, "citations": [{"n": n} for n in v.cited],
                                  "sentences": [{"text": s.text} for s in v.sentences]}  # fmt: skip
                scored.append(score(QAItem(r["qid"], r["question"], r["gold"]), final))
            rep = summarise(scored)
            print(f"{support:.2f}    {add:.2f}  {rep.answered:4d}      {rep.citation_precision:.3f}     "
                  f"{rep.citation_recall:.3f}       {rep.f1:.3f}  {rep.citations_shown}")  # fmt: skip


if __name__ == "__main__":
    main()
