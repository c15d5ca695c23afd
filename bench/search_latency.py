"""Where search time goes: per-stage p50/p95 (embed, dense, BM25, fuse, fetch) over a BEIR split's queries.

    python bench/search_latency.py /work/shared/data/scifact --split test -n 200 [-k 10] [--threads 1]

Uses the cached eval index (built by `searchchat eval` on first use). Numbers depend on machine load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.evaluation.beir import ensure_index, load_dataset
from searchchat.evaluation.metrics import percentile
from searchchat.retrieval.retriever import MODES, Retriever
from searchchat.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("-n", type=int, default=200, help="queries per mode")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings()
    ds = load_dataset(args.dataset, args.split)
    embedder = get_embedder(settings)
    index_dir, _ = ensure_index(ds, settings, embedder)
    store = IndexStore.open(index_dir)
    retriever = Retriever(store, embedder, settings)
    queries = list(ds.queries.values())[: args.n]
    print(
        f"torch threads {torch.get_num_threads()}, {store.stats().chunks} chunks, k={args.k}, "
        f"{len(queries)} queries"
    )
    for mode in MODES:
        retriever.search(queries[0], k=args.k, mode=mode)  # warm-up
        stages: dict[str, list[float]] = {}
        wall: list[float] = []
        for q in queries:
            t0 = time.perf_counter()
            res = retriever.search(q, k=args.k, mode=mode)
            wall.append((time.perf_counter() - t0) * 1000)
            for name, ms in res.timings.items():
                stages.setdefault(name, []).append(ms)
        parts = "  ".join(f"{n} {percentile(v, 50):.2f}/{percentile(v, 95):.2f}" for n, v in stages.items())
        print(f"{mode:<7} wall p50 {percentile(wall, 50):6.2f} p95 {percentile(wall, 95):6.2f} ms | {parts}")


if __name__ == "__main__":
    main()
