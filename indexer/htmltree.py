"""An HTML page as an lxml tree, with its strings read as BeautifulSoup's lxml builder reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from bs4.dammit import EncodingDetector
from lxml import etree

Element: TypeAlias = etree._Element
Where: TypeAlias = tuple[bool, bool]  # see context(): whitespace kept, inside a ruby annotation

# What BeautifulSoup does with a page's strings, kept so that its text does not change with the parser:
# whitespace-only strings become one space or newline, except inside these tags ...
PRESERVE = frozenset({"pre", "textarea"})
# ... and the strings of ruby annotations stay out of an element's text (they are still walked as strings).
RUBY = frozenset({"rt", "rp"})
_SPACES = " \n\t\f\r"  # the ASCII whitespace of HTML
_REJECTED = (UnicodeDecodeError, LookupError, etree.ParserError)


def _candidates(markup: str | bytes) -> Iterable[tuple[str | bytes, str | None]]:
    """The (markup, encoding) pairs to try in turn: text as it is, then as UTF-8; bytes in each encoding
    that a BOM, the page's own declaration, detection, UTF-8 and windows-1252 suggest (bs4's order)."""
    if isinstance(markup, str):
        yield markup.removeprefix("\ufeff"), None
        yield markup.encode("utf8"), "utf8"
        return
    detector = EncodingDetector(markup, is_html=True)
    for encoding in detector.encodings:
        yield detector.markup, encoding


def parse_tree(markup: str | bytes) -> Element | None:
    """The page's root element (libxml2's recovering HTML parser), None for a page without any element."""
    for data, encoding in _candidates(markup):
        try:  # an encoding libxml2 does not know, or cannot decode the bytes with: the next one
            parser = etree.HTMLParser(recover=True, encoding=encoding)  # bs4's options
            parser.feed(data)
            root: Element | None = parser.close()
        except _REJECTED:
            continue
        return root
    return None


def drop(root: Element, tags: Iterable[str]) -> None:
    """Removes the elements named tags with everything inside. An empty comment takes each one's place and
    keeps its tail, so that the strings on either side stay apart, as they were."""
    for el in list(root.iter(*tags)):
        parent = el.getparent()
        if parent is not None:
            mark = etree.Comment("")
            mark.tail = el.tail
            parent.replace(el, mark)


def context(el: Element) -> Where:
    """Whether whitespace is kept, and whether strings are ruby annotations, inside el's parent."""
    names = {a.tag for a in el.iterancestors()}
    return not PRESERVE.isdisjoint(names), not RUBY.isdisjoint(names)


def norm(s: str, keep: bool) -> str:
    """A string as bs4 holds it: whitespace-only becomes one newline (or space) where whitespace is not kept."""
    if keep or s.strip(_SPACES):
        return s
    return "\n" if "\n" in s else " "


def _strings(el: Element, keep: bool, ruby: bool, out: list[str]) -> None:
    keep = keep or el.tag in PRESERVE
    ruby = ruby or el.tag in RUBY
    if el.text and not ruby:
        out.append(norm(el.text, keep))
    for child in el:
        if isinstance(child.tag, str):  # an element; a comment's tag is a function
            _strings(child, keep, ruby, out)
        if child.tail and not ruby:
            out.append(norm(child.tail, keep))


def text(el: Element, sep: str = "", where: Where | None = None) -> str:
    """el's strings joined by sep, as bs4's get_text(sep) gives them; where is context(el) when known."""
    keep, ruby = context(el) if where is None else where
    out: list[str] = []
    _strings(el, keep, ruby, out)
    return sep.join(out)
