"""Grounding: the model's answer may add to the question only what the sentences it cites say."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from searchchat.text import cjk_chars, content_terms, numbers

# How strictly a generated answer must stay inside its evidence (AnswerPolicy.grounding):
# - "off": the citation check alone decides;
# - "terms": every content word, number and currency sign the answer adds to the question is in the text of a
#   source it cites (title and section included);
# - "evidence": the same, but in the evidence sentences that passed the answerability bar (the candidates
#   the quote would be drawn from), not anywhere in the cited sources.
MODES = ("off", "terms", "evidence")


def signs(text: str) -> set[str]:
    """Currency signs ($, £, ¥, €...): a model that turns "$960 billion" into "£960 billion" changed the claim."""
    return {ch for ch in text if unicodedata.category(ch) == "Sc"}


@dataclass(frozen=True)
class Ungrounded:
    """What an answer adds that its evidence does not hold (empty when it is grounded)."""

    terms: frozenset[str]
    numbers: frozenset[str]
    signs: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.terms or self.numbers or self.signs)


def terms(text: str) -> set[str]:
    """Stemmed content words; CJK text as single characters, since a reworded Chinese phrase makes bigrams
    its source never had ("分为预训练和微调两个阶段" for "分为两个阶段：预训练和微调")."""
    return {t for t in content_terms(text) if not cjk_chars(t)} | cjk_chars(text)


def ungrounded(answer: str, question: str, evidence: Sequence[str]) -> Ungrounded:
    """The words, numbers and currency signs of `answer` that neither `question` nor any `evidence` text has.
    Words are compared stemmed, CJK text by character, so the check reads any language alike."""
    held = " \n".join(evidence)
    q_terms, q_nums, q_signs = terms(question), numbers(question), signs(question)
    e_terms, e_nums, e_signs = terms(held), numbers(held), signs(held)
    return Ungrounded(
        terms=frozenset(terms(answer) - q_terms - e_terms),
        numbers=frozenset(numbers(answer) - q_nums - e_nums),
        signs=frozenset(signs(answer) - q_signs - e_signs),
    )
