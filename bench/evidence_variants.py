"""Two changes to the evidence score, tried and not adopted (docs/tuning.md), kept so the runs can be repeated:
bench/calibrate_policy.py's records with one of them applied.

    python bench/evidence_variants.py question-words --shift 0 --datasets cmrc2018-trial --part train \
        --limit 400 --scorer evidence --records R.jsonl
    python bench/erased_bars.py R.jsonl
    python bench/evidence_variants.py rrf --limit 300 --scorer evidence --records R.jsonl

- question-words: a Chinese question's interrogatives (什么, 哪些, 为什么, 如何 ...) are blanked before its bigrams and
  characters are counted, as English drops "what" and "how" as stopwords;
- rrf: the evidence reranker's order fused with retrieval's by reciprocal ranks (k = 60) instead of replacing it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Sequence

import calibrate_policy

import searchchat.answering.evidence as evidence
from searchchat.types import Hit

QUESTION_WORDS = re.compile("为什么|什么样|什么|什麽|多少|是否|如何|怎么样|怎么|怎样|哪些|哪个|哪里|哪儿|哪")
RRF_K = 60.0


_question_share = evidence.question_share


def share_without_question_words(query: str, texts: Sequence[str]) -> list[float]:
    """evidence.question_share with the question's interrogatives blanked first."""
    return _question_share(QUESTION_WORDS.sub(" ", query), texts)


def rerank_fused(self: evidence.EvidenceReranker, query: str, hits: list[Hit]) -> list[Hit]:
    """The hits ordered by 1/(k + retrieval rank) + 1/(k + evidence rank)."""
    if not hits:
        return []
    scores = self.score(query, hits)
    by_evidence = sorted(range(len(hits)), key=lambda i: -scores[i])
    rank = {i: r for r, i in enumerate(by_evidence, 1)}
    fused = [1 / (RRF_K + i + 1) + 1 / (RRF_K + rank[i]) for i in range(len(hits))]
    order = sorted(range(len(hits)), key=lambda i: -fused[i])
    return [dataclasses.replace(hits[i], rank=r, score=float(scores[i])) for r, i in enumerate(order, 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=["question-words", "rrf"])
    ap.add_argument("--shift", type=float, default=None, help="UNREAD_SHIFT for this run")
    args, calibrate = ap.parse_known_args()  # the rest are bench/calibrate_policy.py's arguments
    if args.variant == "question-words":
        evidence.question_share = share_without_question_words  # type: ignore[assignment]
    else:
        evidence.EvidenceReranker.rerank = rerank_fused  # type: ignore[method-assign]
    if args.shift is not None:
        evidence.UNREAD_SHIFT = args.shift
    return calibrate_policy.main(calibrate)


if __name__ == "__main__":
    raise SystemExit(main())
