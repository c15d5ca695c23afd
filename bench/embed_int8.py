"""MiniLM in fp32, bf16 autocast, torch int8 and ONNX Runtime int8 side by side in one run: texts/s, cosine to
fp32, and mixed indexes.

    python bench/embed_int8.py /work/shared/data/scifact /work/shared/data/cranfield --sample 96
    python bench/embed_int8.py /work/shared/data/scifact --speed-only    # the corpus' first documents, no index

Speed: the first `sample` chunks of the first dataset's fp32 eval index, embedded by each precision in turn,
three rounds (the best counts: the machine is shared). Mixed: each dataset's fp32 eval index searched with
int8 query vectors (dense and hybrid nDCG@10), which is what an index built where int8 is not the default
meets on a machine where it is. `searchchat eval` with SEARCHCHAT_EMBED_PRECISION=fp32|int8 gives the
same-precision figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from indexer.chunk import embed_text
from indexer.embed import SentenceTransformerEmbedder
from indexer.store import open_reader
from searchchat.evaluation.beir import ensure_index, load_dataset, run_mode
from searchchat.evaluation.metrics import evaluate
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings

PRECISIONS = ("fp32", "bf16", "int8", "onnx-int8")


def speeds(texts: list[str], embedders: dict[str, SentenceTransformerEmbedder], rounds: int = 3) -> None:
    """Print texts/s of each precision (best of `rounds`) and its cosine to fp32 on the same texts."""
    best: dict[str, float] = {}
    vecs: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, emb in embedders.items():
            emb.embed(texts[:4])  # warm-up
            t0 = time.perf_counter()
            vecs[name] = emb.embed(texts)
            best[name] = max(best.get(name, 0.0), len(texts) / (time.perf_counter() - t0))
    for name, rate in best.items():
        cos = np.sum(vecs[name] * vecs["fp32"], axis=1)
        print(f"  {name:5s} {rate:6.1f} texts/s  {rate / best['fp32']:.2f}x fp32  "
              f"cosine to fp32 min {cos.min():.4f} mean {cos.mean():.4f}")  # fmt: skip


def mixed(dataset: Path, fp32: SentenceTransformerEmbedder, int8: SentenceTransformerEmbedder) -> list[str]:
    """The fp32 index of `dataset` searched with fp32 and with int8 queries; returns its chunk texts."""
    settings = Settings(embedder="minilm", embed_precision="fp32")
    ds = load_dataset(dataset, "test")
    index_dir, _ = ensure_index(ds, settings, fp32)
    store = open_reader(settings.store, index_dir)
    try:
        texts = [embed_text(c) for c in store.all_chunks()]
        for label, emb in (("fp32 queries", fp32), ("int8 queries", int8)):
            retriever = Retriever(store, emb, settings.with_overrides(per_doc_cap=1))
            row = []
            for mode in ("dense", "hybrid"):
                run, _, _ = run_mode(retriever, ds, mode, 100)
                row.append(f"{mode} nDCG@10 {evaluate(run, ds.qrels, ks=(10,))['NDCG@10']:.4f}")
            print(f"  {dataset.name} fp32 index, {label}: " + ", ".join(row))
    finally:
        store.close()
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", type=Path, nargs="+")
    ap.add_argument("--sample", type=int, default=96)
    ap.add_argument("--speed-only", action="store_true", help="time the first corpus documents; no indexes")
    args = ap.parse_args()
    embedders = {p: SentenceTransformerEmbedder(precision=p) for p in PRECISIONS}
    for name, emb in embedders.items():
        assert emb.precision == name, f"{name} resolves to {emb.precision} on this CPU"
    if args.speed_only:
        with (args.datasets[0] / "corpus.jsonl").open(encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line, _ in zip(fh, range(args.sample), strict=False)]
    else:
        texts = mixed(args.datasets[0], embedders["fp32"], embedders["int8"])[: args.sample]
        for dataset in args.datasets[1:]:
            mixed(dataset, embedders["fp32"], embedders["int8"])
    chars = sum(map(len, texts)) / len(texts)
    print(f"speed on {len(texts)} chunks of {args.datasets[0].name} ({chars:.0f} characters each):")
    speeds(texts, embedders)


if __name__ == "__main__":
    main()
