"""MiniLM's texts/s by batching policy and precision, side by side in one run (what `EMBED_BATCH_TOKENS`,
`embed_batch_tokens` and bf16 weights were chosen by).

    python bench/embed_batch.py ../shared/data/scifact --sample 320 --sentences 600

Two sets of texts: the first `sample` chunks of the dataset's cached `searchchat eval` index (what indexing
embeds) and the sentences of its first documents (what the evidence reranker and the citation checker embed).
Each precision embeds each set under each policy, two rounds (the better counts): a fixed number of texts per
call after sorting by length ("16 texts"), or batches of about N padded tokens ("2048 tokens": long texts a few
at a time, short ones many; indexer.embed.token_batches). Precisions: fp32, bf16 weights and, for reference,
bf16 autocast over fp32 weights (where the CPU has native bf16), and ONNX Runtime int8 (where installed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from embedder_speed import sample_chunks

from indexer import onnx_int8
from indexer.embed import SentenceTransformerEmbedder
from indexer.precision import cpu_flags, cpu_supports_bf16
from searchchat.text import split_sentences

Policy = str  # "16 texts" or "2048 tokens"


def embed_with(emb: SentenceTransformerEmbedder, texts: list[str], policy: Policy) -> np.ndarray:
    """Embed `texts` under `policy`."""
    size, unit = policy.split()
    if unit == "tokens":
        return emb.embed(texts, batch_tokens=int(size))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.zeros((len(texts), emb.dim), dtype=np.float32)
    for start in range(0, len(order), int(size)):
        idx = order[start : start + int(size)]
        out[idx] = emb.embed_batch([texts[i] for i in idx])
    return out


def precisions() -> Iterator[
    tuple[str, SentenceTransformerEmbedder, Callable[[], contextlib.AbstractContextManager[object]]]
]:
    """(name, embedder, context to run it in) for each precision this CPU runs."""
    none = contextlib.nullcontext
    fp32 = SentenceTransformerEmbedder(precision="fp32")
    yield "fp32", fp32, none
    if cpu_supports_bf16():
        yield "bf16 weights", SentenceTransformerEmbedder(precision="bf16"), none
        yield "bf16 autocast", fp32, lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if onnx_int8.available():
        yield "onnx-int8", SentenceTransformerEmbedder(precision="onnx-int8"), none


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--sample", type=int, default=320)
    ap.add_argument("--sentences", type=int, default=600)
    ap.add_argument(
        "--policies", nargs="+", default=["16 texts", "64 texts", "1024 tokens", "2048 tokens", "4096 tokens"]
    )
    args = ap.parse_args()
    chunks, _ = sample_chunks(args.dataset, args.sample)
    sentences: list[str] = []
    with (args.dataset / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            sentences += [s for s in split_sentences(json.loads(line)["text"]) if len(s) >= 16]
            if len(sentences) >= args.sentences:
                break
    sets = {"chunks": chunks, "sentences": sentences[: args.sentences]}
    flags = " ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni") if f in cpu_flags().split())
    print(f"{args.dataset.name}: {len(chunks)} chunks, {len(sets['sentences'])} sentences; CPU flags: "
          f"{flags or 'none of avx512_bf16/amx/vnni'}; torch threads {torch.get_num_threads()}")  # fmt: skip
    runs = list(precisions())
    best: dict[tuple[str, str, str], float] = {}
    for _ in range(2):
        for name, emb, ctx in runs:
            with ctx():
                emb.embed(chunks[:4])  # warm-up
                for set_name, texts in sets.items():
                    for policy in args.policies:
                        t0 = time.perf_counter()
                        embed_with(emb, texts, policy)
                        rate = len(texts) / (time.perf_counter() - t0)
                        key = (name, set_name, policy)
                        best[key] = max(best.get(key, 0.0), rate)
    for set_name in sets:
        print(f"\n{set_name}, texts/s" + "".join(f"{p:>13s}" for p in args.policies))
        for name, _, _ in runs:
            print(f"{name:20s}" + "".join(f"{best[name, set_name, p]:13.1f}" for p in args.policies))


if __name__ == "__main__":
    main()
