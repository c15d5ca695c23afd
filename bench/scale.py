"""Exact FAISS flat against the store's ANN index, or Milvus Lite, on realistic synthetic chunks: build, memory,
latency, recall.

    python bench/scale.py --sizes 100000 1000000 --out bench/results/scale.txt
    python bench/scale.py --store milvus --sizes 100000 --out bench/results/scale.txt

The vectors are not uniform noise. SciFact passages (title + abstract halves) are embedded with the packaged
MiniLM; each synthetic chunk is a passage's vector, sometimes mixed with a second passage's, plus Gaussian noise
shaped like the passages' own covariance, normalised. Queries are SciFact's real claims, held out of the bases.
Searches go one query at a time, one FAISS thread and k=100 candidates, as the server's retriever does; recall@10
is the share of exact search's top 10 found in the ANN's top 10. Built ANN indexes are kept in --cache and reused.

--store milvus writes the same chunks through the Milvus store's own writer (SEARCHCHAT_STORE=milvus:///...db,
Milvus Lite in this process): each chunk carries the text of the passage its vector was drawn around (the BM25
field is filled from it, as when indexing), four chunks a document, one run, one commit. Then it searches the
dense leg as the retriever does (store.search_dense, k=100) and compares with exact search over the same vectors.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.options import AnnOptions
from indexer.store import ann
from indexer.store.ann import DenseIndex, FilterCache, build, plan

CANDIDATES = 100  # what searchchat.retrieval.retriever asks the dense leg for
BUILD_THREADS = faiss.omp_get_max_threads()  # builds use them all; each query gets one, as the server's
SPREAD = 0.75  # the mean cosine of a synthetic chunk to the passage it was drawn around


@dataclass
class Row:
    """One index at one size, searched with one setting."""

    size: int
    index: str
    params: str
    build_s: float
    memory_mb: float  # the index as a reader holds it (flat: vectors and ids; ANN: its file)
    p50_ms: float
    p95_ms: float
    recall10: float


def passages(corpus: Path, limit: int) -> list[str]:
    """Chunk-sized passages: each document's title with the first and second half of its abstract's sentences."""
    out: list[str] = []
    for line in corpus.read_text().splitlines():
        doc = json.loads(line)
        sents = re.split(r"(?<=[.!?])\s+", doc.get("text", ""))
        half = max(1, len(sents) // 2)
        for part in (sents[:half], sents[half:]):
            if part:
                out.append(f"{doc.get('title', '')}. {' '.join(part)}"[:1500])
    return out[:limit]


def real_vectors(data: Path, cache: Path, bases: int) -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, query vectors) from MiniLM, embedded once and cached."""
    path = cache / f"scifact-minilm-{bases}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["bases"], saved["queries"]
    from indexer.embed import get_embedder
    from indexer.options import IndexOptions

    embedder = get_embedder(IndexOptions(cache, "minilm", "auto", 64, 256, 32, 4000))
    texts = passages(data / "corpus.jsonl", bases)
    queries = [json.loads(line)["text"] for line in (data / "queries.jsonl").read_text().splitlines()]
    t0 = time.perf_counter()
    base_vecs = np.vstack([embedder.embed_batch(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    query_vecs = embedder.embed_batch(queries)
    print(f"embedded {len(texts)} passages and {len(queries)} queries in {time.perf_counter() - t0:.0f} s")
    np.savez(path, bases=base_vecs, queries=query_vecs)
    return base_vecs, query_vecs


def synthetic(
    bases: np.ndarray, n: int, seed: int = 0, block: int = 100_000, origins: list[np.ndarray] | None = None
) -> tuple[faiss.Index, float]:
    """A flat IndexIDMap2 of n synthetic chunk vectors around the passages (ids 1..n, as SQLite gives them),
    and the seconds spent adding them to it. `origins` gets, block by block, the passage each was drawn around."""
    rng = np.random.default_rng(seed)
    centred = bases - bases.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(centred.T @ centred / len(bases))
    shape = (np.sqrt(np.clip(eigval, 0, None))[:, None] * eigvec.T).astype(np.float32)  # noise ~ N(0, cov)
    scale = np.sqrt((1 / SPREAD**2 - 1) / eigval.clip(0).sum())
    flat, adding = faiss.IndexIDMap2(faiss.IndexFlatIP(bases.shape[1])), 0.0
    for start in range(0, n, block):
        m = min(block, n - start)
        origin = rng.integers(len(bases), size=m)
        if origins is not None:
            origins.append(origin)
        v = bases[origin].copy()
        mixed = rng.random(m) < 0.5
        v[mixed] += (
            rng.uniform(0, 0.5, (int(mixed.sum()), 1)) * bases[rng.integers(len(bases), size=mixed.sum())]
        )
        v += scale * (rng.standard_normal((m, bases.shape[1]), dtype=np.float32) @ shape)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        t0 = time.perf_counter()
        flat.add_with_ids(v.astype(np.float32), np.arange(start + 1, start + m + 1, dtype=np.int64))
        adding += time.perf_counter() - t0
    return flat, adding


def timed_search(
    index: DenseIndex, queries: np.ndarray, allowed: np.ndarray | None = None, cache_key: Any = None
) -> tuple[list[list[int]], float, float]:
    """Top-100 ids per query (one at a time, one thread) and the p50, p95 in ms. With `cache_key`, the
    filter's prepared selection is kept from the warm-up query on, as a reader keeps it per (version, filter)."""
    faiss.omp_set_num_threads(1)
    index.search(queries[0], CANDIDATES, allowed, cache_key=cache_key)  # warm-up
    found, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = index.search(q, CANDIDATES, allowed, cache_key=cache_key)
        times.append((time.perf_counter() - t0) * 1000)
        found.append([cid for cid, _ in hits])
    faiss.omp_set_num_threads(BUILD_THREADS)
    return found, float(np.percentile(times, 50)), float(np.percentile(times, 95))


def recall10(found: Sequence[Sequence[int]], exact: Sequence[Sequence[int]]) -> float:
    return float(
        np.mean(
            [len(set(f[:10]) & set(e[:10])) / max(1, len(e[:10])) for f, e in zip(found, exact, strict=True)]
        )
    )


def ann_index(flat: faiss.Index, options: AnnOptions, cache: Path) -> tuple[DenseIndex, float, float]:
    """The store's ANN index over `flat` (built, or read back from --cache), its build seconds and memory MB."""
    record = plan(dataclasses.replace(options, threshold=1), flat.ntotal)
    assert record is not None
    name = "-".join(
        f"{k}{v}" for k, v in record.to_dict().items() if k not in ("file", "ef_search", "ivf_nprobe")
    )
    path, meta = cache / f"{name}.faiss", cache / f"{name}.json"
    if path.exists() and meta.exists():
        built = json.loads(meta.read_text())
        return DenseIndex(faiss.read_index(str(path)), record), built["build_s"], built["memory_mb"]
    t0 = time.perf_counter()
    index = build(flat, record)
    build_s = time.perf_counter() - t0
    faiss.write_index(index, str(path))
    memory_mb = path.stat().st_size / 2**20  # what a reader holds: the index as written
    meta.write_text(json.dumps({"build_s": build_s, "memory_mb": memory_mb}))
    return DenseIndex(index, record), build_s, memory_mb


def run_size(n: int, args: argparse.Namespace, bases: np.ndarray, queries: np.ndarray) -> list[Row]:
    flat, flat_s = synthetic(bases, n)
    flat_mb = n * (4 * flat.d + 8) / 2**20  # vectors and ids
    exact_index = DenseIndex(flat)
    exact, p50, p95 = timed_search(exact_index, queries)
    rows = [Row(n, "flat", "exact", flat_s, flat_mb, p50, p95, 1.0)]
    print(rows[-1], flush=True)
    for kind in args.kinds:
        options = AnnOptions(kind=kind, hnsw_m=args.m, ef_construction=args.ef_construction)
        index, build_s, memory_mb = ann_index(flat, options, args.cache)
        assert index.record is not None
        sweep = args.ef_search if kind == "hnsw" else args.nprobe
        for value in sweep:
            field = "ef_search" if kind == "hnsw" else "ivf_nprobe"
            index.record = dataclasses.replace(index.record, **{field: value})
            found, p50, p95 = timed_search(index, queries)
            params = ", ".join(
                f"{k}={v}" for k, v in index.record.to_dict().items() if k not in ("kind", "file", "vectors")
            )
            rows.append(Row(n, kind, params, build_s, memory_mb, p50, p95, recall10(found, exact)))
            print(rows[-1], flush=True)
        for share in args.filter_shares:
            allowed = np.sort(
                np.random.default_rng(1).choice(np.arange(1, n + 1), int(n * share), replace=False)
            )
            exact_f, _, _ = timed_search(exact_index, queries[:50], allowed)
            index.record = dataclasses.replace(
                index.record, ef_search=args.ef_search[0], ivf_nprobe=args.nprobe[0]
            )
            t0 = time.perf_counter()
            chosen = index.select(allowed)  # what the first search under a filter prepares
            prepare_ms = (time.perf_counter() - t0) * 1000
            path = "exact over the subset" if chosen.vectors is not None else "bitmap walk"
            del chosen
            for cached in (False, True):
                index.filters = FilterCache()
                key = ("bench", share) if cached else None
                found, p50, p95 = timed_search(index, queries[:50], allowed, cache_key=key)
                how = f"cached (prepared once in {prepare_ms:.1f} ms)" if cached else "prepared per query"
                label = f"filter {share:.0%} of chunks ({len(allowed)}), {path}, {how}"
                rows.append(Row(n, kind, label, build_s, memory_mb, p50, p95, recall10(found, exact_f)))
                print(rows[-1], flush=True)
        del index
    return rows


def rss_mb() -> float:
    """This process's resident memory (Milvus Lite runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_milvus(n: int, args: argparse.Namespace, bases: np.ndarray, queries: np.ndarray) -> list[Row]:
    """Milvus Lite through the store's writer and reader, against exact search over the same vectors."""
    import shutil

    from indexer.document import Chunk, Document
    from indexer.store import open_reader, open_writer

    origins: list[np.ndarray] = []
    flat, flat_s = synthetic(bases, n, origins=origins)
    origin = np.concatenate(origins)
    exact, p50, p95 = timed_search(DenseIndex(flat), queries)
    rows = [Row(n, "flat", "exact", flat_s, n * (4 * flat.d + 8) / 2**20, p50, p95, 1.0)]
    print(rows[-1], flush=True)
    texts = passages(args.data / "corpus.jsonl", args.bases)
    xb, _ = ann.flat_contents(flat)
    where = args.cache / f"milvus-{n}"
    shutil.rmtree(where, ignore_errors=True)
    store, index_dir = f"milvus://{where / 'lite.db'}", where / "index"
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    with open_writer(store, index_dir, "synthetic-minilm", flat.d) as writer:
        for first in range(0, n, 4):
            doc = Document(doc_id=f"syn{first // 4}", url=f"synthetic://{first // 4}", title=f"Synthetic {first // 4}",
                           source="synthetic", content_hash=f"h{first // 4}", doctype="text")  # fmt: skip
            last = min(n, first + 4)
            chunks = [Chunk(None, doc.doc_id, doc.url, doc.title, "", texts[origin[i]], position=i - first)
                      for i in range(first, last)]  # fmt: skip
            writer.upsert_document(doc, chunks, np.ascontiguousarray(xb[first:last]))
            if (first // 4) % 25_000 == 0:
                print(f"  milvus: {first:,} chunks written, {time.perf_counter() - t0:.0f} s", flush=True)
        writer.touch_source("synthetic", "folder")
        writer.commit()
    insert_s = time.perf_counter() - t0
    reader = open_reader(store, index_dir)
    assert reader.stats().chunks == n
    assert reader.get_chunks([n])[n].text == texts[origin[n - 1]]  # chunk ids 1..n, as the flat index's
    found, times = [], []
    reader.search_dense(queries[0], CANDIDATES)  # warm-up (Milvus Lite loads the collection)
    for q in queries:
        t1 = time.perf_counter()
        hits = reader.search_dense(q, CANDIDATES)
        times.append((time.perf_counter() - t1) * 1000)
        found.append([cid for cid, _ in hits])
    gc.collect()
    memory = rss_mb() - before
    disk = sum(f.stat().st_size for f in where.rglob("*") if f.is_file()) / 2**20
    params = (f"Milvus Lite, FLAT/IP, via the store: {n / insert_s:,.0f} chunks/s inserted, "
              f"{disk:,.0f} MB on disk")  # fmt: skip
    p50, p95 = float(np.percentile(times, 50)), float(np.percentile(times, 95))
    rows.append(Row(n, "milvus-lite", params, insert_s, memory, p50, p95, recall10(found, exact)))
    print(rows[-1], flush=True)
    return rows


def table(rows: Sequence[Row]) -> str:
    head = "| chunks | index | search parameters | build s | index MB | p50 ms | p95 ms | recall@10 |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {r.index} | {r.params} | {r.build_s:.1f} | {r.memory_mb:.0f} | {r.p50_ms:.2f} | "
            f"{r.p95_ms:.2f} | {r.recall10:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/scifact"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["hnsw"], choices=["hnsw", "ivf"])
    ap.add_argument("--bases", type=int, default=8000, help="SciFact passages embedded as centres")
    ap.add_argument("--queries", type=int, default=300, help="SciFact claims searched (held out)")
    ap.add_argument("--m", type=int, default=AnnOptions.hnsw_m)
    ap.add_argument("--ef-construction", type=int, default=AnnOptions.ef_construction)
    ap.add_argument(
        "--ef-search", type=int, nargs="+", default=[AnnOptions.ef_search], help="first: filtered"
    )
    ap.add_argument("--nprobe", type=int, nargs="+", default=[AnnOptions.ivf_nprobe], help="first: filtered")
    ap.add_argument("--filter-shares", type=float, nargs="*", default=[0.01, 0.05, 0.2])
    ap.add_argument(
        "--exact-subset", type=int, default=ann.EXACT_SUBSET, help="filters searched exactly up to"
    )
    ap.add_argument("--store", choices=["local", "milvus"], default="local",
                    help="local: flat and the ANN index; milvus: flat and Milvus Lite through the store")  # fmt: skip
    ap.add_argument("--cache", type=Path, default=Path("/tmp/searchchat-scale"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    ann.EXACT_SUBSET = args.exact_subset
    bases, queries = real_vectors(args.data, args.cache, args.bases)
    queries = queries[np.random.default_rng(2).permutation(len(queries))[: args.queries]]
    run = run_milvus if args.store == "milvus" else run_size
    rows = [row for n in args.sizes for row in run(n, args, bases, queries)]
    text = (
        f"bench/scale.py {len(bases)} SciFact MiniLM passages as centres, {len(queries)} held-out claims, "
        f"k={CANDIDATES}, 1 FAISS thread per query; build with {BUILD_THREADS} threads; filters of at most "
        f"{ann.EXACT_SUBSET:,} chunks searched exactly"
        + (
            "; milvus-lite: build s = writing and committing the chunks through the store (texts, BM25 field, "
            "documents), index MB = growth of this process's RSS (Milvus Lite runs in it) until after the searches"
            if args.store == "milvus"
            else ""
        )
        + "\n\n"
        + table(rows)
    )
    print(text)
    if args.out:
        with args.out.open("a") as fh:  # appended: one run per size keeps a slow size from holding the rest
            fh.write(text + "\n\n")


if __name__ == "__main__":
    main()
