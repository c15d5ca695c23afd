"""Calibrate the answer policy on the validation split: the answerability model's best-sentence probability
against whether quoting that sentence answers correctly, as a risk-coverage table.

    python bench/calibrate_policy.py [--data ../shared/data] [--limit 300] [--out docs/answer-policy-table.md]

Each validation question is asked through the real pipeline (retrieval, evidence reranking, answerability
scoring) with a generator that writes nothing, so the answer is the quote of the best sentence; the policy's
bars are then read off the table: balanced maximises truthfulness, strict is the lowest bar with quote
precision >= 0.9, lenient the lowest with precision >= 0.6."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

from train_answerability import data_root

from indexer.embed import get_embedder
from searchchat.answering.evidence import sentence_scores
from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import AnswerPolicy
from searchchat.evaluation.beir import BeirDataset, ensure_index
from searchchat.evaluation.qa import contains, supports_gold
from searchchat.generators.base import Generator, Prompt
from searchchat.models.crossencoder import pair_text
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings
from searchchat.training.data import casual
from searchchat.training.split import Split, article_of

ROOT = Path(__file__).resolve().parent.parent
BARS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


class Recording(Answerer):
    """The answerer, keeping the scored candidates of the last question (for the per-sentence records)."""

    last: list = []

    last_ev: list = []

    def candidates(self, query, hits, texts, policy):  # type: ignore[no-untyped-def]
        found = super().candidates(query, hits, texts, policy)
        self.last = [(c, texts[c.source - 1], hits[c.source - 1].chunk.title) for c in found]
        # the evidence score of the scorer's own input (title | sentence), as EvidenceScorer computes it
        pairs = [pair_text(hits[c.source - 1].chunk.title, c.text) for c in found]
        self.last_ev = sentence_scores(query, pairs, self.checker.embed, self.reads_cjk) if pairs else []
        return found


class Silent(Generator):
    """Writes nothing: every answer is the policy's quote."""

    name = "silent"

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        return iter(())

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)


def questions(root: Path, dataset: str, split: Split, part: str) -> list[dict]:
    with (root / "qa.jsonl").open(encoding="utf-8") as fh:
        qas = [json.loads(line) for line in fh if line.strip()]
    return [q for q in qas if str(q.get("question", "")).strip()  # CMRC 2018 has blank questions
            and split.part_of(dataset, article_of(dataset, str(q["document_id"]))) == part]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--split", type=Path, default=ROOT / "bench" / "data" / "answerability_split.json")
    ap.add_argument("--datasets", nargs="*", default=["squad20-dev-part", "covidqa"])
    ap.add_argument("--part", default="validation")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--scorer", default=None, help="answerability model directory, or 'evidence'")
    ap.add_argument(
        "--candidates", type=int, default=AnswerPolicy.candidates, help="sentences scored per question"
    )
    ap.add_argument("--records", type=Path, default=ROOT / "bench" / "results" / "policy_calibration.jsonl")
    ap.add_argument(
        "--texts", action="store_true", help="keep each question and candidate's text in the records"
    )
    ap.add_argument("--casual", action="store_true",
                    help="ask each question as typed into a search box: lower-cased, without its question mark")  # fmt: skip
    args = ap.parse_args(argv)
    split = Split.load(args.split)
    settings = Settings().with_overrides(answerability_model=args.scorer)
    embedder = get_embedder(settings)
    rows = []
    for dataset in args.datasets:
        root = data_root(dataset, args.data)
        ds = BeirDataset(root, "qa", root / "corpus.jsonl", {}, {})
        index_dir, _ = ensure_index(ds, settings, embedder, quiet=True)
        s = settings.with_overrides(index=index_dir)
        from indexer.store import IndexStore

        store = IndexStore.open(index_dir)
        open_bar = AnswerPolicy(
            "calibration", answer_min=0.0, cite_min=0.0, quote_min=0.0, candidates=args.candidates
        )
        answerer = Recording(Retriever(store, embedder, s), Silent(), s, policy=open_bar)
        qs = questions(root, dataset, split, args.part)
        qs = random.Random(0).sample(qs, min(args.limit, len(qs)))
        for i, q in enumerate(qs, 1):
            final = answerer.ask(casual(q["question"]) if args.casual else q["question"])
            golds = [a for a in q.get("answers") or [] if a.strip()]
            sources = {x["n"]: x["text"] for x in final["sources"]}
            cited = [c["n"] for c in final["citations"]]
            right = (
                bool(golds)
                and contains(final["answer"], golds)
                and any(supports_gold(sources[n], golds) for n in cited if n in sources)
            )
            # every scored sentence: would quoting it alone be a correct, supported answer?
            cands = [{"source": c.source, "prior": round(c.prior, 5), "p": round(c.p, 5), "ev": round(ev, 5),
                      "gold": bool(golds) and contains(c.text, golds) and supports_gold(text, golds)}
                     for (c, text, _), ev in zip(answerer.last, answerer.last_ev, strict=True)]  # fmt: skip
            if args.texts:
                for cand, (c, _, title) in zip(cands, answerer.last, strict=True):
                    cand["text"], cand["title"] = c.text, title
            rows.append({"dataset": dataset, "qid": q["_id"], "impossible": bool(q.get("is_impossible")),
                         "p": final["answerability"], "right": right, "candidates": cands})  # fmt: skip
            if args.texts:
                rows[-1] |= {"question": q["question"], "golds": golds}
            if i % 50 == 0:
                print(f"{dataset}: {i}/{len(qs)}", flush=True)
        store.close()
    args.records.parent.mkdir(parents=True, exist_ok=True)
    args.records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(table(rows))
    return 0


def table(rows: list[dict]) -> str:
    """Per bar: share answered, precision of the answers, correct_cited of the answerable, truthfulness."""
    lines = ["| bar | answered | precision | correct_cited (answerable) | not found (unanswerable) | truthfulness |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    answerable = [r for r in rows if not r["impossible"]]
    impossible = [r for r in rows if r["impossible"]]
    for bar in BARS:
        ans = [r for r in rows if r["p"] >= bar]
        good = sum(r["right"] for r in ans)
        truth = sum((1 if r["right"] else -1) if r["p"] >= bar else 0 for r in answerable)
        truth += sum(-1 if r["p"] >= bar else 1 for r in impossible)
        lines.append(
            f"| {bar:.2f} | {len(ans) / len(rows):.3f} | {good / len(ans) if ans else 0:.3f} | "
            f"{sum(r['right'] and r['p'] >= bar for r in answerable) / max(1, len(answerable)):.3f} | "
            f"{sum(r['p'] < bar for r in impossible) / max(1, len(impossible)):.3f} | {truth / len(rows):+.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
