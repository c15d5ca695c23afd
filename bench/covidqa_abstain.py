"""Abstention: "not found" on questions about topics absent from the index, and the best dense cosine between
the query and any passage (how far off-topic questions sit from on-topic ones).

Part 1 (always): the best dense cosine for on-topic questions (COVID-QA questions against the COVID-QA index,
bench/data/demo_questions.txt against the demo corpus) and off-topic ones (bench/data/offtopic_questions.txt
against both, and each index's questions against the other index). Prints the distributions and the rates
for a range of thresholds (no such gate is in the answer path any more: the answer policy decides).

Part 2 (--answer): the whole answer pipeline (answer policy, generation, citation check) on the off-topic
questions against both indexes, with the chosen generator: the share answered "not found", by reason.

    python bench/covidqa_abstain.py --answer --generator local -k 4 --max-new-tokens 160 \
        --out bench/results/covidqa_abstain.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from covidqa_common import COVIDQA, covid_index, demo_index, questions, retriever

from indexer.embed import get_embedder
from searchchat.answering.pipeline import Answerer
from searchchat.evaluation.qa import load_qa, sample
from searchchat.generators import get_generator
from searchchat.retrieval.retriever import Retriever, dense_search
from searchchat.settings import Settings


def best_scores(r: Retriever, qs: list[str]) -> list[float]:
    vecs = r.embedder.embed(qs)
    return [float(dense_search(r.store, v, 1)[0][1]) for v in vecs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300, help="COVID-QA questions for part 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--answer", action="store_true", help="also run part 2")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("-k", type=int, default=None, help="passages given to the model (settings.k by default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    settings = Settings().with_overrides(
        generator=args.generator, max_new_tokens=args.max_new_tokens, k=args.k
    )
    embedder = get_embedder(settings)
    covid = retriever(covid_index(settings, embedder, COVIDQA), embedder, settings)
    demo = retriever(demo_index(settings, embedder), embedder, settings)
    covid_qs = [i.question for i in sample(load_qa(COVIDQA / "qa.jsonl"), args.limit, args.seed)]
    demo_qs, off_qs = questions("demo_questions"), questions("offtopic_questions")
    on = {"covid/covid": best_scores(covid, covid_qs), "demo/demo": best_scores(demo, demo_qs)}
    off = {"offtopic/covid": best_scores(covid, off_qs), "offtopic/demo": best_scores(demo, off_qs),
           "demo/covid": best_scores(covid, demo_qs), "covid/demo": best_scores(demo, covid_qs)}  # fmt: skip
    report: dict = {"distributions": {}, "thresholds": []}
    for name, s in {**on, **off}.items():
        q = np.percentile(s, [0, 2, 5, 50, 95, 100])
        report["distributions"][name] = dict(
            zip(["min", "p2", "p5", "p50", "p95", "max"], q.round(3).tolist(), strict=True)
        )
        print(f"{name:15s} n={len(s):3d} min/p2/p5/p50/p95/max " + " ".join(f"{v:.3f}" for v in q))
    print(
        "threshold  on-topic answered (covid, demo)   off-topic refused (offtopic/covid, offtopic/demo, cross)"
    )
    for t in np.arange(0.2, 0.56, 0.025):
        row = {"t": round(float(t), 3)}
        row |= {k: round(float(np.mean(np.array(v) >= t)), 4) for k, v in on.items()}
        row |= {k: round(float(np.mean(np.array(v) < t)), 4) for k, v in off.items()}
        report["thresholds"].append(row)
        print(f"  {t:.3f}    {row['covid/covid']:.3f} {row['demo/demo']:.3f}          "
              f"{row['offtopic/covid']:.3f} {row['offtopic/demo']:.3f} {row['demo/covid']:.3f} {row['covid/demo']:.3f}")  # fmt: skip
    if args.answer:
        gen = get_generator(settings)
        part2: dict = {"generator": settings.generator}
        for name, r in (("covid", covid), ("demo", demo)):
            answerer = Answerer(r, gen, r.settings)
            t0 = time.perf_counter()
            finals = [answerer.ask(q) for q in off_qs]
            answered = [(q, f["answer"]) for q, f in zip(off_qs, finals, strict=True) if not f["abstained"]]
            reasons: dict[str, int] = {}
            for f in finals:
                if f["abstained"]:
                    reasons[str(f.get("reason"))] = reasons.get(str(f.get("reason")), 0) + 1
            part2[name] = {"questions": len(off_qs), "not_found": len(off_qs) - len(answered),
                           "not_found_rate": round(1 - len(answered) / len(off_qs), 4),
                           "reasons": reasons, "answered": answered,
                           "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
            print(f"off-topic vs {name}: not found {len(off_qs) - len(answered)}/{len(off_qs)} "
                  f"(by reason: {reasons}); answered: {answered}")  # fmt: skip
        report["answer"] = part2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
