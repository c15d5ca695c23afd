"""Markdown inline links and images to their text; destinations and titles read by markdown-it-py's helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.helpers import parseLinkDestination, parseLinkTitle

from indexer.cjk import CJK_RUN

_SPACE = " \t"
_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+\.)\s+")
_TRAILER = re.compile(r"\s*[.,;]?\s*")


@dataclass
class Link:
    """An inline link `[text](dest "title")` or image `![alt](dest)`: where it sits in the line, and its text."""

    start: int
    end: int
    text: str
    image: bool = False


def _escaped(s: str, i: int) -> bool:
    """Whether s[i] follows an odd run of backslashes."""
    n = 0
    while i - n - 1 >= 0 and s[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def _code_span_end(s: str, i: int) -> int:
    """s[i] opens a run of backticks: the index after the code span it starts, or after the run if unclosed."""
    j = i
    while j < len(s) and s[j] == "`":
        j += 1
    run = s[i:j]
    k = j
    while (k := s.find(run, k)) >= 0:
        if s[k + len(run) : k + len(run) + 1] != "`" and s[k - 1] != "`":
            return k + len(run)
        k += len(run)
    return j


def _label_end(s: str, i: int) -> int | None:
    """s[i] == "[": the index of the "]" that closes it (nested brackets balanced), or None."""
    depth = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "`":
            j = _code_span_end(s, j)
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return None


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in _SPACE:
        i += 1
    return i


def _destination_end(s: str, i: int) -> int | None:
    """s[i] == "(": the index after the ")" that ends the destination and optional title, or None.

    The destination may hold balanced parentheses (`Lisp_(programming_language)`) or sit in <angle brackets>."""
    n = len(s)
    pos = _skip_space(s, i + 1)
    if pos < n and s[pos] == ")":
        return pos + 1
    dest = parseLinkDestination(s, pos, n)
    if not dest.ok:
        return None
    pos = _skip_space(s, dest.pos)
    if pos > dest.pos and pos < n and s[pos] != ")":
        title = parseLinkTitle(s, pos, n)
        if not title.ok:
            return None
        pos = _skip_space(s, title.pos)
    return pos + 1 if pos < n and s[pos] == ")" else None


def find_links(line: str) -> list[Link]:
    """The inline links and images of one line, left to right, outside code spans."""
    out: list[Link] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "`" and not _escaped(line, i):
            i = _code_span_end(line, i)
            continue
        if c != "[" or _escaped(line, i):
            i += 1
            continue
        close = _label_end(line, i)
        end = None
        if close is not None and line[close + 1 : close + 2] == "(":
            end = _destination_end(line, close + 1)
        if close is None or end is None:
            i += 1
            continue
        image = i > 0 and line[i - 1] == "!" and not _escaped(line, i - 1)
        out.append(Link(i - 1 if image else i, end, line[i + 1 : close], image))
        i = end
    return out


def link_text(line: str) -> str:
    """The line with each link replaced by its text and each image by its alt text (an image in a link too)."""
    parts: list[str] = []
    last = 0
    for link in find_links(line):
        parts += [line[last : link.start], link_text(link.text)]
        last = link.end
    parts.append(line[last:])
    return "".join(parts)


def is_link_item(line: str) -> bool:
    """A list item that is one bare link (`- [Other page](other.md)`), at most a trailing . , or ;"""
    marker = _LIST_ITEM.match(line)
    if marker is None:
        return False
    links = find_links(line)
    return (
        len(links) == 1
        and not links[0].image
        and links[0].start == marker.end()
        and _TRAILER.fullmatch(line, links[0].end) is not None
    )


_SENTENCE_END = re.compile(r"[.!?](?=\s)|[\u3002\uff01\uff1f]")
_WORDISH = re.compile(r"[^\W_]+", re.UNICODE)


def without_cross_references(line: str) -> str:
    """The line without its cross-reference sentences: a sentence that is at most one word and then links with no
    words after them ("See [Context windows](context-windows.md).", "参见[上下文窗口](windows.md)。") points
    elsewhere and says nothing itself; the sentences around it stay. A link described after it ("[BM25](bm25.md):
    ranking") and table rows are kept. Sentences end at . ! ? before a space and at CJK full stops, outside links."""
    links = find_links(line)
    if not links or line.lstrip().startswith("|"):  # a table row is data, whatever its cells say
        return line
    kept: list[str] = []
    start = 0
    for end in _sentence_ends(line, links):
        inside = [k for k in links if start <= k.start and k.end <= end]
        if not (inside and _words(line[start : inside[0].start]) <= 1 and _only_links(line, inside, end)):
            kept.append(line[start:end])
        start = end
    body = "".join(kept).strip()
    return line[: len(line) - len(line.lstrip())] + body if body else ""  # keep a list item's indentation


def _sentence_ends(line: str, links: list[Link]) -> list[int]:
    """Where the line's sentences end (after the stop), never inside a link; the line's end last."""
    ends = [
        m.end() for m in _SENTENCE_END.finditer(line) if not any(k.start <= m.start() < k.end for k in links)
    ]
    return [*ends, len(line)] if not ends or ends[-1] < len(line) else ends


def _only_links(line: str, links: list[Link], end: int) -> bool:
    """Whether nothing but spaces and punctuation lies between and after these links, up to `end`."""
    gaps = [line[a.end : b.start] for a, b in zip(links, links[1:], strict=False)] + [
        line[links[-1].end : end]
    ]
    return all(_words(gap) == 0 for gap in gaps)


def _words(text: str) -> int:
    """How many words the text has (a CJK run counts a word per two characters)."""
    return sum((len(w) + 1) // 2 if CJK_RUN.fullmatch(w) else 1 for w in _WORDISH.findall(text))
