"""BEIR-style evaluation: index a corpus once (cached by content hash), run a split's queries, score docs."""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.embed import Embedder, get_embedder
from searchchat.evaluation.metrics import evaluate, percentile
from searchchat.retrieval.retriever import MODES, Retriever
from searchchat.settings import Settings

CACHE_VERSION = 2  # bump when the way eval builds its index changes (2: sentence-aligned chunk windows)


@dataclass
class BeirDataset:
    """A BEIR-layout dataset: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (query-id, corpus-id, score)."""

    root: Path
    split: str
    corpus: Path
    queries: dict[str, str]  # only the queries judged in this split, in qrels order
    qrels: dict[str, dict[str, int]]


def load_dataset(root: Path | str, split: str = "test") -> BeirDataset:
    """Read queries and judgments; the corpus is read later, by the indexer. Clear errors for a bad layout."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"No dataset folder at {root}")
    corpus, queries_file, qrels_file = (
        root / "corpus.jsonl",
        root / "queries.jsonl",
        root / "qrels" / f"{split}.tsv",
    )
    for f in (corpus, queries_file):
        if not f.is_file():
            raise FileNotFoundError(f"{root} is not a BEIR dataset: {f.name} is missing")
    if not qrels_file.is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise FileNotFoundError(
            f"No split {split!r} in {root}: qrels/{split}.tsv is missing "
            f"(available: {', '.join(splits) or 'none'})"
        )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (lineno == 1 and row[0] == "query-id"):
                continue
            try:
                qid, did, score = row[0], row[1], int(float(row[2]))
            except (IndexError, ValueError):
                raise ValueError(f"{qrels_file}:{lineno}: expected query-id, corpus-id, score") from None
            qrels.setdefault(qid, {})[did] = score
    all_queries: dict[str, str] = {}
    with queries_file.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rec = json.loads(line)
                    all_queries[str(rec["_id"])] = str(rec["text"])
                except (ValueError, KeyError, TypeError):
                    raise ValueError(
                        f"{queries_file}:{lineno}: expected a JSON object with _id and text"
                    ) from None
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise ValueError(f"{len(missing)} judged queries are not in queries.jsonl (first: {missing[0]!r})")
    if not qrels:
        raise ValueError(f"{qrels_file} has no judgments")
    return BeirDataset(root, split, corpus, {q: all_queries[q] for q in qrels}, qrels)


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(corpus: Path, settings: Settings, embedder: Embedder) -> str:
    """The corpus content hash combined with everything else that shapes the index."""
    config = {"v": CACHE_VERSION, "embedder": embedder.name, "dim": embedder.dim,
              "bf16": bool(getattr(embedder, "bf16", False)),
              "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap}  # fmt: skip
    # bf16 weights, vectors normalised in fp32: slightly other vectors than the autocast and bf16 norms of before
    if getattr(embedder, "bf16", False):
        config["bf16_scheme"] = "weights, fp32 norm"
    if getattr(embedder, "precision", "") == "int8":  # int8 vectors differ a little: their own index
        from indexer.precision import INT8_SCHEME

        config["precision"] = INT8_SCHEME
    elif getattr(embedder, "precision", "") == "onnx-int8":
        from indexer.onnx_int8 import ONNX_INT8_SCHEME

        config["precision"] = ONNX_INT8_SCHEME
    if settings.store != "local":  # another store is another index (the local key stays as it was)
        config["store"] = settings.store
    h = hashlib.sha256(file_hash(corpus).encode() + json.dumps(config, sort_keys=True).encode())
    return h.hexdigest()[:20]


def ensure_index(
    ds: BeirDataset, settings: Settings, embedder: Embedder, quiet: bool = True
) -> tuple[Path, bool]:
    """Index the corpus into settings.home/eval/<key> unless a finished index is there.
    Returns (index dir, whether it was reused)."""
    from indexer.bm25 import needs_rebuild
    from indexer.pipeline import index_sources
    from indexer.store import current_snapshot, has_index, rebuild_bm25
    from searchchat.indexing import index_options

    index_dir = settings.home / "eval" / cache_key(ds.corpus, settings, embedder)
    marker = index_dir / "eval.json"
    snap = current_snapshot(index_dir)
    if marker.is_file() and snap is not None:
        if needs_rebuild(snap):  # this cache is private to eval, so a newer BM25 format is rebuilt in place
            rebuild_bm25(snap)
        return index_dir, True
    if marker.is_file() and settings.store != "local" and has_index(settings.store, index_dir):
        return index_dir, True
    # No finished index: build it (a run killed before its commit left nothing; the writer's lock keeps a
    # second eval of the same corpus out while one builds).
    summary = index_sources(
        [str(ds.corpus)],
        index_options(settings.with_overrides(index=index_dir)),
        embedder=embedder,
        quiet=quiet,
    )
    info = {"dataset": str(ds.root), "corpus_sha256": file_hash(ds.corpus), "embedder": embedder.name,
            "summary": summary.to_dict()}  # fmt: skip
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(marker)
    return index_dir, False


@dataclass
class ModeResult:
    """One row of the eval table."""

    mode: str
    ndcg_10: float
    recall_10: float
    recall_100: float
    mrr_10: float
    p50_ms: float
    p95_ms: float
    queries: int
    cpu_p50_ms: float = 0.0  # CPU time of this process per search: what the search costs without contention


@dataclass
class EvalReport:
    dataset: str
    split: str
    index: str
    reused_index: bool
    documents: int
    chunks: int
    index_seconds: float
    k: int
    rows: list[ModeResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def doc_ranking(chunk_doc_ids: Sequence[str]) -> list[str]:
    """Chunk hits (best first) to a document ranking: each document at its best chunk (max-pooling)."""
    return list(dict.fromkeys(chunk_doc_ids))


def run_mode(
    retriever: Retriever, ds: BeirDataset, mode: str, k: int
) -> tuple[dict[str, list[str]], list[float], list[float]]:
    """Every query of the split in one mode: document rankings, and per-query wall and CPU time (ms)."""
    first = next((t for t in ds.queries.values() if t.strip()), "")
    if first:
        retriever.search(first, k=k, mode=mode)  # warm-up (lazy loads), not timed
    run: dict[str, list[str]] = {}
    wall: list[float] = []
    cpu: list[float] = []
    for qid, text in ds.queries.items():
        if not text.strip():  # a blank query in the data (CMRC 2018 has two): nothing found, scored as such
            run[qid] = []
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        result = retriever.search(text, k=k, mode=mode)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        run[qid] = doc_ranking([h.chunk.doc_id for h in result.hits])
    return run, wall, cpu


def run_eval(
    root: Path | str,
    split: str = "test",
    modes: Sequence[str] = MODES,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    k: int = 100,
    quiet: bool = True,
    retriever_options: dict[str, Any] | None = None,
    limit: int | None = None,
) -> EvalReport:
    """Index (or reuse), then score each mode: nDCG@10, Recall@10/100, MRR@10 and latency p50/p95."""
    from indexer.store import open_reader

    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    if k < 10:
        raise ValueError("k must be at least 10 (nDCG@10 and MRR@10 need ten results)")
    settings = settings or Settings()
    ds = load_dataset(root, split)
    if limit is not None:  # the first N judged queries, for quick checks
        ds.queries = dict(list(ds.queries.items())[:limit])
        ds.qrels = {q: ds.qrels[q] for q in ds.queries}
    embedder = embedder or get_embedder(settings)
    t0 = time.perf_counter()
    index_dir, reused = ensure_index(ds, settings, embedder, quiet=quiet)
    index_seconds = time.perf_counter() - t0
    store = open_reader(settings.store, index_dir)
    stats = store.stats()
    # Document-level scoring ranks each document at its best chunk, which is what a cap of one gives.
    rsettings = settings.with_overrides(per_doc_cap=1)
    retriever = Retriever(store, embedder, rsettings, **(retriever_options or {}))
    report = EvalReport(str(ds.root), split, str(index_dir), reused, stats.documents, stats.chunks,
                        round(index_seconds, 2), k)  # fmt: skip
    try:
        for mode in modes:
            run, lat, cpu = run_mode(retriever, ds, mode, k)
            scores = evaluate(run, ds.qrels, ks=(10, 100))
            report.rows.append(ModeResult(
                mode=mode, ndcg_10=scores["NDCG@10"], recall_10=scores["Recall@10"],
                recall_100=scores["Recall@100"], mrr_10=scores["MRR@10"],
                p50_ms=percentile(lat, 50), p95_ms=percentile(lat, 95), queries=len(run),
                cpu_p50_ms=percentile(cpu, 50),
            ))  # fmt: skip
    finally:
        store.close()
    return report
