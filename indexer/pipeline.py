"""The indexing pipeline: readers in a background thread, batched length-sorted embedding, one commit."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexer.chunk import chunk_document, embed_text
from indexer.document import LINK_SCHEMES, Chunk, Document, url_scheme
from indexer.embed import Embedder, get_embedder
from indexer.events import DocState, Done, Fetched, Gone, Skipped, Unchanged
from indexer.fingerprint import fingerprint, recheck
from indexer.options import AnnOptions, IndexOptions
from indexer.progress import IndexProgress
from indexer.sources import SourceSpec, check_source, classify, read_source
from indexer.store import WriteStore, open_writer

# skips that are a crawl's expected edges, too common to note one by one (a crawl cut short by max_pages or
# max_seconds says so once, from Done.reason); they are still counted
QUIET_SKIPS = frozenset({"unchanged", "scope", "robots", "depth", "max_pages", "max_seconds"})
FLUSH_CHUNKS = 2048  # chunks gathered before an embedding pass: large enough for good length sorting


@dataclass
class IndexSummary:
    """What one indexing run did; printed at the end, or as JSON with --json."""

    index: str
    sources: list[str]
    pages_fetched: int = 0
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    total_documents: int = 0
    total_chunks: int = 0
    version: str | None = None
    examples: list[str] = field(default_factory=list)  # a few skip details, for the user

    @property
    def docs_per_s(self) -> float:
        return self.pages_fetched / self.seconds if self.seconds else 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_added / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["docs_per_s"] = round(self.docs_per_s, 2)
        d["chunks_per_s"] = round(self.chunks_per_s, 2)
        d["seconds"] = round(self.seconds, 3)
        d["embed_seconds"] = round(self.embed_seconds, 3)
        return d


_STOP = object()


class _Run:
    """State of one run: pending documents waiting for an embedding pass, counters, progress."""

    flush_chunks = FLUSH_CHUNKS  # pending chunks that start an embedding pass

    def __init__(self, writer: WriteStore, embedder: Embedder, options: IndexOptions, summary: IndexSummary,
                 progress: IndexProgress) -> None:  # fmt: skip
        self.writer, self.embedder, self.options = writer, embedder, options
        self.summary, self.progress = summary, progress
        self.pending: list[tuple[Document, list[Chunk]]] = []
        self.pending_chunks = 0
        self.skipped: Counter[str] = Counter()
        self.run_hashes: dict[str, str] = {}

    def fetched(
        self, spec: SourceSpec, doc: Document, chunks: list[Chunk], known: dict[str, DocState]
    ) -> bool:
        """Queue a document unless it is unchanged or a duplicate; returns whether it counts as seen."""
        self.summary.pages_fetched += 1
        doc.content_hash = fingerprint(doc.content_hash, self.options.chunking)
        state = known.get(doc.doc_id) or self._state(doc.doc_id)
        if state is not None and state.content_hash == doc.content_hash:
            self.writer.touch_document(doc.doc_id, doc.etag, doc.last_modified)
            self.summary.documents_unchanged += 1
            self.skipped["unchanged"] += 1
            return True
        if spec.kind in ("web", "sitemap"):
            other = self.run_hashes.get(doc.content_hash) or self.writer.find_by_hash(doc.content_hash)
            if other is not None and other != doc.doc_id:
                self.skipped["duplicate"] += 1
                return False
            self.run_hashes[doc.content_hash] = doc.doc_id
        if not chunks:
            self.skipped["empty"] += 1
            return True
        if state is None:
            self.summary.documents_added += 1
        else:
            self.summary.documents_updated += 1
        self.pending.append((doc, chunks))
        self.pending_chunks += len(chunks)
        if self.pending_chunks >= self.flush_chunks:
            self.flush()
        return True

    def _state(self, doc_id: str) -> DocState | None:
        row = self.writer.get_document(doc_id)
        if row is None:
            return None
        return DocState(doc_id, row["url"], row["content_hash"], row["etag"], row["last_modified"])

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text, in order: the embedder in this process (the Ray pipeline overrides it)."""
        return self.embedder.embed(
            texts, batch_tokens=self.options.embed_batch_tokens, progress=self.progress.embedded
        )

    def flush(self) -> None:
        if not self.pending:
            return
        chunks = [c for _, cs in self.pending for c in cs]
        t0 = time.perf_counter()
        vectors = self.embed([embed_text(c) for c in chunks])
        self.summary.embed_seconds += time.perf_counter() - t0
        start = 0
        for doc, cs in self.pending:
            vecs = vectors[start : start + len(cs)]
            start += len(cs)
            self.summary.chunks_removed += self.writer.upsert_document(doc, cs, np.asarray(vecs))
            self.summary.chunks_added += len(cs)
        self.pending.clear()
        self.pending_chunks = 0


def _produce(specs: Sequence[SourceSpec], knowns: list[dict[str, DocState]], options: IndexOptions,
             embedder: Embedder, out: queue.Queue[Any], stop: threading.Event) -> None:  # fmt: skip
    """Reader thread: fetch and parse each source, chunk each document, hand both over to the main thread."""
    try:
        for spec, known in zip(specs, knowns, strict=True):
            for event in read_source(spec, known, options.crawl):
                if stop.is_set():
                    return
                out.put((spec, event, chunks_of(event, embedder, options)))
        out.put(_STOP)
    except BaseException as exc:  # hand the error to the main thread, which aborts the run
        out.put(exc)


def _no_unsafe_url(doc: Document) -> None:
    """Every document passes here: one whose url is not http, https or file (javascript:, data:) keeps none,
    so nothing stored can become such a link. Readers give their own fallback first (JSONL: the line's place)."""
    if doc.url and url_scheme(doc.url) not in LINK_SCHEMES:
        doc.url = ""


def index_sources(
    sources: Sequence[str],
    options: IndexOptions,
    embedder: Embedder | None = None,
    quiet: bool = True,
    on_event: Callable[[Any], None] | None = None,
) -> IndexSummary:
    """Index SOURCEs into options.index_dir. Either everything commits, or the old index stays as it was."""
    specs = [classify(s) for s in sources]
    embedder = embedder or get_embedder(options)
    t0 = time.perf_counter()
    where = str(options.index_dir) if options.store == "local" else f"{options.store} ({options.index_dir})"
    summary = IndexSummary(index=where, sources=[s.key for s in specs])
    with open_writer(options.store, options.index_dir, embedder.name, embedder.dim, options.ann) as writer:
        knowns = [recheck(writer.known_documents(spec.key), options.chunking) for spec in specs]
        progress = IndexProgress(quiet=quiet, total=_estimate_total(specs))
        run = _Run(writer, embedder, options, summary, progress)
        q: queue.Queue[Any] = queue.Queue(maxsize=1024)
        stop = threading.Event()
        reader = threading.Thread(
            target=_produce, args=(specs, knowns, options, embedder, q, stop), daemon=True
        )
        seen: dict[str, set[str]] = {s.key: set() for s in specs}
        with progress:
            reader.start()
            try:
                while True:
                    item = q.get()
                    if item is _STOP:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    spec, event, chunks = item
                    if on_event:
                        on_event(event)
                    _handle(run, spec, event, chunks, knowns[specs.index(spec)], seen[spec.key])
                run.flush()
            finally:
                stop.set()
        finish_run(writer, run, specs, options, summary)
    summary.seconds = time.perf_counter() - t0
    return summary


def chunks_of(event: Any, embedder: Embedder, options: IndexOptions) -> list[Chunk]:
    """The chunks of a fetched document (none for any other reader event); plain and Ray runs cut alike."""
    if not isinstance(event, Fetched):
        return []
    _no_unsafe_url(event.document)
    return chunk_document(event.document, embedder.tokenize, options.chunk_tokens, options.chunk_overlap,
                          options.chunk_max_chars)  # fmt: skip


def finish_run(
    writer: WriteStore, run: _Run, specs: Sequence[SourceSpec], options: IndexOptions, summary: IndexSummary
) -> None:
    """Record each source's options, fill in the summary's totals and commit the run (plain and Ray alike)."""
    for spec in specs:
        writer.touch_source(spec.key, spec.kind, options.crawl_record())
    summary.skipped = dict(run.skipped)
    summary.total_documents, summary.total_chunks = writer.counts()
    summary.version = writer.commit()


def _handle(run: _Run, spec: SourceSpec, event: Any, chunks: list[Chunk], known: dict[str, DocState],
            seen: set[str]) -> None:  # fmt: skip
    progress, summary = run.progress, run.summary
    if isinstance(event, Fetched):
        if run.fetched(spec, event.document, chunks, known):
            seen.add(event.document.doc_id)
        progress.document(len(chunks))
    elif isinstance(event, Unchanged):
        seen.add(event.doc_id)
        run.writer.touch_document(event.doc_id, event.etag, event.last_modified)
        summary.documents_unchanged += 1
        run.skipped["unchanged"] += 1
        progress.document(0)
    elif isinstance(event, Skipped):
        run.skipped[event.reason] += 1
        if len(summary.examples) < 10 and event.reason not in QUIET_SKIPS:
            summary.examples.append(f"{event.reason}: {event.url} {event.detail}".strip())
        progress.skip()
    elif isinstance(event, Gone):
        if run.writer.get_document(event.doc_id) is not None:
            summary.chunks_removed += run.writer.delete_document(event.doc_id)
            summary.documents_removed += 1
        run.skipped[event.reason] += 1
    elif isinstance(event, Done) and event.reason:
        summary.examples = [f"stopped early: {spec.key} ({event.reason})", *summary.examples][:10]
    elif isinstance(event, Done) and event.complete:
        run.flush()
        for doc_id in set(known) - seen:
            doc = run.writer.get_document(doc_id)
            if doc is not None and doc["source"] == spec.key:
                summary.chunks_removed += run.writer.delete_document(doc_id)
                summary.documents_removed += 1


def _estimate_total(specs: Sequence[SourceSpec]) -> int | None:
    """Documents expected, for the ETA; None when a crawl makes it unknowable."""
    from indexer.files import list_files

    total = 0
    for spec in specs:
        if spec.path is None:
            return None
        for f in list_files(spec.path):
            if f.suffix.lower() in (".jsonl", ".ndjson"):
                with f.open("rb") as fh:
                    total += sum(1 for line in fh if line.strip())
            else:
                total += 1
    return total


def remove_source(
    source: str, index_dir: Path, store_name: str = "local", ann: AnnOptions | None = None
) -> tuple[int, int]:
    """Delete a source and everything indexed from it; returns (documents, chunks) removed. KeyError for a
    source not in the index; InvalidSource (a ValueError) for a name that cannot be one. `ann`: the ANN index
    a new local snapshot gets (AnnOptions' defaults when None)."""
    from indexer.store import open_reader

    check_source(source)
    store = open_reader(store_name, index_dir)
    key = source
    known = {s["source"] for s in store.sources()}
    if key not in known:
        try:
            key = classify(source).key
        except (ValueError, FileNotFoundError):
            key = source
    if key not in known:
        raise KeyError(f"No source {source!r} in the index. `searchchat sources` lists them.")
    with open_writer(store_name, index_dir, store.manifest["embedder"], store.dim, ann) as writer:
        removed = writer.remove_source(key)
        writer.commit()
    return removed
