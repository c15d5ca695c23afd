"""The one text analyzer of the read path: words and content terms (stemmed, stopwords dropped, CJK as
character bigrams), numbers (digits, number words, Chinese numerals), CJK measures, sentences, the citation
markers a model writes, and BM25's IDF. Answer checks, evidence scoring and the extractive generator all read
text through it, so they agree on what a word and a sentence are."""

from __future__ import annotations

import functools
import math
import re

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.cjk import CJK, CJK_RUN, CLAUSE_END, SENTENCE_ENDS, cjk_grams

STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {
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
    kept = [
        w for w in ws if len(w) > 1 and w not in STOPWORDS and not is_number(w) and w not in _NUMBER_WORDS
    ]
    return set(_STEMMER.stemWords(kept))


def is_number(token: str) -> bool:
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


# Citation markers the model writes: [1], [1, 2], [1-3], [1][2], [Source 1], [source 1, 2], (Source 2).
_NUMS = r"(\d{1,3}(?:\s*(?:,|;|-|\u2013|and)\s*(?:sources?\s*)?\d{1,3})*)"
CITE_MARKER = re.compile(rf"\[\s*(?:sources?\s*)?{_NUMS}\s*\]|\(\s*sources?\s*{_NUMS}\s*\)", re.IGNORECASE)
_ABBREV = re.compile(
    r"\b(?:e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Dr|Mr|Mrs|Ms|Prof|St|No|approx|ca|resp|Ref|Refs|incl|[A-Z])\.$"
)
_NUMBERED = re.compile(r"\b(?:no|nos|vol|pp?)\.$", re.IGNORECASE)  # before a number: not a sentence end
_NEXT_NUMBER = re.compile(r"\s+\S*\d")
# Sentence ends: Latin . ! ? before a space; CJK full stops (。！？．；) need no space after, nor does an ellipsis
# (……) after a CJK character unless a full stop follows it; closing quotes and brackets stay with the sentence.
_CJK_FULL_STOPS = SENTENCE_ENDS + "\uff0e"  # 。！？ and the full-width full stop
_CJK_STOPS = _CJK_FULL_STOPS + CLAUSE_END  # and ；, which ends a clause
_CLOSERS = "\u201d\u2019\u300d\u300f\uff09)"
_LATIN_END = r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)"
_BREAK = r"|\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)"  # a paragraph, a list item
_END = re.compile(
    _LATIN_END
    + rf"|[{_CJK_STOPS}]+[{_CLOSERS}]*"
    + rf"|(?<=[{CJK}])\u2026+[{_CLOSERS}]*(?![\u2026{_CJK_STOPS}{_CLOSERS}])"
    + _BREAK
)
_WHOLE_END = re.compile(_LATIN_END + rf"|[{_CJK_FULL_STOPS}]+[{_CLOSERS}]*" + _BREAK)


def sentence_spans(text: str, whole: bool = False) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`; citation markers that follow a full stop belong to the
    sentence before it; list items and paragraphs are sentences of their own. A CJK clause that ends at ； or
    …… is a sentence too, unless `whole` (a quote reads whole sentences, to 。！？)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in (_WHOLE_END if whole else _END).finditer(text):
        end = m.end()
        if m.group(0).startswith(".") and _ABBREV.search(text[start : m.start() + 1]):
            continue
        if (
            m.group(0) == "."
            and _NUMBERED.search(text[start : m.start() + 1])
            and _NEXT_NUMBER.match(text[end:])
        ):
            continue  # "accession no. MN975262", "vol. 3"
        # "... 3.6 [1]." is one sentence; so is "... fold. [1]": pull trailing markers in.
        tail = re.match(r"(?:\s*\[[^\]\n]{1,20}\])+[.!?]?", text[end:])
        if tail and CITE_MARKER.search(tail.group(0)):
            end += tail.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    # trim whitespace inside spans
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of the text (see sentence_spans)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def join_sentences(sentences: list[str]) -> str:
    """Sentences as one text: a space after a Latin sentence, none after one that ends in a CJK character or
    full-width mark (Chinese and Japanese are written without spaces)."""
    out = ""
    for s in sentences:
        if out and not _CJK_TAIL.search(out):
            out += " "
        out += s
    return out


_CJK_TAIL = re.compile(f"[{CJK}\u3000-\u303f\uff00-\uffef][\u201d\u2019]?$")


def cjk_chars(text: str) -> set[str]:
    """The CJK characters of the text: what a reordered or reworded Chinese phrase keeps of its source."""
    return {ch for run in CJK_RUN.findall(text) for ch in run}


@functools.cache
def _zh_function_chars() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE

    return frozenset(w for w in STOPWORDS_CHINESE if len(w) == 1)


def cjk_content_chars(text: str) -> set[str]:
    """The CJK characters of the text less Chinese one-character function words (的, 是, 在…: bm25s's Chinese
    stopword list): a word's characters survive a rewording that breaks its bigrams ("美誉" against "誉为")."""
    return cjk_chars(text) - _zh_function_chars()


_CJK_DIGITS = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CJK_UNITS = {"十": 10, "百": 100, "千": 1000}
_CJK_BIG = {"万": 10**4, "亿": 10**8}
_CJK_NUMERAL = re.compile(f"[{''.join(_CJK_DIGITS)}{''.join(_CJK_UNITS)}{''.join(_CJK_BIG)}]+")


def _cjk_value(run: str) -> int | None:
    """The value of a Chinese numeral ("二十三" 23, "三千万" 30000000, "二〇一四" 2014), None if malformed."""
    if not any(ch in _CJK_UNITS or ch in _CJK_BIG for ch in run):  # digit by digit, as years are written
        return int("".join(str(_CJK_DIGITS[ch]) for ch in run))
    total = section = digit = 0
    for ch in run:
        if ch in _CJK_DIGITS:
            if digit and _CJK_DIGITS[ch]:
                return None  # two digits without a unit between them: not one numeral
            digit = _CJK_DIGITS[ch]
        elif ch in _CJK_UNITS:
            section += (digit or 1) * _CJK_UNITS[ch]
            digit = 0
        else:
            group = section + digit
            if not (group or total):
                return None
            total = (total + group) * _CJK_BIG[ch] if ch == "亿" else total + group * _CJK_BIG[ch]
            section = digit = 0
    return total + section + digit


def cjk_numbers(text: str) -> set[str]:
    """Chinese numerals as digits; a lone "一" (one, also "a", "the same", "all") is not counted, as English
    "one" is not."""
    found = set()
    for run in _CJK_NUMERAL.findall(text):
        if run in ("一", "零", "〇", "万", "亿"):
            continue
        value = _cjk_value(run)
        if value is not None:
            found.add(str(value))
    return found


def cjk_share(text: str) -> float:
    """The share of the text's letters and digits that are CJK characters (0 for text without any)."""
    total = sum(ch.isalnum() for ch in text)
    return sum(len(m) for m in CJK_RUN.findall(text)) / total if total else 0.0


def idf(df: int, n: int) -> float:
    """Lucene's BM25 IDF, never negative."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
