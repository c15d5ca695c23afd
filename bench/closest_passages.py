"""How often "not found" shows a closest passage (Answer.closest, AnswerPolicy.closest_prior), and which: the 60
off-topic questions against the demo and COVID-QA indexes (it should show none), and the demo questions that are
not answered (each refused question's closest sentence is printed, to be read).

    python bench/closest_passages.py [--generator extractive] > bench/results/closest_passages.txt"""

from __future__ import annotations

import argparse

from covidqa_common import covid_index, demo_index, questions, retriever
from demo_answers import ISSUE_QUESTIONS

from indexer.embed import get_embedder
from searchchat.answering.pipeline import Answerer
from searchchat.generators import get_generator
from searchchat.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default="extractive")
    args = ap.parse_args()
    settings = Settings().with_overrides(generator=args.generator)
    embedder, generator = get_embedder(settings), get_generator(settings)
    demo = questions("demo_questions") + ISSUE_QUESTIONS
    for name, index, asked in (("demo", demo_index(settings, embedder), {"off-topic": None, "demo": demo}),
                               ("covidqa", covid_index(settings, embedder), {"off-topic": None})):  # fmt: skip
        r = retriever(index, embedder, settings)
        answerer = Answerer(r, generator, r.settings)
        for label, qs in asked.items():
            qs = qs or questions("offtopic_questions")
            refused = shown = 0
            for q in qs:
                final = answerer.ask(q)
                refused += final["abstained"]
                closest = final.get("closest")
                if closest:
                    shown += 1
                    print(f"  {q}  -> [{closest['n']}] {' '.join(closest['quote'].split())[:140]!r}")
            print(
                f"{name} index, {label} questions: {len(qs)}, not found {refused}, closest passage shown {shown}"
            )


if __name__ == "__main__":
    main()
