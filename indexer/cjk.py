"""Chinese, Japanese and Korean: the script ranges, and their runs as overlapping character bigrams."""

from __future__ import annotations

import re

# Han, kana, Hangul (and their compatibility forms): scripts written without spaces between words. The ranges
# as regex character-class contents, for every module that needs them.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KANA = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
CJK = KANA + HAN + HANGUL
CJK_RUN = re.compile(f"[{CJK}]+")
# The marks that end a CJK sentence (。！？) and a clause (；), for the chunker and the read path's sentence splitter.
SENTENCE_ENDS = "\u3002\uff01\uff1f"
CLAUSE_END = "\uff1b"


def _bigrams(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) == 1:
        return f" {run}{run} "  # bm25s keeps tokens of two or more characters: a lone character, doubled
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def segment(text: str) -> str:
    """CJK runs as overlapping character bigrams between spaces, as Lucene's CJKAnalyzer does (measured on
    cmrc2018-trial against jieba words: README); other text unchanged, so English keeps its stemmed words."""
    return CJK_RUN.sub(_bigrams, text)


def cjk_grams(word: str) -> list[str]:
    """A word with CJK characters as the overlapping bigrams of its CJK runs (a lone character as itself) and
    its other parts; any other word as itself. How word-overlap measures see Chinese, Japanese and Korean."""
    if word.isascii():  # the common case, without a regex scan (content_terms calls this for every word)
        return [word]
    runs = CJK_RUN.findall(word)
    if not runs:
        return [word]
    grams = [r[i : i + 2] for r in runs for i in range(max(1, len(r) - 1))]
    return grams + [w for w in CJK_RUN.split(word) if w]
