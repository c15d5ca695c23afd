"""Benchmark: crawl and index the Python HTML docs served over a local HTTP server; prints docs/s, chunks/s.

    apt-get install -y python3-doc          # /usr/share/doc/python3.11/html, 530 pages
    python bench/crawl_pydocs.py                      # `searchchat index URL --delay 0 ... --json`, twice
    python bench/crawl_pydocs.py --crawl-only         # the crawler alone (fetch + parse), no embedding
    python bench/crawl_pydocs.py --embedder hash-64   # the pipeline without the model cost

The second `index` run shows the incremental path: conditional requests answered 304, nothing re-embedded.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # http.server's default backlog of 5 drops connections under concurrency


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_cli(url: str, index: Path, args: argparse.Namespace) -> dict:
    exe = shutil.which("searchchat") or ""
    cmd = [exe] if exe else [sys.executable, "-c", "from searchchat.cli import main; main()"]
    cmd += ["index", url, "--delay", "0", "--max-pages", str(args.max_pages), "--index", str(index), "--json"]
    if args.depth is not None:
        cmd += ["--depth", str(args.depth)]
    env = dict(os.environ)
    if args.embedder:
        env["SEARCHCHAT_EMBEDDER"] = args.embedder
    shown = " ".join(c if c != exe else "searchchat" for c in cmd)
    print(f"$ {shown}", flush=True)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"searchchat index failed ({out.returncode}):\n{out.stderr[-3000:]}")
    summary = json.loads(out.stdout)
    summary["wall_s"] = round(wall, 2)
    return summary


def report(label: str, s: dict) -> None:
    print(
        f"{label}: {s['pages_fetched']} pages fetched, +{s['documents_added']} docs, "
        f"{s['documents_unchanged']} unchanged, +{s['chunks_added']} chunks in {s['seconds']:.1f} s "
        f"(embedding {s['embed_seconds']:.1f} s; process wall {s['wall_s']:.1f} s)\n"
        f"  docs/s {s['docs_per_s']:.2f}   chunks/s {s['chunks_per_s']:.2f}   skipped {s['skipped']}",
        flush=True,
    )


def crawl_only(url: str, args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from indexer.crawl import CrawlOptions, crawl
    from indexer.events import Done, Fetched, Skipped

    opts = {"delay": 0.0, "max_pages": args.max_pages, "concurrency": args.concurrency}
    if args.depth is not None:
        opts["depth"] = args.depth
    t0 = time.perf_counter()
    docs, chars, skipped, complete = 0, 0, Counter[str](), None
    for event in crawl([url], url, {}, CrawlOptions(**opts)):
        if isinstance(event, Fetched):
            docs += 1
            chars += len(event.document.text)
        elif isinstance(event, Skipped):
            skipped[event.reason] += 1
        elif isinstance(event, Done):
            complete = event.complete
    dt = time.perf_counter() - t0
    print(
        f"crawl only (fetch + parse): {docs} docs, {chars / 1e6:.1f} M chars in {dt:.1f} s -> {docs / dt:.1f} docs/s"
    )
    print(f"  skipped {dict(skipped)}  complete={complete}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DOCS, help="the HTML folder to serve")
    ap.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    ap.add_argument("--max-pages", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=None, help="crawl depth (default: the settings' 3)")
    ap.add_argument("--concurrency", type=int, default=8, help="--crawl-only: parallel requests")
    ap.add_argument("--embedder", default=None, help="e.g. hash-64 to leave the model out")
    ap.add_argument("--crawl-only", action="store_true", help="time the crawler alone, no indexing")
    ap.add_argument("--once", action="store_true", help="skip the second (incremental) run")
    args = ap.parse_args()
    if not (args.docs / "index.html").exists():
        sys.exit(f"{args.docs}/index.html not found: apt-get install -y python3-doc")
    with serve(args.docs) as base:
        url = f"{base}/index.html"
        if args.crawl_only:
            return crawl_only(url, args)
        with tempfile.TemporaryDirectory(prefix="pydocs-index-") as tmp:
            index = args.index or Path(tmp) / "index"
            report("first run", run_cli(url, index, args))
            if not args.once:
                report("second run (incremental)", run_cli(url, index, args))


if __name__ == "__main__":
    main()
