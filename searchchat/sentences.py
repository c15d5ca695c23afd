"""Sentences and the citation markers in them: split a text into sentences, read and place markers [n]."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Citation markers the model writes: [1], [1, 2], [1-3], [1][2], [Source 1], [source 1, 2], (Source 2).
_NUMS = r"(\d{1,3}(?:\s*(?:,|;|-|\u2013|and)\s*(?:sources?\s*)?\d{1,3})*)"
_CITE = re.compile(rf"\[\s*(?:sources?\s*)?{_NUMS}\s*\]|\(\s*sources?\s*{_NUMS}\s*\)", re.IGNORECASE)
_ABBREV = re.compile(
    r"\b(?:e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Dr|Mr|Mrs|Ms|Prof|St|No|approx|ca|resp|Ref|Refs|incl|[A-Z])\.$"
)
_NUMBERED = re.compile(r"\b(?:no|nos|vol|pp?)\.$", re.IGNORECASE)  # before a number: not a sentence end
_NEXT_NUMBER = re.compile(r"\s+\S*\d")
# Sentence ends: Latin . ! ? before a space; CJK full stops (。！？ and the full-width ones) need no space after.
_END = re.compile(
    r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f\uff0e]+[\u201d\u2019\u300d\u300f\uff09)]*"
    r"|\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)"
)


def parse_markers(text: str) -> tuple[str, list[int]]:
    """The text without citation markers, and the cited numbers in order of first mention."""
    cited: list[int] = []
    for m in _CITE.finditer(text):
        parts = re.split(r"\s*(?:,|;|and)\s*", re.sub(r"(?i)sources?", "", m.group(1) or m.group(2)))
        for part in parts:
            bounds = [int(x) for x in re.split(r"\s*[-\u2013]\s*", part.strip()) if x.strip().isdigit()]
            if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 10:
                nums = list(range(bounds[0], bounds[1] + 1))
            else:
                nums = bounds
            cited.extend(n for n in nums if n not in cited)
    clean = _CITE.sub("", text)
    clean = re.sub(r"\s+([.,;:!?)])", r"\1", clean)
    return " ".join(clean.split()), cited


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`; citation markers that follow a full stop belong to the
    sentence before it; list items and paragraphs are sentences of their own."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        if m.group(0).startswith(".") and _ABBREV.search(text[start : m.start() + 1]):
            continue
        if (
            m.group(0) == "."
            and _NUMBERED.search(text[start : m.start() + 1])
            and _NEXT_NUMBER.match(text[end:])
        ):
            continue  # "accession no. MN975262", "vol. 3"
        # "... 3.6 [1]." is one sentence; so is "... fold. [1]": pull trailing markers in.
        tail = re.match(r"(?:\s*\[[^\]\n]{1,20}\])+[.!?]?", text[end:])
        if tail and _CITE.search(tail.group(0)):
            end += tail.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    # trim whitespace inside spans
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of the text (see sentence_spans)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def with_markers(clean: str, cited: Sequence[int]) -> str:
    """`clean` with markers [n] placed before its closing punctuation."""
    if not cited:
        return clean
    marks = "".join(f"[{n}]" for n in cited)
    m = re.search(r"[.!?:;\u3002]+[\"'\u201d\u2019)]*$", clean)
    if m:
        return f"{clean[: m.start()].rstrip()} {marks}{clean[m.start() :]}"
    return f"{clean} {marks}"
