"""The terms a claim is checked on: content words (stemmed, stopwords dropped), numbers, names, negation."""

from __future__ import annotations

import re

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.cjk import CJK, cjk_grams
from searchchat.lexical import cjk_numbers

_STOP = frozenset(STOPWORDS_EN_PLUS) | {
    "also", "may", "might", "can", "could", "would", "shall", "must", "one", "however", "thus", "therefore",
    "according", "based", "source", "sources", "answer", "question", "document", "documents", "indexed",
    "provided", "mentioned", "stated", "states", "said", "says", "given", "e.g", "i.e", "etc", "yes",
}  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:['\u2019.\-][^\W_]+)*", re.UNICODE)
_NUMBER_TEXT = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_NUMBER_TEXT.split()) if i >= 2}
_STEMMER = Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """The words of the text, with hyphens, apostrophes and dots inside them kept."""
    return [w.strip(".'\u2019-") for w in _WORD.findall(text)]


def content_terms(text: str) -> set[str]:
    """Stemmed, lower-cased content words (stopwords and bare numbers dropped); CJK text as character bigrams."""
    ws = [g for w in words(text) for g in cjk_grams(w.lower())]
    kept = [w for w in ws if len(w) > 1 and w not in _STOP and not _is_number(w) and w not in _NUMBER_WORDS]
    return set(_STEMMER.stemWords(kept))


def _is_number(token: str) -> bool:
    return bool(re.fullmatch(r"\d[\d,]*(?:\.\d+)?", token))


def _norm_number(token: str) -> str:
    token = token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token) else token
    try:
        value = float(token)
    except ValueError:
        return token
    return str(int(value)) if value.is_integer() else repr(value)


_NUM = re.compile(  # a digit right after a CJK character starts a number ("于2022年")
    rf"(?<![^\W{CJK}])(?<!\.)(?<![A-Za-z]-)"
    r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\d_]|-[A-Za-z]+\d)"
)


def numbers(text: str) -> set[str]:
    """Numbers in `text`, normalised (400,000 -> 400000, 3.60 -> 3.6); number words two..twenty and Chinese
    numerals as digits. Digits inside names (HIV-1, COVID-19, CD4) are names, not numbers."""
    found = {_norm_number(m.group(1)) for m in _NUM.finditer(text)}
    found |= {_NUMBER_WORDS[w.lower()] for w in words(text) if w.lower() in _NUMBER_WORDS}
    return found | cjk_numbers(text)


_MEASURE = re.compile(r"\d[\d.,]*-?[a-z]+")  # 3.6-fold, 400-bed, 5mg: a number (checked) and a unit


def names(text: str) -> set[str]:
    """Names a supporting source must contain: acronyms, alphanumeric tokens (HIV-1, SARS-CoV-2) and
    capitalised words that do not open the sentence, lower-cased."""
    out: set[str] = set()
    tokens = [g for w in words(text) for g in cjk_grams(w)]  # "ChatGPT的训练": the name is "ChatGPT"
    for i, w in enumerate(tokens):
        if len(w) < 2 or w.lower() in _STOP or _is_number(w) or _MEASURE.fullmatch(w):
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
