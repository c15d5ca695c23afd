"""Sentences and the citation markers in them: split a text into sentences, read and place markers [n]."""

from __future__ import annotations

import re
from collections.abc import Sequence

from searchchat.text import CITE_MARKER


def parse_markers(text: str) -> tuple[str, list[int]]:
    """The text without citation markers, and the cited numbers in order of first mention."""
    cited: list[int] = []
    for m in CITE_MARKER.finditer(text):
        parts = re.split(r"\s*(?:,|;|and)\s*", re.sub(r"(?i)sources?", "", m.group(1) or m.group(2)))
        for part in parts:
            bounds = [int(x) for x in re.split(r"\s*[-\u2013]\s*", part.strip()) if x.strip().isdigit()]
            if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 10:
                nums = list(range(bounds[0], bounds[1] + 1))
            else:
                nums = bounds
            cited.extend(n for n in nums if n not in cited)
    clean = CITE_MARKER.sub("", text)
    clean = re.sub(r"\s+([.,;:!?)])", r"\1", clean)
    return " ".join(clean.split()), cited


def with_markers(clean: str, cited: Sequence[int]) -> str:
    """`clean` with markers [n] placed before its closing punctuation."""
    if not cited:
        return clean
    marks = "".join(f"[{n}]" for n in cited)
    m = re.search(r"[.!?:;\u3002]+[\"'\u201d\u2019)]*$", clean)
    if m:
        return f"{clean[: m.start()].rstrip()} {marks}{clean[m.start() :]}"
    return f"{clean} {marks}"
