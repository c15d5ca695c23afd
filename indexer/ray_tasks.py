"""The Ray pipeline's units of work: source shards read, parsed and chunked in tasks, and the embedding actor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from indexer.document import Chunk
from indexer.embed import Embedder, get_embedder
from indexer.events import DocState, Done, Event
from indexer.files import PARSERS, list_files, read_jsonl, read_local
from indexer.options import EMBED_BATCH_TOKENS, IndexOptions
from indexer.sources import SourceSpec, read_source

Item = tuple[Event, list[Chunk]]  # an event and, for a Fetched document, its chunks

RAY_BATCH_TEXTS = 64  # texts in one Ray batch; the actor's embedder splits it by padded tokens


@dataclass
class Shard:
    """One task's share of the sources: some files of a local source, a range of lines of a JSONL file, or
    every web source of one host (that host's robots rules and delay stay with one worker)."""

    specs: list[int]  # indexes into the run's sources; several only for the web sources of one host
    files: list[Path] = field(default_factory=list)
    lines: tuple[int, int] | None = None  # a JSONL file's line range (first, end), from 1


def plan_shards(specs: Sequence[SourceSpec], workers: int) -> list[Shard]:
    """The shards of a run in source order: a local source's files and JSONL lines are cut into about
    `workers` contiguous pieces each (so their events keep the plain pipeline's order); web sources are
    grouped by host, one shard per host."""
    shards: list[Shard] = []
    hosts: dict[str, Shard] = {}
    for i, spec in enumerate(specs):
        if spec.path is None:
            host = urlsplit(spec.key).hostname or spec.key
            if host in hosts:
                hosts[host].specs.append(i)
            else:
                hosts[host] = Shard([i])
                shards.append(hosts[host])
        elif not spec.path.exists():
            shards.append(Shard([i], files=[spec.path]))
        else:
            shards.extend(_local_shards(i, spec.path, workers))
    return shards


def _local_shards(i: int, root: Path, workers: int) -> Iterator[Shard]:
    """A local source's shards in its files' order: runs of files, and each JSONL file cut in line ranges."""
    files = [f for f in list_files(root) if f.suffix.lower() in PARSERS or f == root]
    jsonl = {f for f in files if f.suffix.lower() in (".jsonl", ".ndjson")}
    step = max(1, -(-(len(files) - len(jsonl)) // workers))
    run: list[Path] = []
    for f in files:
        if f not in jsonl:
            run.append(f)
            if len(run) == step:
                yield Shard([i], files=run)
                run = []
            continue
        if run:
            yield Shard([i], files=run)
            run = []
        with f.open("rb") as fh:
            n = sum(1 for _ in fh)
        size = max(1, -(-n // workers))
        for first in range(1, n + 1, size):
            yield Shard([i], files=[f], lines=(first, first + size))
    if run:
        yield Shard([i], files=run)


def read_shard(shard: Shard, specs: list[SourceSpec], knowns: list[dict[str, DocState]],
               options: IndexOptions) -> dict[int, list[Item]]:  # fmt: skip
    """Run in a Ray task: read, parse and chunk one shard; its items per source. A local shard leaves out
    Done: the driver ends each local source once all its shards are in."""
    from indexer.pipeline import chunks_of

    embedder = get_embedder(options)  # the chunker counts the embedder's tokens
    out: dict[int, list[Item]] = {}
    for i in shard.specs:
        items: list[Item] = []
        for event in _events(shard, specs[i], knowns[i], options):
            items.append((event, chunks_of(event, embedder, options)))
        out[i] = items
    return out


def _events(
    shard: Shard, spec: SourceSpec, known: dict[str, DocState], options: IndexOptions
) -> Iterator[Event]:
    if spec.path is None:
        yield from read_source(spec, known, options.crawl)
    elif not spec.path.exists():
        yield from read_local(spec.path, spec.key, known)
    elif shard.lines is not None:
        yield from read_jsonl(shard.files[0], spec.key, shard.lines)
    else:
        for f in shard.files:
            yield from (e for e in read_local(f, spec.key, known) if not isinstance(e, Done))


class EmbedActor:
    """Ray Data's callable class: each actor of the pool loads the embedder once, then embeds batches.
    embed_actor() makes the subclass that names the embedder (no constructor arguments to keep alive)."""

    embedder_name = "minilm"
    precision = "auto"  # SEARCHCHAT_EMBED_PRECISION, resolved on the actor's own CPU
    batch_tokens = EMBED_BATCH_TOKENS  # padded tokens per encoder call within a Ray batch

    def __init__(self) -> None:
        from indexer.embed import _load

        self.embedder: Embedder = _load(self.embedder_name, self.precision)

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]], batch_tokens=self.batch_tokens)
        return {"i": np.asarray(batch["i"]), "vector": vectors}


def embed_actor(embedder: str, precision: str, batch_tokens: int = EMBED_BATCH_TOKENS) -> type[EmbedActor]:
    """The EmbedActor class that loads `embedder` (a SEARCHCHAT_EMBEDDER value) in `precision`."""
    attrs = {"embedder_name": embedder, "precision": precision, "batch_tokens": batch_tokens}
    return type("EmbedActor", (EmbedActor,), attrs)


def embed_parts(texts: Sequence[str], embedder: str, precision: str, workers: int,
                batch_tokens: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """One Ray Data job over an actor pool of `workers` embedders: (row numbers, vectors) per embedded batch,
    in whatever order the batches finish. The texts go to the pool longest first, so batches are of like length."""
    import logging

    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    blocks = max(1, min(len(texts), max(4 * workers, len(texts) // (4 * RAY_BATCH_TEXTS))))
    rows = ray.data.from_items([{"i": i, "text": texts[i]} for i in order], override_num_blocks=blocks)
    ds = rows.map_batches(
        embed_actor(embedder, precision, batch_tokens), batch_size=RAY_BATCH_TEXTS, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(workers, blocks)), num_cpus=1,
    )  # fmt: skip
    for part in ds.iter_batches(batch_size=None, batch_format="numpy"):
        yield np.asarray(part["i"]), np.asarray(part["vector"], dtype=np.float32)


def embed_job(texts: Sequence[str], embedder: str, precision: str, workers: int, batch_tokens: int,
              dim: int) -> np.ndarray:  # fmt: skip
    """embed_parts gathered into one (len(texts), dim) array in the texts' order. A driver connected through
    Ray Client (ray://) runs this as a task on the cluster: Ray Data's executor needs a process of the cluster
    (one with a core worker), which a Ray Client driver is not."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for rows, vectors in embed_parts(texts, embedder, precision, workers, batch_tokens):
        out[rows] = vectors
    return out
