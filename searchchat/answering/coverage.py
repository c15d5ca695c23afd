"""Question coverage: the share of a question's distinctive words (IDF-weighted) that a source holds.

A citation can be well supported and still answer another question: asked for "the response rate of the
study", the small model copies a response rate from whichever study it was given. The words that make the
question specific ("response", "anxiety", "MERS", "Korea") are rare in the index, so they weigh most; words
that every passage has ("study", "patients") weigh little. A source that lacks most of that weight is about
something else, however well it supports the sentence copied from it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence

from searchchat.text import idf

# tokens -> their document frequencies in the index (0 for unknown tokens), and the number of documents
DocFreq = Callable[[Sequence[str]], tuple[list[int], int]]


def tokens(text: str) -> list[str]:
    """The question's and the sources' words as BM25 indexes them (Snowball-stemmed), without the question
    words and other stopwords that BM25's short list keeps ("what", "does")."""
    from searchchat.retrieval.lexical import tokenize

    return [t for t in tokenize(text) if t and t not in _stop()]


@functools.cache
def _stop() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    from searchchat.retrieval.lexical import tokenize

    words = " ".join(STOPWORDS_EN_PLUS)
    return frozenset(STOPWORDS_EN_PLUS) | frozenset(tokenize(words))


def coverage(question: str, sources: Sequence[str], doc_freq: DocFreq | None = None) -> list[float]:
    """For each source, the IDF-weighted share of the question's distinct words that it contains (1.0 when
    the question has no words to weigh). Without `doc_freq` every word weighs the same."""
    q = list(dict.fromkeys(tokens(question)))
    if not q:
        return [1.0 for _ in sources]
    if doc_freq is None:
        weights = [1.0] * len(q)
    else:
        dfs, n = doc_freq(q)
        weights = [idf(df, max(n, 1)) for df in dfs]
    total = sum(weights) or 1.0
    acronyms = {a.lower().removesuffix("s") for a in _ACRONYM.findall(question)}
    out = []
    for text in sources:
        have = set(tokens(text))
        if acronyms - have:  # "GAN" in the question, "generative adversarial network" in the source
            have |= acronyms & spelled_out(text)
        out.append(sum(w for t, w in zip(q, weights, strict=True) if t in have) / total)
    return out


def chance_matches(question: str, doc_freq: DocFreq) -> float:
    """How many passages of the index would hold all of the question's distinctive words by chance, if the
    words fell independently: n * prod(df / n). Below 1 the words single out a passage; far above 1 ("How
    many patients were studied?" over 98 studies) every document has its own answer, and the question does
    not say which one it means. A word the index lacks counts as half a passage."""
    q = list(dict.fromkeys(tokens(question)))
    dfs, n = doc_freq(q) if q else ([], 0)
    if n <= 0:
        return 0.0
    return n * math.prod(max(df, 0.5) / n for df in dfs)


_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]?[A-Z]{1,5}s?\b")
_WORD = re.compile(r"[^\W\d_]+")


def spelled_out(text: str, longest: int = 6) -> set[str]:
    """The acronyms a text spells out: the initials of each run of 2 to `longest` consecutive words, with and
    without the short words between them, so that "a generative adversarial network" yields "gan" and
    "reinforcement learning from human feedback" yields "rlhf" (among many others)."""
    words = _WORD.findall(text)
    out: set[str] = set()
    for seq in (words, [w for w in words if w.lower() not in _LINKS]):
        initials = "".join(w[0].lower() for w in seq)
        out |= {initials[i : i + n] for n in range(2, longest + 1) for i in range(len(initials) - n + 1)}
    return out


_LINKS = frozenset({"a", "an", "the", "of", "for", "from", "to", "in", "on", "and", "by", "with"})
