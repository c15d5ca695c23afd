"""Where an answer's time goes before its first token: search, evidence reranking, candidate scoring, the
preview and the first token, p50 over the latency bench's questions, in this process.

    python bench/answer_stages.py [--covidqa 15] [--demo 5]

The same questions as bench/latency.py (COVID-QA test questions, then demo questions), the default settings,
one warm-up question not counted. Each stage is timed by wrapping the Answerer's own methods.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def timed(obj: Any, attr: str, into: list[float]) -> None:
    """Replace obj.attr by a wrapper that appends each call's seconds to `into`."""
    inner: Callable[..., Any] = getattr(obj, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    setattr(obj, attr, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--covidqa", type=int, default=15)
    ap.add_argument("--demo", type=int, default=5)
    args = ap.parse_args()
    from covidqa_common import covid_index, demo_index, questions, retriever
    from latency import cpu_flags, time_one

    from indexer.embed import get_embedder
    from searchchat.answering.pipeline import Answerer
    from searchchat.evaluation.qa import load_qa, resolve
    from searchchat.generators import get_generator
    from searchchat.settings import Settings

    settings = Settings()
    embedder, generator = get_embedder(settings), get_generator(settings)
    qa_file, _ = resolve(HERE.parent.parent / "shared" / "data" / "covidqa")
    ids = set((HERE / "data" / "covidqa_test_ids.txt").read_text().split())
    covid_qs = [q.question for q in load_qa(qa_file) if q.qid in ids][: args.covidqa]
    times: dict[str, list[float]] = defaultdict(list)
    runs = []
    for index_dir, qs in ((covid_index(settings, embedder, qa_file.parent), covid_qs),
                          (demo_index(settings, embedder), questions("demo_questions")[: args.demo])):  # fmt: skip
        r = retriever(index_dir, embedder, settings)
        answerer = Answerer(r, generator, r.settings)
        timed(r, "search", times["search"])
        if answerer.evidence is not None:
            timed(answerer.evidence, "rerank", times["evidence rerank"])
        timed(answerer, "candidates", times["candidates"])
        runs.append((answerer, qs))
    time_one(runs[0][0], runs[0][1][0])  # warm-up
    for values in times.values():
        values.clear()  # in place: the wrappers hold these lists
    for answerer, qs in runs:
        for q in qs:
            row = time_one(answerer, q)
            for key in ("preview", "first"):
                if row[key] == row[key]:  # not NaN: the question got a preview / tokens
                    times[key].append(row[key])
    print(cpu_flags())
    for name, values in times.items():
        print(f"{name:16s} n={len(values):3d}  p50 {1000 * statistics.median(values):7.1f} ms")


if __name__ == "__main__":
    main()
