"""The answer pipeline: retrieve, prompt, generate (streaming), and return citations that map to sources."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from searchchat.generators.base import Generator
from searchchat.prompt import build_prompt
from searchchat.retrieve import Filters, Retriever
from searchchat.settings import Settings
from searchchat.types import Answer, Citation, Hit, Sentence

_CITE = re.compile(r"\[(\d+)\]")


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def source_dict(n: int, hit: Hit) -> dict[str, Any]:
    c = hit.chunk
    return {"n": n, "url": hit.link, "title": c.title, "section": c.section, "snippet": snippet(c.text),
            "text": c.text, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "score": round(float(hit.score), 6)}  # fmt: skip


class Answerer:
    def __init__(self, retriever: Retriever, generator: Generator, settings: Settings) -> None:
        self.retriever, self.generator, self.settings = retriever, generator, settings

    def stream(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events: {"type": "sources", "sources": [...]}, {"type": "token", "text": ...}, then
        {"type": "final", "answer": Answer.to_dict()}."""
        t0 = time.perf_counter()
        result = self.retriever.search(question, k=k or self.settings.k, mode=mode, filters=filters)
        hits = result.hits
        retrieve_ms = (time.perf_counter() - t0) * 1000
        sources = [source_dict(i, h) for i, h in enumerate(hits, start=1)]
        yield {"type": "sources", "sources": sources, "query": question}
        t1 = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        if hits:
            prompt = build_prompt(question, hits, history)
            for piece in self.generator.stream(
                prompt, max_new_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature
            ):
                if first is None:
                    first = time.perf_counter()
                parts.append(piece)
                yield {"type": "token", "text": piece}
        text = "".join(parts).strip() or "The indexed documents do not answer this question."
        used = sorted({int(n) for n in _CITE.findall(text) if 1 <= int(n) <= len(hits)})
        text = _CITE.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(hits) else "", text)
        citations = [
            Citation(
                n=n,
                url=hits[n - 1].link,
                title=hits[n - 1].chunk.title,
                section=hits[n - 1].chunk.section,
                snippet=snippet(hits[n - 1].chunk.text),
            )  # fmt: skip
            for n in used
        ]
        end = time.perf_counter()
        answer = Answer(
            question=question,
            answer=text,
            citations=citations,
            sources=sources,
            abstained=not used,
            sentences=[Sentence(text=text, citations=used, supported=bool(used))],
            timings={
                "retrieve_ms": round(retrieve_ms, 1),
                "generate_ms": round((end - t1) * 1000, 1),
                "first_token_ms": round(((first or end) - t0) * 1000, 1),
                "total_ms": round((end - t0) * 1000, 1),
            },  # fmt: skip
            query=question,
        )
        yield {"type": "final", "answer": answer.to_dict()}

    def ask(self, question: str, **kwargs: Any) -> dict[str, Any]:
        final: dict[str, Any] = {}
        for event in self.stream(question, **kwargs):
            if event["type"] == "final":
                final = event["answer"]
        return final
