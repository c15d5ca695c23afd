"""Sitemap parsing: urlset, sitemap index, gzip, text lists, and what is not a sitemap."""

from __future__ import annotations

import gzip

import pytest

from indexer.linkcache import LinkCache, PageRecord
from indexer.sitemap import SitemapError, gunzip, parse_sitemap

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc> https://ex.com/a </loc><lastmod>2024-01-01</lastmod>
       <image:image><image:loc>https://ex.com/a.png</image:loc></image:image></url>
  <url><loc>https://ex.com/b?x=1&amp;y=2</loc></url>
  <url><loc></loc></url>
</urlset>"""


def test_urlset() -> None:
    sm = parse_sitemap(URLSET)
    assert sm.urls == ["https://ex.com/a", "https://ex.com/b?x=1&y=2"]  # not the image, not the empty loc
    assert sm.sitemaps == []


def test_sitemap_index_and_gzip() -> None:
    index = b"<sitemapindex><sitemap><loc>https://ex.com/s1.xml.gz</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index).sitemaps == ["https://ex.com/s1.xml.gz"]
    assert parse_sitemap(gzip.compress(URLSET)).urls == parse_sitemap(URLSET).urls


def test_text_sitemap() -> None:
    assert parse_sitemap(b"https://ex.com/1\n\nhttps://ex.com/2\r\nnot a url\n").urls == [
        "https://ex.com/1",
        "https://ex.com/2",
    ]


@pytest.mark.parametrize(
    "body", [b"<html><body>hi</body></html>", b"just words", b"", b"<?xml version='1.0'?>"]
)
def test_not_a_sitemap(body: bytes) -> None:
    with pytest.raises(SitemapError):
        parse_sitemap(body)


def test_gzip_bomb_is_refused() -> None:
    with pytest.raises(SitemapError, match="larger than"):
        gunzip(gzip.compress(b"0" * 10_000), limit=1000)


def test_entities_are_not_expanded() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY e SYSTEM "file:///etc/passwd">]><urlset><url><loc>&e;</loc></url></urlset>'
    assert all("root:" not in u for u in parse_sitemap(evil).urls)


def test_link_cache_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = LinkCache.path_for(tmp_path / "c", "https://ex.com/")
    cache = LinkCache(path)
    cache.put("https://ex.com/a", PageRecord('"e1"', None, "https://ex.com/a", ["https://ex.com/b"]))
    cache.put("https://ex.com/old", PageRecord('"e2"', None, "https://ex.com/old", []))
    cache.save(keep={"https://ex.com/a"})
    again = LinkCache(path)
    assert again.get("https://ex.com/a") == PageRecord('"e1"', None, "https://ex.com/a", ["https://ex.com/b"])
    assert again.get("https://ex.com/old") is None  # neither visited nor known: dropped
    path.write_text("{not json")
    assert LinkCache(path).pages == {}  # a damaged cache only costs full fetches
