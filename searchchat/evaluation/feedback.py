"""Feedback on answers as an evaluation set: each rated answer becomes one `eval-qa` line (evalqa.load_qa).

What a verdict says about the question:
- up on an answer: its text (citation markers removed) is a gold answer;
- up on a "not found", or down with should_not_have_answered: the documents do not answer it (is_impossible);
- any other down: answerable, gold answer unknown (`answers` empty: load_qa skips the line until someone writes
  one in).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from searchchat.conversations import Turn
from searchchat.markers import neutralise

SOURCE_FIELDS = ("n", "url", "title", "section", "doc_id", "snippet")


@dataclass
class FeedbackRecord:
    """One rated answer, in the eval-qa format plus what was asked, answered and cited, and the verdict."""

    id: str
    question: str
    answers: list[str]
    is_impossible: bool
    answer: str
    abstained: bool
    sources: list[dict[str, Any]]
    citations: list[int]
    verdict: str
    reason: str | None
    conversation_id: str
    created: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out


def record(turn: Turn) -> FeedbackRecord:
    answer = turn.answer
    text = str(answer.get("answer") or "")
    abstained = bool(answer.get("abstained"))
    impossible = turn.reason == "should_not_have_answered" or (turn.verdict == "up" and abstained)
    gold = " ".join(neutralise(text).split()) if turn.verdict == "up" and not abstained else ""
    sources = [{k: s.get(k) for k in SOURCE_FIELDS if k in s} for s in answer.get("sources") or []]
    return FeedbackRecord(
        id=turn.id,
        question=turn.question,
        answers=[gold] if gold else [],
        is_impossible=impossible,
        answer=text,
        abstained=abstained,
        sources=sources,
        citations=[int(c["n"]) for c in answer.get("citations") or [] if isinstance(c, dict) and "n" in c],
        verdict=str(turn.verdict),
        reason=turn.reason,
        conversation_id=turn.conversation_id,
        created=turn.created,
    )


def records(turns: list[Turn], verdict: str | None = None) -> Iterator[FeedbackRecord]:
    for turn in turns:
        if verdict is None or turn.verdict == verdict:
            yield record(turn)
