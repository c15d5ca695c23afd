"""A live progress bar for indexing runs: documents/s, chunks/s, embedded chunks and an ETA."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class IndexProgress:
    """Thin wrapper over rich.Progress; a no-op when quiet or when stderr is not a terminal-friendly sink."""

    def __init__(self, quiet: bool = False, total: int | None = None) -> None:
        self.quiet = quiet
        self.total = total
        self.docs = self.chunks = self.n_embedded = self.skipped = 0
        self.t0 = time.perf_counter()
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> IndexProgress:
        self.t0 = time.perf_counter()
        if not self.quiet:
            self._progress = Progress(
                TextColumn("[bold]indexing"),
                BarColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("index", total=self.total, stats="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._update()
            self._progress.__exit__(None, None, None)

    def _update(self) -> None:
        if self._progress is None:
            return
        dt = max(time.perf_counter() - self.t0, 1e-6)
        stats = (
            f"{self.docs} docs ({self.docs / dt:.1f}/s)  {self.chunks} chunks ({self.chunks / dt:.1f}/s)  "
            f"embedded {self.n_embedded}  skipped {self.skipped}"
        )
        # The bar tracks embedded work: documents are only done once their chunks are embedded.
        done = self.docs * (self.n_embedded / self.chunks) if self.chunks else self.docs
        self._progress.update(self._task, completed=done, stats=stats)

    def document(self, n_chunks: int) -> None:
        self.docs += 1
        self.chunks += n_chunks
        self._update()

    def skip(self) -> None:
        self.skipped += 1
        self._update()

    def embedded(self, n: int) -> None:
        self.n_embedded += n
        self._update()
