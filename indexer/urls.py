"""URL normalisation (the crawler's document ids) and the crawl scope: hosts, prefixes, extra domains."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve '.' and '..' segments in an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _host(hostname: str) -> str:
    try:
        host = hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError:
        host = hostname
    return f"[{host}]" if ":" in host else host


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical form of an http(s) URL (relative to base), or None for other schemes and bad URLs.

    Resolves relative references and dot segments, drops the fragment, user info and default port,
    lowercases scheme and host, percent-encodes unsafe characters (uppercasing escapes) and keeps the
    query as it is; an empty path becomes '/'.
    """
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        port = parts.port
    except ValueError:
        return None
    netloc = _host(parts.hostname.rstrip("."))
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _remove_dot_segments(quote(parts.path or "/", safe=_PATH_SAFE))
    query = quote(parts.query, safe=_QUERY_SAFE)
    path, query = (_ESCAPE.sub(lambda m: m.group(0).upper(), s) for s in (path, query))
    return urlunsplit((scheme, netloc, path, query, ""))


def origin(url: str) -> str:
    """scheme://host[:port] of a normalised URL: the key for robots.txt and per-host politeness."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def netloc(url: str) -> str:
    return urlsplit(url).netloc


@dataclass
class Scope:
    """Which URLs a crawl may fetch.

    Without prefixes: URLs on the start URLs' hosts (host and port). With prefixes: URLs that start with
    one of them. Either way, URLs on an allowed domain (the domain itself or a subdomain, any port) too.
    """

    hosts: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, start_urls: list[str], prefixes: list[str], allow_domains: list[str]) -> Scope:
        norm_prefixes = [p for p in (normalize_url(p) for p in prefixes) if p]
        if len(norm_prefixes) != len(prefixes):
            raise ValueError(f"Prefixes must be http(s) URLs: {prefixes}")
        domains = [d.strip().lower().strip(".") for d in allow_domains if d.strip()]
        return cls(hosts={netloc(u) for u in start_urls}, prefixes=norm_prefixes, domains=domains)

    def allows(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        if any(host == d or host.endswith("." + d) for d in self.domains):
            return True
        if self.prefixes:
            return any(url.startswith(p) for p in self.prefixes)
        return netloc(url) in self.hosts
