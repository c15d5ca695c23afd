"""Neutralise the bracketed reference markers that sources carry themselves ([12], [3, 4], [5-7]).

Scientific articles cite their own references as `[12]`; if such a marker reached the model it could be copied
into an answer and read as one of searchchat's citations. So every source text given to the model, every
snippet shown and every text the citation checker compares is passed through `neutralise` first, which removes
the markers (their numbers would otherwise also count as "numbers in the source" for the checker).

Left alone, because they are data rather than references: decimals and ranges of decimals (`[1.2-3.4]`,
a confidence interval), chemistry (`imidazo[1,5-a]`), indexing in code (`x[0]`, `P[4]-type`: a marker glued to
a word on either side), Markdown links (`[1](url)`), and anything inside backticks or code fences.
"""

from __future__ import annotations

import re

_SEP = r"\s*(?:[,;]|[-\u2010-\u2015])\s*"  # , ; and the hyphen/dash family, between integers
_INTS = rf"\d{{1,4}}(?:{_SEP}\d{{1,4}})*"
# A complete marker, a dangling opener such as "[15, " in "[15, [17] [18]" (broken PDF extraction), or a
# Markdown footnote "[^3]". Optional whitespace before it goes too, so "worldwide [1]." becomes "worldwide.".
_MARKER = re.compile(
    rf"(?:[ \t]+|(?<!\w))(?:\[\s*{_INTS}\s*\](?![\w(\-])|\[\s*{_INTS}\s*[,;]\s*(?=\[\d))"
    r"|[ \t]*\[\^\w+\](?!:)"
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def _strip(text: str) -> str:
    return _MARKER.sub("", text)


def neutralise(text: str) -> str:
    """`text` without bracketed reference markers; code spans and fences are kept verbatim."""
    if "[" not in text:
        return text
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(_strip(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_strip(text[pos:]))
    return "".join(out)


def has_markers(text: str) -> bool:
    """True when `text` (outside code) still contains a reference marker."""
    return neutralise(text) != text
