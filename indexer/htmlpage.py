"""HTML pages into Documents with lxml: main text cut at headings, anchors, links, canonical URL, robots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from indexer.document import Document, Section
from indexer.htmltree import PRESERVE, RUBY, Element, Where, context, drop, parse_tree, text
from indexer.pagetext import clean, finish, heading_text

DROP_TAGS = [
    "script",
    "style",
    "nav",
    "header",
    "footer",
    "aside",
    "noscript",
    "template",
    "svg",
    "form",
    "iframe",
]
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCKS = {"p", "li", "pre", "blockquote", "dd", "dt", "tr", "figcaption", "caption", "td", "th"}

_BLOCKS = (*HEADINGS, "pre", "table", "ul", "ol", "p")
_TEXT_BLOCKS = frozenset({"p", "li", "dd", "dt", "blockquote", "figcaption", "caption"})
_ROBOTS = re.compile(r"^(robots|searchchat)$", re.I)
_TOKENS = re.compile(r"\S+")  # a rel attribute's values
_URL_DELETES = frozenset("\t\r\n")  # what urljoin deletes from a URL
_ROLE_MAIN = '(descendant-or-self::*[@role="main"])[1]'  # evaluated per call: threads parse pages at once


@dataclass
class ParsedPage:
    """A parsed HTML page plus what the crawler needs: links, canonical URL, robots directives."""

    document: Document
    links: list[tuple[str, bool]] = field(default_factory=list)  # (absolute url, rel=nofollow)
    canonical: str | None = None
    noindex: bool = False
    nofollow: bool = False


def _rels(el: Element) -> list[str]:
    return [r.lower() for r in _TOKENS.findall(el.get("rel") or "")]


def _robots(root: Element) -> str:
    """The page's robots (or searchchat) meta directives, lower-cased and joined."""
    metas = (m for m in root.iter("meta") if (name := m.get("name")) is not None and _ROBOTS.search(name))
    return " ".join((m.get("content") or "").lower() for m in metas)


def _base_and_canonical(root: Element, url: str) -> tuple[str, str | None]:
    """The URL that relative links resolve against (a <base href> or the page's), and the canonical URL."""
    base = url
    hrefs = (href for b in root.iter("base") if (href := b.get("href")) is not None)
    if (href := next(hrefs, None)) is not None:
        base = urljoin(url, href)
    canonical = None
    for link in root.iter("link"):
        if (href := link.get("href")) is not None and "canonical" in _rels(link):
            canonical = urljoin(base, href)
    return base, canonical


def join_url(base: str, href: str, joined: dict[str, str]) -> str:
    """urljoin(base, href), with the part before a '#' joined once per page (joined holds those): a table of
    contents links to many anchors of the same few pages. urljoin keeps a fragment as it is, unless it is
    empty or holds a tab or newline (which it deletes), or the href is only a fragment; those go to urljoin."""
    path, _, fragment = href.partition("#")
    if not path or not fragment or not _URL_DELETES.isdisjoint(fragment):
        return urljoin(base, href)
    if (head := joined.get(path)) is None:
        head = joined[path] = urljoin(base, path)
    return f"{head}#{fragment}"


def _links(root: Element, base: str) -> list[tuple[str, bool]]:
    """Every followable link as (absolute URL, rel=nofollow); a link no URL parser can read
    (href="http://[oops/") is skipped, not the page."""
    links: list[tuple[str, bool]] = []
    joined: dict[str, str] = {}
    for a in root.iter("a"):
        href = (a.get("href") or "").strip()
        if href and not href.startswith(("javascript:", "mailto:", "tel:", "data:")):
            try:
                links.append((join_url(base, href, joined), "nofollow" in _rels(a)))
            except ValueError:
                continue
    return links


def _has_block(el: Element) -> bool:
    """Whether a text block holds other blocks (a list item with a nested list)."""
    return next(el.iterdescendants(*_BLOCKS), None) is not None


def _leaf_text(el: Element, where: Where) -> str | None:
    """The text of an element taken whole (code, table row, paragraph without blocks inside, line break: ""
    when empty); None for an element to walk into. where: the context of el's parent."""
    name = el.tag
    if name == "pre":
        body = text(el, "", where)
        return body.strip("\n") if body.strip() else ""
    if name == "tr":
        cells = [clean(text(c, " ")) for c in el.iterdescendants("td", "th")]
        return " | ".join(cells) if any(cells) else ""
    if name in _TEXT_BLOCKS and not _has_block(el):
        return clean(text(el, " ", where))
    if name == "br":
        return ""
    return None


def _anchor_id(el: Element) -> str | None:
    """The id a heading is linked by: its own, the first inside it, or its section's (or div's)."""
    ident = el.get("id") or next((d.get("id") for d in el.iterdescendants() if d.get("id") is not None), None)
    parent = el.getparent()
    if not ident and parent is not None and parent.tag in ("section", "div"):
        ident = parent.get("id")
    return ident


class _Sections:
    """Cuts a page's main content into sections at its headings, each with its heading path and anchor."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.path: list[str] = []
        self.levels: list[int] = []
        self.anchor: str | None = None
        self.buf: list[str] = []

    def flush(self) -> None:
        if self.buf:
            self.sections.append(Section(path=list(self.path), text="\n".join(self.buf), anchor=self.anchor))
            self.buf.clear()

    def heading(self, el: Element, level: int, where: Where) -> None:
        self.flush()
        while self.levels and self.levels[-1] >= level:
            self.levels.pop()
            self.path.pop()
        self.levels.append(level)
        self.path.append(heading_text(text(el, " ", where)))
        ident = _anchor_id(el)
        self.anchor = ident if ident else self.anchor if level > 1 else None

    def string(self, s: str) -> None:
        if cleaned := clean(s):
            self.buf.append(cleaned)

    def element(self, el: Element, where: Where) -> None:
        name = el.tag
        if name in HEADINGS:
            self.heading(el, HEADINGS[name], where)
        elif (leaf := _leaf_text(el, where)) is None:
            self.walk(el, (where[0] or name in PRESERVE, where[1] or name in RUBY))
        elif leaf:
            self.buf.append(leaf)

    def walk(self, node: Element, inside: Where) -> None:
        """node's strings, headings and blocks in document order; inside: the context within node."""
        if node.text:
            self.string(node.text)
        for child in node:
            if isinstance(child.tag, str):  # an element; a comment's tag is a function
                self.element(child, inside)
            if child.tail:
                self.string(child.tail)


def _main(root: Element) -> Element | None:
    """The page's main content: <main>, role=main, <article> or <body>; None for a page without a body."""
    if (found := next(root.iter("main"), None)) is not None:
        return found
    if roles := root.xpath(_ROLE_MAIN):
        return roles[0]
    if (found := next(root.iter("article"), None)) is not None:
        return found
    return next(root.iter("body"), None)


def _url_title(url: str) -> str:
    return url.rsplit("/", 1)[-1] or url


def parse_html(html: str | bytes, url: str, doc_id: str | None = None, source: str = "") -> ParsedPage:
    root = parse_tree(html)
    if root is None:  # nothing but comments and whitespace
        doc = Document(doc_id=doc_id or url, url=url, title=_url_title(url), doctype="html", source=source)
        return ParsedPage(document=finish(doc))
    robots = _robots(root)
    base, canonical = _base_and_canonical(root, url)
    title_el = next(root.iter("title"), None)
    title = clean(text(title_el)) if title_el is not None else ""
    links = _links(root, base)

    drop(root, DROP_TAGS)
    main = _main(root)
    if not title:
        h1 = next((main if main is not None else root).iterdescendants("h1"), None)
        title = heading_text(text(h1)) if h1 is not None else _url_title(url)

    cut = _Sections()
    if main is None:  # a page without a body (a redirect stub, a frameset) is read whole
        cut.element(root, (False, False))
    else:
        keep, ruby = context(main)
        cut.walk(main, (keep or main.tag in PRESERVE, ruby or main.tag in RUBY))
    cut.flush()
    doc = Document(
        doc_id=doc_id or url, url=url, title=title, sections=cut.sections, doctype="html", source=source
    )
    return ParsedPage(
        document=finish(doc),
        links=links,
        canonical=canonical,
        noindex="noindex" in robots or "none" in robots,
        nofollow="nofollow" in robots or "none" in robots,
    )
