"""Tune the evidence reranker (searchchat/answering/evidence.py) on COVID-QA questions that the eval-qa sample does not
use, and print how often a passage holding the gold answer is among the first 1..4 passages.

    python bench/covidqa_rerank.py [--limit 200] [--seed 1] [--exclude-seed 13 --exclude-limit 200]
                                   [--cap 2 0] [--pool 10 20 30] [--bonus 0 0.25 0.5 0.75 1]

--cap is the per-document cap on the fused candidates (0: none, as the answer pipeline draws them by default).

The tuning questions are a random sample of the questions left once `searchchat eval-qa --limit 200` (seed 13)
has taken its own, so that a choice made here is measured there on unseen questions.
"""

from __future__ import annotations

import argparse

from covidqa_common import COVIDQA, covid_index, retriever

from indexer.embed import get_embedder
from searchchat.answering.cite import CitationChecker
from searchchat.answering.evidence import POOL, EvidenceReranker
from searchchat.answering.prompt import source_text
from searchchat.evaluation.qa import load_qa, sample, supports_gold
from searchchat.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude-seed", type=int, default=13)
    ap.add_argument("--exclude-limit", type=int, default=200)
    ap.add_argument("--bonus", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--pool", type=int, nargs="+", default=[10, POOL, 30])
    ap.add_argument("--cap", type=int, nargs="+", default=[2, 0])
    args = ap.parse_args()

    items = load_qa(COVIDQA / "qa.jsonl")
    held_out = {i.qid for i in sample(items, args.exclude_limit, args.exclude_seed)}
    tuning = sample([i for i in items if i.qid not in held_out], args.limit, args.seed)
    settings = Settings()
    embedder = get_embedder(settings)
    index = covid_index(settings, embedder, COVIDQA)
    checker = CitationChecker(embedder)
    depth = max(args.pool)
    print(f"{len(tuning)} tuning questions (seed {args.seed}), none of the {len(held_out)} eval-qa ones")
    for cap in args.cap:
        search = retriever(index, embedder, settings.with_overrides(per_doc_cap=cap or depth))
        pools = {i.qid: search.search(i.question, k=depth).hits for i in tuning}
        gold = {i.qid: [supports_gold(source_text(h), i.answers) for h in pools[i.qid]] for i in tuning}
        label = f"cap {cap}" if cap else "no cap"

        for pool in args.pool:
            print(f"{label:7s} gold in the first {pool} fused passages: "
                  f"{sum(any(g[:pool]) for g in gold.values()) / len(gold):.3f}")  # fmt: skip
        report(f"{label}, fused order (no rerank)", gold, {q: list(range(len(h))) for q, h in pools.items()})
        for pool in args.pool:
            for bonus in args.bonus:
                rr = EvidenceReranker(checker.embed, lexical_bonus=bonus)
                orders = {}
                for q, hits in pools.items():
                    question = next(i.question for i in tuning if i.qid == q)
                    scores = rr.score(question, hits[:pool])
                    orders[q] = sorted(range(len(scores)), key=lambda j: -scores[j])
                report(f"{label}, pool {pool}, lexical bonus {bonus:.2f}", gold, orders)


def report(name: str, gold: dict[str, list[bool]], orders: dict[str, list[int]]) -> None:
    """How often a gold passage is among the first 1..4 of each question's order."""
    at = [sum(any(gold[q][j] for j in orders[q][:n]) for q in orders) / len(orders) for n in (1, 2, 3, 4)]
    print(f"{name:40s} " + "  ".join(f"@{n} {v:.3f}" for n, v in zip((1, 2, 3, 4), at, strict=True)))


if __name__ == "__main__":
    main()
