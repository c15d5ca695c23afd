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
    """Bars on the answerability scorer's output for a sentence (a probability for the trained model)."""

    name: str
    answer_min: float  # the best candidate sentence needs this, or "not found" without generating
    cite_min: float  # a source may be cited only if one of its sentences scores this much
    quote_min: float  # the extractive fallback quotes the best sentence only when it scores this much
    candidates: int = 12  # sentences scored per question (the evidence reranker's best, over the k passages)
    quote_sentences: int = 2  # at most this many sentences in a quote (the second needs quote_min too)

    def answers(self, best: float) -> bool:
        return best >= self.answer_min


# Bars on the scorer in use. No trained answerability model is shipped yet (the first CPU runs were
# undertrained: validation AUC 0.68), so the scorer is the evidence score (answerability.EvidenceScorer,
# cosine + lexical bonus, about 0..1.5). Read off 150 validation questions of squad20-dev-part (article split,
# bench/calibrate_policy.py; bench/results/policy_calibration_evidence.jsonl, docs/answer-policy.md): quoting
# at 0.8 answers 77% (correct_cited 0.72 of the answerable, 29% "not found" on the unanswerable, truthfulness
# +0.13); at 1.0, 47% (0.47, 62%, +0.33); at 1.1, 27% (0.28, 80%, +0.41).
PROFILES: dict[str, AnswerPolicy] = {
    "balanced": AnswerPolicy("balanced", answer_min=1.0, cite_min=0.9, quote_min=1.0),
    "strict": AnswerPolicy("strict", answer_min=1.1, cite_min=1.0, quote_min=1.1),
    "lenient": AnswerPolicy("lenient", answer_min=0.8, cite_min=0.7, quote_min=0.8),
}


def get_policy(name: str = "balanced", strict: bool | None = None) -> AnswerPolicy:
    """The named profile; `strict` (per request or setting) picks the strict one."""
    if strict:
        return PROFILES["strict"]
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown answer policy {name!r}; choose one of {', '.join(PROFILES)}") from None
