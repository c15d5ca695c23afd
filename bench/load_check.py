"""Bounded load check on loopback: GET /search at a fixed concurrency while a few POST /ask answers run.

Starts `searchchat serve` in a subprocess (a real uvicorn server) unless --url is given, then reports the
/search error count and latency percentiles, and what happened to the /ask requests (completed or 503). Among
the searches, every tenth slot also lists the stored conversations, and each completed answer is read back
from its conversation and rated (POST /api/feedback): those requests' errors are counted apart. Meanwhile
`--uploads` small files are uploaded one after another (POST /api/uploads), each run followed to its end
(GET /api/jobs/{id}) and the source removed again (DELETE /api/sources), and every tenth slot also lists the
sources: searches go on while those runs index and commit; their errors are counted apart too.

    python bench/load_check.py --index ~/.searchchat/index                    # the defaults: 200 x 20 + 4 asks
    python bench/load_check.py --index DIR --generator extractive --json
    python bench/load_check.py --url http://127.0.0.1:8000                    # an already running server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

QUERIES = [
    "Is ChatGPT a GAN?", "self-attention", "how does BM25 score documents", "FAISS inner product search",
    "what is a discriminator", "robots.txt disallow rules", "tokenisation with byte pair encoding",
    "retrieval-augmented generation", "RLHF reward model", "crawl delay and rate limiting",
    "sentence embeddings cosine similarity", "autoregressive decoding", "hybrid search fusion",
    "next-token prediction pre-training", "sitemaps", "context window length",
]  # fmt: skip
ASK_QUESTIONS = [
    "Is ChatGPT a GAN?", "How does BM25 rank documents?", "What does FAISS do?", "What is RLHF?",
    "How should a polite crawler behave?", "What is self-attention?",
]  # fmt: skip


@dataclass
class LoadReport:
    """What one run measured (latencies in milliseconds)."""

    searches: int
    concurrency: int
    search_errors: int
    error_kinds: dict[str, int]
    p50_ms: float
    p95_ms: float
    max_ms: float
    searches_per_s: float
    searches_during_asks: int = 0  # searches that started while at least one /ask was in flight
    asks: int = 0
    asks_completed: int = 0
    asks_503: int = 0
    asks_other: dict[str, int] = field(default_factory=dict)
    ask_ms: list[float] = field(default_factory=list)
    conversation_requests: int = 0  # GET /api/conversations[/{id}] and POST /api/feedback
    conversation_errors: dict[str, int] = field(default_factory=dict)
    uploads: int = 0
    source_requests: int = 0  # POST /api/uploads, GET /api/jobs/{id}, DELETE and GET /api/sources
    source_errors: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"/search: {self.searches} requests at concurrency {self.concurrency}: {self.search_errors} errors"
            + (f" {self.error_kinds}" if self.error_kinds else ""),
            f"  latency p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, max {self.max_ms:.1f} ms; "
            f"{self.searches_per_s:.0f} req/s; {self.searches_during_asks} started while an answer was running",
            f"/ask: {self.asks} requests: {self.asks_completed} completed, {self.asks_503} refused with 503"
            + (f", other {self.asks_other}" if self.asks_other else "")
            + (f"; latency {', '.join(f'{ms / 1000:.1f}' for ms in self.ask_ms)} s" if self.ask_ms else ""),
            f"conversations: {self.conversation_requests} requests, "
            f"{sum(self.conversation_errors.values())} errors"
            + (f" {self.conversation_errors}" if self.conversation_errors else ""),
            f"sources: {self.uploads} uploads indexed and removed, {self.source_requests} requests, "
            f"{sum(self.source_errors.values())} errors"
            + (f" {self.source_errors}" if self.source_errors else ""),
        ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class _Traffic:
    """The requests of one load run and what they met: asks in flight, search latencies, errors."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self.client = client
        self.gate = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.conv_requests = 0
        self.conv_errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.overlapped = 0
        self.uploads = 0  # whether uploads run (the searches then also list the sources)
        self.src_requests = 0
        self.src_errors: dict[str, int] = {}

    async def conversation_call(self, method: str, path: str, body: dict | None = None) -> None:
        self.conv_requests += 1
        try:
            r = await self.client.request(method, path, json=body)
            kind = "" if r.status_code == 200 else f"{method} {path.split('/')[2]} HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
        if kind:
            self.conv_errors[kind] = self.conv_errors.get(kind, 0) + 1

    async def source_call(self, method: str, path: str, **kwargs: Any) -> dict | None:
        self.src_requests += 1
        try:
            r = await self.client.request(method, path, **kwargs)
            kind = (
                "" if r.status_code in (200, 202) else f"{method} {path.split('/')[2]} HTTP {r.status_code}"
            )
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
        if kind:
            self.src_errors[kind] = self.src_errors.get(kind, 0) + 1
            return None
        return r.json()

    async def upload_and_remove(self, i: int) -> None:
        """One file uploaded, its run followed to the end, its source removed again."""
        text = f"# Load check {i}\n\nA passage uploaded by the load check, number {i}.\n"
        files = {"files": (f"load-check-{i}.md", text.encode(), "text/markdown")}
        body = await self.source_call("POST", "/api/uploads", files=files)
        if body is None:
            return
        job = body["job"]
        while job["state"] not in ("done", "failed"):
            await asyncio.sleep(0.1)
            job = await self.source_call("GET", f"/api/jobs/{job['id']}") or {
                "state": "failed",
                "error": None,
            }
        if job["state"] == "failed":
            kind = f"run failed: {(job.get('error') or {}).get('error')}"
            self.src_errors[kind] = self.src_errors.get(kind, 0) + 1
        for stored in body["files"]:
            await self.source_call("DELETE", "/api/sources", params={"source": stored["source"]})

    async def uploads_in_turn(self, uploads: int) -> None:
        self.uploads = uploads
        for i in range(uploads):
            await self.upload_and_remove(i)

    async def one_ask(self, i: int) -> tuple[str, float]:
        self.in_flight += 1
        t0 = time.perf_counter()
        try:
            r = await self.client.post("/ask", json={"question": ASK_QUESTIONS[i % len(ASK_QUESTIONS)]})
            ms = (time.perf_counter() - t0) * 1000
        except httpx.HTTPError as exc:
            return type(exc).__name__, (time.perf_counter() - t0) * 1000
        finally:
            self.in_flight -= 1
        body = r.json() if r.status_code == 200 else {}
        if body.get("turn_id"):  # a server that keeps conversations: read it back and rate the answer
            await self.conversation_call("GET", f"/api/conversations/{body['conversation_id']}")
            await self.conversation_call(
                "POST", "/api/feedback", {"turn_id": body["turn_id"], "verdict": "up"}
            )
        return str(r.status_code), ms

    async def one_search(self, i: int) -> None:
        async with self.gate:
            self.overlapped += self.in_flight > 0
            t0 = time.perf_counter()
            try:
                r = await self.client.get("/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5})
                ok = r.status_code == 200 and bool(r.json().get("hits"))
                kind = "" if ok else f"HTTP {r.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                kind = type(exc).__name__
            self.latencies.append((time.perf_counter() - t0) * 1000)
            if kind:
                self.errors[kind] = self.errors.get(kind, 0) + 1
            if i % 10 == 0:
                await self.conversation_call("GET", "/api/conversations")
            if self.uploads and i % 10 == 5:
                await self.source_call("GET", "/api/sources")


async def run_load(base_url: str, searches: int = 200, concurrency: int = 20, asks: int = 4,
                   timeout: float = 900.0, headers: dict[str, str] | None = None,
                   uploads: int = 0) -> LoadReport:  # fmt: skip
    """Start `asks` POST /ask and `uploads` uploads (one after another), then `searches` GET /search with at
    most `concurrency` in flight."""
    limits = httpx.Limits(
        max_connections=concurrency + asks + 4, max_keepalive_connections=concurrency + asks
    )
    async with httpx.AsyncClient(
        base_url=base_url, timeout=timeout, limits=limits, headers=headers
    ) as client:
        traffic = _Traffic(client, concurrency)
        ask_tasks = [asyncio.create_task(traffic.one_ask(i)) for i in range(asks)]
        upload_task = asyncio.create_task(traffic.uploads_in_turn(uploads))
        await asyncio.sleep(0.05)  # the asks are admitted (and generating) before the searches start
        t0 = time.perf_counter()
        await asyncio.gather(*(traffic.one_search(i) for i in range(searches)))
        wall = time.perf_counter() - t0
        ask_results = await asyncio.gather(*ask_tasks)
        await upload_task
    return _report(traffic, searches, concurrency, ask_results, wall)


def _report(
    t: _Traffic, searches: int, concurrency: int, ask_results: list[tuple[str, float]], wall: float
) -> LoadReport:
    """The run's figures from what its traffic met."""
    codes = [c for c, _ in ask_results]
    other: dict[str, int] = {}
    for c in codes:
        if c not in ("200", "503"):
            other[c] = other.get(c, 0) + 1
    return LoadReport(
        searches=searches, concurrency=concurrency, search_errors=sum(t.errors.values()), error_kinds=t.errors,
        p50_ms=round(percentile(t.latencies, 50), 1), p95_ms=round(percentile(t.latencies, 95), 1),
        max_ms=round(max(t.latencies, default=0.0), 1), searches_per_s=round(searches / wall, 1),
        searches_during_asks=t.overlapped, asks=len(ask_results), asks_completed=codes.count("200"),
        asks_503=codes.count("503"), asks_other=other, ask_ms=[round(ms, 1) for c, ms in ask_results if c == "200"],
        conversation_requests=t.conv_requests, conversation_errors=t.conv_errors,
        uploads=t.uploads, source_requests=t.src_requests, source_errors=t.src_errors,
    )  # fmt: skip


def start_server(index: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "searchchat", "serve", "--index", index, "--port", str(port)]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not start within 300 s")


def warm_up(url: str, generator: str) -> None:
    """One search and one answer first, so model loading is not measured as latency."""
    httpx.get(url + "/search", params={"q": "warm up"}, timeout=300).raise_for_status()
    httpx.post(url + "/ask", json={"question": "What is BM25?"}, timeout=900).raise_for_status()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="Check a server that is already running instead of starting one.")
    ap.add_argument(
        "--index", help="Index directory for the server started here (default: $SEARCHCHAT_HOME/index)."
    )
    ap.add_argument(
        "--generator", default=None, help="Generator for the server started here (default: setting)."
    )
    ap.add_argument(
        "--embedder", default=None, help="Embedder for the server started here (default: setting)."
    )
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--asks", type=int, default=4)
    ap.add_argument(
        "--uploads", type=int, default=2, help="Files uploaded, indexed and removed during the load."
    )
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = ap.parse_args()

    proc = None
    url = args.url
    if url is None:
        from searchchat.settings import Settings

        index = args.index or str(Settings().index_dir)
        if not Path(index, "CURRENT").exists():
            raise SystemExit(
                f"No index at {index}; build one with `searchchat index corpus --index {index}`."
            )
        env = {k: v for k, v in {"SEARCHCHAT_GENERATOR": args.generator,
                                 "SEARCHCHAT_EMBEDDER": args.embedder}.items() if v}  # fmt: skip
        proc = start_server(index, args.port, env)
        url = f"http://127.0.0.1:{args.port}"
    try:
        health = httpx.get(url + "/healthz", timeout=10).json()
        warm_up(url, health.get("generator", ""))
        report = asyncio.run(run_load(url, args.searches, args.concurrency, args.asks, uploads=args.uploads))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        print(json.dumps({"url": url, "generator": health.get("generator"), **asdict(report)}, indent=2))
    else:
        print(f"server {url} (generator {health.get('generator')}, limits {health.get('generations')})")
        print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
