"""Sitemap parsing: <urlset> and <sitemapindex> XML (optionally gzipped) and plain-text URL lists."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from lxml import etree

MAX_SITEMAP_BYTES = 50_000_000  # the sitemap protocol's limit for an uncompressed file
MAX_SITEMAPS = 100  # nested sitemaps read from one sitemap index tree


class SitemapError(ValueError):
    """The body is neither a sitemap nor a sitemap index."""


@dataclass
class Sitemap:
    """Page URLs listed by a <urlset>, and child sitemaps listed by a <sitemapindex>."""

    urls: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)


def gunzip(data: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """Decompress gzip data, refusing to inflate beyond `limit` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise SitemapError(f"sitemap larger than {limit} bytes once decompressed")
    return out


def parse_sitemap(data: bytes) -> Sitemap:
    """Parse a sitemap body. Gzip is detected by its magic bytes; namespaces are ignored."""
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data)
    stripped = data.lstrip()
    if not stripped.startswith(b"<"):
        lines = [ln.strip() for ln in stripped.decode("utf-8", errors="replace").splitlines()]
        urls = [ln for ln in lines if ln.startswith(("http://", "https://"))]
        if not urls:
            raise SitemapError("not a sitemap: neither XML nor a list of URLs")
        return Sitemap(urls=urls)
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(stripped, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"not a sitemap: {exc}") from exc
    if root is None:
        raise SitemapError("not a sitemap: empty XML document")
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(f"not a sitemap: root element <{kind}>")
    locs = []  # only <url><loc> and <sitemap><loc>: not extension tags such as <image:loc>
    for entry in root:
        if isinstance(entry.tag, str) and etree.QName(entry).localname in ("url", "sitemap"):
            for el in entry:
                if isinstance(el.tag, str) and etree.QName(el).localname == "loc" and (el.text or "").strip():
                    locs.append(el.text.strip())
    return Sitemap(urls=locs) if kind == "urlset" else Sitemap(sitemaps=locs)
