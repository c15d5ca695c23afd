"""The demo corpus as a new user sees it: every demo question asked through the whole answer pipeline, with
whether it was answered, how (generated or quoted), why not, and what the answer cites.

    python bench/demo_answers.py [--generator extractive] [--out bench/results/demo_answers.json]
    SEARCHCHAT_ANSWERABILITY_MODEL=shipped python bench/demo_answers.py    # with the trained model

Questions: bench/data/demo_questions.txt plus the three of issue 16 ("What is self-attention?", "What is
BM25?", "How is GPT pre-trained?"). The index is corpus/ (cached in $SEARCHCHAT_HOME/bench/demo)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from covidqa_common import demo_index, questions, retriever

from indexer.embed import get_embedder
from searchchat.answering.pipeline import Answerer
from searchchat.generators import get_generator
from searchchat.settings import Settings

ISSUE_QUESTIONS = ["What is self-attention?", "What is BM25?", "How is GPT pre-trained?"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default="extractive")
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    settings = Settings().with_overrides(generator=args.generator, max_new_tokens=args.max_new_tokens)
    embedder = get_embedder(settings)
    r = retriever(demo_index(settings, embedder), embedder, settings)
    answerer = Answerer(r, get_generator(settings), r.settings)
    rows = []
    for q in questions("demo_questions") + ISSUE_QUESTIONS:
        t0 = time.perf_counter()
        f = answerer.ask(q)
        cited = [f["sources"][c["n"] - 1]["url"].rsplit("/", 1)[-1] for c in f["citations"]]
        rows.append({"question": q, "answered": not f["abstained"], "kind": f["kind"], "reason": f["reason"],
                     "answerability": f["answerability"], "cited": cited, "answer": f["answer"],
                     "seconds": round(time.perf_counter() - t0, 2)})  # fmt: skip
        print(f"{'ANS ' if not f['abstained'] else 'NONE'} {f['answerability']:.3f} {f['kind'] or f['reason']:>15}"
              f"  {q}  -> {f['answer'][:110]!r} {cited}", flush=True)  # fmt: skip
    answered = sum(r["answered"] for r in rows)
    print(f"answered {answered}/{len(rows)} with generator {settings.generator}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"generator": settings.generator, "scorer": answerer.scorer.name,
                                        "policy": answerer.policy().name, "answered": answered,
                                        "questions": len(rows), "rows": rows}, indent=1, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
