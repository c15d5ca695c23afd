"""A generator without a language model: it answers with the retrieved sentences that best match the question."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import Stemmer

from searchchat.generators.base import Generator, Prompt
from searchchat.language import ABSTAIN as MESSAGES
from searchchat.language import abstain_message

ABSTAIN = MESSAGES["en"]

_STOPWORD_TEXT = """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves tell explain describe please give show say says said use
    used using one two many much way ways thing things"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*", re.UNICODE)
# Sentence ends: . ! ? followed by space and an upper-case letter, digit, quote or bracket; or a line break.
_SENT_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[A-Z0-9\"'(\[])|\n+")
# Bracketed reference markers that sources carry themselves ([12], [3, 4], [5-7]): never pass them on as ours.
_REF_MARK = re.compile(r"\s*\[\d+(?:\s*[,;\u2013\u2014-]\s*\d+)*\]")
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
        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> frozenset[str]:
        words = [w.lower().strip(".'-") for w in _WORD.findall(text)]
        return frozenset(self._stemmer.stemWords([w for w in words if w and w not in _STOPWORDS]))

    def candidates(self, prompt: Prompt) -> list[ScoredSentence]:
        out = []
        for n, hit in enumerate(prompt.sources, start=1):
            for pos, raw in enumerate(_SENT_END.split(hit.chunk.text)):
                if _HEADING.match(raw):
                    continue
                text = " ".join(_REF_MARK.sub("", _BULLET.sub("", raw)).split())
                if len(text.split()) < 4:
                    continue
                out.append(ScoredSentence(text, n, pos, self.terms(text)))
        return out

    def select(self, prompt: Prompt) -> list[ScoredSentence]:
        """The chosen sentences, best first; empty when nothing in the sources matches the question."""
        query = self.terms(prompt.question)
        sentences = self.candidates(prompt)
        if not query or not sentences:
            return []
        n = len(sentences)
        dfs = {t: sum(t in s.terms for s in sentences) for t in query}
        idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in dfs.items()}
        total = sum(idf.values())
        for s in sentences:
            s.score = sum(idf[t] for t in query & s.terms)
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
