"""A real, mutable HTTP test site on 127.0.0.1 (random port) for crawler and pipeline tests.

How to use it from another test module (pytest finds fixtures bound in the module; binding them by
assignment rather than `from ... import clean_site` keeps ruff's F811 quiet):

    from tests import crawl_site as site_fixtures
    from tests.crawl_site import Page, Site

    crawl_site, clean_site = site_fixtures.crawl_site, site_fixtures.clean_site  # pytest fixtures

    def test_something(clean_site: Site) -> None:
        start = clean_site.url("/index.html")              # http://127.0.0.1:PORT/index.html
        ...index or crawl start...
        clean_site.set_html("/a.html", "A again", "<p>new text</p>")  # change a page: new ETag, Last-Modified
        del clean_site.pages["/b.html"]                   # delete a page: 404 from now on
        clean_site.requests_for("/a.html")[-1].headers    # what the crawler sent (If-None-Match, User-Agent)

Fixtures: `crawl_site` serves `default_pages()` (every trap below, so a crawl of it ends with
Done(complete=False) because of the timeout and the 500); `clean_site` serves `default_pages(traps=False)`,
a small healthy site whose crawl is complete (use it for incremental re-index tests). `serve_site(pages)`
is the context manager behind both, for a site of your own.

Site (paths; depth from /index.html in brackets):
  /robots.txt                 Disallow: /private/, Sitemap: /sitemap.xml (set_robots() adds Crawl-delay)
  /index.html [0]             links to everything below (trap links only when traps=True)
  /a.html [1] <-> /b.html [2] a link cycle; index also links "a.html#intro" and "./a.html"
  /private/secret.html        disallowed by robots.txt
  /canon-dup.html             <link rel=canonical href=/a.html>: a duplicate of /a.html
  /alias.html                 canonical /canonical-target.html (not linked anywhere): doc_id becomes that
  /noindex.html               meta robots noindex; links to /from-noindex.html (still followed)
  /nofollow-meta.html         meta robots nofollow; links to /never.html (not followed)
  /hidden.html                only linked with rel=nofollow (never requested)
  /notes.txt, /guide.md, /paper.pdf   text/plain, text/markdown, application/pdf documents
  /deep1.html -> deep2 -> deep3 -> deep4   deep4 is at depth 4 (beyond the default depth 3)
  /sitemap.xml                lists /index.html, /a.html, /sitemap-only.html, /out-of-scope (another host)
  /sitemap-index.xml          a <sitemapindex> of /sitemap.xml and /sitemap2.xml.gz (gzipped)
  traps (traps=True):
  /redirect.html -> 301 /target.html; /loop1.html <-> /loop2.html (redirect loop);
  /r1.html -> ... -> /r7.html -> /target.html (7 redirects); /redirect-out.html -> another host
  /missing.html (404), /error.html (500 always), /flaky.html (429 Retry-After: 1 once, then 200)
  /slow.html (answers after SLOW seconds), /big.html (BIG bytes, Content-Length),
  /big-stream.html (BIG bytes, no Content-Length), /image.png (image/png),
  /drip.html (headers at once, then one body byte every DRIP seconds: effectively never complete),
  /bomb.html (BOMB bytes of spaces, gzip Content-Encoding: about 50 KB on the wire),
  /binary.html (BINARY random bytes served as text/html), /cafe.html (windows-1252 HTML, no charset anywhere)

`Site.dynamic`, when set, makes pages for paths not in `pages` (an infinite link space, for instance).

Every page gets a strong ETag (from its body) and its own Last-Modified, and answers conditional requests
(If-None-Match, else If-Modified-Since) with 304. Every request is recorded in `site.requests`.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import itertools
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SLOW = 3.0  # seconds /slow.html waits before answering: use a crawl timeout well below it
BIG = 200_000  # bytes of /big.html and /big-stream.html: use max_bytes below it
DRIP = 0.05  # seconds between the bytes of /drip.html
BOMB = 50_000_000  # bytes /bomb.html inflates to (50 MB)
BINARY = 20_000  # random bytes of /binary.html: below the tests' max_bytes, so only sniffing refuses it
CAFE = "café – naïve"  # the text of /cafe.html, served as windows-1252 without a charset
_clock = itertools.count(1_700_000_000, 60)  # distinct, increasing Last-Modified dates


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


@dataclass
class Page:
    """One resource. `body` may contain $BASE (replaced by http://127.0.0.1:PORT when served)."""

    body: str | bytes = ""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    gate: threading.Event | None = None  # when set, answer only once the test sets this event (10 s at most)
    before: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answers served first, once each
    stream: bool = False  # no Content-Length: the body ends when the connection closes
    gzip: bool = False  # serve the (rendered) body gzip-compressed, as a .gz file is
    drip: float = 0.0  # seconds between body bytes: the body trickles in one byte at a time
    last_modified: str = field(default_factory=lambda: _http_date(next(_clock)))

    def render(self, base: str) -> bytes:
        body = self.body.replace("$BASE", base).encode() if isinstance(self.body, str) else self.body
        return gzip.compress(body, mtime=0) if self.gzip else body


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    time: float  # time.monotonic() when the request arrived


def html(title: str, body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body><main>{body}</main></body></html>"


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF showing `text` (Helvetica), built by hand."""
    content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@functools.cache
def gzip_bomb(size: int) -> bytes:
    """`size` bytes of HTML (spaces, mostly), gzip-compressed about 1000:1, built a megabyte at a time. Spaces
    rather than zeros: the body looks like text, so only the size limit can stop it."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head, block = b"<!doctype html><title>Bomb</title><p>", b" " * (1 << 20)
    parts = [c.compress(head)]
    parts += [c.compress(block[: min(len(block), size - i)]) for i in range(len(head), size, len(block))]
    return b"".join(parts) + c.flush()


def random_bytes(n: int, seed: int = 19) -> bytes:
    return random.Random(seed).randbytes(n)


def robots_txt(crawl_delay: float | None = None, extra: str = "") -> str:
    delay = f"Crawl-delay: {crawl_delay}\n" if crawl_delay is not None else ""
    return f"User-agent: *\nDisallow: /private/\n{delay}{extra}\nSitemap: $BASE/sitemap.xml\n"


def _sitemap(paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{p if p.startswith('http') else '$BASE' + p}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def default_pages(traps: bool = True) -> dict[str, Page]:
    def p(title: str, body: str, head: str = "") -> Page:
        return Page(html(title, f"<h1>{title}</h1>{body}", head))

    links = [
        '<a href="a.html">A</a>', '<a href="a.html#intro">A intro</a>', '<a href="./a.html">A again</a>',
        '<a href="/private/secret.html">secret</a>', '<a href="canon-dup.html">dup</a>',
        '<a href="alias.html">alias</a>', '<a href="noindex.html">noindex</a>',
        '<a href="nofollow-meta.html">nofollow meta</a>', '<a href="hidden.html" rel="nofollow">hidden</a>',
        '<a href="notes.txt">notes</a>', '<a href="guide.md">guide</a>', '<a href="paper.pdf">paper</a>',
        '<a href="deep1.html">deep</a>', '<a href="mailto:someone@example.org">mail</a>',
        '<a href="http://other.invalid/page.html">elsewhere</a>',
    ]  # fmt: skip
    trap_links = [
        "redirect.html", "loop1.html", "r1.html", "redirect-out.html", "missing.html", "error.html",
        "flaky.html", "slow.html", "big.html", "big-stream.html", "image.png", "drip.html", "bomb.html",
        "binary.html", "cafe.html",
    ]  # fmt: skip
    if traps:
        links += [f'<a href="{t}">{t}</a>' for t in trap_links]
    pages = {
        "/robots.txt": Page(robots_txt(), "text/plain"),
        "/index.html": p(
            "Home", "<p>Welcome to the test site.</p><ul>" + "".join(f"<li>{x}</li>" for x in links)
        ),
        "/a.html": p("Page A", '<h2 id="intro">Intro</h2><p>Apples are red.</p><a href="b.html">to B</a>'),
        "/b.html": p("Page B", '<p>Bananas are yellow.</p><a href="a.html">back to A</a>'),
        "/private/secret.html": p("Secret", "<p>Nobody should read this.</p>"),
        "/canon-dup.html": p("A copy", "<p>Apples are red.</p>", '<link rel="canonical" href="/a.html">'),
        "/alias.html": p(
            "Alias", "<p>Cherries are dark.</p>", '<link rel="canonical" href="canonical-target.html">'
        ),
        "/canonical-target.html": p("Alias", "<p>Cherries are dark.</p>"),
        "/noindex.html": p(
            "Hub",
            '<p>A hub page.</p><a href="from-noindex.html">child</a>',
            '<meta name="robots" content="noindex">',
        ),
        "/from-noindex.html": p("Child of hub", "<p>Found through a noindex page.</p>"),
        "/nofollow-meta.html": p(
            "No follow",
            '<p>Do not follow.</p><a href="never.html">never</a>',
            '<meta name="robots" content="nofollow">',
        ),
        "/never.html": p("Never", "<p>Only linked from a nofollow page.</p>"),
        "/hidden.html": p("Hidden", "<p>Only linked with rel=nofollow.</p>"),
        "/notes.txt": Page("Plain notes\n\nDates are sweet.\n", "text/plain; charset=utf-8"),
        "/guide.md": Page("# Guide\n\nSome intro.\n\n## Figs\n\nFigs are soft.\n", "text/markdown"),
        "/paper.pdf": Page(make_pdf("Grapes grow in bunches"), "application/pdf"),
        "/deep1.html": p("Deep 1", '<a href="deep2.html">down</a>'),
        "/deep2.html": p("Deep 2", '<a href="deep3.html">down</a>'),
        "/deep3.html": p("Deep 3", '<a href="deep4.html">down</a>'),
        "/deep4.html": p("Deep 4", "<p>Too deep.</p>"),
        "/sitemap-only.html": p("Sitemap only", "<p>Listed in the sitemap, linked from nowhere.</p>"),
        "/sitemap.xml": Page(
            _sitemap(["/index.html", "/a.html", "/sitemap-only.html", "http://other.invalid/x.html"]),
            "application/xml",
        ),
        "/sitemap2.xml.gz": Page(_sitemap(["/b.html"]), "application/gzip", gzip=True),
        "/sitemap-index.xml": Page(
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<sitemap><loc>$BASE/sitemap.xml</loc></sitemap><sitemap><loc>$BASE/sitemap2.xml.gz</loc></sitemap>"
            "</sitemapindex>",
            "application/xml",
        ),
        # traps
        "/redirect.html": Page(status=301, headers={"Location": "/target.html"}),
        "/target.html": p("Target", "<p>Redirected here.</p>"),
        "/loop1.html": Page(status=302, headers={"Location": "/loop2.html"}),
        "/loop2.html": Page(status=302, headers={"Location": "$BASE/loop1.html"}),
        **{f"/r{i}.html": Page(status=302, headers={"Location": f"/r{i + 1}.html"}) for i in range(1, 7)},
        "/r7.html": Page(status=302, headers={"Location": "/target.html"}),
        "/redirect-out.html": Page(status=302, headers={"Location": "http://other.invalid/"}),
        "/error.html": Page("<p>broken</p>", status=500),
        "/flaky.html": p("Flaky", "<p>Eventually there.</p>"),
        "/slow.html": p("Slow", "<p>Too slow.</p>"),
        "/big.html": p("Big", "<p>" + "x" * BIG + "</p>"),
        "/big-stream.html": Page(html("Big stream", "<p>" + "y" * BIG + "</p>"), stream=True),
        "/image.png": Page(b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png"),
        "/drip.html": Page(html("Drip", "<p>" + "z" * 4000 + "</p>"), drip=DRIP),
        "/bomb.html": Page(gzip_bomb(BOMB), "text/html", headers={"Content-Encoding": "gzip"}),
        "/binary.html": Page(random_bytes(BINARY), "text/html"),
        "/cafe.html": Page(html("Café", f"<h1>Café</h1><p>{CAFE}</p>").encode("cp1252"), "text/html"),
    }
    pages["/flaky.html"].before = [(429, {"Retry-After": "1"})]
    pages["/slow.html"].delay = SLOW
    return pages


class Site:
    """The live site: mutate `pages` (path -> Page) at any time; `requests` records what was asked."""

    def __init__(self, pages: dict[str, Page]) -> None:
        self.pages = pages
        self.requests: list[Request] = []
        self.base = ""  # set once the server listens
        self.dynamic: Callable[[str], Page | None] | None = None  # pages for paths not in `pages`
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return self.base + path

    def set_html(self, path: str, title: str, body: str, head: str = "") -> Page:
        """Create or replace an HTML page (it gets a new ETag and a later Last-Modified)."""
        self.pages[path] = page = Page(html(title, body, head))
        return page

    def set_robots(self, crawl_delay: float | None = None, extra: str = "") -> None:
        self.pages["/robots.txt"] = Page(robots_txt(crawl_delay, extra), "text/plain")

    def requests_for(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def paths(self) -> list[str]:
        """Paths requested, in order (duplicates kept)."""
        with self.lock:
            return [r.path for r in self.requests]

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append(Request(h.path, dict(h.headers.items()), time.monotonic()))
            page = self.pages.get(h.path) or self.pages.get(h.path.split("?")[0])
            if page is None and self.dynamic is not None:
                page = self.dynamic(h.path)
            before = page.before.pop(0) if page is not None and page.before else None
        if page is None:
            return _send(h, 404, {"Content-Type": "text/html"}, b"<h1>Not found</h1>")
        if before is not None:
            return _send(h, before[0], before[1], b"")
        if page.delay:
            time.sleep(page.delay)
        if page.gate is not None:
            page.gate.wait(timeout=10)
        body = page.render(self.base)
        headers = {k: v.replace("$BASE", self.base) for k, v in page.headers.items()}
        if page.status != 200:
            return _send(h, page.status, {"Content-Type": page.content_type, **headers}, body)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {
            "Content-Type": page.content_type,
            "ETag": etag,
            "Last-Modified": page.last_modified,
            **headers,
        }
        inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")
        if inm is not None:
            fresh = inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]
        else:
            fresh = ims is not None and _not_after(page.last_modified, ims)
        if fresh:
            return _send(h, 304, {"ETag": etag, "Last-Modified": page.last_modified}, b"")
        _send(h, 200, headers, body, stream=page.stream, drip=page.drip)


def _not_after(last_modified: str, since: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(last_modified) <= email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, stream: bool = False,
          drip: float = 0.0) -> None:  # fmt: skip
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    if stream:
        h.send_header("Connection", "close")
        h.close_connection = True
    else:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if status in (204, 304):
        return
    if not drip:
        h.wfile.write(body)
        return
    h.wfile.flush()
    for i in range(len(body)):
        h.wfile.write(body[i : i + 1])
        time.sleep(drip)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        try:
            self.server.site.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. a timeout test)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default backlog (5) drops connections when a crawl opens many at once

    def __init__(self, site: Site) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site = site

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # connections dropped by the client are expected in these tests


@contextmanager
def serve_site(pages: dict[str, Page] | None = None) -> Iterator[Site]:
    """Serve `pages` (default: default_pages()) on 127.0.0.1 at a random port until the block ends."""
    site = Site(default_pages() if pages is None else pages)
    server = _Server(site)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def crawl_site() -> Iterator[Site]:
    """The full test site, traps included."""
    with serve_site() as site:
        yield site


@pytest.fixture
def clean_site() -> Iterator[Site]:
    """The test site without trap links: a crawl of /index.html completes."""
    with serve_site(default_pages(traps=False)) as site:
        yield site
