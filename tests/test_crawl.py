"""The crawler against a real local HTTP site: robots, politeness, scope, limits, redirects, incremental."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.crawl import CrawlOptions, crawl
from indexer.events import DocState, Done, Event, Fetched, Gone, Skipped, Unchanged
from indexer.fetch import content_kind, parse_retry_after
from searchchat.indexing import crawl_options
from searchchat.settings import Settings
from tests import crawl_site as site_fixtures
from tests.crawl_site import BIG, Page, Site, serve_site

crawl_site, clean_site = site_fixtures.crawl_site, site_fixtures.clean_site  # pytest fixtures

UA = CrawlOptions().user_agent
FAST = dict(delay=0.0, timeout=1.0, max_bytes=BIG // 4, backoff=0.05, max_retries=2)


def run(
    site: Site, start: str = "/index.html", known: dict[str, DocState] | None = None, **opts: Any
) -> list[Event]:
    options = CrawlOptions(**{**FAST, **opts})
    return list(crawl([site.url(start)], "test-source", known or {}, options))


def fetched(events: list[Event]) -> dict[str, Any]:
    return {e.document.doc_id: e.document for e in events if isinstance(e, Fetched)}


def skipped(events: list[Event]) -> dict[str, str]:
    return {e.url: e.reason for e in events if isinstance(e, Skipped)}


def done(events: list[Event]) -> Done:
    assert isinstance(events[-1], Done)
    assert sum(isinstance(e, Done) for e in events) == 1
    return events[-1]


def page_requests(site: Site) -> list[str]:
    return [p for p in site.paths() if p != "/robots.txt"]


def apply(known: dict[str, DocState], events: list[Event]) -> dict[str, DocState]:
    """What the pipeline would store: the next run's `known`."""
    known = dict(known)
    for e in events:
        if isinstance(e, Fetched):
            d = e.document
            known[d.doc_id] = DocState(d.doc_id, d.url, d.content_hash, d.etag, d.last_modified)
        elif isinstance(e, Unchanged):
            old = known[e.doc_id]
            known[e.doc_id] = DocState(e.doc_id, old.url, old.content_hash, e.etag, e.last_modified)
        elif isinstance(e, Gone):
            known.pop(e.doc_id)
    return known


# ---- one crawl of the full trap site, many checks ---------------------------------------------------------
@pytest.fixture(scope="module")
def full() -> Iterator[tuple[Site, list[Event], float]]:
    with serve_site() as site:
        t0 = time.monotonic()
        events = run(site)
        yield site, events, time.monotonic() - t0


def test_fetches_every_indexable_page_once(full: tuple[Site, list[Event], float]) -> None:
    site, events, _ = full
    docs = fetched(events)
    expected = [
        "/index.html", "/a.html", "/b.html", "/canonical-target.html", "/nofollow-meta.html", "/notes.txt",
        "/guide.md", "/paper.pdf", "/deep1.html", "/deep2.html", "/deep3.html", "/target.html",
        "/from-noindex.html", "/flaky.html", "/cafe.html",
    ]  # fmt: skip
    assert sorted(docs) == sorted(site.url(p) for p in expected)
    assert sum(isinstance(e, Fetched) for e in events) == len(expected)
    for doc_id, doc in docs.items():
        assert doc.url == doc_id and doc.source == "test-source"
        assert doc.etag and doc.etag.startswith('"') and doc.last_modified
    assert "Apples are red." in docs[site.url("/a.html")].text
    types = {p: docs[site.url(p)].doctype for p in ("/notes.txt", "/guide.md", "/paper.pdf", "/a.html")}
    assert types == {"/notes.txt": "text", "/guide.md": "markdown", "/paper.pdf": "pdf", "/a.html": "html"}
    assert "Grapes grow in bunches" in docs[site.url("/paper.pdf")].text
    assert "Figs are soft." in docs[site.url("/guide.md")].text


def test_skip_reasons(full: tuple[Site, list[Event], float]) -> None:
    site, events, _ = full
    got = skipped(events)
    expected = {
        "/private/secret.html": "robots", "/canon-dup.html": "duplicate_url", "/noindex.html": "noindex",
        "/missing.html": "http_404", "/error.html": "http_500", "/slow.html": "timeout",
        "/big.html": "too_large", "/big-stream.html": "too_large", "/image.png": "content_type",
        "/loop1.html": "redirect_loop", "/r1.html": "too_many_redirects", "/redirect-out.html": "scope",
        "/deep4.html": "depth", "/drip.html": "timeout", "/bomb.html": "too_large", "/binary.html": "binary_body",
    }  # fmt: skip
    for path, reason in expected.items():
        assert got.get(site.url(path)) == reason, path
    assert got["http://other.invalid/page.html"] == "scope"
    assert "Content-Length" in next(
        e.detail for e in events if isinstance(e, Skipped) and e.url.endswith("/big.html")
    )
    assert not any(isinstance(e, Gone | Unchanged) for e in events)
    # timeouts and a persistent 500 may pass: the pipeline must not delete unseen documents
    assert done(events).complete is False


def test_robots_nofollow_and_duplicates_are_never_requested(full: tuple[Site, list[Event], float]) -> None:
    site, _, _ = full
    paths = site.paths()
    for never in (
        "/private/secret.html",
        "/hidden.html",
        "/never.html",
        "/canonical-target.html",
        "/deep4.html",
    ):
        assert never not in paths
    counts = Counter(paths)
    assert counts["/robots.txt"] == 1
    assert counts["/a.html"] == 1  # a.html, a.html#intro, ./a.html and the b -> a cycle are one URL
    assert counts["/error.html"] == 3, (
        counts,
        [e for e in full[1] if "error" in getattr(e, "url", "")],
    )  # 1 + 2 retries
    assert counts["/flaky.html"] == 2  # 429, then 200
    assert all(n == 1 for p, n in counts.items() if p not in ("/error.html", "/flaky.html"))
    assert counts["/r6.html"] == 1 and "/r7.html" not in counts  # stopped after 5 redirects


def test_user_agent_and_accept_headers(full: tuple[Site, list[Event], float]) -> None:
    site, _, _ = full
    for r in site.requests:
        assert r.headers["User-Agent"] == UA
        assert "searchchat" in r.headers["User-Agent"]
    assert "text/html" in site.requests_for("/index.html")[0].headers["Accept"]


def test_retry_after_is_honoured(full: tuple[Site, list[Event], float]) -> None:
    site, events, elapsed = full
    first, second = site.requests_for("/flaky.html")
    assert second.time - first.time >= 0.95  # Retry-After: 1
    assert elapsed < 15  # retries are bounded and the timeout cuts the slow page short
    errors = site.requests_for("/error.html")
    assert (
        errors[1].time - errors[0].time >= 0.04 and errors[2].time - errors[1].time >= 0.09
    )  # 0.05 s, doubled


# ---- focused crawls ----------------------------------------------------------------------------------------
def test_clean_site_crawl_is_complete(clean_site: Site) -> None:
    events = run(clean_site)
    assert done(events).complete is True
    assert clean_site.url("/b.html") in fetched(events)


def test_events_stream_as_they_happen(clean_site: Site) -> None:
    gate = threading.Event()
    clean_site.set_html("/index.html", "Home", '<a href="slow.html">slow</a><a href="a.html">a</a>')
    clean_site.set_html("/slow.html", "Slow", "<p>late</p>").gate = gate
    stream = crawl([clean_site.url("/index.html")], "s", {}, CrawlOptions(**{**FAST, "timeout": 10}))
    first, second = next(stream), next(stream)  # index and a.html, while /slow.html is still held back
    assert {first.document.title, second.document.title} == {"Home", "Page A"}  # type: ignore[union-attr]
    assert not gate.is_set() and clean_site.requests_for("/slow.html")
    gate.set()
    rest = list(stream)
    assert done(rest).complete and clean_site.url("/slow.html") in fetched(rest)


def test_closing_the_generator_stops_the_crawl(clean_site: Site) -> None:
    before = threading.active_count()
    stream = crawl([clean_site.url("/index.html")], "s", {}, CrawlOptions(**{**FAST, "delay": 0.3}))
    assert isinstance(next(stream), Fetched)
    t0 = time.monotonic()
    stream.close()
    assert time.monotonic() - t0 < 5
    n = len(clean_site.paths())
    time.sleep(0.5)
    assert len(clean_site.paths()) == n  # no request after close
    assert n < 6
    assert threading.active_count() <= before


def test_crawl_delay_from_robots_spaces_requests(clean_site: Site) -> None:
    clean_site.set_robots(crawl_delay=0.2)
    events = run(clean_site, max_pages=5, concurrency=4)
    times = [r.time for r in clean_site.requests]
    assert len(times) == 6 and len(fetched(events)) >= 2  # robots.txt + 5 pages
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.18, gaps  # 0.2 s, less a little clock skew between client and server


def test_delay_option_and_larger_wins(clean_site: Site) -> None:
    clean_site.set_robots(crawl_delay=0.05)
    run(clean_site, max_pages=4, delay=0.15, concurrency=4)
    times = [r.time for r in clean_site.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == 5 and min(gaps) >= 0.13, gaps


def test_delay_zero_fetches_concurrently(clean_site: Site) -> None:
    slow = ("/a.html", "/deep1.html", "/notes.txt")  # all at depth 1
    for p in slow:
        clean_site.pages[p].delay = 1.0
    events = run(clean_site, concurrency=8, timeout=5)
    assert done(events).complete
    arrivals = [clean_site.requests_for(p)[0].time for p in slow]
    assert max(arrivals) - min(arrivals) < 0.9  # one at a time would space them by at least 1 s


def test_max_pages(clean_site: Site) -> None:
    events = run(clean_site, max_pages=3)
    assert len(page_requests(clean_site)) == 3
    assert "max_pages" in skipped(events).values()
    assert done(events).complete is False


def test_depth_limit(clean_site: Site) -> None:
    events = run(clean_site, depth=1)
    docs, skips = fetched(events), skipped(events)
    assert clean_site.url("/a.html") in docs and clean_site.url("/deep1.html") in docs
    assert skips[clean_site.url("/b.html")] == "depth" and skips[clean_site.url("/deep2.html")] == "depth"
    assert "/b.html" not in clean_site.paths()
    assert done(events).complete is True


def test_depth_zero_fetches_only_the_start(clean_site: Site) -> None:
    events = run(clean_site, depth=0)
    assert list(fetched(events)) == [clean_site.url("/index.html")]
    assert page_requests(clean_site) == ["/index.html"]


def test_prefix_scope(clean_site: Site) -> None:
    events = run(clean_site, prefixes=[clean_site.url("/deep")])
    docs = fetched(events)
    assert sorted(docs) == sorted(
        clean_site.url(p) for p in ("/index.html", "/deep1.html", "/deep2.html", "/deep3.html")
    )
    assert skipped(events)[clean_site.url("/a.html")] == "scope"


def test_allow_domains(clean_site: Site) -> None:
    other = clean_site.base.replace("127.0.0.1", "localhost")
    clean_site.set_html("/index.html", "Home", f'<a href="{other}/a.html">a elsewhere</a>')
    events = run(clean_site)
    assert skipped(events) == {f"{other}/a.html": "scope"}
    clean_site.requests.clear()
    events = run(clean_site, allow_domains=["localhost"])
    assert f"{other}/a.html" in fetched(events) and f"{other}/b.html" in fetched(events)
    assert "/robots.txt" in clean_site.paths()[1:]  # robots.txt read for the second host too


def test_start_redirect_moves_the_scope(clean_site: Site) -> None:
    other = clean_site.base.replace("127.0.0.1", "localhost")
    clean_site.pages["/start"] = Page(status=301, headers={"Location": f"{other}/index.html"})
    events = run(clean_site, start="/start")
    assert f"{other}/a.html" in fetched(events)
    assert done(events).complete


def test_sitemap_mode_crawls_listed_urls_only(clean_site: Site) -> None:
    events = run(clean_site, start="/sitemap.xml", sitemap=True)
    assert sorted(fetched(events)) == sorted(
        clean_site.url(p) for p in ("/index.html", "/a.html", "/sitemap-only.html")
    )
    assert skipped(events) == {"http://other.invalid/x.html": "scope"}
    assert "/b.html" not in clean_site.paths()  # links are not followed
    assert done(events).complete


def test_sitemap_index_and_gzip(clean_site: Site) -> None:
    events = run(clean_site, start="/sitemap-index.xml", sitemap=True)
    assert clean_site.url("/b.html") in fetched(events) and clean_site.url("/sitemap-only.html") in fetched(
        events
    )


def test_missing_sitemap_is_incomplete(clean_site: Site) -> None:
    events = run(clean_site, start="/nope.xml", sitemap=True)
    assert skipped(events) == {clean_site.url("/nope.xml"): "http_404"}
    assert done(events).complete is False


def test_robots_sitemap_lines_seed_the_crawl(clean_site: Site) -> None:
    events = run(clean_site, depth=1, robots_sitemaps=True)
    assert clean_site.url("/sitemap-only.html") in fetched(events)
    assert clean_site.url("/sitemap-only.html") not in fetched(run(clean_site, depth=1))


def test_robots_unavailable_disallows_and_is_incomplete(clean_site: Site) -> None:
    clean_site.pages["/robots.txt"] = Page("oops", status=503)
    events = run(clean_site, max_retries=0)
    assert skipped(events) == {clean_site.url("/index.html"): "robots"}
    assert page_requests(clean_site) == []
    assert done(events).complete is False


def test_missing_robots_allows_everything(clean_site: Site) -> None:
    del clean_site.pages["/robots.txt"]
    clean_site.set_html("/index.html", "Home", '<a href="private/secret.html">s</a>')
    events = run(clean_site)
    assert clean_site.url("/private/secret.html") in fetched(events)


def test_robots_group_for_searchchat(clean_site: Site) -> None:
    clean_site.pages["/robots.txt"] = Page(
        "User-agent: searchchat\nDisallow: /a.html\n\nUser-agent: *\nDisallow: /\n"
    )
    events = run(clean_site)
    assert skipped(events)[clean_site.url("/a.html")] == "robots"
    assert clean_site.url("/b.html") not in fetched(events)  # only reachable through a.html
    assert clean_site.url("/deep1.html") in fetched(events)


def test_connect_error_is_retried_then_skipped() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    events = list(crawl([url], "s", {}, CrawlOptions(**FAST)))
    # robots.txt is unreachable (retried twice), so the start page is refused and the crawl is partial
    assert [type(e) for e in events] == [Skipped, Done]
    assert skipped(events) == {url: "connect_error"} and "robots.txt unreachable" in events[0].detail
    assert done(events).complete is False
    assert time.monotonic() - t0 < 10


def test_noindex_known_document_is_gone(clean_site: Site) -> None:
    url = clean_site.url("/noindex.html")
    events = run(clean_site, known={url: DocState(url, url, "h")})
    assert [e for e in events if isinstance(e, Gone)] == [Gone(url, reason="noindex")]
    assert clean_site.url("/from-noindex.html") in fetched(events)  # its links are still followed


def test_x_robots_tag_header(clean_site: Site) -> None:
    clean_site.pages["/a.html"].headers["X-Robots-Tag"] = "noindex, nofollow"
    clean_site.pages["/deep1.html"].headers["X-Robots-Tag"] = "otherbot: noindex"
    events = run(clean_site)
    assert skipped(events)[clean_site.url("/a.html")] == "noindex"
    assert "/b.html" not in clean_site.paths()
    assert clean_site.url("/deep1.html") in fetched(events)


def test_charset_from_header(clean_site: Site) -> None:
    clean_site.pages["/a.html"] = Page(
        "<html><head><title>Caf\xe9</title></head><body><p>cr\xe8me br\xfbl\xe9e</p></body></html>".encode(
            "latin-1"
        ),
        "text/html; charset=iso-8859-1",
    )
    doc = fetched(run(clean_site))[clean_site.url("/a.html")]
    assert doc.title == "Café" and "crème brûlée" in doc.text


# ---- incremental re-crawls ---------------------------------------------------------------------------------
def test_recrawl_sends_conditional_requests_and_detects_changes(clean_site: Site, tmp_path: Path) -> None:
    cache = {"cache_dir": tmp_path / "cache"}
    first = run(clean_site, **cache)
    known = apply({}, first)
    assert len(known) == len(fetched(first)) >= 10
    clean_site.requests.clear()

    second = run(clean_site, known=known, **cache)
    unchanged = {e.doc_id for e in second if isinstance(e, Unchanged)}
    assert unchanged == set(known) and not fetched(second)  # links of 304 pages were still followed
    a = clean_site.requests_for("/a.html")[0].headers
    assert a["If-None-Match"] == known[clean_site.url("/a.html")].etag
    assert a["If-Modified-Since"] == known[clean_site.url("/a.html")].last_modified
    assert done(second).complete
    known = apply(known, second)

    clean_site.set_html("/a.html", "Page A", '<p>Apples are green now.</p><a href="b.html">B</a>')
    del clean_site.pages["/b.html"]
    clean_site.set_html("/deep2.html", "Deep 2", '<a href="deep3.html">down</a> <a href="new.html">new</a>')
    clean_site.set_html("/new.html", "New", "<p>A new page.</p>")
    third = run(clean_site, known=known, **cache)
    docs = fetched(third)
    assert sorted(docs) == sorted(clean_site.url(p) for p in ("/a.html", "/deep2.html", "/new.html"))
    assert "green" in docs[clean_site.url("/a.html")].text
    assert [e for e in third if isinstance(e, Gone)] == [Gone(clean_site.url("/b.html"), reason="http_404")]
    assert len([e for e in third if isinstance(e, Unchanged)]) == len(known) - 3
    assert done(third).complete


def test_recrawl_of_a_page_that_lost_its_link(clean_site: Site, tmp_path: Path) -> None:
    cache = {"cache_dir": tmp_path / "cache"}
    known = apply({}, run(clean_site, **cache))
    clean_site.set_html("/deep1.html", "Deep 1", "<p>dead end</p>")
    events = run(clean_site, known=known, **cache)
    seen = set(fetched(events)) | {e.doc_id for e in events if isinstance(e, Unchanged)}
    assert clean_site.url("/deep2.html") not in seen  # unreachable now: the pipeline removes it on Done
    assert done(events).complete


def test_no_conditional_request_without_link_cache(clean_site: Site) -> None:
    known = apply({}, run(clean_site))
    clean_site.requests.clear()
    events = run(clean_site, known=known)
    assert all("If-None-Match" not in r.headers for r in clean_site.requests)
    assert sorted(fetched(events)) == sorted(known)  # full fetches; the pipeline compares content hashes


def test_stale_link_cache_is_not_trusted(clean_site: Site, tmp_path: Path) -> None:
    cache = {"cache_dir": tmp_path / "cache"}
    known = apply({}, run(clean_site, **cache))
    a = clean_site.url("/a.html")
    known[a] = DocState(a, a, "other", etag='"something-else"', last_modified=None)
    clean_site.requests.clear()
    events = run(clean_site, known=known, **cache)
    assert "If-None-Match" not in clean_site.requests_for("/a.html")[0].headers
    assert a in fetched(events)


# ---- options and helpers -----------------------------------------------------------------------------------
def test_options_from_settings(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, crawl_delay=0.5, crawl_depth=2, crawl_max_pages=7, request_timeout=3,
                 max_body_bytes=2048, user_agent="searchchat-test/1")  # fmt: skip
    o = crawl_options(s, max_pages=9, prefixes=["http://x/docs/"], delay=None)
    assert (o.delay, o.depth, o.max_pages, o.timeout, o.max_bytes) == (0.5, 2, 9, 3, 2048)
    assert o.user_agent == "searchchat-test/1" and o.prefixes == ["http://x/docs/"]
    assert o.cache_dir == s.index_dir / "crawl-cache"
    with pytest.raises(ValueError, match="Unknown crawl option"):
        crawl_options(s, dept=2)
    with pytest.raises(ValueError, match="delay must be >= 0"):
        CrawlOptions(delay=-1)


def test_crawler_errors_reach_the_consumer(clean_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data: bytes) -> None:
        raise RuntimeError("sitemap parser exploded")

    monkeypatch.setattr("indexer.crawl.parse_sitemap", boom)
    with pytest.raises(RuntimeError, match="exploded"):
        run(clean_site, start="/sitemap.xml", sitemap=True)


def test_bad_start_urls() -> None:
    with pytest.raises(ValueError, match="Not an http"):
        list(crawl(["ftp://x/"], "s", {}, CrawlOptions()))
    with pytest.raises(ValueError, match="at least one"):
        list(crawl([], "s", {}, CrawlOptions()))
    with pytest.raises(ValueError, match="Prefixes"):
        list(crawl(["http://x/"], "s", {}, CrawlOptions(prefixes=["docs/"])))


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now) == pytest.approx(10.0)
    assert parse_retry_after("99999", now) == 60.0  # capped
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_content_kind() -> None:
    assert content_kind("text/html; charset=utf-8", "http://x/") == "html"
    assert content_kind("application/xhtml+xml", "http://x/") == "html"
    assert content_kind("text/markdown", "http://x/a") == "markdown"
    assert content_kind("application/pdf", "http://x/a") == "pdf"
    assert content_kind("image/png", "http://x/a.html") is None
    assert content_kind(None, "http://x/a.md") == "markdown"
    assert content_kind("application/octet-stream", "http://x/a.txt") == "text"
    assert content_kind(None, "http://x/a.zip") is None
