"""Calibrate the citation checker (searchchat/answering/cite.py) on COVID-QA: which (sentence, passage) pairs count as
"the passage supports the sentence".

For a sample of questions, the top-k hybrid hits are labelled by the gold answer: a hit that contains the gold
answer supports it; a hit that shares no run of tokens with it does not (hits in between are left out). Each
question gives three claims:
  - the gold answer span itself;
  - "question: answer", the way a model restates the question before answering;
  - the gold answer with one number changed (when it has one): a negative even against the supporting hit.
For every weight of the lexical part and every threshold, precision and recall of "score >= threshold" are
printed; the chosen values go into searchchat/answering/cite.py.

    python bench/covidqa_calibrate.py --limit 300 --out bench/results/covidqa_calibrate.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

import numpy as np
from covidqa_common import COVIDQA, covid_index, retriever

from indexer.embed import get_embedder
from searchchat.answering.cite import CitationChecker, Support
from searchchat.evaluation.qa import load_qa, sample, supports_gold
from searchchat.markers import neutralise
from searchchat.settings import Settings


def alter_number(text: str, rng: random.Random) -> str | None:
    nums = list(re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])", text))
    if not nums:
        return None
    m = rng.choice(nums)
    value = m.group(0)
    new = (
        str(int(float(value)) + rng.choice([1, 2, 3, 7, 10]))
        if "." not in value
        else f"{float(value) * 1.5:.2f}"
    )
    return text[: m.start()] + new + text[m.end() :]


def collect(limit: int, seed: int, k: int) -> list[dict]:
    settings = Settings()
    embedder = get_embedder(settings)
    r = retriever(covid_index(settings, embedder, COVIDQA), embedder, settings)
    checker = CitationChecker(embedder)
    rng = random.Random(seed)
    rows: list[dict] = []
    for item in sample(load_qa(COVIDQA / "qa.jsonl"), limit, seed):
        gold = neutralise(item.answers[0])  # answers reach the checker with their markers parsed out
        hits = r.search(item.question, k=k).hits
        passages = [neutralise(f"{h.chunk.title}\n{h.chunk.section}\n{h.chunk.text}") for h in hits]
        pos = [p for p in passages if supports_gold(p, [gold], min_share=1.0, min_run=10**6)]  # contains it
        neg = [p for p in passages if not supports_gold(p, [gold], min_share=0.3, min_run=4)]
        claims = [("span", gold), ("restated", f"{item.question.rstrip(' ?')}: {gold}")]
        altered = alter_number(gold, rng)
        for kind, claim in claims:
            sup: list[list[Support]] = checker.supports([claim], pos + neg)
            for j, s in enumerate(sup[0]):
                rows.append({"kind": kind, "label": int(j < len(pos)), "lexical": s.lexical,
                             "semantic": s.semantic, "gated": bool(s.missing)})  # fmt: skip
        if altered and pos:
            for s in checker.supports([altered], pos)[0]:
                rows.append({"kind": "altered", "label": 0, "lexical": s.lexical, "semantic": s.semantic,
                             "gated": bool(s.missing)})  # fmt: skip
    return rows


def sweep(rows: list[dict]) -> list[dict]:
    y = np.array([r["label"] for r in rows])
    lex = np.array([r["lexical"] for r in rows])
    sem = np.array([r["semantic"] for r in rows])
    gated = np.array([r["gated"] for r in rows])
    out = []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        score = np.where(gated, 0.0, w * lex + (1 - w) * sem)
        for t in np.arange(0.3, 0.951, 0.025):
            pred = score >= t
            tp = int((pred & (y == 1)).sum())
            fp = int((pred & (y == 0)).sum())
            fn = int((~pred & (y == 1)).sum())
            p = tp / (tp + fp) if tp + fp else 1.0
            rc = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
            out.append({"w": w, "t": round(float(t), 3), "precision": round(p, 4), "recall": round(rc, 4),
                        "f1": round(f1, 4)})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=6)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = collect(args.limit, args.seed, args.k)
    grid = sweep(rows)
    pos = sum(r["label"] for r in rows)
    altered = [r for r in rows if r["kind"] == "altered"]
    print(f"{len(rows)} pairs ({pos} supporting), {time.perf_counter() - t0:.0f} s")
    print(f"number gate: {sum(r['gated'] for r in altered)}/{len(altered)} altered-number claims rejected; "
          f"{sum(r['gated'] for r in rows if r['label'])}/{pos} supporting pairs wrongly gated")  # fmt: skip
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        cands = [g for g in grid if g["w"] == w]
        best = max(cands, key=lambda g: g["f1"])
        hi = min((g for g in cands if g["precision"] >= 0.95), key=lambda g: g["t"], default=None)
        print(f"w={w:.2f}  best F1 {best['f1']:.3f} at t={best['t']:.3f} (P {best['precision']:.3f} R "
              f"{best['recall']:.3f});  P>=0.95 from t={hi['t'] if hi else '-'} (R {hi['recall'] if hi else '-'})")  # fmt: skip
    for kind in ("span", "restated"):
        sel = [r for r in rows if r["kind"] == kind]
        for label in (1, 0):
            s = [
                0.5 * r["lexical"] + 0.5 * r["semantic"]
                for r in sel
                if r["label"] == label and not r["gated"]
            ]
            if s:
                q = np.percentile(s, [5, 25, 50, 75, 95])
                print(f"  {kind:9s} {'support' if label else 'other  '}: n={len(s):4d} w=0.5 score p5/25/50/75/95 "
                      + " ".join(f"{v:.2f}" for v in q))  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "pairs": len(rows),
                                        "supporting": pos, "grid": grid}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
