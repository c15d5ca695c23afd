"""The answer pipeline: rewrite a follow-up, retrieve, check relevance, prompt under a token budget, stream
the generation, then verify every citation and abstain when the sources do not answer."""

from __future__ import annotations

import re
import time
from collections.abc import Generator as Generator_
from collections.abc import Iterator
from contextlib import closing, nullcontext
from typing import Any

from searchchat.cite import CitationChecker, Verified
from searchchat.clarify import broad_message, clarify_message, unnamed_reference
from searchchat.coverage import DocFreq, chance_matches, coverage
from searchchat.evidence import POOL, EvidenceReranker
from searchchat.generators.base import Generator
from searchchat.markers import neutralise
from searchchat.prompt import abstain_message, build_prompt, detect_language, fit_sources, source_text
from searchchat.retrieve import Filters, Retriever
from searchchat.rewrite import rewrite
from searchchat.settings import Settings
from searchchat.types import Answer, Citation, Hit, Sentence

# Abstain without generating when the best dense cosine between the query and any passage is below this.
# Calibrated for the packaged all-MiniLM-L6-v2 with bench/covidqa_abstain.py: at 0.30, 97.0% of 300 COVID-QA
# questions (COVID-QA index) and 35/35 demo questions (corpus/) pass, while 81.7% (COVID-QA index) and 100%
# (demo index) of 60 off-topic questions, and 63% / 88% of the other index's questions, are refused here; the
# ones that pass are left to the citation check (an answer from memory is unsupported, hence "not found").
# Other embedders use settings.min_score when it is set, and no gate otherwise.
DEFAULT_MIN_SCORE = 0.3
# Optional answer gates, off by default. Replayed on the first 53 questions of the 200-question COVID-QA run
# (python bench/covidqa_replay.py ... --min-support / --min-relevance), citation precision 0.553 without them:
# - MIN_ANSWER_SUPPORT, the best citation score an answer needs (cite.py's score; 0.70 lets a citation
#   stand): 0.80 -> 0.583, 0.90 -> 0.562. Wrong citations mostly copy a sentence of the wrong passage, which
#   supports it well, so this does not separate them.
# - MIN_QUESTION_RELEVANCE, the cosine an answer needs between the question and a cited evidence sentence:
#   0.50 -> 0.667 (58% abstention), 0.60 -> 0.762 (62% abstention): too many refusals to be a default.
MIN_ANSWER_SUPPORT = 0.0
MIN_QUESTION_RELEVANCE = 0.0
# Abstain without generating when the best passage's evidence score (evidence.py: best sentence cosine plus the
# lexical bonus) is below this. Off: replayed on 100 tuning questions (bench/covidqa_replay.py --min-evidence),
# 0.90 moved citation precision only from 0.506 to 0.525 (abstention 23% -> 42%), and from 0.712 to 0.744 with
# the citation relevance margin (50% -> 62%).
MIN_EVIDENCE = 0.0
# The same gate in strict mode (settings.strict). Chosen on those 100 tuning questions (replay --min-evidence,
# with the 0.05 relevance margin): 1.00 -> precision 0.774, 70% abstention; 1.05 -> 0.793, 72%; 1.10 -> 0.875,
# 77%; 1.15 -> 0.833, 88%.
STRICT_MIN_EVIDENCE = 1.1
# A broad question: more passages than BROAD_MAX_CHANCE would hold all of its distinctive words by chance
# (coverage.chance_matches), so its words do not say which document it means (1 is the natural bound, not a
# tuned one). Unless the best passage's title and section name its subject (hold TITLE_NAMES_SUBJECT of its IDF
# weight), it is answered only when a passage matches it as closely as strict mode asks of every question
# (STRICT_MIN_EVIDENCE); otherwise the reply asks to narrow it. Replayed on the recorded COVID-QA answers
# (bench/covidqa_replay.py, 0.05 margin), citation precision: 200 tuning questions 0.833 -> 0.839, the 200
# eval-qa ones 0.771 -> 0.811, the 200 fresh ones 0.761 -> 0.800 (the last two were looked at while designing
# this gate; bench/results/covidqa_broad.txt).
BROAD_MAX_CHANCE = 1.0
TITLE_NAMES_SUBJECT = 0.5
# Whether the prompt carries prompt.FEW_SHOT's worked example (measured with bench/covidqa_prompt.py).
FEW_SHOT = True
# What a model says when it declines (checked on the raw output, in the languages of prompt.ABSTAIN too).
_DECLINE = re.compile(
    r"(do(es)? not|don't|doesn't|cannot|can't|could not|unable to) (answer|contain|mention|provide|say|specify|"
    r"include|know|find|address|discuss)|no (relevant )?information|not (mentioned|provided|specified|stated|"
    r"found|available|in the sources)|ne répondent pas|beantworten diese|no responden|non rispondono|"
    r"não respondem|beantwoorden deze",
    re.IGNORECASE,
)


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


def declines(text: str) -> bool:
    return bool(_DECLINE.search(text))


# Questions whose answer is a quantity or a date: a reply without one does not answer them ("WHO declared a
# Public Health Emergency" for "When did WHO declare ...?"), however well a source supports it. English only.
_WANTS_QUANTITY = re.compile(
    r"^\s*(when\b|how (many|much|long|old|often|far|large|big|high|fast|soon)\b|(in )?(what|which) (year|month|"
    r"date|day|percentage|proportion|number|age|decade|century)\b)",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|dozen|half|once|twice|several|few|many|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|spring|summer|autumn|fall|winter|century|decade)\b",
    re.IGNORECASE,
)


def answers_question(question: str, sentences: list[Sentence]) -> bool:
    """False when the question asks for a quantity or a date and no cited sentence gives one."""
    if not _WANTS_QUANTITY.match(question):
        return True
    return any(s.citations and _QUANTITY.search(s.text) for s in sentences)


def _reason(abstained: bool, relevant: bool, unclear: bool) -> str | None:
    """Why an answer is "not found" (None when it is not)."""
    if not abstained:
        return None
    if unclear:
        return "ambiguous"
    return "unsupported" if relevant else "not_relevant"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Answerer:
    """One per process (the generator and embedder are loaded once); `stream` is safe to call repeatedly."""

    def __init__(
        self, retriever: Retriever, generator: Generator, settings: Settings, few_shot: bool = FEW_SHOT
    ) -> None:
        self.retriever, self.generator, self.settings = retriever, generator, settings
        self.few_shot = few_shot
        self.checker = CitationChecker(getattr(retriever, "embedder", None))
        name = str(getattr(self.checker.embedder, "name", "")).lower()
        # the packaged MiniLM, whose scores the gate thresholds were calibrated on (checked once, not per question)
        self._calibrated = "minilm" in re.sub(r"[-_]", "", name)
        # a configured cross-encoder keeps its order: evidence reranking would replace it
        self.evidence = (
            EvidenceReranker(self.checker.embed)
            if settings.evidence_rerank and self.checker.embedder is not None and not settings.reranker
            else None
        )

    # -- relevance gate ----------------------------------------------------------------------------
    def calibrated(self) -> bool:
        """True for the packaged MiniLM embedder, whose scores the gate thresholds were calibrated on."""
        return self._calibrated

    def min_score(self) -> float | None:
        if self.settings.min_score is not None:
            return self.settings.min_score
        return DEFAULT_MIN_SCORE if self.calibrated() else None

    def min_evidence(self, strict: bool | None = None) -> float:
        """The evidence score (evidence.py) the best passage needs before the model is asked at all."""
        return STRICT_MIN_EVIDENCE if (self.settings.strict if strict is None else strict) else MIN_EVIDENCE

    def best_dense_score(self, query: str, filters: Filters | None = None) -> float | None:
        """The highest cosine between the query and any passage the filters allow (None if unavailable)."""
        try:
            from searchchat.retrieve import allowed_chunks, dense_search

            store = self.retriever.store
            allowed = allowed_chunks(store, filters) if filters else None
            top = dense_search(store, self.retriever.embedder.embed_query(query), 1, allowed)
        except (AttributeError, NotImplementedError):
            return None
        return float(top[0][1]) if top else None

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
        "sources": [...], "query"}, {"type": "token", "text"} pieces of the raw generation, then {"type": "final",
        "answer"}: Answer.to_dict() with the verified text, citations and sentences, plus "raw_answer" (what
        was streamed), "changed" (the check altered it), "relevance" (best dense cosine, or None) and "reason" (why
        it abstained: "not_relevant", no passage matches closely enough, nothing generated; "ambiguous", the
        question says "this study", or is too broad to single out a document (too_broad), and the passages come
        from several documents; "unsupported", the model's answer did not hold up; None when it answered).
        `strict` overrides settings.strict for this question."""
        if not question or not question.strip():
            raise ValueError("the question is empty")
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
        result.hits = result.hits[:k]
        threshold = self.min_score()
        best = self.best_dense_score(query, filters) if threshold is not None and result.hits else None
        relevant = bool(result.hits) and (best is None or threshold is None or best >= threshold)
        if (
            relevant
            and self.evidence is not None
            and self.calibrated()
            and result.hits[0].score < self.min_evidence(strict)
        ):
            relevant = False  # no passage matches the question closely enough: "not found" without generating
        # "this study" with passages from several documents: ask which one rather than answer from any of them
        unnamed = (
            unnamed_reference(query) if relevant and len({h.chunk.doc_id for h in result.hits}) > 1 else None
        )
        if unnamed:
            relevant = False
        broad = (
            relevant
            and self.evidence is not None
            and self.calibrated()
            and result.hits[0].score < STRICT_MIN_EVIDENCE
            and self.too_broad(query, result.hits)
        )
        if broad:
            relevant = False
        budget = fit_sources(result.hits, self.settings.context_tokens, self.generator.count_tokens)
        hits, texts = (
            (budget.hits, budget.texts) if relevant else (result.hits, [source_text(h) for h in result.hits])
        )
        sources = [source_dict(i, h, t) for i, (h, t) in enumerate(zip(hits, texts, strict=True), start=1)]
        t_ret = time.perf_counter()
        yield {"type": "sources", "sources": sources, "query": query}

        first: float | None = None
        parts: list[str] = []
        if relevant:
            prompt = build_prompt(question, hits, history, texts=texts, query=query, few_shot=self.few_shot)
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

        verified = self._verify(raw, hits, texts, f"{question} {query}", query) if raw and relevant else None
        abstained = verified is None or not verified.cited
        if abstained:
            text = (
                clarify_message(unnamed)
                if unnamed
                else broad_message()
                if broad
                else abstain_message(question)
            )
            sentences, citations = [], []
        else:
            assert verified is not None
            text, sentences = verified.text, verified.sentences
            citations = [self._citation(n, hits[n - 1], verified.evidence.get(n, "")) for n in verified.cited]
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
        final["changed"] = bool(raw) and (verified.changed if verified and not abstained else raw != text)
        final["relevance"] = round(best, 4) if best is not None else None  # best dense cosine, when checked
        final["reason"] = _reason(abstained, relevant, bool(unnamed) or broad)
        yield {"type": "final", "answer": final}

    def _verify(
        self, raw: str, hits: list[Hit], texts: list[str], question: str, query: str | None = None
    ) -> Verified | None:
        """The verified answer, or None when it should be an abstention (the model declined, or no sentence
        of its answer is supported by a source). `query` is the standalone question that retrieval used."""
        # the relevance margin is in MiniLM's units (cite.RELEVANCE_MARGIN): other embedders rerank but are not gated
        relevance = [h.score for h in hits] if self.evidence is not None and self.calibrated() else None
        headers = [_header(h) for h in hits]
        coverage = self.coverage(query or question, headers, texts)
        verified = self.checker.verify(raw, texts, headers, question, relevance, coverage)
        if not any(s.citations and not declines(s.text) for s in verified.sentences):
            return None
        if not answers_question(question, verified.sentences):
            return None
        if max(verified.support.values(), default=0.0) < MIN_ANSWER_SUPPORT:
            return None
        if (
            MIN_QUESTION_RELEVANCE > 0
            and self.question_relevance(question, verified) < MIN_QUESTION_RELEVANCE
        ):
            return None
        return verified

    def doc_freq(self) -> DocFreq | None:
        """The index's BM25 document frequencies, when it has a lexical index."""
        try:
            from searchchat.lexical import lexical_index

            return lexical_index(self.retriever.store).doc_freq
        except (AttributeError, FileNotFoundError, NotImplementedError):
            return None

    def too_broad(self, query: str, hits: list[Hit]) -> bool:
        """True when the question's words do not single out a document (BROAD_MAX_CHANCE), the passages come
        from several documents, and the best one's title and section do not name the question's subject (hold
        most of its IDF weight: "What is robots.txt used for?" beside a page titled robots.txt). English only,
        like the coverage gate."""
        if len({h.chunk.doc_id for h in hits}) < 2 or detect_language(query) != "en":
            return False
        doc_freq = self.doc_freq()
        if doc_freq is None or chance_matches(query, doc_freq) <= BROAD_MAX_CHANCE:
            return False
        return coverage(query, [_header(hits[0])], doc_freq)[0] < TITLE_NAMES_SUBJECT

    def coverage(self, query: str, headers: list[str], texts: list[str]) -> list[float] | None:
        """Each source's question coverage (coverage.py), IDF-weighted by the index's BM25 statistics when it
        has them; None when the citation check does not gate on it (off, or a question not in English: the
        words of a French question are not those of the English passages that answer it)."""
        if self.checker.min_coverage <= 0 or detect_language(query) != "en":
            return None
        sources = [f"{h}\n{t}" for h, t in zip(headers, texts, strict=True)]
        return coverage(query, sources, self.doc_freq())

    def question_relevance(self, question: str, verified: Verified) -> float:
        """The best cosine between the question and the evidence sentence of a shown citation."""
        evidence = [verified.evidence[n] for n in verified.cited if verified.evidence.get(n)]
        if not evidence or self.checker.embedder is None:
            return 1.0
        vecs = self.checker.embed([question, *evidence])
        return float((vecs[1:] @ vecs[0]).max())

    @staticmethod
    def _citation(n: int, hit: Hit, evidence: str) -> Citation:
        c = hit.chunk
        return Citation(n=n, url=hit.link, title=c.title, section=c.section,
                        snippet=snippet(evidence or source_text(hit)))  # fmt: skip

    def ask(self, question: str, **kwargs: Any) -> dict[str, Any]:
        """The final answer dict of `stream`."""
        final: dict[str, Any] = {}
        for event in self.stream(question, **kwargs):
            if event["type"] == "final":
                final = event["answer"]
        return final
