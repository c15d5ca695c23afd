"""What the answer pipeline reports while it works: one typed event per step, in the order they come."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from searchchat.types import Answer, SourceCard


@dataclass(frozen=True)
class Rewrite:
    """A follow-up was rewritten into a standalone query (only then)."""

    name: ClassVar[str] = "rewrite"
    query: str


@dataclass(frozen=True)
class Sources:
    """The numbered passages the answer may cite, before anything is generated."""

    name: ClassVar[str] = "sources"
    sources: list[SourceCard]
    query: str


@dataclass(frozen=True)
class Preview:
    """What the policy would quote (the best evidence sentence, and a second of the same source when it is sure
    enough), something to read at once; start..end spans the quoted sentences in the source's text."""

    name: ClassVar[str] = "preview"
    source: int
    quote: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Token:
    """A piece of the model's raw answer, as it is generated."""

    name: ClassVar[str] = "token"
    text: str


@dataclass(frozen=True)
class Final:
    """The checked answer, last."""

    name: ClassVar[str] = "final"
    answer: Answer


AnswerEvent = Rewrite | Sources | Preview | Token | Final


def payload(event: AnswerEvent) -> dict[str, Any]:
    """The event's fields as the wire carries them (an SSE event's data): the answer JSON for Final."""
    return event.answer.to_dict() if isinstance(event, Final) else asdict(event)
