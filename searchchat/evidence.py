"""Evidence reranking for answers: passages ordered by their one sentence that best matches the question.

A question usually has its answer in one sentence of one passage. Passage-level retrieval scores the whole
chunk, so a chunk that shares many of the question's words across several sentences can outrank the chunk
whose single sentence answers it. Before answering, the fused candidates are rescored by

    evidence(passage) = max over its sentences s of  cos(question, s) + LEXICAL_BONUS * share(question, s)

where share is the fraction of the question's content words (stemmed, stopwords dropped) found in s. The
sentence embeddings go through the citation checker's cache, which verification then reuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from searchchat.cite import content_terms, split_sentences
from searchchat.markers import neutralise
from searchchat.prompt import source_text
from searchchat.rerank import Reranker
from searchchat.types import Hit

# Tuned with bench/covidqa_rerank.py on 200 COVID-QA questions that the eval-qa sample (seed 13) does not use;
# the figures are at the constants in that bench's output (bench/results/covidqa_rerank.txt).
LEXICAL_BONUS = 0.5
# Fused candidates rescored (at most settings.per_doc_cap per document); their sentence vectors are cached per
# process. Wider and uncapped pools find more gold passages (first 4 of 20 uncapped: 0.815, against 0.735),
# but the answers got worse: regenerated for the 100 tuning questions (bench/covidqa_regen.py --pool 20
# --cap 20), citation precision fell from 0.712 to 0.597 (abstention 50% -> 45%). Four passages of one article
# are alike, and the model cites the wrong one of them.
POOL = 10
MIN_SENTENCE_CHARS = 16


class EvidenceReranker(Reranker):
    """Reorders hits by their best sentence's match with the query. `embed` maps texts to unit vectors."""

    name = "evidence"

    def __init__(
        self, embed: Callable[[Sequence[str]], np.ndarray], lexical_bonus: float = LEXICAL_BONUS
    ) -> None:
        self.embed = embed
        self.lexical_bonus = lexical_bonus

    def score(self, query: str, hits: Sequence[Hit]) -> list[float]:
        if not hits:
            return []
        groups = [sentences(source_text(h)) for h in hits]
        flat = [s for g in groups for s in g]
        vecs = self.embed([query, *flat])
        cos = vecs[1:] @ vecs[0]
        q_terms = content_terms(query)
        scores: list[float] = []
        pos = 0
        for group in groups:
            best = -1.0
            for i, sent in enumerate(group):
                share = len(q_terms & content_terms(sent)) / len(q_terms) if q_terms else 0.0
                best = max(best, float(cos[pos + i]) + self.lexical_bonus * share)
            pos += len(group)
            scores.append(best)
        return scores


def sentences(text: str) -> list[str]:
    """The sentences of a passage worth scoring (the passage itself when it has none), split as the citation
    checker splits them, so that their embeddings are computed once for both."""
    clean = neutralise(text)
    return [s for s in split_sentences(clean) if len(s) >= MIN_SENTENCE_CHARS] or [clean]
