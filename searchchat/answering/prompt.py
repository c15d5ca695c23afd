"""Prompt building: numbered sources with titles and sections under a token budget, and the rules for
answering from them in the question's language (searchchat.language)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from searchchat.generators.base import Prompt
from searchchat.language import detect_language
from searchchat.markers import neutralise
from searchchat.types import Hit

# Measured on Qwen2.5-Coder-0.5B-Instruct (bench/covidqa_prompt.py): with sources labelled "[n] Title" and the
# rules first, the model copied the sources out or replied "[1] [2] [3]"; with "Source n (title — section):"
# labels, the instructions after the question and one worked example, it answers in a sentence and cites.
SYSTEM = "You are a helpful assistant. You answer questions using only the sources the user gives you."
INSTRUCTIONS = (
    "Answer the question in {language}, in one or two sentences, using only the sources. After each sentence, "
    "write the number of its source in brackets, for example [2]. If the sources do not answer it, say that "
    "the documents do not answer the question."
)
# One worked example (used when `few_shot` is on): a short answer from the right source, citing it.
FEW_SHOT = [
    {
        "role": "user",
        "content": "Source 1 (Tea — Storage):\nGreen tea keeps its flavour for about six months in an airtight "
        "tin.\n\nSource 2 (Coffee — Roasting):\nLight roasts keep more acidity than dark roasts.\n\n"
        "Question: How long does green tea keep its flavour?\n\n" + INSTRUCTIONS.format(language="English"),
    },
    {
        "role": "assistant",
        "content": "Green tea keeps its flavour for about six months in an airtight tin [1].",
    },
]

LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch", "zh": "Chinese (简体中文)", "ja": "Japanese (日本語)",
                  "ko": "Korean (한국어)"}  # fmt: skip
_MARKS = re.compile(r"\s*\[\d+(?:\s*[,;-]\s*\d+)*\]")


@dataclass
class Budgeted:
    """The sources that fit the context budget (texts possibly cut) and the tokens they take."""

    hits: list[Hit]
    texts: list[str]
    tokens: int


def source_header(n: int, hit: Hit) -> str:
    c = hit.chunk
    section = c.section.split(" > ")[-1] if c.section else ""
    label = c.title + (f" — {section}" if section and section != c.title else "")
    return f"Source {n} ({label}):" if label else f"Source {n}:"


def source_text(hit: Hit) -> str:
    """A source's text as the model and the user see it: whitespace tidied, reference markers removed."""
    return re.sub(r"[ \t]+", " ", neutralise(hit.chunk.text)).strip()


def fit_sources(hits: Sequence[Hit], budget: int, count: Callable[[str], int]) -> Budgeted:
    """Sources in rank order while they fit `budget` tokens; the one that crosses it is cut at a word
    boundary (kept when at least 48 tokens of it fit). The first source always goes in, cut if need be."""
    kept: list[Hit] = []
    texts: list[str] = []
    used = 0
    for n, hit in enumerate(hits, start=1):
        text = source_text(hit)
        block = f"{source_header(n, hit)}\n{text}\n\n"
        size = count(block)
        if used + size <= budget:
            kept.append(hit)
            texts.append(text)
            used += size
            continue
        room = budget - used - count(source_header(n, hit)) - 2
        if room >= 48 or not kept:
            cut = _cut(text, max(room, 16), count)
            kept.append(hit)
            texts.append(cut)
            used += count(f"{source_header(n, hit)}\n{cut}\n\n")
        break
    return Budgeted(kept, texts, used)


def _cut(text: str, tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix of `text` (whole words) with at most `tokens` tokens, ending in an ellipsis."""
    words = text.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …"


def history_messages(history: Sequence[dict[str, str]] | None, turns: int = 2) -> list[dict[str, str]]:
    """The last `turns` exchanges, with the old citation markers removed (they numbered other sources)."""
    msgs = [
        {"role": t["role"], "content": _MARKS.sub("", str(t["content"])).strip()[:1200]}
        for t in history or []
        if isinstance(t, dict)
        and t.get("role") in ("user", "assistant")
        and str(t.get("content", "")).strip()
    ]
    return msgs[-2 * turns :]


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[dict[str, str]] | None = None,
    texts: Sequence[str] | None = None,
    query: str | None = None,
    few_shot: bool = False,
) -> Prompt:
    """Chat messages: the rules, the recent conversation, then the numbered sources, the question and the
    instructions (last, where a small model attends best). `query` is the standalone form of a follow-up,
    which a generator without a language model (extractive) matches sentences against."""
    texts = list(texts) if texts is not None else [source_text(h) for h in hits]
    blocks = "\n\n".join(
        f"{source_header(i, h)}\n{t}" for i, (h, t) in enumerate(zip(hits, texts, strict=True), start=1)
    )
    lang = detect_language(question)
    rules = INSTRUCTIONS.format(language=LANGUAGE_NAMES[lang])
    messages = [
        {"role": "system", "content": SYSTEM},
        *(FEW_SHOT if few_shot else []),
        *history_messages(history),
    ]
    messages.append({"role": "user", "content": f"{blocks}\n\nQuestion: {question}\n\n{rules}"})
    fixed = 1 + (len(FEW_SHOT) if few_shot else 0)  # the system message and the worked example
    return Prompt(messages=messages, question=query or question, sources=list(hits), fixed=fixed)
