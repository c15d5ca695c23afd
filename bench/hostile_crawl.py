"""Benchmark: crawl a local site made of traps with the real crawler; prints requests per URL, time, peak RSS.

    python bench/hostile_crawl.py                 # `searchchat index URL --max-pages 200 --delay 0 --json`
    python bench/hostile_crawl.py --embedder minilm

The site (tests/crawl_site.py's server) holds every trap at once: an infinite link space, a redirect loop,
a page that always answers 429, a 50 MB page (with and without Content-Length), a page that drips one byte a
second, a gzip bomb (50 MB of HTML in 49 KB), 200 KB of random bytes served as text/html, robots.txt rules, and
a windows-1252 page without a charset. The crawl runs in a child process with a temporary SEARCHCHAT_HOME, so
its peak RSS is its own (os.wait4). Then the bomb alone is crawled twice more: in a child (RSS against a
child that crawls one small page) and in this process under tracemalloc (bytes allocated above the cap).
Targets (issue 19): under 60 s, peak RSS under 400 MB, the bomb under 20 MB above the cap, 0 binary chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.crawl import CrawlOptions, crawl  # noqa: E402
from indexer.events import Skipped  # noqa: E402
from indexer.store import IndexStore  # noqa: E402
from tests.crawl_site import CAFE, Page, Site, gzip_bomb, html, random_bytes, serve_site  # noqa: E402

HUGE = 50_000_000
CAP = 5_000_000  # Settings.max_body_bytes, the default


def trap_pages() -> dict[str, Page]:
    links = ["inf/1", "loop1.html", "rate.html", "huge.html", "huge-stream.html", "drip.html", "bomb.html",
             "binary.html", "private/secret.html", "cafe.html", "a.html", "b.html"]  # fmt: skip
    huge = html("Huge", "<p>" + "h" * HUGE + "</p>").encode()
    return {
        "/robots.txt": Page("User-agent: *\nDisallow: /private/\nDisallow: /inf/*?print\n", "text/plain"),
        "/index.html": Page(html("Hostile", "".join(f'<a href="{u}">{u}</a> ' for u in links))),
        "/a.html": Page(html("A", "<p>Apples are red.</p>")),
        "/b.html": Page(html("B", "<p>Bananas are yellow.</p>")),
        "/cafe.html": Page(html("Café", f"<p>{CAFE}</p>").encode("cp1252"), "text/html"),
        "/private/secret.html": Page(html("Secret", "<p>never</p>")),
        "/loop1.html": Page(status=302, headers={"Location": "/loop2.html"}),
        "/loop2.html": Page(status=302, headers={"Location": "/loop1.html"}),
        "/rate.html": Page(status=429, headers={"Retry-After": "1"}),
        "/huge.html": Page(huge),
        "/huge-stream.html": Page(huge, stream=True),
        "/drip.html": Page(html("Drip", "<p>" + "d" * 10_000 + "</p>"), drip=1.0),
        "/bomb.html": Page(gzip_bomb(HUGE), "text/html", headers={"Content-Encoding": "gzip"}),
        "/binary.html": Page(random_bytes(200_000), "text/html"),
        "/small.html": Page(html("Small", "<p>A small page.</p>")),
    }


def infinite(path: str) -> Page | None:
    """/inf/N links to twenty more pages (and a print view robots.txt disallows): a calendar without end."""
    if not path.startswith("/inf/"):
        return None
    n = int(path[5:].split("?")[0] or 0)
    links = "".join(f'<a href="/inf/{n * 20 + i}">next {i}</a> ' for i in range(20))
    return Page(html(f"Page {n}", f"<p>Endless page {n}.</p>{links}<a href='/inf/{n}?print'>print</a>"))


def run_child(args: list[str], home: Path, embedder: str) -> tuple[dict, float, float]:
    """`searchchat ARGS --json` in a child: (summary, seconds, peak RSS in MB)."""
    env = {**os.environ, "SEARCHCHAT_HOME": str(home), "SEARCHCHAT_EMBEDDER": embedder,
           "PYTHONPATH": str(REPO)}  # fmt: skip
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "searchchat", *args, "--json"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.DEVNULL)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"searchchat {' '.join(args)} failed ({proc.returncode}):\n{text}")
    return json.loads(text), seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def requests_table(site: Site) -> list[str]:
    counts = Counter(site.paths())
    inf = {p: n for p, n in counts.items() if p.startswith("/inf/")}
    rows = [f"  {n:>4}  {p}" for p, n in sorted(counts.items()) if p not in inf]
    rows.append(
        f"  {sum(inf.values()):>4}  /inf/* ({len(inf)} distinct URLs, at most {max(inf.values())} each)"
    )
    return rows


def bomb_traced(site: Site) -> tuple[float, str]:
    """MB allocated above the cap while the real crawler fetches the bomb in this process."""
    list(crawl([site.url("/small.html")], "warm", {}, CrawlOptions(delay=0, depth=0)))  # one-time costs
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        events = list(
            crawl([site.url("/bomb.html")], "bomb", {}, CrawlOptions(delay=0, depth=0, max_bytes=CAP))
        )
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    skip = next(e for e in events if isinstance(e, Skipped))
    return (peak - CAP) / 1e6, f"{skip.reason} ({skip.detail})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="hash-64", help="SEARCHCHAT_EMBEDDER for the crawl (hash-64)")
    args = parser.parse_args()
    with serve_site(trap_pages()) as site, tempfile.TemporaryDirectory() as tmp:
        site.dynamic = infinite
        start = site.url("/index.html")
        summary, seconds, rss = run_child(
            ["index", start, "--max-pages", "200", "--delay", "0"], Path(tmp) / "home", args.embedder
        )
        store = IndexStore.open(Path(tmp) / "home" / "index")
        chunks = Counter(c.doc_id for c in store.all_chunks())
        binary_chunks = chunks.get(site.url("/binary.html"), 0)
        cafe = [c.text for c in store.all_chunks() if c.doc_id == site.url("/cafe.html")]
        print("hostile crawl: searchchat index URL --max-pages 200 --delay 0 --json "
              f"(embedder {args.embedder}, other settings default: timeout 10 s, 5 MB cap, 3 retries)")  # fmt: skip
        print(f"wall time: {seconds:.1f} s   peak RSS (crawl process): {rss:.0f} MB")
        print(f"documents: {summary['total_documents']}   chunks: {summary['total_chunks']}   "
              f"skipped: {json.dumps(summary['skipped'], sort_keys=True)}")  # fmt: skip
        print(
            f"binary page chunks: {binary_chunks}   cafe page text: {cafe[0][:40]!r}"
            if cafe
            else "cafe: missing"
        )
        print("notes:")
        for note in summary["examples"]:
            print(f"  {note.replace(site.base, '')}")
        print("requests per URL:")
        print("\n".join(requests_table(site)))
        print(
            f"robots-disallowed requests: {sum(p.startswith('/private/') or '?print' in p for p in site.paths())}"
        )

        site.requests.clear()
        small, _, small_rss = run_child(["index", site.url("/small.html"), "--depth", "0"], Path(tmp) / "h2",
                                        args.embedder)  # fmt: skip
        bomb, _, bomb_rss = run_child(["index", site.url("/bomb.html"), "--depth", "0"], Path(tmp) / "h3",
                                      args.embedder)  # fmt: skip
        traced, why = bomb_traced(site)
        print(f"gzip bomb alone ({HUGE // 1_000_000} MB inflated, cap {CAP // 1_000_000} MB): {why}")
        print(f"  child peak RSS {bomb_rss:.0f} MB vs {small_rss:.0f} MB for one small page: "
              f"+{bomb_rss - small_rss:.1f} MB (the cap is {CAP / 1e6:.0f} MB)")  # fmt: skip
        print(f"  traced allocation peak in process: {traced:+.1f} MB above the cap")
        assert bomb["skipped"] == {"too_large": 1} and small["documents_added"] == 1


if __name__ == "__main__":
    main()
