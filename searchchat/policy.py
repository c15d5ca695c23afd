"""The answer policy: one typed object that decides, from the answerability model's scores, whether to
answer, what may be cited, and when to quote the sources instead of the model.

Every threshold is a probability from the learned answerability model (answerability.py), calibrated on the
validation split (bench/calibrate_policy.py, docs/answer-policy.md); no rule of a dataset or a language."""

from __future__ import annotations

from dataclasses import dataclass

# Why an answer is "not found" (the answer JSON's "reason"); stable codes, documented in the README.
NO_RELEVANT_PASSAGE = "no_relevant_passage"  # retrieval found no passage at all (empty index, filters)
NOT_ANSWERABLE = "not_answerable"  # the answerability model: no passage found holds the answer
UNSUPPORTED = (
    "unsupported"  # the model's answer failed the citation check and no passage is sure enough to quote
)
REASONS = (NO_RELEVANT_PASSAGE, NOT_ANSWERABLE, UNSUPPORTED)


@dataclass(frozen=True)
class AnswerPolicy:
    """Thresholds on P(sentence answers the question) from the answerability model."""

    name: str
    answer_min: float  # the best candidate sentence needs this, or "not found" without generating
    cite_min: float  # a source may be cited only if one of its sentences scores this much
    quote_min: float  # the extractive fallback quotes the best sentence only when it scores this much
    candidates: int = 12  # sentences scored per question (the evidence reranker's best, over the k passages)
    quote_sentences: int = 2  # at most this many sentences in a quote (the second needs quote_min too)

    def answers(self, best: float) -> bool:
        return best >= self.answer_min


# Calibrated on the validation split's questions (bench/calibrate_policy.py); see docs/answer-policy.md.
PROFILES: dict[str, AnswerPolicy] = {
    "balanced": AnswerPolicy("balanced", answer_min=0.5, cite_min=0.3, quote_min=0.5),
    "strict": AnswerPolicy("strict", answer_min=0.8, cite_min=0.5, quote_min=0.8),
    "lenient": AnswerPolicy("lenient", answer_min=0.3, cite_min=0.15, quote_min=0.3),
}


def get_policy(name: str = "balanced", strict: bool | None = None) -> AnswerPolicy:
    """The named profile; `strict` (per request or setting) picks the strict one."""
    if strict:
        return PROFILES["strict"]
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown answer policy {name!r}; choose one of {', '.join(PROFILES)}") from None
