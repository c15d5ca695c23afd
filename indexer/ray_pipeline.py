"""The indexing pipeline as a Ray Data job: shards read and chunked in tasks, an embedding actor pool, one commit."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.embed import Embedder, get_embedder
from indexer.events import Done
from indexer.fingerprint import recheck
from indexer.options import IndexOptions
from indexer.pipeline import IndexSummary, _estimate_total, _handle, _Run, finish_run
from indexer.progress import IndexProgress
from indexer.ray_tasks import Item, embed_job, embed_parts, plan_shards, read_shard
from indexer.sources import SourceSpec, classify
from indexer.store import open_writer

RAY_WINDOW_CHUNKS = (
    50_000  # pending chunks per Ray Data embedding job: the driver holds their text and vectors
)


class RayUnavailable(ImportError):
    """`--ray` was asked for but Ray is not installed."""


def import_ray() -> Any:
    """The ray module, or RayUnavailable saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailable(
            "searchchat index --ray needs Ray Data: pip install 'searchchat[ray]' (or 'ray[data]>=2.60')."
        ) from exc
    return ray


def runtime_env() -> dict[str, Any]:
    """What the workers of a joined cluster run with: this driver's own `indexer` package, which Ray ships to
    every node (py_modules) and puts first on the workers' sys.path. Read tasks and embedding actors then
    unpickle and run the driver's code, whatever version of searchchat a node has installed (or none); the
    packages indexer imports (faiss, torch, sentence-transformers, lxml, ...) must be installed on the nodes."""
    return {"py_modules": [str(Path(__file__).resolve().parent)], "excludes": ["__pycache__", "*.pyc"]}


@contextlib.contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[Any]:
    """Ray, started locally with `workers` CPUs when address is None, else joined at `address`: a cluster's
    GCS ('auto', 'head:6379', from a node of the cluster) or its Ray Client server ('ray://head:10001', from
    anywhere), with runtime_env() so that its workers run this indexer. A session that is already up (a
    test's, a notebook's) is used as it is and left running."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(
            address=address, runtime_env=runtime_env(), logging_level=logging.WARNING, log_to_driver=False
        )
    else:
        ray.init(
            num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
        )
    try:
        yield ray
    finally:
        ray.shutdown()


def client_mode() -> bool:
    """Whether this driver talks to its cluster through Ray Client (an address ray://...)."""
    import ray.util.client

    api: Any = ray.util.client.ray  # Ray's client API has no annotations
    return bool(api.is_connected())


class _RayRun(_Run):
    """A run whose embedding passes are Ray Data jobs over an actor pool of `workers` embedders."""

    flush_chunks = RAY_WINDOW_CHUNKS

    def __init__(self, *args: Any, workers: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workers = workers

    def embed(self, texts: list[str]) -> np.ndarray:
        import ray

        args = (texts, self.options.embedder, self.options.embed_precision, self.workers,
                self.options.embed_batch_tokens)  # fmt: skip
        if client_mode():  # the job runs on the cluster; the bar moves once it is back
            job = ray.remote(num_cpus=0)(embed_job)  # no CPU of its own: the actor pool has them all
            out: np.ndarray = ray.get(job.remote(*args, self.embedder.dim))
            self.progress.embedded(len(texts))
            return out
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for rows, vectors in embed_parts(*args):
            out[rows] = vectors
            self.progress.embedded(len(rows))
        return out


def index_sources_ray(
    sources: Sequence[str],
    options: IndexOptions,
    address: str | None = None,
    workers: int = 2,
    quiet: bool = True,
    on_event: Callable[[Any], None] | None = None,
) -> IndexSummary:
    """index_sources as a Ray job: the same store, summary, progress and incremental rules, one commit.
    `address`: None starts a local Ray with `workers` CPUs; 'auto' or 'ray://head:10001' joins a cluster,
    whose nodes need searchchat installed. `workers`: the embedding actors (and about the read tasks)."""
    if workers < 1:
        raise ValueError("--ray-workers must be >= 1")
    specs = [classify(s) for s in sources]
    with ray_session(address, workers) as ray:
        embedder = get_embedder(options)  # the driver needs its name and dimension for the store
        return _index(ray, specs, options, embedder, workers, quiet, on_event)


def _index(ray: Any, specs: list[SourceSpec], options: IndexOptions, embedder: Embedder, workers: int,
           quiet: bool, on_event: Callable[[Any], None] | None) -> IndexSummary:  # fmt: skip
    t0 = time.perf_counter()
    where = str(options.index_dir) if options.store == "local" else f"{options.store} ({options.index_dir})"
    summary = IndexSummary(index=where, sources=[s.key for s in specs])
    with open_writer(options.store, options.index_dir, embedder.name, embedder.dim, options.ann) as writer:
        knowns = [recheck(writer.known_documents(spec.key), options.chunking) for spec in specs]
        progress = IndexProgress(quiet=quiet, total=_estimate_total(specs))
        run = _RayRun(writer, embedder, options, summary, progress, workers=workers)
        seen: list[set[str]] = [set() for _ in specs]
        with progress:
            for i, items in _items(ray, specs, knowns, options, workers):
                for event, chunks in items:
                    if on_event:
                        on_event(event)
                    _handle(run, specs[i], event, chunks, knowns[i], seen[i])
            run.flush()
        finish_run(writer, run, specs, options, summary)
    summary.seconds = time.perf_counter() - t0
    return summary


def _items(ray: Any, specs: list[SourceSpec], knowns: list[Any], options: IndexOptions,
           workers: int) -> Iterator[tuple[int, list[Item]]]:  # fmt: skip
    """(source index, items) per shard in shard order, every shard's task started at once; a local source
    ends with Done(complete=True) after its last shard, as its reader ends in the plain pipeline."""
    task = ray.remote(num_cpus=1)(read_shard)
    args = [ray.put(specs), ray.put(knowns), ray.put(options)]
    shards = plan_shards(specs, workers)
    refs = [task.remote(shard, *args) for shard in shards]
    local = [i for i, spec in enumerate(specs) if spec.path is not None and spec.path.exists()]
    last = {shard.specs[0]: n for n, shard in enumerate(shards)}
    for n, ref in enumerate(refs):
        yield from ray.get(ref).items()
        if shards[n].specs[0] in local and last[shards[n].specs[0]] == n:
            yield shards[n].specs[0], [(Done(complete=True), [])]
    for i in local:
        if i not in last:  # an empty folder: everything indexed from it has vanished
            yield i, [(Done(complete=True), [])]
