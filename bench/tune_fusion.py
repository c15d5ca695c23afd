"""Choose the hybrid fusion on a BEIR *train* split: RRF vs convex (min-max / z-score) score fusion, and BM25
over chunk text vs title + text. Document-level nDCG@10, as `searchchat eval` scores it.

    python bench/tune_fusion.py /work/shared/data/scifact --split train

Reuses (or builds) the same cached index as `searchchat eval`. Never tune on the test split.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bm25s
import numpy as np

from indexer.bm25 import stemmer
from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.evaluation.beir import doc_ranking, ensure_index, load_dataset
from searchchat.evaluation.metrics import evaluate
from searchchat.retrieval.lexical import LexicalIndex
from searchchat.retrieval.retriever import CANDIDATES, Scored, convex, rrf
from searchchat.settings import Settings


def text_only_bm25(store: IndexStore, k1: float = 1.5, b: float = 0.75) -> LexicalIndex:
    """A BM25 index over chunk text alone (no title), built in memory from the snapshot's chunks."""
    rows = [(c.chunk_id, c.text) for c in store.all_chunks()]
    lex = LexicalIndex.__new__(LexicalIndex)
    lex.ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    lex.stemmer = stemmer()
    toks = bm25s.tokenize([r[1] for r in rows], stopwords="en", stemmer=lex.stemmer, return_ids=False,
                          show_progress=False)  # fmt: skip
    lex.retriever = bm25s.BM25(k1=k1, b=b)
    lex.retriever.index(toks, show_progress=False)
    return lex


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", type=Path, help="write all figures as JSON here")
    args = ap.parse_args()
    if args.split == "test":
        raise SystemExit("tune on a training split, not on test")
    settings = Settings()
    ds = load_dataset(args.dataset, args.split)
    embedder = get_embedder(settings)
    index_dir, _ = ensure_index(ds, settings, embedder, quiet=False)
    store = IndexStore.open(index_dir)
    doc_of = {c.chunk_id: c.doc_id for c in store.all_chunks()}
    qids, texts = list(ds.queries), list(ds.queries.values())
    t0 = time.perf_counter()
    vecs = embedder.embed_queries(texts)
    print(f"{len(qids)} queries embedded in {time.perf_counter() - t0:.1f} s")

    dense = {q: store.dense_search(v, CANDIDATES) for q, v in zip(qids, vecs, strict=True)}
    lexicals = {"title+text": LexicalIndex(store.path), "text": text_only_bm25(store)}
    for k1, b in ((0.9, 0.4), (1.2, 0.75), (1.2, 0.5), (2.0, 0.75)):
        lex = text_only_bm25(store, k1, b)  # BM25 parameter check (text only; title handled separately)
        lexicals[f"text k1={k1} b={b}"] = lex
    bm25 = {name: {q: lex.search(t, CANDIDATES) for q, t in zip(qids, texts, strict=True)}
            for name, lex in lexicals.items()}  # fmt: skip

    def score(lists: dict[str, Scored]) -> float:
        run = {q: doc_ranking([doc_of[c] for c, _ in lst]) for q, lst in lists.items()}
        return evaluate(run, ds.qrels, ks=(10,))["NDCG@10"]

    results: dict[str, float] = {"dense": score(dense)}
    for name, lists in bm25.items():
        results[f"bm25 [{name}]"] = score(lists)
    for name in ("title+text", "text"):
        lex = bm25[name]
        for k in (10, 20, 40, 60, 100):
            results[f"rrf k={k} [{name}]"] = score({q: rrf([dense[q], lex[q]], k=k) for q in qids})
        for method in ("minmax", "zscore"):
            for alpha in np.round(np.arange(0.1, 0.95, 0.1), 2):
                fused = {q: convex(dense[q], lex[q], float(alpha), method) for q in qids}
                results[f"convex {method} alpha={alpha:.1f} [{name}]"] = score(fused)
    width = max(len(n) for n in results)
    for name, value in results.items():
        print(f"{name:<{width}}  {value:.4f}")
    best = max((n for n in results if n.startswith(("rrf", "convex"))), key=results.__getitem__)
    print(f"\nbest fusion on {args.split}: {best}  nDCG@10 {results[best]:.4f}")
    if args.out:
        args.out.write_text(json.dumps({"split": args.split, "ndcg@10": results, "best": best}, indent=1))


if __name__ == "__main__":
    main()
