"""Evidence reranking for answers: passages ordered by their one sentence that best matches the question.

A question usually has its answer in one sentence of one passage. Passage-level retrieval scores the whole
chunk, so a chunk that shares many of the question's words across several sentences can outrank the chunk
whose single sentence answers it. Before answering, the fused candidates are rescored by

    evidence(passage) = max over its sentences s of  cos(question, s) + LEXICAL_BONUS * share(question, s)

where share is the fraction of the question's content words (stemmed, stopwords dropped) found in s. The
sentence embeddings go through the citation checker's cache, which verification then reuses. When the embedder
cannot read CJK scripts (Embedder.cjk false: the packaged MiniLM), the cosine of a CJK question is blended,
by the question's CJK share, with a cosine predicted from share (CJK as character bigrams), so that a Chinese
question is not scored by a model that cannot read it. That predicted cosine is raised by UNREAD_SHIFT, so
that the policy's bars, read off English questions, keep their meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from searchchat.answering.prompt import source_text
from searchchat.markers import neutralise
from searchchat.retrieval.rerank import Reranker
from searchchat.text import cjk_content_chars, cjk_share, content_terms, split_sentences
from searchchat.types import Hit

# Provenance of each constant: docs/tuning.md ("searchchat/answering/evidence.py").
LEXICAL_BONUS = 0.5  # bench/covidqa_rerank.py, 200 COVID-QA questions outside the eval-qa sample
POOL = 10  # fused candidates rescored; wider pools found more gold passages but worse answers
MIN_SENTENCE_CHARS = 16
OVERLAP_AT_ZERO = 0.374  # cosine predicted from the question share where the embedder cannot read:
OVERLAP_SLOPE = 0.300  # a least-squares line through 6,063 validation (question, sentence) pairs
CHAR_WEIGHT = 0.5  # a CJK question's share, half by characters (0.25, 0.75: no better on training)
UNREAD_SHIFT = (
    0.15  # answer-erased cmrc2018-trial training questions: where the balanced bar belongs on that line
)


Embed = Callable[[Sequence[str]], np.ndarray]


def sentence_scores(query: str, texts: Sequence[str], embed: Embed, reads_cjk: bool = True,
                    lexical_bonus: float = LEXICAL_BONUS) -> list[float]:  # fmt: skip
    """The evidence score of each text for the query (the formula above)."""
    if not texts:
        return []
    vecs = embed([query, *texts])
    cos = vecs[1:] @ vecs[0]
    blind = 0.0 if reads_cjk else cjk_share(query)  # how much of the question the embedder cannot read
    scores = []
    for c, share in zip(cos, question_share(query, texts), strict=True):
        similarity = float(c)
        if blind:
            predicted = OVERLAP_AT_ZERO + UNREAD_SHIFT + OVERLAP_SLOPE * share
            similarity = (1.0 - blind) * similarity + blind * predicted
        scores.append(similarity + lexical_bonus * share)
    return scores


def question_share(query: str, texts: Sequence[str]) -> list[float]:
    """For each text, the share of the query's content terms it holds (the lexical part of the score). For a
    query in a CJK script, CHAR_WEIGHT of it is the share of its characters instead, as CMRC 2018's own F1 reads
    Chinese: a reworded answer ("誉为" for "美誉") keeps characters where it loses bigrams."""
    q_terms, q_chars = content_terms(query), cjk_content_chars(query)
    shares = []
    for text in texts:
        share = len(q_terms & content_terms(text)) / len(q_terms) if q_terms else 0.0
        if q_chars:
            by_chars = len(q_chars & cjk_content_chars(text)) / len(q_chars)
            share = (1.0 - CHAR_WEIGHT) * share + CHAR_WEIGHT * by_chars
        shares.append(share)
    return shares


class EvidenceReranker(Reranker):
    """Reorders hits by their best sentence's match with the query. `embed` maps texts to unit vectors."""

    name = "evidence"

    def __init__(self, embed: Embed, lexical_bonus: float = LEXICAL_BONUS, reads_cjk: bool = True) -> None:
        self.embed = embed
        self.lexical_bonus = lexical_bonus
        self.reads_cjk = reads_cjk

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        if not hits:
            return []
        groups = [sentences(source_text(h)) for h in hits]
        flat = sentence_scores(query, [s for g in groups for s in g], self.embed, self.reads_cjk,
                               self.lexical_bonus)  # fmt: skip
        scores: list[float] = []
        pos = 0
        for group in groups:
            scores.append(max(flat[pos : pos + len(group)]))
            pos += len(group)
        return scores


def sentences(text: str) -> list[str]:
    """The sentences of a passage worth scoring (the passage itself when it has none), split as the citation
    checker splits them, so that their embeddings are computed once for both."""
    clean = neutralise(text)
    return [s for s in split_sentences(clean) if len(s) >= MIN_SENTENCE_CHARS] or [clean]
