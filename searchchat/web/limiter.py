"""Bounded concurrency for answer generation: N running, M waiting, and a 503 with Retry-After beyond that."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from searchchat.web.errors import ApiError

POLL_S = 0.02  # how often a waiting request checks for a free slot
GUESS_S = 3.0  # a generation's duration until one has been measured
RECENT = 20  # generations averaged for Retry-After
RETRY_AFTER_RANGE = (1, 60)  # seconds; a retry that comes early is only refused again, cheaply


class GenerationLimiter:
    """Admission control that works from any event loop (uvicorn's, or a TestClient's per-request loops).

    `admit()` takes a ticket synchronously, or raises a 503 ApiError when `running + queued` tickets are out;
    `ticket.running()` then waits (cancellably) for one of the `running` slots."""

    def __init__(self, running: int, queued: int) -> None:
        self.max_running, self.max_queued = running, queued
        self._slots = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._admitted = 0
        self._active = 0
        self._recent: deque[float] = deque(maxlen=RECENT)  # durations of the last completed generations

    @property
    def capacity(self) -> int:
        return self.max_running + self.max_queued

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"running": self._active, "waiting": self._admitted - self._active,
                    "max_running": self.max_running, "max_waiting": self.max_queued}  # fmt: skip

    def generation_s(self) -> float:
        """The mean duration of the last RECENT completed generations (GUESS_S before any)."""
        with self._lock:
            recent = list(self._recent)
        return sum(recent) / len(recent) if recent else GUESS_S

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead divided by the workers, times a generation as
        measured lately, within RETRY_AFTER_RANGE."""
        ahead = self.capacity / self.max_running
        low, high = RETRY_AFTER_RANGE
        return max(low, min(high, math.ceil(self.generation_s() * ahead)))

    def admit(self) -> Ticket:
        with self._lock:
            full = self._admitted >= self.capacity
            if not full:
                self._admitted += 1
        if full:
            raise ApiError(
                503,
                "busy",
                f"The server is busy: {self.max_running} answer(s) running and {self.max_queued} waiting. "
                "Try again shortly.",
                {"Retry-After": str(self.retry_after())},
            )
        return Ticket(self)

    def _done(self, seconds: float | None) -> None:
        with self._lock:
            self._admitted -= 1
            if seconds is not None:
                self._recent.append(seconds)


class Ticket:
    """One admitted request. Release it exactly once (idempotent), whether or not it ever ran."""

    def __init__(self, limiter: GenerationLimiter) -> None:
        self._limiter = limiter
        self._released = False
        self._started: float | None = None
        self._lock = threading.Lock()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        slots = self._limiter._slots
        while not slots.acquire(blocking=False):
            await anyio.sleep(POLL_S)
        with self._limiter._lock:
            self._limiter._active += 1
        self._started = time.perf_counter()
        try:
            yield
        finally:
            with self._limiter._lock:
                self._limiter._active -= 1
            slots.release()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        took = time.perf_counter() - self._started if self._started is not None else None
        self._limiter._done(took)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
