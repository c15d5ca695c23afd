"""Parsers: HTML (main text, headings, anchors, links), Markdown, plain text and PDF into Documents."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Comment, Tag

from indexer.document import Document, Section
from indexer.mdlinks import is_link_item, link_text

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


@dataclass
class ParsedPage:
    """A parsed HTML page plus what the crawler needs: links, canonical URL, robots directives."""

    document: Document
    links: list[tuple[str, bool]] = field(default_factory=list)  # (absolute url, rel=nofollow)
    canonical: str | None = None
    noindex: bool = False
    nofollow: bool = False


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def slugify(heading: str) -> str:
    """GitHub-style anchor for a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r"\s", "-", s)


def _clean(text: str) -> str:
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


# The permalink a documentation generator puts after a heading (Sphinx's "¶", "§", a link emoji, or a "#" of
# its own: separated by a space, so "C#" keeps its sign).
_PERMALINK = re.compile(r"(?:\s*[\u00b6\u00a7\U0001f517]+|\s+#)$")


def heading_text(text: str) -> str:
    """A heading's text, HTML or Markdown, without its trailing permalink marker."""
    return _PERMALINK.sub("", _clean(text))


def _heading(tag: Tag) -> str:
    return heading_text(tag.get_text(" "))


def _finish(doc: Document) -> Document:
    doc.sections = [s for s in doc.sections if s.text.strip()]
    doc.text = "\n\n".join(s.text for s in doc.sections)
    doc.content_hash = content_hash(doc.title + "\n" + doc.text)
    return doc


_BLOCKS = frozenset(HEADINGS) | {"pre", "table", "ul", "ol", "p"}
_TEXT_BLOCKS = frozenset({"p", "li", "dd", "dt", "blockquote", "figcaption", "caption"})


def _has_block(tag: Tag) -> bool:
    """Whether a text block holds other blocks (a list item with a nested list): a plain scan of its
    descendants, stopping at the first; bs4's find() costs more to set up than this whole walk."""
    return any(getattr(d, "name", None) in _BLOCKS for d in tag.descendants)


def _robots(soup: BeautifulSoup) -> str:
    """The page's robots (or searchchat) meta directives, lower-cased and joined."""
    return " ".join(
        (m.get("content") or "").lower()  # type: ignore[union-attr]
        for m in soup.find_all("meta", attrs={"name": re.compile(r"^(robots|searchchat)$", re.I)})
    )


def _base_and_canonical(soup: BeautifulSoup, url: str) -> tuple[str, str | None]:
    """The URL that relative links resolve against (a <base href> or the page's), and the canonical URL."""
    base = url
    if (b := soup.find("base", href=True)) is not None:
        base = urljoin(url, str(b["href"]))  # type: ignore[index]
    canonical = None
    for link in soup.find_all("link", href=True):
        rels = [r.lower() for r in (link.get("rel") or [])]  # type: ignore[union-attr]
        if "canonical" in rels:
            canonical = urljoin(base, str(link["href"]))
    return base, canonical


def _links(soup: BeautifulSoup, base: str) -> list[tuple[str, bool]]:
    """Every followable link as (absolute URL, rel=nofollow)."""
    links: list[tuple[str, bool]] = []
    for a in soup.find_all("a", href=True):
        href = str(a["href"]).strip()
        if href and not href.startswith(("javascript:", "mailto:", "tel:", "data:")):
            rel = [r.lower() for r in (a.get("rel") or [])]  # type: ignore[union-attr]
            links.append((urljoin(base, href), "nofollow" in rel))
    return links


def _leaf_text(tag: Tag) -> str | None:
    """The text of a tag taken whole (code, table row, paragraph without blocks inside, line break: "" when
    empty); None for a tag to walk into."""
    name = tag.name
    if name == "pre":
        text = tag.get_text()
        return text.strip("\n") if text.strip() else ""
    if name == "tr":
        cells = [_clean(c.get_text(" ")) for c in tag.find_all(["td", "th"])]
        return " | ".join(cells) if any(cells) else ""
    if name in _TEXT_BLOCKS and not _has_block(tag):
        return _clean(tag.get_text(" "))
    if name == "br":
        return ""
    return None


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

    def heading(self, tag: Tag, level: int) -> None:
        self.flush()
        while self.levels and self.levels[-1] >= level:
            self.levels.pop()
            self.path.pop()
        self.levels.append(level)
        self.path.append(_heading(tag))
        inner = tag.find(id=True)
        ident = tag.get("id") or (inner.get("id") if isinstance(inner, Tag) else None)
        if not ident and tag.parent is not None and tag.parent.name in ("section", "div"):
            ident = tag.parent.get("id")
        self.anchor = str(ident) if ident else self.anchor if level > 1 else None

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if not isinstance(child, Tag):
                text = _clean(str(child))
                if text:
                    self.buf.append(text)
            elif child.name in HEADINGS:
                self.heading(child, HEADINGS[child.name])
            elif (leaf := _leaf_text(child)) is None:
                self.walk(child)
            elif leaf:
                self.buf.append(leaf)


def parse_html(html: str | bytes, url: str, doc_id: str | None = None, source: str = "") -> ParsedPage:
    soup = BeautifulSoup(html, "lxml")
    robots = _robots(soup)
    base, canonical = _base_and_canonical(soup, url)
    title_tag = soup.find("title")
    title = _clean(title_tag.get_text()) if title_tag else ""
    links = _links(soup, base)

    for t in soup.find_all(DROP_TAGS):
        t.decompose()
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    root = soup.find("main") or soup.find(role="main") or soup.find("article") or soup.body or soup
    if not title:
        h1 = root.find("h1") if isinstance(root, Tag) else None
        title = _heading(h1) if isinstance(h1, Tag) else url.rsplit("/", 1)[-1] or url

    cut = _Sections()
    if isinstance(root, Tag):
        cut.walk(root)
    cut.flush()
    doc = Document(
        doc_id=doc_id or url, url=url, title=title, sections=cut.sections, doctype="html", source=source
    )
    return ParsedPage(
        document=_finish(doc),
        links=links,
        canonical=canonical,
        noindex="noindex" in robots or "none" in robots,
        nofollow="nofollow" in robots or "none" in robots,
    )


# ATX heading: a closing run of #s counts only after a space, so "## C#" keeps its sign
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def parse_markdown(text: str, url: str, doc_id: str | None = None, source: str = "") -> Document:
    sections: list[Section] = []
    path: list[str] = []
    levels: list[int] = []
    anchor: str | None = None
    buf: list[str] = []
    title = ""
    in_fence = False
    body = text
    if body.startswith("---\n") and "\n---" in body[4:]:  # YAML front matter
        front, body = body[4:].split("\n---", 1)
        m = re.search(r"^title:\s*(.+)$", front, re.M)
        title = m.group(1).strip().strip("\"'") if m else ""

    def flush() -> None:
        joined = "\n".join(buf).strip()
        if joined:
            sections.append(Section(path=list(path), text=joined, anchor=anchor))
        buf.clear()

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            buf.append(line)
            continue
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            flush()
            level, heading = len(m.group(1)), heading_text(link_text(m.group(2)))
            while levels and levels[-1] >= level:
                levels.pop()
                path.pop()
            levels.append(level)
            path.append(heading)
            anchor = slugify(heading) if level > 1 else None
            if level == 1 and not title:
                title = heading
            continue
        if not in_fence and is_link_item(line):
            continue  # navigation lists ("Related documents") carry no content of their own
        buf.append(line if in_fence else link_text(line))
    flush()
    title = title or Path(url).stem.replace("-", " ").replace("_", " ").title()
    doc = Document(
        doc_id=doc_id or url, url=url, title=title, sections=sections, doctype="markdown", source=source
    )
    return _finish(doc)


def parse_text(text: str, url: str, doc_id: str | None = None, source: str = "", title: str = "") -> Document:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = title or (first[:120] if len(first) < 120 else Path(url).stem)
    doc = Document(
        doc_id=doc_id or url, url=url, title=title, sections=[Section(path=[], text=text.strip())],
        doctype="text", source=source,
    )  # fmt: skip
    return _finish(doc)


def parse_pdf(data: bytes, url: str, doc_id: str | None = None, source: str = "") -> Document:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    meta_title = (reader.metadata.title if reader.metadata else None) or ""
    sections = []
    for i, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        if text:
            sections.append(Section(path=[f"Page {i}"], text=text, anchor=f"page={i}"))
    title = str(meta_title).strip() or Path(url).stem
    doc = Document(
        doc_id=doc_id or url, url=url, title=title, sections=sections, doctype="pdf", source=source
    )
    return _finish(doc)
