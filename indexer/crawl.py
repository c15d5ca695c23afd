"""The web crawler: bounded async httpx workers behind a synchronous generator of indexing events."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from indexer.bodies import parse_body
from indexer.events import DocState, Done, Event, Fetched, Gone, Skipped, Unchanged
from indexer.fetch import REDIRECTS, Fetcher, FetchError, Pacer, Response
from indexer.inflate import ACCEPT_ENCODING
from indexer.linkcache import LinkCache, PageRecord
from indexer.options import CrawlOptions
from indexer.robots import Robots, RobotsCache, fetch_robots
from indexer.sitemap import MAX_SITEMAP_BYTES, MAX_SITEMAPS, SitemapError, parse_sitemap
from indexer.urls import Scope, netloc, normalize_url, origin

log = logging.getLogger(__name__)

ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/markdown;q=0.8,text/plain;q=0.8,application/pdf;q=0.7,*/*;q=0.1"
MAX_CRAWL_DELAY = 60.0  # a larger robots.txt Crawl-delay is capped to this


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes a noticeable fraction of a second: do it once per process."""
    return ssl.create_default_context(cafile=certifi.where())


def crawl(
    start_urls: list[str], source: str, known: dict[str, DocState], options: CrawlOptions
) -> Iterator[Event]:
    """Synchronous generator that streams events as they happen; it ends with Done(complete=...).

    The asyncio crawl runs in a background thread and hands events over through a queue. Closing the
    generator early stops the crawl. complete=False when max_pages or max_seconds cut the crawl short, or a
    start URL, robots.txt or any page failed in a way that may pass (timeout, connection error, 429, 5xx):
    then the caller must not treat unseen known documents as deleted.
    """
    if not start_urls:
        raise ValueError("crawl needs at least one start URL")
    out: queue.Queue[Any] = queue.Queue()
    crawler = _Crawler(start_urls, source, known, options, out.put)
    thread = threading.Thread(target=crawler.run, name="searchchat-crawl", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if isinstance(item, _Failure):
                raise item.exc
            yield item
            if isinstance(item, Done):
                return
    finally:
        crawler.stop()
        thread.join(timeout=10)


@dataclass
class _Failure:
    exc: BaseException


@dataclass
class _Item:
    url: str
    depth: int
    start: bool = False


class _Crawler:
    def __init__(self, start_urls: list[str], source: str, known: dict[str, DocState], options: CrawlOptions,
                 emit: Any) -> None:  # fmt: skip
        self.start_urls: list[str] = []
        for u in start_urls:
            if (n := normalize_url(u)) is None:
                raise ValueError(f"Not an http(s) URL: {u!r}")
            self.start_urls.append(n)
        self.source, self.known, self.o, self._emit = source, known, options, emit
        self.scope = Scope.build(self.start_urls, options.prefixes, options.allow_domains)
        cache_path = LinkCache.path_for(options.cache_dir, source) if options.cache_dir else None
        self.cache = LinkCache(cache_path)
        self.follow_links = not options.sitemap
        self.seen: set[str] = set()  # URLs queued, fetched or refused (each reported once)
        self.too_deep: set[str] = set()  # refused for depth: may still come back at a smaller depth
        self.claimed: set[str] = set()  # document ids already reported (Fetched or Unchanged)
        self.enqueued = 0
        self.truncated = False  # max_pages refused a URL
        self.stopped_why = ""  # why the crawl ended early (max_pages, max_seconds), for Done
        self.visiting: set[str] = set()  # URLs a worker holds
        self.incomplete = False  # something failed that may work next time
        self._stopped = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- thread plumbing -------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass  # stopped by the consumer
        except BaseException as exc:  # handed to the consumer's thread, which re-raises it
            self._emit(_Failure(exc))

    def stop(self) -> None:
        self._stopped.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)

    def emit(self, event: Event) -> None:
        if not self._stopped.is_set():
            self._emit(event)

    def skip(self, url: str, reason: str, detail: str = "") -> None:
        self.emit(Skipped(url, reason, detail))

    # ---- the crawl -------------------------------------------------------------------------------------
    async def _main(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stopped.is_set():
            return
        o = self.o
        self.pacer = Pacer(o.delay)
        self.frontier: asyncio.Queue[_Item] = asyncio.Queue()
        limits = httpx.Limits(max_connections=o.concurrency, max_keepalive_connections=o.concurrency)
        client = httpx.AsyncClient(
            headers={"User-Agent": o.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
            limits=limits, timeout=httpx.Timeout(o.timeout), follow_redirects=False,
            max_redirects=o.max_redirects, verify=_ssl_context(),
        )  # fmt: skip
        try:
            async with client:
                self.fetcher = Fetcher(client, self.pacer, o.timeout, o.max_retries, o.backoff)
                self.robots = RobotsCache(self._fetch_robots)
                workers = [asyncio.create_task(self._worker()) for _ in range(o.concurrency)]
                try:
                    async with asyncio.timeout(o.max_seconds):
                        await self._seed()
                        await self.frontier.join()
                except TimeoutError:
                    self._out_of_time()
                finally:
                    for w in workers:
                        w.cancel()
                    await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self.cache.save(keep=set(self.known) | self.claimed)
        self.emit(Done(complete=not (self.truncated or self.incomplete), reason=self.stopped_why))

    def _out_of_time(self) -> None:
        """The budget is spent: each URL in flight or still queued is reported; the crawl is incomplete."""
        self.incomplete = True
        self.stopped_why = f"max_seconds: the crawl's {self.o.max_seconds:g} s budget was spent"
        left = [u for u in self.visiting if u not in self.claimed]  # not those already reported
        while not self.frontier.empty():
            left.append(self.frontier.get_nowait().url)
            self.frontier.task_done()
        for url in left:
            self.skip(
                url, "max_seconds", f"not fetched: the crawl's {self.o.max_seconds:g} s budget was spent"
            )

    async def _fetch_robots(self, org: str) -> Robots:
        host = netloc(org)
        robots = await fetch_robots(self.fetcher, org, self.o.user_agent)
        if (crawl_delay := robots.crawl_delay) is not None:
            self.pacer.set_delay(host, max(self.o.delay, min(crawl_delay, MAX_CRAWL_DELAY)))
        return robots

    async def _seed(self) -> None:
        for url in self.start_urls:
            if self.o.sitemap:
                await self._read_sitemaps(url, depth=0, start=True)
            else:
                await self._enqueue(url, 0, start=True)
        if self.o.robots_sitemaps and not self.o.sitemap:
            for org in dict.fromkeys(origin(u) for u in self.start_urls):
                for sm in (await self.robots.get(org)).sitemaps[:MAX_SITEMAPS]:
                    if (sm_url := normalize_url(sm)) is not None:
                        await self._read_sitemaps(sm_url, depth=1, start=False)

    async def _read_sitemaps(self, url: str, depth: int, start: bool) -> None:
        """Queue the pages a sitemap (or a sitemap index, recursively) lists, within scope."""
        todo, done = [url], set[str]()
        while todo and len(done) < MAX_SITEMAPS:
            sm = todo.pop(0)
            if sm in done:
                continue
            done.add(sm)
            if not await self._allowed(sm):
                continue
            try:
                resp = await self.fetcher.get(
                    sm, max_bytes=MAX_SITEMAP_BYTES, accept=lambda ct, u: ct or "any"
                )
                if resp.status in REDIRECTS and (
                    target := normalize_url(resp.headers.get("location", ""), sm)
                ):
                    todo.append(target)
                    continue
                if not 200 <= resp.status < 300:
                    raise FetchError(f"http_{resp.status}", f"HTTP {resp.status}", status=resp.status)
                sitemap = parse_sitemap(resp.body)
            except FetchError as exc:
                self.incomplete |= start or exc.transient
                self.skip(sm, exc.reason, f"sitemap: {exc.detail}")
                continue
            except SitemapError as exc:
                self.incomplete |= start
                self.skip(sm, "parse_error", str(exc))
                continue
            todo.extend(n for n in (normalize_url(s) for s in sitemap.sitemaps) if n)
            for page in sitemap.urls:
                if (n := normalize_url(page)) is not None:
                    await self._enqueue(n, depth)

    async def _allowed(self, url: str) -> bool:
        robots = await self.robots.get(origin(url))
        if robots.allowed(url):
            return True
        self.incomplete |= bool(robots.unavailable)
        self.skip(url, robots.reason, robots.unavailable or "disallowed by robots.txt")
        return False

    async def _enqueue(self, url: str, depth: int, start: bool = False) -> None:
        if url in self.seen:
            return
        if not start and not self.scope.allows(url):
            self.seen.add(url)
            self.skip(url, "scope")
            return
        if depth > self.o.depth:
            if url not in self.too_deep:
                self.too_deep.add(url)
                self.skip(url, "depth", f"depth {depth} > {self.o.depth}")
            return
        self.seen.add(url)
        if not await self._allowed(url):
            return
        if self.enqueued >= self.o.max_pages:
            self.truncated = True
            self.stopped_why = f"max_pages: {self.o.max_pages} pages reached"
            self.skip(url, "max_pages", f"--max-pages {self.o.max_pages} reached")
            return
        self.enqueued += 1
        self.frontier.put_nowait(_Item(url, depth, start))

    async def _follow(self, links: list[str], depth: int) -> None:
        if self.follow_links:
            for link in links:
                await self._enqueue(link, depth)

    async def _worker(self) -> None:
        while True:
            item = await self.frontier.get()
            self.visiting.add(item.url)
            try:
                await self._visit(item)
            except Exception as exc:  # one odd page must not end the crawl, but it is reported
                log.warning("crawling %s failed", item.url, exc_info=True)
                self.incomplete = True
                self.skip(item.url, "error", f"{type(exc).__name__}: {exc}")
            finally:
                self.visiting.discard(item.url)
                self.frontier.task_done()

    async def _visit(self, item: _Item) -> None:
        url, chain = item.url, [item.url]
        while True:
            headers, record = self._conditional(url)
            try:
                resp = await self.fetcher.get(url, headers, self.o.max_bytes)
            except FetchError as exc:
                return self._failed(chain, exc, item.start)
            if resp.status not in REDIRECTS:
                break
            target = await self._redirect(item, chain, resp)
            if target is None:
                return
            url = target
            chain.append(target)
        if resp.status == 304 and record is not None:
            return await self._unchanged(item, url, resp, record)
        if not 200 <= resp.status < 300:
            return self._failed(
                chain, FetchError(f"http_{resp.status}", f"HTTP {resp.status}", resp.status), item.start
            )
        await self._page(item, url, resp)

    def _conditional(self, url: str) -> tuple[dict[str, str], PageRecord | None]:
        """Validators to send, only when the cache holds this page's links for the validators indexed."""
        record = self.cache.get(url)
        state = self.known.get(record.doc_id) if record else None
        if record is None or state is None or not (record.etag or record.last_modified):
            return {}, None
        if (state.etag, state.last_modified) != (record.etag, record.last_modified):
            return {}, None
        headers = {"If-None-Match": record.etag} if record.etag else {}
        if record.last_modified:
            headers["If-Modified-Since"] = record.last_modified
        return headers, record

    def _failed(self, chain: list[str], exc: FetchError, start: bool) -> None:
        self.incomplete |= exc.transient or start
        if exc.status in (404, 410) and (gone := [u for u in chain if u in self.known]):
            for u in gone:
                self.emit(Gone(u, reason=exc.reason))
            return
        detail = exc.detail + (f" (at {chain[-1]})" if len(chain) > 1 else "")
        self.skip(chain[0], exc.reason, detail)

    async def _redirect(self, item: _Item, chain: list[str], resp: Response) -> str | None:
        """The next URL of a redirect chain, or None after reporting why it is not followed."""
        first = chain[0]
        location = resp.headers.get("location")
        target = normalize_url(location, chain[-1]) if location else None
        if target is None:
            self.skip(first, f"http_{resp.status}", f"redirect without a usable Location: {location!r}")
            return None
        if target in chain:
            self.skip(first, "redirect_loop", " -> ".join([*chain, target]))
            return None
        if len(chain) > self.o.max_redirects:
            self.skip(first, "too_many_redirects", f"more than {self.o.max_redirects} redirects")
            return None
        if item.start:  # the site itself moved (http -> https, another host): follow it there
            self.scope.hosts.add(netloc(target))
        if not self.scope.allows(target):
            self.skip(first, "scope", f"redirects to {target}")
            return None
        if target in self.seen:
            self.skip(first, "duplicate_url", f"redirects to {target}")
            return None
        self.seen.add(target)
        return target if await self._allowed(target) else None

    async def _unchanged(self, item: _Item, url: str, resp: Response, record: PageRecord) -> None:
        etag = resp.headers.get("etag") or record.etag
        last_modified = resp.headers.get("last-modified") or record.last_modified
        self.cache.put(url, PageRecord(etag, last_modified, record.doc_id, record.links))
        if record.doc_id in self.claimed:
            self.skip(url, "duplicate_url", f"canonical {record.doc_id}")
        else:
            self.claimed.add(record.doc_id)
            self.seen.add(record.doc_id)
            self.emit(Unchanged(record.doc_id, etag, last_modified))
        await self._follow(record.links, item.depth + 1)

    async def _page(self, item: _Item, url: str, resp: Response) -> None:
        try:
            page = await asyncio.to_thread(parse_body, url, resp, self.o.user_agent)
        except Exception as exc:
            self.skip(url, "parse_error", f"{type(exc).__name__}: {exc}")
            return
        doc_id = url
        if page.canonical and (canonical := normalize_url(page.canonical)) and self.scope.allows(canonical):
            doc_id = canonical
        etag, last_modified = resp.headers.get("etag"), resp.headers.get("last-modified")
        self.cache.put(url, PageRecord(etag, last_modified, doc_id, page.links))
        if page.noindex:
            if doc_id in self.known and doc_id not in self.claimed:
                self.emit(Gone(doc_id, reason="noindex"))
            else:
                self.skip(url, "noindex")
        elif doc_id in self.claimed or (doc_id != url and doc_id in self.seen):
            self.skip(url, "duplicate_url", f"canonical {doc_id}")
        else:
            self.claimed.add(doc_id)
            self.seen.add(doc_id)
            doc = page.document
            doc.doc_id = doc.url = doc_id
            doc.source, doc.etag, doc.last_modified = self.source, etag, last_modified
            self.emit(Fetched(doc))
        await self._follow(page.links, item.depth + 1)
