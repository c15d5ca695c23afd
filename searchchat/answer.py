"""The answer pipeline: rewrite a follow-up, retrieve, score the passages' sentences with the learned
answerability model, prompt under a token budget, stream the generation, verify every citation, and quote
the sources when the model's answer fails the check; the answer policy (policy.py) decides."""

from __future__ import annotations

import time
from collections.abc import Generator as Generator_
from collections.abc import Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import Any

from searchchat.answerability import Scorer, get_scorer, pair_text
from searchchat.cite import CitationChecker, Verified, sentence_spans
from searchchat.evidence import MIN_SENTENCE_CHARS, POOL, EvidenceReranker, sentence_scores
from searchchat.generators.base import Generator
from searchchat.grounding import ungrounded
from searchchat.language import abstain_message
from searchchat.markers import neutralise
from searchchat.policy import NO_RELEVANT_PASSAGE, NOT_ANSWERABLE, UNSUPPORTED, AnswerPolicy, get_policy
from searchchat.prompt import build_prompt, fit_sources, source_text
from searchchat.retrieve import Filters, Retriever
from searchchat.rewrite import rewrite
from searchchat.settings import Settings
from searchchat.types import Answer, Citation, Hit, Sentence
from searchchat.windows import Spot, windows

# Whether the prompt carries prompt.FEW_SHOT's worked example (measured with bench/covidqa_prompt.py).
FEW_SHOT = True


@dataclass
class Candidate:
    """A sentence of a source that may answer the question, located in the text the model was given."""

    source: int  # 1-based source number
    start: int
    end: int
    text: str
    prior: float  # the evidence reranker's score (cosine plus lexical bonus): which sentences get scored
    p: float = 0.0  # the answerability model's probability that it answers the question


def snippet(text: str, limit: int = 240) -> str:
    text = " ".join(neutralise(text).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def source_dict(n: int, hit: Hit, text: str | None = None) -> dict[str, Any]:
    """A source as the JSON shows it; `text` is what the model was given (reference markers removed)."""
    c = hit.chunk
    text = source_text(hit) if text is None else text
    return {"n": n, "url": hit.link, "title": c.title, "section": c.section, "snippet": snippet(text),
            "text": text, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "score": round(float(hit.score), 6)}  # fmt: skip


def _header(hit: Hit) -> str:
    """A source's title and section: names often sit there, so the citation check counts them."""
    return "\n".join(x for x in (hit.chunk.title, hit.chunk.section) if x)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Answerer:
    """One per process (the generator and embedder are loaded once); `stream` is safe to call repeatedly."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        settings: Settings,
        few_shot: bool = FEW_SHOT,
        scorer: Scorer | None = None,
        policy: AnswerPolicy | None = None,
    ) -> None:
        self.retriever, self.generator, self.settings = retriever, generator, settings
        self.few_shot = few_shot
        self.fixed_policy = policy  # calibration runs fix one; otherwise the settings pick a profile
        self.checker = CitationChecker(
            getattr(retriever, "embedder", None), relevance_margin=None, min_coverage=0.0
        )
        self.reads_cjk = bool(getattr(self.checker.embedder, "cjk", True))
        self.scorer = (
            scorer
            if scorer is not None
            else get_scorer(settings.answerability_model, self.checker.embed, self.reads_cjk)
        )
        # a configured cross-encoder keeps its order: evidence reranking would replace it
        self.evidence = (
            EvidenceReranker(self.checker.embed, reads_cjk=self.reads_cjk)
            if settings.evidence_rerank and self.checker.embedder is not None and not settings.reranker
            else None
        )

    def policy(self, strict: bool | None = None) -> AnswerPolicy:
        if self.fixed_policy is not None:
            return self.fixed_policy
        return get_policy(
            self.settings.answer_policy,
            self.settings.strict if strict is None else strict,
            scale=getattr(self.scorer, "scale", "evidence"),
        )

    def candidates(
        self, query: str, hits: list[Hit], texts: list[str], policy: AnswerPolicy
    ) -> list[Candidate]:
        """The policy's share of the sources' sentences, best by evidence score, scored by the answerability
        model; best first."""
        found: list[Candidate] = []
        for n, text in enumerate(texts, start=1):
            found.extend(Candidate(n, s, e, text[s:e], 0.0) for s, e in sentence_spans(text)
                         if e - s >= MIN_SENTENCE_CHARS)  # fmt: skip
        if not found:
            return []
        if self.checker.embedder is not None:
            priors = sentence_scores(query, [c.text for c in found], self.checker.embed, self.reads_cjk)
            for c, prior in zip(found, priors, strict=True):
                c.prior = prior
        top = sorted(found, key=lambda c: (-c.prior, c.source, c.start))[: policy.candidates]
        probs = self.scorer.score(query, [pair_text(hits[c.source - 1].chunk.title, c.text) for c in top])
        for c, p in zip(top, probs, strict=True):
            c.p = float(p)
        return sorted(top, key=lambda c: (-c.p, c.source, c.start))

    # -- the pipeline ------------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        strict: bool | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events: {"type": "rewrite", "query"} (only when a follow-up was rewritten), {"type": "sources",
        "sources": [...], "query"}, {"type": "preview", "source", "quote", "start", "end", "score"} (the best evidence
        sentence, when the policy would quote it: something to read before the model's first word),
        {"type": "token", "text"} pieces of the raw generation, then {"type": "final",
        "answer"}: Answer.to_dict() with the verified text, citations and sentences, plus "raw_answer" (what
        was streamed), "changed" (the check altered it), "kind" ("generated", "quote": the best evidence
        sentence quoted because the model's answer failed the check, or None), "answerability" (the best
        sentence's probability) and "reason" (policy.REASONS, None when it answered). `strict` overrides
        settings.strict for this question."""
        if not question or not question.strip():
            raise ValueError("the question is empty")
        policy = self.policy(strict)
        t0 = time.perf_counter()
        query = rewrite(question, history, self.generator) if history else question
        t_rw = time.perf_counter()
        if query != question:
            yield {"type": "rewrite", "query": query}
        k = k or self.settings.k
        pool = max(k, POOL) if self.evidence is not None else k
        result = self.retriever.search(query, k=pool, mode=mode, filters=filters)
        if self.evidence is not None:
            result.hits = self.evidence.rerank(query, result.hits)
        budget = fit_sources(result.hits[:k], self.settings.context_tokens, self.generator.count_tokens)
        hits, texts = budget.hits, budget.texts
        cands = self.candidates(query, hits, texts, policy) if hits else []
        best = cands[0].p if cands else 0.0
        per_source = [
            max((c.p for c in cands if c.source == n), default=0.0) for n in range(1, len(hits) + 1)
        ]
        answerable = bool(hits) and policy.answers(best)
        sources = [source_dict(i, h, t) for i, (h, t) in enumerate(zip(hits, texts, strict=True), start=1)]
        t_ret = time.perf_counter()
        yield {"type": "sources", "sources": sources, "query": query}
        if (
            answerable and cands and cands[0].p >= policy.quote_min
        ):  # the top passage, before the model writes
            top = cands[0]
            yield {"type": "preview", "source": top.source, "quote": top.text,
                   "start": top.start, "end": top.end, "score": round(top.p, 4)}  # fmt: skip

        first: float | None = None
        parts: list[str] = []
        if answerable:
            prompt = build_prompt(question, hits, history, texts=self.context(texts, cands), query=query,
                                  few_shot=self.few_shot)  # fmt: skip
            stream = self.generator.stream(
                prompt, max_new_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature
            )
            # a consumer that stops early (a web client that went away) stops the generation too
            with closing(stream) if isinstance(stream, Generator_) else nullcontext():
                for piece in stream:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(piece)
                    yield {"type": "token", "text": piece}
        t_gen = time.perf_counter()
        raw = "".join(parts).strip()

        allowed = {n for n, p in enumerate(per_source, start=1) if p >= policy.cite_min}
        verified = (
            self._verify(raw, hits, texts, f"{question} {query}", allowed, policy, cands)
            if raw and answerable
            else None
        )
        kind: str | None = "generated" if verified is not None else None
        quote = self.quote(cands, policy) if answerable and verified is None else []
        if verified is None and quote:
            verified, kind = self.quoted(quote), "quote"
        abstained = verified is None
        if verified is None:
            text, sentences, citations = abstain_message(question), [], []
        else:
            text, sentences = verified.text, verified.sentences
            citations = [
                self._citation(n, hits[n - 1], texts[n - 1], verified.evidence.get(n, ""))
                for n in verified.cited
            ]
        end = time.perf_counter()
        answer = Answer(
            question=question,
            answer=text,
            citations=citations,
            sources=sources,
            abstained=abstained,
            sentences=sentences if not abstained else [Sentence(text=text, citations=[], supported=True)],
            timings={
                "rewrite_ms": _ms(t_rw - t0),
                "retrieve_ms": _ms(t_ret - t_rw),
                "generate_ms": _ms(t_gen - t_ret),
                "first_token_ms": _ms((first or t_gen) - t0),
                "verify_ms": _ms(end - t_gen),
                "total_ms": _ms(end - t0),
                "tokens": float(self.generator.count_tokens(raw)) if raw else 0.0,
            },
            query=query,
        )
        final = answer.to_dict()
        final["raw_answer"] = raw
        final["changed"] = bool(raw) and (kind != "generated" or bool(verified and verified.changed))
        final["kind"] = kind
        final["policy"] = policy.name
        final["answerability"] = round(best, 4)
        final["reason"] = None if not abstained else (
            NO_RELEVANT_PASSAGE if not hits else NOT_ANSWERABLE if not answerable else UNSUPPORTED
        )  # fmt: skip
        yield {"type": "final", "answer": final}

    def context(self, texts: list[str], cands: list[Candidate]) -> list[str]:
        """What the generator reads of each source: the whole text, or its evidence windows (settings.context).
        Citations are still checked against the whole text."""
        if self.settings.context != "windows":
            return texts
        spots = [Spot(c.source, c.start, c.end) for c in cands[: self.settings.window_sentences]]
        return windows(texts, spots, neighbours=self.settings.window_neighbours)

    @staticmethod
    def quote(cands: list[Candidate], policy: AnswerPolicy) -> list[Candidate]:
        """The sentences to quote when the model's answer failed: the best one, and the next of the same
        source when it is as sure (a two-sentence answer), if the best is sure enough."""
        if not cands or cands[0].p < policy.quote_min:
            return []
        chosen = [cands[0]]
        for c in cands[1 : policy.quote_sentences]:
            if c.p >= policy.quote_min and c.source == cands[0].source:
                chosen.append(c)
        return sorted(chosen, key=lambda c: c.start)

    @staticmethod
    def quoted(chosen: list[Candidate]) -> Verified:
        """The quote as a verified answer: the sentences as the source has them, cited to it."""
        n = chosen[0].source
        body = " ".join(" ".join(c.text.split()) for c in chosen)
        text = f"\u201c{body}\u201d [{n}]"
        return Verified(text=text, sentences=[Sentence(text=body, citations=[n], supported=True)], cited=[n],
                        changed=True, evidence={n: chosen[0].text}, support={n: chosen[0].p})  # fmt: skip

    def _verify(
        self,
        raw: str,
        hits: list[Hit],
        texts: list[str],
        question: str,
        allowed: set[int],
        policy: AnswerPolicy,
        cands: list[Candidate] | None = None,
    ) -> Verified | None:
        """The model's answer with the citations that hold (only to `allowed` sources), or None when no
        sentence of it is supported, when the answerability model finds that what it says does not answer
        the question (a model that declines, or answers a neighbouring question), or when it adds words,
        numbers or signs its evidence does not hold (policy.grounding)."""
        headers = [_header(h) for h in hits]
        verified = self.checker.verify(raw, texts, headers, question, allowed=allowed)
        cited = [s for s in verified.sentences if s.citations]
        if not cited:
            return None
        said = " ".join(s.text for s in cited)
        title = hits[cited[0].citations[0] - 1].chunk.title
        if self.scorer.score(question, [pair_text(title, said)])[0] < policy.cite_min:
            return None
        if policy.grounding != "off":
            sources = set(verified.cited)
            if policy.grounding == "evidence":
                held = [c.text for c in cands or [] if c.source in sources and c.p >= policy.cite_min]
            else:
                held = [texts[n - 1] for n in sources]
            held += [headers[n - 1] for n in sources]
            if ungrounded(" ".join(s.text for s in verified.sentences), question, held):
                return None
        return verified

    @staticmethod
    def _citation(n: int, hit: Hit, text: str, evidence: str) -> Citation:
        """Citation n, with its evidence sentence and where it sits in the source's text (None if not found)."""
        c = hit.chunk
        start = text.find(evidence) if evidence else -1
        return Citation(n=n, url=hit.link, title=c.title, section=c.section,
                        snippet=snippet(evidence or source_text(hit)), quote=evidence or None,
                        start=start if start >= 0 else None, end=start + len(evidence) if start >= 0 else None)  # fmt: skip

    def ask(self, question: str, **kwargs: Any) -> dict[str, Any]:
        """The final answer dict of `stream`."""
        final: dict[str, Any] = {}
        for event in self.stream(question, **kwargs):
            if event["type"] == "final":
                final = event["answer"]
        return final
