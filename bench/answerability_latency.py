"""What the answerability model adds per question: the time to score the candidate sentences of k passages,
against the evidence scorer (the model-free decision) and against the whole retrieval, in the same run.

    python bench/answerability_latency.py [--data ../shared/data] [-n 100] [-k 10] [--model DIR]

Questions: the held-out squad20-dev-part test ids (bench/data/squad20_test_ids.txt). Numbers depend on the
machine and its load: read the ratios, and say which CPU (bf16 or not) they come from."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from calibrate_policy import Silent

from indexer.embed import cpu_supports_bf16, get_embedder
from indexer.store import IndexStore
from searchchat.answering.answerability import EvidenceScorer
from searchchat.answering.pipeline import Answerer
from searchchat.answering.policy import AnswerPolicy
from searchchat.answering.prompt import fit_sources
from searchchat.evaluation.beir import BeirDataset, ensure_index
from searchchat.evaluation.metrics import percentile
from searchchat.evaluation.qa import load_qa
from searchchat.models.crossencoder import Scorer, load_model
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class NoScore(Scorer):
    """Scores nothing, so that candidates() times only the sentence split and the evidence prior."""

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        return [0.0] * len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--model", default=None, help="model directory (the shipped one by default)")
    args = ap.parse_args()
    root = args.data / "squad20-dev-part"
    settings = Settings().with_overrides(k=args.k)
    embedder = get_embedder(settings)
    index_dir, _ = ensure_index(
        BeirDataset(root, "qa", root / "corpus.jsonl", {}, {}), settings, embedder, quiet=True
    )
    store = IndexStore.open(index_dir)
    s = settings.with_overrides(index=index_dir)
    policy = AnswerPolicy("open", answer_min=0.0, cite_min=0.0, quote_min=0.0)
    model = load_model(args.model)
    answerer = Answerer(Retriever(store, embedder, s), Silent(), s, scorer=NoScore(), policy=policy)
    evidence = EvidenceScorer(answerer.checker.embed)
    ids = set((ROOT / "bench" / "data" / "squad20_test_ids.txt").read_text().split())
    qs = [q.question for q in load_qa(root / "qa.jsonl") if q.qid in ids][: args.n]
    times: dict[str, list[float]] = {
        "retrieve": [],
        "candidates (prior only)": [],
        "model": [],
        "evidence": [],
    }
    for i, q in enumerate([qs[0], *qs]):
        t0 = time.perf_counter()
        res = answerer.retriever.search(q, k=max(args.k, 20))
        hits = answerer.evidence.rerank(q, res.hits) if answerer.evidence else res.hits
        budget = fit_sources(hits[: args.k], s.context_tokens, answerer.generator.count_tokens)
        t1 = time.perf_counter()
        top = answerer.candidates(q, budget.hits, budget.texts, policy)
        t2 = time.perf_counter()
        texts = [c.text for c in top]
        model.score(q, texts)
        t3 = time.perf_counter()
        evidence.score(q, texts)
        t4 = time.perf_counter()
        if i:  # the first question warms up
            for name, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                times[name].append(v * 1000)
    print(
        f"{len(qs)} questions, k={args.k}, {len(texts)} sentences scored each; CPU bf16: {cpu_supports_bf16()}"
    )
    for name, v in times.items():
        print(f"  {name:<24} p50 {percentile(v, 50):7.1f} ms  p95 {percentile(v, 95):7.1f} ms")
    ratio = percentile(times["model"], 50) / max(1e-9, percentile(times["evidence"], 50))
    print(f"model / evidence scorer p50: {ratio:.2f}x; model / retrieval p50: "
          f"{percentile(times['model'], 50) / percentile(times['retrieve'], 50):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
