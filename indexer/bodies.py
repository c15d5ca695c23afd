"""Turn a fetched HTTP body into a Document, its followable links, and its robots directives."""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.charset import decode_body
from indexer.document import Document
from indexer.fetch import Response
from indexer.parse import parse_html, parse_markdown, parse_pdf, parse_text
from indexer.urls import normalize_url


@dataclass
class Body:
    """A parsed page: the document (doc_id = the fetched URL), links to follow, canonical URL, noindex."""

    document: Document
    links: list[str] = field(default_factory=list)
    canonical: str | None = None
    noindex: bool = False


def parse_body(url: str, resp: Response, user_agent: str) -> Body:
    """Parse a body by its kind (html, text, markdown, pdf). CPU work: the crawler runs it in a thread.

    Text is decoded as charset.choose_encoding says: a BOM, the Content-Type charset, HTML's own
    <meta charset>, detection, windows-1252. Meta robots and X-Robots-Tag noindex/nofollow apply; nofollow
    means no links at all."""
    noindex, nofollow = x_robots(resp.headers.get_list("x-robots-tag"), user_agent)
    if resp.kind == "html":
        parsed = parse_html(decode_body(resp.body, resp.charset, html=True), url)
        links = [] if parsed.nofollow or nofollow else followable(parsed.links)
        return Body(parsed.document, links, parsed.canonical, parsed.noindex or noindex)
    if resp.kind == "pdf":
        return Body(parse_pdf(resp.body, url), noindex=noindex)
    text = decode_body(resp.body, resp.charset)
    parse = parse_markdown if resp.kind == "markdown" else parse_text
    return Body(parse(text, url), noindex=noindex)


def followable(links: list[tuple[str, bool]]) -> list[str]:
    """Normalised http(s) URLs without the rel=nofollow ones, each once, in page order."""
    out = (normalize_url(u) for u, nofollow in links if not nofollow)
    return list(dict.fromkeys(u for u in out if u))


def x_robots(values: list[str], user_agent: str) -> tuple[bool, bool]:
    """(noindex, nofollow) from X-Robots-Tag headers; values scoped to another crawler are ignored."""
    ours = user_agent.split("/")[0].lower()
    directives: set[str] = set()
    for value in values:
        head, sep, rest = value.partition(":")
        if sep and head.strip() and " " not in head.strip() and "," not in head:
            if head.strip().lower() not in (ours, "*"):
                continue
            value = rest
        directives |= {d.strip().lower() for d in value.split(",")}
    none = "none" in directives
    return none or "noindex" in directives, none or "nofollow" in directives
