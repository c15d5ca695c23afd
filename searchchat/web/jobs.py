"""Indexing runs started from the web app: queued, run one at a time in a background thread through the same
pipeline as `searchchat index`, with their progress kept for GET /api/jobs/{id} and its event stream."""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexer.embed import Embedder
from indexer.events import Done, Fetched, Gone, Skipped, Unchanged
from indexer.options import EMBED_BATCH_TOKENS
from searchchat.settings import Settings
from searchchat.web.errors import ApiError, api_error_from

log = logging.getLogger("searchchat.web")
FINISHED = ("done", "failed")
MAX_NOTES = 20  # skip details kept per job (the counts by reason are complete)
_RUNS_LOCK = threading.Lock()  # runs.json is read, changed and replaced by the indexing and request threads


def run_index(sources: Sequence[str], settings: Settings, crawl: dict[str, Any], embedder: Embedder,
              on_event: Callable[[Any], None]) -> Any:  # fmt: skip
    """The one place the web app calls the indexing pipeline, as `searchchat index` does (same crash safety,
    lock and incremental behaviour); it returns the pipeline's IndexSummary."""
    from indexer.pipeline import index_sources
    from searchchat.indexing import index_options

    options = index_options(settings, **crawl)
    return index_sources(list(sources), options, embedder=embedder, quiet=True, on_event=on_event)


@dataclass
class Job:
    """One indexing run and its progress so far."""

    id: str
    kind: str  # upload, web, sitemap, folder, reindex
    sources: list[str]
    crawl: dict[str, Any] = field(default_factory=dict)
    total: int | None = None  # documents expected (files), or the crawl's page bound; None when unknown
    state: str = "queued"  # queued, running, done, failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    pages: int = 0  # documents read, changed or not
    chunks: int = 0  # chunks embedded
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None
    summary: dict[str, Any] | None = None
    version: int = 0  # bumped on every change, so an event stream knows when to send
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def on_event(self, event: Any) -> None:
        """Called by the pipeline for every reader event (in the indexing thread)."""
        with self.lock:
            if isinstance(event, Fetched | Unchanged):
                self.pages += 1
            elif isinstance(event, Skipped | Gone):
                reason = event.reason
                self.skipped[reason] += 1
                if isinstance(event, Skipped) and reason not in ("unchanged",):
                    self.notes = [*self.notes, f"{reason}: {event.url} {event.detail}".strip()][-MAX_NOTES:]
            elif isinstance(event, Done) and event.reason:
                self.notes = [*self.notes, f"stopped early ({event.reason})"][-MAX_NOTES:]
            self.version += 1

    def embedded(self, n: int) -> None:
        with self.lock:
            self.chunks += n
            self.version += 1

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1

    def eta(self) -> float | None:
        """Seconds left, from the pace so far; None before any document or when the total is unknown."""
        if self.state != "running" or not self.started or not self.total or not self.pages:
            return None
        left = max(self.total - self.pages, 0)
        return round((time.time() - self.started) / self.pages * left, 1)

    def snapshot(self) -> tuple[dict[str, Any], int]:
        with self.lock:
            data = {
                "id": self.id, "kind": self.kind, "sources": list(self.sources), "state": self.state,
                "created": self.created, "started": self.started, "finished": self.finished,
                "pages": self.pages, "chunks": self.chunks, "total": self.total, "eta_seconds": self.eta(),
                "skipped": dict(self.skipped), "notes": list(self.notes), "error": self.error,
                "summary": self.summary,
            }  # fmt: skip
            return data, self.version


class CountingEmbedder(Embedder):
    """The server's embedder, counting the chunks it embeds for a job's progress."""

    def __init__(self, inner: Embedder, on_embedded: Callable[[int], None]) -> None:
        self.inner, self.on_embedded = inner, on_embedded
        self.name, self.dim, self.cjk = inner.name, inner.dim, inner.cjk

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_batch(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        return self.inner.tokenize(text)

    def embed(self, texts: Sequence[str], batch_tokens: int = EMBED_BATCH_TOKENS,
              progress: Callable[[int], None] | None = None) -> np.ndarray:  # fmt: skip
        def counted(n: int) -> None:
            self.on_embedded(n)
            if progress is not None:
                progress(n)

        return self.inner.embed(texts, batch_tokens=batch_tokens, progress=counted)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class JobRunner:
    """Queues jobs and runs them in order in one background thread (the index lock allows one writer)."""

    def __init__(self, settings: Settings, embedder: Callable[[], Embedder], max_queued: int = 20,
                 keep: int = 100) -> None:  # fmt: skip
        self.settings, self._embedder = settings, embedder
        self.max_queued, self.keep = max_queued, keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, kind: str, sources: Sequence[str], crawl: dict[str, Any] | None = None,
               total: int | None = None) -> Job:  # fmt: skip
        """Queue a run; 429 when too many wait already."""
        with self._lock:
            waiting = sum(1 for j in self.jobs.values() if j.state == "queued")
            if waiting >= self.max_queued:
                raise ApiError(429, "too_many_jobs", "Too many indexing runs are waiting; try again soon.",
                               {"Retry-After": "10"})  # fmt: skip
            job = Job(id=secrets.token_hex(8), kind=kind, sources=list(sources), crawl=dict(crawl or {}),
                      total=total)  # fmt: skip
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                oldest = next(iter(self.jobs.values()))
                if oldest.state not in FINISHED:
                    break
                self.jobs.popitem(last=False)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="searchchat-indexer", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def recent(self) -> list[Job]:
        with self._lock:
            return list(reversed(self.jobs.values()))

    def active(self) -> dict[str, str]:
        """Sources of queued and running jobs, with their job's state."""
        out: dict[str, str] = {}
        for job in self.recent():
            if job.state not in FINISHED:
                out.update((s, job.state) for s in job.sources)
        return out

    def _work(self) -> None:
        while True:
            self.run(self._queue.get())

    def run(self, job: Job) -> None:
        """Run one job to the end (in the indexing thread); the outcome is recorded per source."""
        job.update(state="running", started=time.time())
        try:
            embedder = CountingEmbedder(self._embedder(), job.embedded)
            summary = run_index(job.sources, self.settings, job.crawl, embedder, job.on_event)
            job.update(state="done", summary=summary.to_dict(), finished=time.time(),
                       sources=list(summary.sources))  # fmt: skip
        except Exception as exc:
            job.update(state="failed", error=describe(exc), finished=time.time())
        record_run(self.settings.runs_path, job)


def describe(exc: Exception) -> dict[str, str]:
    """A failed run's reason, for people: known index and input errors say what happened; others are logged."""
    err = api_error_from(exc)
    if err is not None:
        return {"error": err.code, "detail": err.message}
    if isinstance(
        exc, ValueError | OSError
    ):  # a source that cannot be read: classify's messages are for people
        return {"error": "index_failed", "detail": str(exc)}
    log.error("indexing run failed", exc_info=exc)
    return {"error": "internal_error", "detail": "The indexing run failed; the server log has the details."}


def record_run(path: Path, job: Job) -> None:
    """Remember each source's last run (state, time, error) in runs.json."""
    snap, _ = job.snapshot()
    with _RUNS_LOCK:
        runs = last_runs(path)
        for source in job.sources:
            runs[source] = {"job": job.id, "state": snap["state"], "finished": snap["finished"],
                            "error": snap["error"]}  # fmt: skip
        _write_runs(path, runs)


def forget_run(path: Path, source: str) -> None:
    with _RUNS_LOCK:
        runs = last_runs(path)
        if runs.pop(source, None) is not None:
            _write_runs(path, runs)


def last_runs(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_runs(path: Path, runs: dict[str, Any]) -> None:
    """Replace runs.json atomically; a failure is logged (the runs themselves are committed or not anyway)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(runs))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the indexing run: %s", exc)
