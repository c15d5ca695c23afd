"""Prompt building: numbered sources with titles and sections, and the rules for answering from them."""

from __future__ import annotations

from searchchat.generators.base import Prompt
from searchchat.types import Hit

SYSTEM = (
    "You answer questions using only the numbered sources given to you. "
    "Cite every claim with the number of the source that supports it, like [1] or [2]. "
    "If the sources do not contain the answer, say that the indexed documents do not answer the question. "
    "Do not use outside knowledge. Be concise: two to four sentences."
)


def format_source(n: int, hit: Hit) -> str:
    c = hit.chunk
    head = f"[{n}] {c.title}" + (f" — {c.section}" if c.section else "")
    return f"{head}\n{c.text.strip()}"


def build_prompt(question: str, hits: list[Hit], history: list[dict[str, str]] | None = None) -> Prompt:
    sources = "\n\n".join(format_source(i, h) for i, h in enumerate(hits, start=1))
    messages = [{"role": "system", "content": SYSTEM}]
    for turn in history or []:
        if turn.get("role") in ("user", "assistant") and turn.get("content"):
            messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"})
    return Prompt(messages=messages, question=question, sources=list(hits))
