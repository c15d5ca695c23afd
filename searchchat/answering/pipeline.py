"""The answer pipeline: rewrite a follow-up, retrieve, score the passages' sentences with the learned
answerability model, prompt under a token budget, stream the generation, verify every citation, and quote
the sources when the model's answer fails the check; the answer policy (policy.py) decides."""

from __future__ import annotations

import time
from collections.abc import Generator as Generator_
from collections.abc import Iterator
from contextlib import closing, nullcontext
from typing import Any

from indexer.embed import Embedder, checking_embedder
from indexer.store import ReadStore
from searchchat.answering.answerability import get_scorer
from searchchat.answering.choice import AnswerChooser
from searchchat.answering.cite import CitationChecker, Verified, sentence_spans
from searchchat.answering.events import AnswerEvent, Final, Rewrite, Sources, Token
from searchchat.answering.evidence import MIN_SENTENCE_CHARS, POOL, EvidenceReranker, sentence_scores
from searchchat.answering.grounding import ungrounded
from searchchat.answering.policy import (
    NO_RELEVANT_PASSAGE,
    NOT_ANSWERABLE,
    UNSUPPORTED,
    AnswerPolicy,
    get_policy,
)
from searchchat.answering.prompt import build_prompt, fit_sources, source_text
from searchchat.answering.rewrite import rewrite
from searchchat.answering.state import Candidate, Draft, Found, quote_text, snippet, whole_sentences
from searchchat.answering.windows import Spot, windows
from searchchat.generators.base import Generator
from searchchat.language import abstain_message
from searchchat.models.crossencoder import (
    JUDGE_DIR,
    Scorer,
    around,
    judge_shipped,
    load_model,
    pair_text,
    shipped,
)
from searchchat.retrieval.retriever import Filters, Retriever
from searchchat.settings import Settings
from searchchat.types import Answer, Citation, Hit, Sentence

# Whether the prompt carries prompt.FEW_SHOT's worked example (measured with bench/covidqa_prompt.py).
FEW_SHOT = True


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
        embedder = getattr(retriever, "embedder", None)
        if embedder is not None:
            embedder = checking_embedder(embedder, settings.embed_precision)
        self.checker = CitationChecker(embedder, relevance_margin=None, min_coverage=0.0)
        self.reads_cjk = bool(getattr(self.checker.embedder, "cjk", True))
        self.scorer = (
            scorer
            if scorer is not None
            else get_scorer(settings.answerability_model, self.checker.embed, self.reads_cjk)
        )
        self.judge: Scorer | None = None  # the answer choice's judge, loaded when a policy first asks
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
        spans = [sentence_spans(text) for text in texts]
        found: list[Candidate] = []
        for n, text in enumerate(texts, start=1):
            found.extend(Candidate(n, s, e, text[s:e], 0.0) for s, e in spans[n - 1]
                         if e - s >= MIN_SENTENCE_CHARS)  # fmt: skip
        if not found:
            return []
        if self.checker.embedder is not None:
            priors = sentence_scores(query, [c.text for c in found], self.checker.embed, self.reads_cjk)
            for c, prior in zip(found, priors, strict=True):
                c.prior = prior
        top = sorted(found, key=lambda c: (-c.prior, c.source, c.start))[: policy.candidates]

        def side(c: Candidate) -> str:  # what the scorer reads of a candidate (pair_text)
            n = c.source - 1
            near = around(texts[n], c.start, c.end, spans[n]) if self.scorer.context else ""
            return pair_text(hits[n].chunk.title, c.text, near)

        probs = self.scorer.score(query, [side(c) for c in top])
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
        store: ReadStore | None = None,
    ) -> Iterator[AnswerEvent]:
        """The answer's events (answer_events.py): Rewrite (only when a follow-up was rewritten), Sources,
        Preview (what the policy would quote), Token pieces of the raw
        generation, then Final with the checked Answer. `strict` overrides settings.strict for this question;
        `store` is the snapshot to search when the caller resolved it already (a web request)."""
        if not question or not question.strip():
            raise ValueError("the question is empty")
        policy = self.policy(strict)
        clock = [time.perf_counter()]
        query = rewrite(question, history, self.generator) if history else question
        clock.append(time.perf_counter())
        if query != question:
            yield Rewrite(query)
        found = self.retrieve(query, k or self.settings.k, mode, filters, policy, store)
        clock.append(time.perf_counter())
        yield Sources(found.sources, query)
        preview = found.preview(policy)
        if preview is not None:
            yield preview
        draft = Draft()
        if found.answerable:
            yield from self.generate(question, history, found, draft)
        clock.append(time.perf_counter())
        verified, kind = self.settle(question, found, draft.text, policy)
        yield Final(self.answer(question, found, draft, verified, kind, policy, clock))

    def retrieve(
        self,
        query: str,
        k: int,
        mode: str | None,
        filters: Filters | None,
        policy: AnswerPolicy,
        store: ReadStore | None = None,
    ) -> Found:
        """Search, order by evidence, keep what fits the prompt's budget, and score those passages' sentences."""
        pool = max(k, POOL) if self.evidence is not None else k
        result = self.retriever.search(query, k=pool, mode=mode, filters=filters, store=store,
                                       cap=self.settings.answer_per_doc_cap)  # fmt: skip
        if result.query_vector is not None and same_query_space(
            self.retriever.embedder, self.checker.embedder
        ):
            self.checker.remember(query, result.query_vector)  # each question is embedded once
        if self.evidence is not None:
            result.hits = self.evidence.rerank(query, result.hits)
        budget = fit_sources(result.hits[:k], self.settings.context_tokens, self.generator.count_tokens)
        hits, texts = budget.hits, budget.texts
        cands = self.candidates(query, hits, texts, policy) if hits else []
        return Found(query, hits, texts, cands, bool(hits) and policy.answers(cands[0].p if cands else 0.0))

    def generate(
        self, question: str, history: list[dict[str, str]] | None, found: Found, draft: Draft
    ) -> Iterator[Token]:
        """The model's answer, piece by piece, into `draft`; a consumer that stops early (a web client that
        went away) stops the generation too."""
        prompt = build_prompt(question, found.hits, history, texts=self.context(found.texts, found.cands),
                              query=found.query, few_shot=self.few_shot)  # fmt: skip
        stream = self.generator.stream(
            prompt, max_new_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature
        )
        with closing(stream) if isinstance(stream, Generator_) else nullcontext():
            for piece in stream:
                draft.add(piece)
                yield Token(piece)

    def settle(
        self, question: str, found: Found, raw: str, policy: AnswerPolicy
    ) -> tuple[Verified | None, str | None]:
        """The answer that stands and its kind: the model's checked answer, the quote, or (None, None)."""
        verified = (
            self._verify(
                raw,
                found.hits,
                found.texts,
                f"{question} {found.query}",
                found.allowed(policy),
                policy,
                found.cands,
            )  # fmt: skip
            if raw and found.answerable
            else None
        )
        kind: str | None = "generated" if verified is not None else None
        quote = found.quote(policy)
        if verified is not None and quote:
            kind = self.choose(question, found.hits, verified, quote, policy)
        if quote and kind != "generated":
            verified, kind = self.quoted(quote), "quote"
        return verified, kind

    def answer(
        self,
        question: str,
        found: Found,
        draft: Draft,
        verified: Verified | None,
        kind: str | None,
        policy: AnswerPolicy,
        clock: list[float],
    ) -> Answer:
        """The Answer: the text that stands with its citations, or "not found" with the reason."""
        hits, texts, raw = found.hits, found.texts, draft.text
        if verified is None:
            text = abstain_message(question)
            sentences, citations = [Sentence(text=text, citations=[], supported=True)], []
        else:
            text, sentences = verified.text, verified.sentences
            citations = [self._citation(n, hits[n - 1], texts[n - 1], verified.evidence.get(n, ""))
                         for n in verified.cited]  # fmt: skip
        t0, t_rw, t_ret, t_gen = clock
        end = time.perf_counter()
        timings = {"rewrite_ms": _ms(t_rw - t0), "retrieve_ms": _ms(t_ret - t_rw), "generate_ms": _ms(t_gen - t_ret),
                   "first_token_ms": _ms((draft.first or t_gen) - t0), "verify_ms": _ms(end - t_gen),
                   "total_ms": _ms(end - t0), "tokens": float(self.generator.count_tokens(raw)) if raw else 0.0}  # fmt: skip
        reason = None
        if verified is None:
            reason = (
                NO_RELEVANT_PASSAGE if not hits else NOT_ANSWERABLE if not found.answerable else UNSUPPORTED
            )
        return Answer(question=question, answer=text, citations=citations, sources=found.sources,
                      abstained=verified is None, sentences=sentences, timings=timings, query=found.query,
                      raw_answer=raw, changed=bool(raw) and (kind != "generated" or bool(verified and verified.changed)),
                      kind=kind, policy=policy.name, answerability=round(found.best, 4), reason=reason,
                      closest=self._closest(found, policy) if verified is None else None)  # fmt: skip

    def context(self, texts: list[str], cands: list[Candidate]) -> list[str]:
        """What the generator reads of each source: the whole text, or its evidence windows (settings.context).
        Citations are still checked against the whole text."""
        if self.settings.context != "windows":
            return texts
        spots = [Spot(c.source, c.start, c.end) for c in cands[: self.settings.window_sentences]]
        return windows(texts, spots, neighbours=self.settings.window_neighbours)

    def load_judge(self) -> Scorer:
        """The answer choice's judge: the shipped judge model (else the answerability model, else the scorer), loaded
        once; the web server calls this at start-up so that the first answer does not wait for it."""
        if self.judge is None:
            if judge_shipped():
                self.judge = load_model(str(JUDGE_DIR))
            else:
                self.judge = load_model() if shipped() else self.scorer
        return self.judge

    def choose(
        self, question: str, hits: list[Hit], verified: Verified, quote: list[Candidate], policy: AnswerPolicy
    ) -> str:
        """ "generated" or "quote": the policy's choice between the checked answer and the quote."""
        if policy.choice == "generated":
            return "generated"
        said = " ".join(s.text for s in verified.sentences if s.citations)
        title = hits[verified.cited[0] - 1].chunk.title if verified.cited else ""
        body = " ".join(c.text for c in quote)
        chooser = AnswerChooser(self.load_judge(), policy.choice, policy.choice_margin)
        return chooser.choose(question, (title, said), (hits[quote[0].source - 1].chunk.title, body)).kind

    @staticmethod
    def quoted(chosen: list[Candidate]) -> Verified:
        """The quote as a verified answer: the sentences as the source has them, cited to it."""
        n = chosen[0].source
        body = quote_text(chosen)
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

    def _closest(self, found: Found, policy: AnswerPolicy) -> Citation | None:
        """For "not found": the scorer's best sentence among those the evidence score finds close to the question
        (policy.closest_prior), read whole, as a citation; None when none is that close."""
        near = [c for c in found.cands if c.prior >= policy.closest_prior]
        if not near:
            return None
        n = near[0].source
        best = whole_sentences(near[:1], found.texts[n - 1])[0]
        return self._citation(n, found.hits[n - 1], found.texts[n - 1], best.text)

    @staticmethod
    def _citation(n: int, hit: Hit, text: str, evidence: str) -> Citation:
        """Citation n, with its evidence sentence and where it sits in the source's text (None if not found)."""
        c = hit.chunk
        start = text.find(evidence) if evidence else -1
        return Citation(n=n, url=hit.link, title=c.title, section=c.section,
                        snippet=snippet(evidence or source_text(hit)), quote=evidence or None,
                        start=start if start >= 0 else None, end=start + len(evidence) if start >= 0 else None)  # fmt: skip

    def ask(self, question: str, **kwargs: Any) -> dict[str, Any]:
        """The answer JSON (Answer.to_dict()) of `stream`'s Final event."""
        for event in self.stream(question, **kwargs):
            if isinstance(event, Final):
                return event.answer.to_dict()
        raise RuntimeError("the answer pipeline ended without a final answer")


def same_query_space(retrieval: Embedder | None, checking: Embedder | None) -> bool:
    """Whether retrieval's query vector is the one the answer checks would compute: the same embedder, which
    embeds a query as any other text (no query prefix, as e5 models have)."""
    return (
        checking is not None and retrieval is checking and type(checking).embed_query is Embedder.embed_query
    )
