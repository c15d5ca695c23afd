"""Citation verification: every sentence of an answer is checked against the sources, and only the
citations that a source really supports are shown.

Support of a sentence by a source combines
- a lexical part: the share of the sentence's content words (stemmed, stopwords dropped) found in the source;
- a semantic part: the best cosine between the sentence and the source's sentences (or the whole source),
  with the embedder the index uses (only for sources with some lexical overlap: the others cannot pass);
- hard gates: every number and every name (capitalised word, acronym, alphanumeric token such as HIV-1) of the
  sentence must occur in the source. A sentence whose number is not in a source is not supported by it.

score = LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * semantic. A citation [n] is kept when the score of
source n is at least SUPPORT_THRESHOLD; an uncited claim (or one whose citations all failed) gets the best
source when that source scores at least ADD_THRESHOLD; a claim no source supports is marked unsupported. A
sentence that claims nothing (too few content words, or a restatement of the question) gets no citation.
The values were calibrated on COVID-QA with bench/covidqa_calibrate.py (figures at the constants below).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.embed import Embedder
from searchchat.answering.claims import compact, names, negated
from searchchat.answering.sentences import parse_markers, with_markers
from searchchat.markers import neutralise
from searchchat.text import content_terms, numbers, sentence_spans, split_sentences, words
from searchchat.types import Sentence

# Provenance of each constant, with the calibration figures: docs/tuning.md ("searchchat/answering/cite.py").
LEXICAL_WEIGHT = 0.75  # bench/covidqa_calibrate.py, 2,327 COVID-QA claim pairs: best F1 near 0.75-1.0
SUPPORT_THRESHOLD = 0.70  # the same pairs: precision 0.957, recall 0.870
ADD_THRESHOLD = 0.70  # adding a citation uses the support threshold
MIN_CLAIM_TERMS = 3  # a sentence with fewer content words and no number or name claims nothing to check
MIN_NEW_TERMS = 1  # content words beyond the question's that make a sentence more than a restatement of it
LEXICAL_FLOOR = 0.2  # below this share of its content words in a source, a claim is not compared semantically
ANSWER_FLOOR = 0.5  # a source must hold half of what the answer adds to the question
BEST_MARGIN = 0.15  # a passing source this far below the best one gives way to it
RELEVANCE_MARGIN: float | None = 0.05  # bench/covidqa_replay.py --margin, 100 COVID-QA tuning questions
MIN_COVERAGE = 0.5  # bench/covidqa_replay.py --min-coverage, 200 COVID-QA tuning questions
SECOND_SOURCE_COVERAGE = 0.8  # bench/results/covidqa_second_source.txt

# The text features and sentence tools this module was once home to, for the modules that import them from here.
__all__ = [
    "CitationChecker", "Support", "Verified", "compact", "content_terms", "names", "negated", "numbers",
    "parse_markers", "sentence_spans", "split_sentences", "with_markers", "words",
]  # fmt: skip


@dataclass
class Support:
    """How well one source supports one sentence."""

    lexical: float
    semantic: float
    # numbers and names of the sentence absent from the source (those of the question are not checked)
    missing: list[str] = field(default_factory=list)
    evidence: str = ""  # the source sentence closest to the claim
    answer_share: float = (
        1.0  # share of the content words the sentence adds to the question found in the source
    )

    @property
    def score(self) -> float:
        if self.missing or self.answer_share < ANSWER_FLOOR:
            return 0.0
        return LEXICAL_WEIGHT * self.lexical + (1 - LEXICAL_WEIGHT) * self.semantic


@dataclass
class Verified:
    """The answer rebuilt with verified citations, sentence by sentence."""

    text: str
    sentences: list[Sentence]
    cited: list[int]
    changed: bool  # citations were dropped, added or renumbered by the check
    evidence: dict[int, str] = field(
        default_factory=dict
    )  # source n -> its sentence closest to what cites it
    support: dict[int, float] = field(default_factory=dict)  # source n -> best score of a sentence citing it

    @property
    def claims(self) -> int:
        return sum(1 for s in self.sentences if s.citations or not s.supported)

    @property
    def supported_claims(self) -> int:
        return sum(1 for s in self.sentences if s.citations)


# -- the checker -------------------------------------------------------------------------------------
class CitationChecker:
    """Scores sentences against sources and rebuilds an answer with only the citations that hold."""

    def __init__(
        self,
        embedder: Embedder | None,
        support_threshold: float = SUPPORT_THRESHOLD,
        add_threshold: float = ADD_THRESHOLD,
        cache_size: int = 20000,
        relevance_margin: float | None = RELEVANCE_MARGIN,
        min_coverage: float = MIN_COVERAGE,
        second_coverage: float = SECOND_SOURCE_COVERAGE,
    ) -> None:
        self.embedder = embedder
        self.min_coverage = min_coverage
        self.second_coverage = second_coverage
        self.support_threshold = support_threshold
        self.add_threshold = add_threshold
        self.relevance_margin = relevance_margin
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def remember(self, text: str, vector: np.ndarray) -> None:
        """Keep a vector computed elsewhere with this checker's embedder (retrieval's query vector), so that
        the text is not embedded again."""
        self._cache[text] = np.asarray(vector, dtype=np.float32)
        self._cache.move_to_end(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts` (cached per process: source sentences recur across questions)."""
        if self.embedder is None:
            return np.zeros((len(texts), 1), dtype=np.float32)
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._cache[t] = v
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        for t in texts:
            self._cache.move_to_end(t)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

    def supports(
        self,
        claims: Sequence[str],
        sources: Sequence[str],
        headers: Sequence[str] | None = None,
        question: str = "",
    ) -> list[list[Support]]:
        """support[i][j]: how well source j supports claim i. `headers[j]` (title, section) counts for the
        lexical part and the gates but is not a sentence of the source. Numbers and names that the question
        already has are the user's words, not the model's claims: they are not gated (a source may spell
        "COVID-19" as "the new coronavirus"). Only the sources that pass a claim's gates with some lexical
        overlap (LEXICAL_FLOOR) are embedded: the rest cannot reach a threshold."""
        sources = [neutralise(s) for s in sources]
        full = [f"{h}\n{s}" for h, s in zip(headers, sources, strict=True)] if headers else sources
        terms = [content_terms(s) for s in full]
        compacted = [compact(s) for s in full]
        nums = [numbers(s) for s in full]
        lowered = [s.lower() for s in full]
        q_terms, q_nums, q_text = content_terms(question), numbers(question), question.lower()
        rows: list[list[Support]] = []
        for claim in claims:
            c_terms = content_terms(claim)
            c_nums = numbers(claim) - q_nums
            c_names = {n for n in names(claim) if n not in q_text}
            added = c_terms - q_terms
            row = []
            for j in range(len(sources)):
                lexical = len(c_terms & terms[j]) / len(c_terms) if c_terms else 0.0
                share = len(added & terms[j]) / len(added) if added else 1.0
                missing = sorted(n for n in c_nums if n not in nums[j])
                missing += sorted(
                    n for n in c_names if n not in lowered[j] and compact(n) not in compacted[j]
                )
                row.append(Support(lexical, 0.0, missing, answer_share=share))
            rows.append(row)
        wanted = sorted(
            {
                j
                for row in rows
                for j, sup in enumerate(row)
                if not sup.missing and sup.lexical >= LEXICAL_FLOOR and sup.answer_share >= ANSWER_FLOOR
            }
        )
        if not wanted or self.embedder is None:
            return rows
        groups = {j: [x for x in split_sentences(sources[j]) if len(x) > 15] or [sources[j]] for j in wanted}
        texts = list(claims) + [sources[j] for j in wanted] + [x for j in wanted for x in groups[j]]
        vecs = self.embed(texts)
        c_vec = vecs[: len(claims)]
        pos = len(claims) + len(wanted)
        for w, j in enumerate(wanted):
            whole = c_vec @ vecs[len(claims) + w]
            sent = c_vec @ vecs[pos : pos + len(groups[j])].T
            pos += len(groups[j])
            for i, row in enumerate(rows):
                best = int(sent[i].argmax())
                row[j].semantic = max(float(whole[i]), float(sent[i, best]), 0.0)
                row[j].evidence = groups[j][best]
        return rows

    def verify(
        self,
        answer: str,
        sources: Sequence[str],
        headers: Sequence[str] | None = None,
        question: str = "",
        relevance: Sequence[float] | None = None,
        coverage: Sequence[float] | None = None,
        allowed: set[int] | None = None,
    ) -> Verified:
        """Check each sentence of `answer` against `sources` (source n is sources[n - 1]; `headers[n - 1]` its
        title and section). With `question`, sentences that only restate it are not claims. With `relevance`
        (one score per source), only sources within relevance_margin of the best may be cited; with `coverage`
        (one question coverage per source), only those with at least min_coverage; with `allowed`, only those."""
        eligible = self._eligible(len(sources), relevance, coverage)
        if allowed is not None:
            eligible &= allowed
        spans = sentence_spans(answer)
        parsed = [parse_markers(answer[s:e]) for s, e in spans]
        claims = [clean for clean, _ in parsed]
        rows = (
            self.supports(claims, sources, headers, question) if claims and sources else [[] for _ in claims]
        )
        sentences: list[Sentence] = []
        evidence: dict[int, str] = {}
        support: dict[int, float] = {}
        pieces: list[str] = []
        changed = False
        pos = 0
        for (s, e), (clean, cited), row in zip(spans, parsed, rows, strict=True):
            kept = self._decide(clean, cited, row, question, eligible)
            changed |= kept != cited
            for n in kept:
                evidence.setdefault(n, row[n - 1].evidence)
                support[n] = max(support.get(n, 0.0), row[n - 1].score)
            is_claim = self.is_claim(clean, question)
            sentences.append(Sentence(text=clean, citations=kept, supported=bool(kept) or not is_claim))
            pieces.append(answer[pos:s])
            pieces.append(with_markers(clean, kept))
            pos = e
        pieces.append(answer[pos:])
        text = "".join(pieces).strip()
        cited_all = sorted({n for s in sentences for n in s.citations})
        return Verified(text=text, sentences=sentences, cited=cited_all, changed=changed, evidence=evidence,
                        support=support)  # fmt: skip

    @staticmethod
    def is_claim(sentence: str, question: str = "") -> bool:
        """True when the sentence states something a source must support: enough content words, or a number
        or a name, and (given the question) something beyond restating it. "China built a hospital in Wuhan"
        for "How long did it take China to build the hospital in Wuhan?" answers nothing, so it gets no
        citation; an answer made only of such sentences is an abstention."""
        terms, nums, nams = content_terms(sentence), numbers(sentence), names(sentence)
        if len(terms) < MIN_CLAIM_TERMS and not nums and not nams:
            return False
        if not question:
            return True
        new_terms = terms - content_terms(question)
        if len(new_terms) >= MIN_NEW_TERMS or nums - numbers(question) or nams - names(question):
            return True
        return negated(sentence) != negated(question)  # "ChatGPT is not a GAN" answers "Is ChatGPT a GAN?"

    def _eligible(
        self, count: int, relevance: Sequence[float] | None, coverage: Sequence[float] | None = None
    ) -> set[int]:
        """The source numbers that may be cited: all, or those close enough to the most relevant and that
        cover enough of the question (SECOND_SOURCE_COVERAGE for any but the most relevant)."""
        allowed = set(range(1, count + 1))
        scores = list(relevance) if relevance is not None and len(relevance) == count else []
        if scores and self.relevance_margin is not None:
            floor = max(scores) - self.relevance_margin
            allowed = {n for n in allowed if scores[n - 1] >= floor}
        if coverage is not None and self.min_coverage > 0 and len(coverage) == count:
            allowed = {n for n in allowed if coverage[n - 1] >= self.min_coverage}
            if scores and allowed:  # the most relevant source about the question, and those more about it
                best = max(allowed, key=lambda n: scores[n - 1])
                allowed = {n for n in allowed if n == best or coverage[n - 1] >= self.second_coverage}
        return allowed

    def _decide(
        self,
        clean: str,
        cited: list[int],
        row: list[Support],
        question: str = "",
        eligible: set[int] | None = None,
    ) -> list[int]:
        if not self.is_claim(clean, question) or not row:
            return []
        allowed = sorted(
            n for n in (range(1, len(row) + 1) if eligible is None else eligible) if 1 <= n <= len(row)
        )
        if not allowed:
            return []
        best = max(allowed, key=lambda n: row[n - 1].score)  # the best source that may be cited
        top = row[best - 1].score
        kept = [
            n
            for n in cited
            if n in allowed
            and row[n - 1].score >= self.support_threshold
            and top - row[n - 1].score < BEST_MARGIN
        ]
        if kept:
            return kept
        return [best] if top >= self.add_threshold else []
