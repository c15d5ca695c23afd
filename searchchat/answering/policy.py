"""The answer policy: one typed object that decides, from the answerability model's scores, whether to
answer, what may be cited, and when to quote the sources instead of the model.

Every threshold is a probability from the learned answerability model (models/crossencoder.py), calibrated on the
validation split (bench/calibrate_policy.py, docs/answer-policy.md); no rule of a dataset or a language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Why an answer is "not found" (the answer JSON's "reason"); stable codes, documented in the README.
NO_RELEVANT_PASSAGE = "no_relevant_passage"  # retrieval found no passage at all (empty index, filters)
NOT_ANSWERABLE = "not_answerable"  # the answerability model: no passage found holds the answer
UNSUPPORTED = (
    "unsupported"  # the model's answer failed the citation check and no passage is sure enough to quote
)
REASONS = (NO_RELEVANT_PASSAGE, NOT_ANSWERABLE, UNSUPPORTED)


@dataclass(frozen=True)
class AnswerPolicy:
    """Bars on the answerability scorer's output for a sentence (a probability for the trained model)."""

    name: str
    answer_min: float  # the best candidate sentence needs this, or "not found" without generating
    cite_min: float  # a source may be cited only if one of its sentences scores this much
    quote_min: float  # the extractive fallback quotes the best sentence only when it scores this much
    candidates: int = 12  # sentences scored per question (the evidence reranker's best, over the k passages)
    quote_sentences: int = 2  # at most this many sentences in a quote (the second needs quote_min too)
    grounding: str = "off"  # how strictly a generated answer must stay inside its evidence (grounding.MODES)
    choice: str = "generated"  # the model's checked answer or the quote (choice.CHOICES)
    choice_margin: float = 0.0  # "judged": how much better the quote must score to replace the model's answer
    # "Not found" still shows the scorer's best sentence as the closest passage (not as an answer) when the
    # evidence score, whatever the scorer, finds it this close to the question: the evidence scale's lenient
    # answer bar (PROFILES below), so that an off-topic question shows none.
    closest_prior: float = 0.8

    def answers(self, best: float) -> bool:
        return best >= self.answer_min


# The answer choice, the same on both scales: the shipped answerability model judges the model's checked answer
# against the quote, and the model's answer stands only when it scores more than 0.2 above the quote
# (replaying the validation articles' recorded generations, bench/replay_answers.py, docs/answer-policy.md).
JUDGED: dict[str, Any] = {"choice": "judged", "choice_margin": -0.2}

# Two scales, one table each: the scorer in use says which (Scorer.scale).
#
# "evidence", the default: the evidence score (answerability.EvidenceScorer, cosine plus lexical bonus, about
# 0..1.5). Read off 150 validation questions of squad20-dev-part (bench/calibrate_policy.py --scorer evidence):
# quoting at 0.8 answers 77% (correct_cited 0.72 of the answerable, 29% "not found" on the unanswerable,
# truthfulness +0.13); at 1.0, 47% (0.47, 62%, +0.33); at 1.1, 27% (0.28, 80%, +0.41).
PROFILES: dict[str, AnswerPolicy] = {
    "balanced": AnswerPolicy("balanced", answer_min=1.0, cite_min=0.9, quote_min=1.0, **JUDGED),
    "strict": AnswerPolicy("strict", answer_min=1.1, cite_min=1.0, quote_min=1.1, **JUDGED),
    "lenient": AnswerPolicy("lenient", answer_min=0.8, cite_min=0.7, quote_min=0.8, **JUDGED),
}
# "probability": the trained answerability model (SEARCHCHAT_ANSWERABILITY_MODEL=shipped, docs/answerability.md),
# read off the validation articles of the split (300 squad20-dev-part + 206 COVID-QA questions, none seen in
# training; docs/answer-policy.md). Quoting the best sentence, truthfulness by bar, squad / covidqa: 0.4 +0.28 /
# +0.13; 0.6 +0.36 / +0.14; 0.8 +0.44 / +0.08. Their mean is flat from 0.6 to 0.8 and 0.6 answers twice as
# often, so balanced takes 0.6; strict 0.8; lenient 0.4. cite_min sits below answer_min: a second source, or
# the model's own sentence, may be a little less sure than the best sentence.
MODEL_PROFILES: dict[str, AnswerPolicy] = {
    "balanced": AnswerPolicy("balanced", answer_min=0.6, cite_min=0.4, quote_min=0.6, **JUDGED),
    "strict": AnswerPolicy("strict", answer_min=0.8, cite_min=0.6, quote_min=0.8, **JUDGED),
    "lenient": AnswerPolicy("lenient", answer_min=0.4, cite_min=0.25, quote_min=0.4, **JUDGED),
}
SCALES = {"evidence": PROFILES, "probability": MODEL_PROFILES}


def get_policy(name: str = "balanced", strict: bool | None = None, scale: str = "evidence") -> AnswerPolicy:
    """The named profile on the scorer's scale; `strict` (per request or setting) picks the strict one."""
    profiles = SCALES.get(scale)
    if profiles is None:
        raise ValueError(f"unknown score scale {scale!r}; choose one of {', '.join(SCALES)}")
    if strict:
        return profiles["strict"]
    try:
        return profiles[name]
    except KeyError:
        raise ValueError(f"unknown answer policy {name!r}; choose one of {', '.join(profiles)}") from None
