"""MiniLM's texts/s by batch size and precision, side by side in one run (what `embed_batch_size` and
`BF16_SCHEME` were chosen by).

    python bench/embed_batch.py ../shared/data/scifact --sample 320

The first `sample` chunks of the dataset's cached `searchchat eval` index, sorted by length as the indexer
sorts them, embedded by each variant at each batch size, two rounds (the better counts). Variants: fp32,
bf16 autocast over fp32 weights, bf16 weights (where the CPU has native bf16) and ONNX Runtime int8 (where
onnxruntime is installed). The cosine column compares each variant's vectors with fp32's.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from embedder_speed import sample_chunks

from indexer import onnx_int8
from indexer.embed import SentenceTransformerEmbedder
from indexer.precision import cpu_flags, cpu_supports_bf16

Variant = Callable[[list[str], int], np.ndarray]


def variants() -> dict[str, Variant]:
    """Each precision this CPU can run, as a function of (texts, batch size)."""
    fp32 = SentenceTransformerEmbedder(precision="fp32")
    out: dict[str, Variant] = {"fp32": lambda texts, bs: fp32.embed(texts, batch_size=bs)}
    if cpu_supports_bf16():

        def autocast(texts: list[str], bs: int) -> np.ndarray:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fp32.embed(texts, batch_size=bs)

        weights = SentenceTransformerEmbedder(precision="bf16")
        out["bf16 autocast"] = autocast
        out["bf16 weights"] = lambda texts, bs: weights.embed(texts, batch_size=bs)
    if onnx_int8.available():
        onnx = SentenceTransformerEmbedder(precision="onnx-int8")
        out["onnx-int8"] = lambda texts, bs: onnx.embed(texts, batch_size=bs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--sample", type=int, default=320)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64])
    args = ap.parse_args()
    texts, _ = sample_chunks(args.dataset, args.sample)
    texts.sort(key=len, reverse=True)
    flags = " ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni") if f in cpu_flags().split())
    print(f"{len(texts)} chunks of {args.dataset.name}; CPU flags: {flags or 'none of avx512_bf16/amx/vnni'}; "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    runs = variants()
    best: dict[tuple[str, int], float] = {}
    cos: dict[str, float] = {}
    ref = runs["fp32"](texts, 16)
    for _ in range(2):
        for name, run in runs.items():
            run(texts[:4], 4)  # warm-up
            for bs in args.batches:
                t0 = time.perf_counter()
                vecs = run(texts, bs)
                best[name, bs] = max(best.get((name, bs), 0.0), len(texts) / (time.perf_counter() - t0))
                cos[name] = float(np.sum(vecs * ref, axis=1).min())
    print(
        f"{'texts/s':16s}"
        + "".join(f"{'batch ' + str(bs):>11s}" for bs in args.batches)
        + "  cosine to fp32 min"
    )
    for name in runs:
        print(
            f"{name:16s}" + "".join(f"{best[name, bs]:11.1f}" for bs in args.batches) + f"  {cos[name]:.4f}"
        )
    with contextlib.suppress(KeyError):
        print(
            f"bf16 weights / autocast at batch 16: {best['bf16 weights', 16] / best['bf16 autocast', 16]:.2f}x"
        )


if __name__ == "__main__":
    main()
