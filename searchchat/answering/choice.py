"""The answer choice: between the model's checked answer and a quote of the best evidence sentences, the one a
judge scorer finds more likely to answer the question."""

from __future__ import annotations

from dataclasses import dataclass

from searchchat.models.crossencoder import Scorer, pair_text

# AnswerPolicy.choice:
# - "generated": the model's answer whenever it passes the citation check (the quote only replaces a failed one);
# - "judged": the judge scores (question, answer) and (question, quote) and the quote wins when it scores
#   higher by more than AnswerPolicy.choice_margin. A 0.5B model that restates the question ("General Zia
#   overthrew Bhutto's regime [1]" to "When ...?") passes a support check, yet answers nothing.
CHOICES = ("generated", "judged")


@dataclass(frozen=True)
class Choice:
    """Which answer was kept, and the judge's scores (None when no judge was asked)."""

    kind: str  # "generated" or "quote"
    generated: float | None = None
    quote: float | None = None


@dataclass
class AnswerChooser:
    """Picks the generated answer or the quote; `judge` is only called in "judged" mode."""

    judge: Scorer
    mode: str = "generated"
    margin: float = 0.0

    def choose(self, question: str, said: tuple[str, str], quote: tuple[str, str] | None) -> Choice:
        """`said` and `quote` are (title, text) of what each would answer; `quote` None when there is none."""
        if self.mode not in CHOICES:
            raise ValueError(f"unknown answer choice {self.mode!r}; choose one of {', '.join(CHOICES)}")
        if self.mode == "generated" or quote is None:
            return Choice("generated")
        p_said, p_quote = self.judge.score(question, [pair_text(*said), pair_text(*quote)])
        kind = "quote" if p_quote > p_said + self.margin else "generated"
        return Choice(kind, generated=float(p_said), quote=float(p_quote))
