"""The question's language, and the localised "not found" reply that the answerer and generators give."""

from __future__ import annotations

import re

from bm25s import stopwords as sw

from indexer.cjk import HAN, HANGUL, KANA

# The reply when the indexed documents do not answer, for the languages `detect_language` recognises.
ABSTAIN = {
    "en": "The indexed documents do not answer this question.",
    "fr": "Les documents indexés ne répondent pas à cette question.",
    "de": "Die indexierten Dokumente beantworten diese Frage nicht.",
    "es": "Los documentos indexados no responden a esta pregunta.",
    "it": "I documenti indicizzati non rispondono a questa domanda.",
    "pt": "Os documentos indexados não respondem a esta pergunta.",
    "nl": "De geïndexeerde documenten beantwoorden deze vraag niet.",
    "zh": "已索引的文档没有回答这个问题。",
    "ja": "索引された文書はこの質問に答えていません。",
    "ko": "색인된 문서는 이 질문에 답하지 않습니다.",
}
_KANA = re.compile(f"[{KANA}]")
_HANGUL = re.compile(f"[{HANGUL}]")
_HAN = re.compile(f"[{HAN}]")
_STOPWORDS = {"en": sw.STOPWORDS_EN_PLUS, "fr": sw.STOPWORDS_FRENCH, "de": sw.STOPWORDS_GERMAN,
              "es": sw.STOPWORDS_SPANISH, "it": sw.STOPWORDS_ITALIAN, "pt": sw.STOPWORDS_PORTUGUESE,
              "nl": sw.STOPWORDS_DUTCH}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?", re.UNICODE)


def detect_language(text: str) -> str:
    """A two-letter code: zh, ja or ko when the question has more CJK characters than Latin-script words (kana
    for Japanese, Hangul for Korean, else Chinese); otherwise en, fr, de, es, it, pt or nl by stopword counts;
    English when unsure."""
    cjk = len(_HAN.findall(text)) + len(_KANA.findall(text)) + len(_HANGUL.findall(text))
    if cjk and cjk > len(re.findall(r"[A-Za-z\u00c0-\u024f]+", text)):
        return "ko" if _HANGUL.search(text) else "ja" if _KANA.search(text) else "zh"
    tokens = [w.lower() for w in _WORD.findall(text)]
    tokens += [p for w in tokens if "'" in w or "\u2019" in w for p in re.split(r"['\u2019]", w)]  # l'école
    if not tokens:
        return "en"
    counts = {lang: float(sum(t in words for t in tokens)) for lang, words in _STOPWORDS.items()}
    accents = {"fr": "éèêàçù", "de": "äöüß", "es": "ñ¿¡áéíóú", "pt": "ãõçáéêó", "it": "àèéìòù"}
    for lang, chars in accents.items():
        counts[lang] += sum(ch in chars for ch in text.lower()) * 0.5
    best = max(counts, key=lambda lang: counts[lang])
    return best if counts[best] > counts["en"] and counts[best] >= 1 else "en"


def abstain_message(question: str) -> str:
    """The "not found" reply in the question's language."""
    return ABSTAIN[detect_language(question)]
