"""Replay the answers of an `eval-qa --out` run through today's answer pipeline, to compare answer checks
without running the language model again.

    python bench/replay_answers.py RUN.jsonl QA_FOLDER [--variant grounding=off choice=judged,choice_margin=0.1]
                                   [--policy balanced] [--baseline extractive]

RUN.jsonl holds the default system's records of `searchchat eval-qa QA_FOLDER --out RUN.jsonl`; each
question is asked again through retrieval, answerability scoring and the checks, with a generator that
writes what the model wrote then (its `raw_answer`). Only the post-generation decisions can differ (the
retrieval and the prompt are the same), so a variant's figures are what eval-qa would print with it."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.answering.grounding import MODES
from searchchat.answering.pipeline import Answerer
from searchchat.evaluation.beir import BeirDataset, ensure_index
from searchchat.evaluation.qa import format_table, load_qa, resolve, run_qa, summarise
from searchchat.generators import get_generator
from searchchat.generators.base import Generator, Prompt
from searchchat.models.crossencoder import load_model
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings


class Replay(Generator):
    """Writes, for each question, what the recorded run's model wrote; counts tokens as that model does."""

    name = "replay"

    def __init__(self, model: Generator, raw: dict[str, str]) -> None:
        self.model, self.raw = model, raw

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        text = self.raw.get(prompt.question, "")
        return iter([text] if text else [])

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the default system's records (eval-qa --out)")
    ap.add_argument("qa", type=Path, help="the QA folder the run asked (qa.jsonl + corpus.jsonl)")
    ap.add_argument("--variant", nargs="+", default=[f"grounding={m}" for m in MODES],
                    help="AnswerPolicy fields to change, FIELD=VALUE[,FIELD=VALUE]; judge=evidence judges the "
                    "answer choice with the evidence score instead of the shipped model, judge=DIR with a trained model")  # fmt: skip
    ap.add_argument("--policy", default="balanced")
    ap.add_argument("--baseline", default="extractive", help="a generator asked in the same run, or 'none'")
    ap.add_argument("--out", type=Path, default=None, help="write the table here too")
    args = ap.parse_args(argv)
    records = [json.loads(line) for line in args.run.open(encoding="utf-8") if line.strip()]
    raw = {r["question"]: r.get("raw_answer") or "" for r in records}
    qa_file, corpus = resolve(args.qa)
    by_id = {item.qid: item for item in load_qa(qa_file)}
    items = [by_id[r["qid"]] for r in records if r["qid"] in by_id]
    settings = Settings()
    embedder = get_embedder(settings)
    if corpus is not None:
        index_dir, _ = ensure_index(BeirDataset(corpus.parent, "qa", corpus, {}, {}), settings, embedder,
                                    quiet=True)  # fmt: skip
        settings = settings.with_overrides(index=index_dir)
    store = IndexStore.open(settings.index_dir)
    retriever = Retriever(store, embedder, settings)
    generator = Replay(get_generator(settings), raw)
    reports = {}
    for variant in args.variant:
        answerer = Answerer(retriever, generator, settings.with_overrides(answer_policy=args.policy))
        fields = dict(pair.split("=", 1) for pair in variant.split(","))
        judge = fields.pop("judge", "shipped")
        if judge == "evidence":
            answerer.judge = answerer.scorer
        elif judge != "shipped":  # a directory that bench/train_answerability.py wrote
            answerer.judge = load_model(judge)
        policy = answerer.policy()
        answerer.fixed_policy = dataclasses.replace(
            policy, **{k: type(getattr(policy, k))(v) for k, v in fields.items()}
        )
        replayed = run_qa(answerer, items)
        reports[variant] = summarise(replayed)
        if variant == args.variant[0]:  # a question given other passages than then is not a faithful replay
            recorded = {r["qid"]: r.get("sources") for r in records}
            moved = sum(rec.sources != recorded.get(rec.qid) for rec in replayed)
            print(
                f"{moved} of {len(replayed)} questions got other passages than in the recorded run",
                flush=True,
            )
    if args.baseline != "none":
        s = settings.with_overrides(generator=args.baseline)
        reports[f"baseline ({args.baseline})"] = summarise(
            run_qa(Answerer(retriever, get_generator(s), s), items)
        )
    store.close()
    table = format_table(reports)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
