"""robots.txt rules (protego) for our user agent, and how robots.txt is fetched (RFC 9309)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from indexer.fetch import Fetcher, Pacer
from indexer.robots import MAX_ROBOTS_BYTES, Robots, RobotsCache, fetch_robots, parse_robots
from tests.crawl_site import Page, Site, default_pages, serve_site

UA = "searchchat/0.1 (+https://github.com/searchchat/searchchat)"

ROBOTS = """
User-agent: *
Disallow: /private/
Allow: /private/open.html
Crawl-delay: 2

User-agent: searchchat
Disallow: /no-searchchat/
Disallow: /*.pdf$
Crawl-delay: 0.5

User-agent: otherbot
Disallow: /

Sitemap: https://ex.com/sitemap.xml
Sitemap: https://ex.com/news.xml
"""


def test_our_group_wins_over_the_star_group() -> None:
    r = parse_robots(ROBOTS, UA)
    assert not r.allowed("https://ex.com/no-searchchat/a")
    assert not r.allowed("https://ex.com/files/report.pdf")
    assert r.allowed("https://ex.com/files/report.pdf?download=1")
    assert r.allowed("https://ex.com/private/x")  # only the * group disallows it
    assert r.crawl_delay == 0.5
    assert r.sitemaps == ["https://ex.com/sitemap.xml", "https://ex.com/news.xml"]


def test_star_group_applies_to_unknown_agents() -> None:
    r = parse_robots(ROBOTS, "somebot/1.0")
    assert not r.allowed("https://ex.com/private/x")
    assert r.allowed("https://ex.com/private/open.html")
    assert r.crawl_delay == 2.0


def test_request_rate_becomes_a_delay() -> None:
    r = parse_robots("User-agent: *\nRequest-rate: 1/5\n", UA)
    assert r.crawl_delay == 5.0


def test_no_rules_and_unavailable() -> None:
    assert Robots(UA).allowed("http://ex.com/anything") and Robots(UA).crawl_delay is None
    assert not Robots(UA, unavailable="robots.txt answered HTTP 503").allowed("http://ex.com/")


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(default_pages(traps=False)) as s:
        yield s


def fetch(site: Site, max_retries: int = 0) -> Robots:
    async def go() -> Robots:
        async with httpx.AsyncClient(timeout=2) as client:
            fetcher = Fetcher(client, Pacer(0), timeout=2, max_retries=max_retries, backoff=0.01)
            return await fetch_robots(fetcher, site.base, UA)

    return asyncio.run(go())


def test_fetch_robots(site: Site) -> None:
    r = fetch(site)
    assert not r.allowed(site.url("/private/secret.html")) and r.allowed(site.url("/a.html"))
    assert r.sitemaps == [site.url("/sitemap.xml")]


def test_fetch_robots_4xx_allows_everything(site: Site) -> None:
    del site.pages["/robots.txt"]
    assert fetch(site).allowed(site.url("/private/secret.html"))
    site.pages["/robots.txt"] = Page("no", status=403)
    assert fetch(site).allowed(site.url("/private/secret.html"))


def test_fetch_robots_5xx_disallows_everything_after_retries(site: Site) -> None:
    site.pages["/robots.txt"] = Page("down", status=503)
    r = fetch(site, max_retries=1)
    assert not r.allowed(site.url("/a.html")) and "503" in r.unavailable and r.reason == "robots"
    assert len(site.requests_for("/robots.txt")) == 2


def test_fetch_robots_follows_redirects(site: Site) -> None:
    site.pages["/robots.txt"] = Page(status=301, headers={"Location": "/real-robots.txt"})
    site.pages["/real-robots.txt"] = Page("User-agent: *\nDisallow: /a.html\n", "text/plain")
    r = fetch(site)
    assert not r.allowed(site.url("/a.html")) and r.allowed(site.url("/b.html"))


def test_fetch_robots_reads_only_the_first_500_kib(site: Site) -> None:
    filler = "# " + "x" * 100 + "\n"
    body = (
        "User-agent: *\nDisallow: /early/\n"
        + filler * (MAX_ROBOTS_BYTES // len(filler) + 10)
        + "Disallow: /late/\n"
    )
    site.pages["/robots.txt"] = Page(body, "text/plain")
    r = fetch(site)
    assert not r.allowed(site.url("/early/x")) and r.allowed(site.url("/late/x"))


def test_robots_cache_fetches_each_origin_once() -> None:
    calls: list[str] = []

    async def fake_fetch(origin: str) -> Robots:
        calls.append(origin)
        await asyncio.sleep(0.01)
        return parse_robots("User-agent: *\nDisallow: /x\n", UA)

    async def go() -> list[Robots]:
        cache = RobotsCache(fake_fetch)
        return await asyncio.gather(*(cache.get(o) for o in ["http://a", "http://a", "http://b", "http://a"]))

    results = asyncio.run(go())
    assert calls == ["http://a", "http://b"]
    assert results[0] is results[1] is results[3]
