"""Parsers: Markdown, plain text and PDF into Documents; the HTML parser (indexer.htmlpage) is re-exported here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from indexer.document import Document, Section
from indexer.htmlpage import BLOCKS, DROP_TAGS, HEADINGS, ParsedPage, parse_html
from indexer.mdlinks import is_link_item, link_text, without_cross_references
from indexer.pagetext import content_hash, heading_text
from indexer.pagetext import finish as _finish

__all__ = [
    "BLOCKS",
    "DROP_TAGS",
    "HEADINGS",
    "ParsedPage",
    "content_hash",
    "heading_text",
    "parse_html",
    "parse_markdown",
    "parse_pdf",
    "parse_text",
    "slugify",
]


def slugify(heading: str) -> str:
    """GitHub-style anchor for a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r"\s", "-", s)


class _HasText(Protocol):
    def get_text(self, separator: str = ...) -> str: ...


def _heading(tag: _HasText) -> str:
    """The text of a heading held as a BeautifulSoup tag (the HTML parser itself reads lxml elements)."""
    return heading_text(tag.get_text(" "))


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
        buf.append(line if in_fence else link_text(without_cross_references(line)))
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
