"""A generator without a language model: it answers with the retrieved sentences that best match the question."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from searchchat.generators.base import Generator, Prompt
from searchchat.language import ABSTAIN as MESSAGES
from searchchat.language import abstain_message
from searchchat.markers import neutralise
from searchchat.text import content_terms, idf, numbers, split_sentences

ABSTAIN = MESSAGES["en"]

MIN_TERMS = 3  # a sentence with fewer content terms and numbers (a caption, "Figure 2.") is not an answer
_HEADING = re.compile(r"^\s*(#{1,6}\s|[-*+]\s*$|\|)")
_BULLET = re.compile(r"^\s*(?:[-*+>]|\d+[.)])\s+")


@dataclass
class ScoredSentence:
    """A candidate sentence: where it comes from and how well it matches the question."""

    text: str
    source: int  # 1-based source number
    position: int
    terms: frozenset[str]
    score: float = 0.0


class ExtractiveGenerator(Generator):
    """Picks up to `max_sentences` source sentences by IDF-weighted overlap with the question and cites them."""

    name = "extractive"

    def __init__(
        self, max_sentences: int = 3, relative_cutoff: float = 0.5, min_coverage: float = 0.2
    ) -> None:
        self.max_sentences = max_sentences
        self.relative_cutoff = relative_cutoff  # extra sentences need this share of the best score
        self.min_coverage = min_coverage  # the best sentence must cover this share of the question's weight

    @staticmethod
    def terms(text: str) -> frozenset[str]:
        """The text's content terms and numbers, as the answer checks read them (searchchat.text)."""
        return frozenset(content_terms(text) | numbers(text))

    def candidates(self, prompt: Prompt) -> list[ScoredSentence]:
        out = []
        for n, hit in enumerate(prompt.sources, start=1):
            for pos, raw in enumerate(split_sentences(neutralise(hit.chunk.text))):
                if _HEADING.match(raw):
                    continue
                text = " ".join(_BULLET.sub("", raw).split())
                terms = self.terms(text)
                if len(terms) < MIN_TERMS:
                    continue
                out.append(ScoredSentence(text, n, pos, terms))
        return out

    def select(self, prompt: Prompt) -> list[ScoredSentence]:
        """The chosen sentences, best first; empty when nothing in the sources matches the question."""
        query = self.terms(prompt.question)
        sentences = self.candidates(prompt)
        if not query or not sentences:
            return []
        n = len(sentences)
        dfs = {t: sum(t in s.terms for s in sentences) for t in query}
        weight = {t: idf(df, n) for t, df in dfs.items()}
        total = sum(weight.values())
        for s in sentences:
            s.score = sum(weight[t] for t in query & s.terms)
        ranked = sorted(sentences, key=lambda s: (-s.score, s.source, s.position))
        best = ranked[0]
        if best.score <= 0 or best.score < self.min_coverage * total:
            return []
        chosen: list[ScoredSentence] = []
        for s in ranked:
            if len(chosen) == self.max_sentences or s.score < self.relative_cutoff * best.score:
                break
            if any(s.text == c.text or s.terms <= c.terms for c in chosen):
                continue  # a duplicate adds nothing
            chosen.append(s)
        return chosen

    def answer(self, prompt: Prompt) -> str:
        chosen = self.select(prompt)
        if not chosen:
            return abstain_message(prompt.question)  # "not found" in the question's language
        return " ".join(f"{s.text} [{s.source}]" for s in chosen)

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        words = self.answer(prompt).split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "
