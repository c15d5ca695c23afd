"""Does the few-shot example help the small model? The same COVID-QA sample answered with and without
prompt.FEW_SHOT, scored like `searchchat eval-qa` (answer F1, citation precision/recall, abstention, speed).

    nice -n 10 python bench/covidqa_prompt.py --limit 30 --seed 7 --out bench/results/prompt.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from covidqa_common import COVIDQA, covid_index, retriever

from indexer.embed import get_embedder
from searchchat.answering.pipeline import Answerer
from searchchat.evaluation.qa import format_report, load_qa, run_qa, sample, summarise
from searchchat.generators import get_generator
from searchchat.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--generator", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    settings = Settings().with_overrides(generator=args.generator, max_new_tokens=args.max_new_tokens)
    embedder = get_embedder(settings)
    r = retriever(covid_index(settings, embedder, COVIDQA), embedder, settings)
    gen = get_generator(settings)
    items = sample(load_qa(COVIDQA / "qa.jsonl"), args.limit, args.seed)
    out = {}
    for few_shot in (False, True):
        records = run_qa(Answerer(r, gen, r.settings, few_shot=few_shot), items)
        report = summarise(records, {"few_shot": few_shot, **vars(args), "out": str(args.out)})
        print(f"--- few_shot={few_shot}\n{format_report(report)}", flush=True)
        out[str(few_shot)] = {"report": report.to_dict(), "records": [r.__dict__ for r in records]}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
