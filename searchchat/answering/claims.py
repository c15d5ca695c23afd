"""The terms a claim is checked on: content words (stemmed, stopwords dropped), numbers, names, negation."""

from __future__ import annotations

import re

from indexer.cjk import cjk_grams
from searchchat.text import STOPWORDS, is_number, words

_MEASURE = re.compile(r"\d[\d.,]*-?[a-z]+")  # 3.6-fold, 400-bed, 5mg: a number (checked) and a unit


def names(text: str) -> set[str]:
    """Names a supporting source must contain: acronyms, alphanumeric tokens (HIV-1, SARS-CoV-2) and
    capitalised words that do not open the sentence, lower-cased."""
    out: set[str] = set()
    tokens = [g for w in words(text) for g in cjk_grams(w)]  # "ChatGPT的训练": the name is "ChatGPT"
    for i, w in enumerate(tokens):
        if len(w) < 2 or w.lower() in STOPWORDS or is_number(w) or _MEASURE.fullmatch(w):
            continue
        has_digit = any(ch.isdigit() for ch in w) and any(ch.isalpha() for ch in w)
        acronym = sum(ch.isupper() for ch in w) >= 2
        capital = w[0].isupper() and i > 0
        if has_digit or acronym or capital:
            out.add(w.lower())
    return out


_NEGATION = re.compile(r"\b(not|no|never|neither|nor|cannot|none)\b|n't\b", re.IGNORECASE)


def negated(text: str) -> bool:
    """Whether the text says no, not, never, ... (or n't)."""
    return bool(_NEGATION.search(text))


def compact(text: str) -> str:
    """Lower-cased, without spaces and hyphens: how a name is compared when a source spells it apart."""
    return re.sub(r"[\s\-\u2010-\u2015]+", "", text.lower())
