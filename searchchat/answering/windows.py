"""Compact evidence windows: each source cut to its best sentences and their neighbours, for a shorter prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from searchchat.answering.cite import sentence_spans

GAP = " … "  # between runs of sentences that are not adjacent in the source


@dataclass(frozen=True)
class Spot:
    """A chosen sentence: its source (1-based) and its span in that source's text."""

    source: int
    start: int
    end: int


def windows(texts: Sequence[str], spots: Sequence[Spot], neighbours: int = 1, lead: int = 1) -> list[str]:
    """Per source, the sentences of `spots` in it with `neighbours` sentences either side, in source order
    (runs joined by GAP); a source with no spot keeps its first `lead` sentences, so every number still
    stands for something. A source whose text has no sentence boundaries is kept whole."""
    out: list[str] = []
    for n, text in enumerate(texts, start=1):
        spans = sentence_spans(text)
        if len(spans) <= 1:
            out.append(text)
            continue
        chosen = {i for i, (s, e) in enumerate(spans) for p in spots
                  if p.source == n and s < p.end and p.start < e}  # fmt: skip
        keep = sorted({j for i in chosen for j in range(i - neighbours, i + neighbours + 1)
                       if 0 <= j < len(spans)}) if chosen else list(range(min(lead, len(spans))))  # fmt: skip
        runs: list[list[int]] = []
        for j in keep:
            if runs and j == runs[-1][-1] + 1:
                runs[-1].append(j)
            else:
                runs.append([j])
        out.append(GAP.join(text[spans[r[0]][0] : spans[r[-1]][1]].strip() for r in runs))
    return out
