"""Replay the recorded generations of an `eval-qa --out` file through the real answer pipeline: the same
retrieval, relevance gate, context budget and citation check as `searchchat eval-qa`, with the model's raw
answers read back instead of generated (temperature 0, so the model would write the same text). This tries a
change to the citation check or abstention in a minute instead of an hour of generation.

    python bench/covidqa_replay.py bench/results/covidqa_local_200.jsonl [--min-support 0.8] [--folds 2]
    python bench/covidqa_replay.py RECORDS.jsonl --margin 0.05 --broad-max-chance inf 1   # without / with
    python bench/covidqa_replay.py RECORDS.jsonl --margin 0.05 --second-coverage 0 0.8    # without / with

With --folds N the records are cut into N consecutive parts, and --min-support values are reported on each
part separately, so that a threshold chosen on one part can be checked on another.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

from covidqa_common import COVIDQA, covid_index, retriever

from indexer.embed import get_embedder
from searchchat.answering import cite
from searchchat.answering import pipeline as answer_mod
from searchchat.answering.pipeline import Answerer
from searchchat.evaluation.qa import QAItem, format_report, score, summarise
from searchchat.generators.base import Generator, Prompt
from searchchat.settings import Settings


class Replay(Generator):
    """Answers each question with its recorded raw answer; counts tokens with the local model's tokenizer."""

    name = "replay"

    def __init__(self, raw: dict[str, str], settings: Settings) -> None:
        from transformers import AutoTokenizer

        from searchchat.generators.modelcache import transformers_location

        self.raw = raw
        self.tokenizer = AutoTokenizer.from_pretrained(transformers_location(settings))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        text = self.raw.get(prompt.question, "")
        if text:
            yield text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path)
    ap.add_argument("-k", type=int, default=None, help="passages (default: the settings' k, as eval-qa)")
    # each gate takes a list of values; the replay runs every combination
    gates = [
        ("--min-support", 0.0, None),
        ("--min-relevance", 0.0, None),
        ("--margin", -1.0, "citation relevance margins to try (cite.RELEVANCE_MARGIN; negative: no gate)"),
        ("--min-evidence", 0.0, None),
        ("--min-coverage", cite.MIN_COVERAGE, "question coverages a cited source needs (cite.MIN_COVERAGE; 0: no gate)"),
        ("--second-coverage", cite.SECOND_SOURCE_COVERAGE, "question coverages a source other than the most relevant needs (cite.SECOND_SOURCE_COVERAGE; 0: no gate)"),
        ("--broad-max-chance", answer_mod.BROAD_MAX_CHANCE, "answer.BROAD_MAX_CHANCE values to try (inf: no broad-question gate)"),
    ]  # fmt: skip
    for flag, default, help_ in gates:
        ap.add_argument(flag, type=float, nargs="+", default=[default], help=help_)
    ap.add_argument("--folds", type=int, default=1)
    args = ap.parse_args()

    recs = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    settings = Settings()
    embedder = get_embedder(settings)
    index = covid_index(settings, embedder, COVIDQA)
    generator = Replay({r["question"]: r["raw_answer"] for r in recs}, settings)
    answerer = Answerer(retriever(index, embedder, settings), generator, settings)
    size = -(-len(recs) // args.folds)
    defaults = (answer_mod.MIN_ANSWER_SUPPORT, answer_mod.MIN_QUESTION_RELEVANCE, answer_mod.MIN_EVIDENCE,
                answer_mod.BROAD_MAX_CHANCE)  # fmt: skip
    grid = itertools.product(
        args.min_support, args.min_relevance, args.margin, args.min_evidence, args.min_coverage,
        args.second_coverage, args.broad_max_chance,
    )  # fmt: skip
    try:
        for t, rel, margin, ev, cov, second, broad in grid:
            set_gates(t, rel, ev, broad)
            answerer.checker.relevance_margin = margin if margin >= 0 else None
            answerer.checker.min_coverage = cov
            answerer.checker.second_coverage = second
            for f in range(args.folds):
                part = recs[f * size : (f + 1) * size]
                scored = [score(QAItem(r["qid"], r["question"], r["gold"]),
                                    answerer.ask(r["question"], k=args.k)) for r in part]  # fmt: skip
                rep = summarise(scored)
                print(f"min support {t:.2f}, min relevance {rel:.2f}, margin {margin:.2f}, min evidence {ev:.2f}, "
                      f"min coverage {cov:.2f}, second coverage {second:.2f}, broad max chance {broad:g}, "
                      f"part {f + 1}/{args.folds} ({len(part)} questions)")  # fmt: skip
                print("  " + format_report(rep).replace("\n", "\n  "))
    finally:
        set_gates(*defaults)


def set_gates(min_support: float, min_relevance: float, min_evidence: float, broad_max_chance: float) -> None:
    """Set answer.py's optional gates (module constants the Answerer reads on every question)."""
    answer_mod.BROAD_MAX_CHANCE = broad_max_chance
    answer_mod.MIN_ANSWER_SUPPORT = min_support
    answer_mod.MIN_QUESTION_RELEVANCE = min_relevance
    answer_mod.MIN_EVIDENCE = min_evidence


if __name__ == "__main__":
    main()
