"""The report of an answer evaluation: one system's figures (QAReport), as text or side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class QAReport:
    """The summary of one system's records (the --json report)."""

    questions: int
    answered: int
    answerable: int
    unanswerable: int
    correct_cited: float
    wrong_answered: float
    truthfulness: float
    abstention_answerable: float
    abstention_unanswerable: float
    abstention_rate: float
    f1: float
    f1_answered: float
    containment: float
    citation_precision: float
    citation_recall: float
    citations_shown: int
    out_of_range: int
    gold_in_sources: float
    citation_precision_retrieved: float  # over questions whose gold answer was in the sources (retrieval hit)
    first_token_ms_p50: float
    first_token_ms_mean: float
    total_ms_p50: float
    tokens_per_s: float
    reasons: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or "-"


def format_report(report: QAReport) -> str:
    """One system's report as text."""
    r = report
    return "\n".join(
        [
            f"questions           {r.questions}  (answered {r.answered}, abstention rate {r.abstention_rate:.3f})",
            f"answerable          {r.answerable}  (unanswerable {r.unanswerable})",
            f"correct and cited   {r.correct_cited:.3f}  (wrong answers {r.wrong_answered:.3f})",
            f"truthfulness        {r.truthfulness:+.3f}",
            f"abstention          answerable {r.abstention_answerable:.3f}, "
            f"unanswerable {r.abstention_unanswerable:.3f}",
            f"answer token-F1     {r.f1:.3f}  (answered only {r.f1_answered:.3f})",
            f"containment         {r.containment:.3f}",
            f"citation precision  {r.citation_precision:.3f}  ({r.citations_shown} citations shown)",
            f"citation recall     {r.citation_recall:.3f}",
            f"out-of-range cites  {r.out_of_range}",
            f"gold in sources     {r.gold_in_sources:.3f}  (citation precision on those {r.citation_precision_retrieved:.3f})",
            f"first token         p50 {r.first_token_ms_p50:.0f} ms, mean {r.first_token_ms_mean:.0f} ms",
            f"total per question  p50 {r.total_ms_p50:.0f} ms",
            f"decode speed        {r.tokens_per_s:.1f} tokens/s",
            f"abstention reasons  {_counts(r.reasons)}",
            f"answer kinds        {_counts(r.kinds)}",
        ]
    )


_ROWS: list[tuple[str, Callable[[QAReport], str]]] = [
    ("questions", lambda r: str(r.questions)),
    ("answerable / unanswerable", lambda r: f"{r.answerable} / {r.unanswerable}"),
    ("answered", lambda r: str(r.answered)),
    ("correct and cited", lambda r: f"{r.correct_cited:.3f}"),
    ("wrong answers", lambda r: f"{r.wrong_answered:.3f}"),
    ("truthfulness", lambda r: f"{r.truthfulness:+.3f}"),
    ("citation precision", lambda r: f"{r.citation_precision:.3f}"),
    ("citation recall", lambda r: f"{r.citation_recall:.3f}"),
    ("citations shown", lambda r: str(r.citations_shown)),
    ("out-of-range cites", lambda r: str(r.out_of_range)),
    ("abstention (answerable)", lambda r: f"{r.abstention_answerable:.3f}"),
    ("abstention (unanswerable)", lambda r: f"{r.abstention_unanswerable:.3f}"),
    ("abstention rate", lambda r: f"{r.abstention_rate:.3f}"),
    ("answer token-F1", lambda r: f"{r.f1:.3f}"),
    ("token-F1 of answered", lambda r: f"{r.f1_answered:.3f}"),
    ("containment", lambda r: f"{r.containment:.3f}"),
    ("gold in sources", lambda r: f"{r.gold_in_sources:.3f}"),
    ("first token p50 ms", lambda r: f"{r.first_token_ms_p50:.0f}"),
    ("total p50 ms", lambda r: f"{r.total_ms_p50:.0f}"),
    ("decode tokens/s", lambda r: f"{r.tokens_per_s:.1f}"),
    ("abstention reasons", lambda r: _counts(r.reasons)),
    ("answer kinds", lambda r: _counts(r.kinds)),
]


def format_table(reports: dict[str, QAReport]) -> str:
    """Reports side by side: a column per system (keyed by its label), a row per figure."""
    rows = [["", *reports]] + [[name, *(cell(r) for r in reports.values())] for name, cell in _ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
