"""Follow-up questions: rewrite "and how big is it?" into a standalone query before retrieval.

With a language model the generator rewrites the question (checked, with the heuristic as fallback); without
one (extractive) the heuristic appends the key terms of the previous user question when the follow-up leans
on it (pronouns, "what about ...", or very few content words).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from searchchat.generators.base import Generator, Prompt
from searchchat.text import content_terms, words

# Words that point back into the conversation, in the languages the prompt knows (see language.ABSTAIN).
_ANAPHORA_TEXT = """it its it's they them their theirs this that these those he him his she her hers there such
    one ones former latter same above previous other others else also too more
    il elle ils elles ça cela ce cet cette ces lui leur leurs celui celle y en aussi
    es er sie ihn ihm ihr ihre dies diese dieser dieses das dem den davon damit auch
    él ella ellos ellas eso esto este esta lo la le les su sus también
    esso essa esso quello questa questo lui anche
    ele ela eles elas isso isto dele dela também
    het hij zij ze dat dit deze die ook"""
_ANAPHORA = frozenset(_ANAPHORA_TEXT.split())
# Openings that refer back by themselves. A plain "And ..." or "But ..." does not: "And what does BM25 use
# for scoring?" is standalone, and adding the previous question's words to it pulled the old topic back.
_LEADS = re.compile(
    r"^\s*(and |but )?(what about|how about|how come|et (pour|si)|und was ist mit|y (qué|que) "
    r"(hay )?de|e (quanto a|per)|en wat)\b",
    re.I,
)
REWRITE_SYSTEM = (
    "You rewrite a follow-up question from a conversation into one standalone search query that can be "
    "understood without the conversation. Replace pronouns with what they refer to. Keep the language of the "
    "follow-up question. Reply with the rewritten question only."
)
_GENERIC_TEXT = (
    "use used using uses work works working mean means meant called call make made get got happen happens"
)
_GENERIC = frozenset(_GENERIC_TEXT.split())  # verbs that say nothing about the topic
MIN_TERMS = 3  # a follow-up with fewer content words is treated as leaning on the conversation


def last_user_turns(history: Sequence[dict[str, str]] | None, n: int = 2) -> list[str]:
    turns = [
        str(t.get("content", "")) for t in history or [] if isinstance(t, dict) and t.get("role") == "user"
    ]
    return [t for t in turns if t.strip()][-n:]


def needs_rewrite(question: str, history: Sequence[dict[str, str]] | None) -> bool:
    """True when there is a previous question and this one leans on it."""
    if not last_user_turns(history):
        return False
    toks = [w.lower() for w in words(question)]
    return bool(
        any(t in _ANAPHORA for t in toks)
        or _LEADS.match(question)
        or len(content_terms(question)) < MIN_TERMS
    )


def heuristic_rewrite(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The follow-up followed by the previous question's key words that it does not already contain."""
    previous = last_user_turns(history, 1)
    if not previous or not needs_rewrite(question, history):
        return question
    have = content_terms(question)
    extra: list[str] = []
    for w in words(previous[0]):
        terms = content_terms(w)
        if w.lower() in _GENERIC or w.lower() in _ANAPHORA:
            continue
        if terms and not terms & have and w.lower() not in (e.lower() for e in extra):
            extra.append(w)
    return f"{question.strip()} ({' '.join(extra)})" if extra else question


def rewrite_prompt(question: str, history: Sequence[dict[str, str]]) -> Prompt:
    lines = []
    for t in history[-4:]:
        if isinstance(t, dict) and t.get("role") in ("user", "assistant") and t.get("content"):
            text = re.sub(r"\s*\[\d+\]", "", str(t["content"])).strip()
            lines.append(f"{t['role'].capitalize()}: {text[:600]}")
    convo = "\n".join(lines)
    user = f"Conversation:\n{convo}\n\nFollow-up question: {question}\n\nStandalone question:"
    return Prompt(
        messages=[{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": user}],
        question=question,
    )


def clean_rewrite(text: str, question: str) -> str | None:
    """The model's rewrite, or None when it is not a usable single question."""
    text = text.strip().splitlines()[0].strip() if text.strip() else ""
    text = re.sub(r"^(standalone question|rewritten question|question)\s*:\s*", "", text, flags=re.I)
    text = text.strip(" \"'\u201c\u201d`")
    if not text or len(text) > max(300, 3 * len(question)) or len(content_terms(text)) == 0:
        return None
    return text


def is_language_model(generator: Generator) -> bool:
    return bool(getattr(generator, "language_model", generator.name != "extractive"))


def rewrite(
    question: str, history: Sequence[dict[str, str]] | None, generator: Generator | None = None
) -> str:
    """A standalone query for `question` given the conversation `history` ([{"role", "content"}])."""
    if not needs_rewrite(question, history):
        return question
    assert history is not None
    if generator is not None and is_language_model(generator):
        try:
            raw = generator.generate(rewrite_prompt(question, history), max_new_tokens=48, temperature=0.0)
        except Exception:  # a failing rewrite must not fail the answer: fall back to the heuristic
            raw = ""
        cleaned = clean_rewrite(raw, question)
        if cleaned:
            return cleaned
    return heuristic_rewrite(question, history)
