"""Indexing throughput: docs/s and chunks/s end to end, against a bare SentenceTransformer.encode.

    python bench/index_throughput.py ../shared/data/scifact/corpus.jsonl [--limit N]

Indexes the file into a fresh temporary index with the real pipeline, then encodes the very same chunk
texts with the same embedder alone (`Embedder.embed`: sorted by length, `embed_batch_tokens` per call, in the
precision "auto" picks on this CPU, or SEARCHCHAT_EMBED_PRECISION) and prints the ratio of the two throughputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--limit", type=int, default=0, help="index only the first N lines of a JSONL file")
    args = ap.parse_args()

    import torch

    from indexer.chunk import embed_text
    from indexer.embed import SentenceTransformerEmbedder
    from indexer.pipeline import index_sources
    from indexer.store import IndexStore
    from searchchat.indexing import index_options
    from searchchat.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    source = Path(args.source)
    if args.limit:
        cut = tmp / source.name
        with source.open() as src, cut.open("w") as dst:
            for i, line in enumerate(src):
                if i >= args.limit:
                    break
                dst.write(line)
        source = cut
    settings = Settings(home=tmp / "home", embedder="minilm")
    embedder = SentenceTransformerEmbedder(precision=settings.embed_precision)
    embedder.embed(["warm up"] * 8)

    t0 = time.perf_counter()
    summary = index_sources([str(source)], index_options(settings), embedder=embedder, quiet=True)
    wall = time.perf_counter() - t0
    texts = [embed_text(c) for c in IndexStore.open(settings.index_dir).all_chunks()]

    t1 = time.perf_counter()
    embedder.embed(texts, batch_tokens=settings.embed_batch_tokens)
    bare = time.perf_counter() - t1

    pipeline_rate = summary.chunks_added / wall
    bare_rate = len(texts) / bare
    print(json.dumps({
        "source": args.source, "documents": summary.pages_fetched, "chunks": summary.chunks_added,
        "seconds": round(wall, 1), "docs_per_s": round(summary.pages_fetched / wall, 2),
        "chunks_per_s": round(pipeline_rate, 2), "embed_seconds_in_pipeline": round(summary.embed_seconds, 1),
        "bare_encode_seconds": round(bare, 1), "bare_encode_texts_per_s": round(bare_rate, 2),
        "ratio_end_to_end_vs_bare": round(pipeline_rate / bare_rate, 3), "precision": embedder.precision,
        "batch_tokens": settings.embed_batch_tokens,
        "torch_threads": torch.get_num_threads(),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
