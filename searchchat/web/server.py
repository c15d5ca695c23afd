"""How uvicorn serves the app (OPTIONS, for `searchchat serve` and tests), and a server in a background thread
on a free loopback port (browser tests, load checks)."""

from __future__ import annotations

import copy
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

# A request head (request line and headers) up to this size is read, so that the app answers a long URL with
# its own 414 (middleware.TargetLimit, 8 KB); h11's default of 16 KB gave a bare 400 and a reset connection.
MAX_HEAD_BYTES = 1024 * 1024
LOGGED_TARGET_CHARS = 200  # the longest URL an access log line shows


class ShortTargets(logging.Filter):
    """Access log lines show at most LOGGED_TARGET_CHARS of the URL, then how long it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if getattr(record, "short_target", False):  # each uvicorn start adds a filter: shorten once
            return True
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            target = args[2]
            if len(target) > LOGGED_TARGET_CHARS:
                short = f"{target[:LOGGED_TARGET_CHARS]}...({len(target)} chars)"
                record.args = (*args[:2], short, *args[3:])
        record.short_target = True
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with ShortTargets on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["short_targets"] = {"()": ShortTargets}
    config["loggers"]["uvicorn.access"]["filters"] = ["short_targets"]
    return config


def options() -> dict[str, Any]:
    """uvicorn settings for the app: the h11 parser (whose head-size limit is the one set here), that limit,
    access logs with short URLs, and keep-alive long enough for the page's follow-up questions."""
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_HEAD_BYTES, "log_config": log_config(),
            "timeout_keep_alive": 30}  # fmt: skip


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """`with BackgroundServer(app) as server: httpx.get(server.url + "/healthz")` — a real uvicorn server."""

    def __init__(
        self, app: FastAPI, host: str = "127.0.0.1", port: int | None = None, log_level: str = "warning"
    ):
        self.host, self.port = host, port or free_port(host)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level=log_level, lifespan="on",
                                timeout_graceful_shutdown=2, **options())  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="searchchat-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
