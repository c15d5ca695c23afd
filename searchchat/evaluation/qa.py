"""Answer evaluation: run `Answerer.ask` over a QA set and score answers, citations, abstention and speed.

QA sets are JSONL lines `{"question", "answers": [...]}` (optionally `_id`/`id`, and `"is_impossible": true`
for a question the corpus does not answer, whose answers may be empty), or a folder in the COVID-QA layout
(qa.jsonl + corpus.jsonl), whose corpus is indexed once into a cached index like `searchchat eval`.

Figures (SQuAD-style normalisation: lower case, no punctuation (every Unicode mark, as MLQA's evaluation), no
articles; text with CJK characters is compared per character, as CMRC 2018 scores it):
- correct_cited: share of answerable questions answered with text that contains a gold answer and at least
  one shown citation whose passage supports a gold answer;
- wrong_answered: share of all questions answered but not correct_cited (any answer to an unanswerable one);
- truthfulness (CRAG-style): mean per-question score; answerable: +1 correct_cited, 0 abstained, -1 otherwise;
  unanswerable: +1 abstained, -1 answered;
- abstention_answerable / abstention_unanswerable: share of each kind of question answered "not found";
  reasons: the `reason` codes of the abstentions, counted; kinds: the answers' `kind`, counted (none: generated);
- f1 / containment: best token-F1 against the gold answers, and the share of answers that contain a gold
  answer verbatim, over answerable questions; abstentions count as 0 (f1_answered: answered ones only);
- citation_precision: share of shown citations (answerable questions) whose passage supports a gold answer,
  i.e. contains it or overlaps it (a common run of at least half of its tokens, or 8 tokens: chunking may cut
  a gold span);
- citation_recall: share of answered answerable questions with at least one such citation;
- gold_in_sources: share of answerable questions where a passage given to the model supports a gold answer;
- out_of_range: citation numbers shown (in `citations` or as [n] in the text) that are not a source number;
- abstention_rate, first-token latency, tokens/s (decode, after the first token) and total latency.
"""

from __future__ import annotations

import re
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from searchchat.evaluation.metrics import percentile
from searchchat.evaluation.qa_sets import QAItem, load_ids, load_qa, resolve, restrict, sample
from searchchat.evaluation.report import QAReport, format_report, format_table
from searchchat.markers import neutralise

# The QA sets and the report live in their own modules; these names stay importable from here.
__all__ = [
    "QAItem", "QARecord", "QAReport", "ask", "contains", "format_report", "format_table", "load_ids", "load_qa",
    "normalize", "resolve", "restrict", "run_qa", "run_systems", "sample", "score", "summarise", "supports_gold",
    "token_f1", "truth_score",
]  # fmt: skip

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITE = re.compile(r"\[(\d+)\]")
# CJK ideographs (with extension A and compatibility ones), hiragana/katakana and hangul syllables
_CJK = re.compile("([\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")


@dataclass
class QARecord:
    """One question's outcome (the JSONL lines of --out)."""

    qid: str
    question: str
    gold: list[str]
    answer: str
    abstained: bool
    f1: float
    contains: bool
    citations: int
    good_citations: int
    out_of_range: int
    gold_in_sources: bool
    first_token_ms: float
    total_ms: float
    generate_ms: float
    decode_ms: float
    tokens: float
    raw_answer: str = ""
    relevance: float | None = None  # best dense cosine of the query (the abstention gate's input)
    sources: list[str] = field(default_factory=list)  # the passages given to the model, for re-scoring
    is_impossible: bool = False  # the corpus does not answer it: abstaining is right
    correct_cited: bool = False  # answered, contains a gold answer, and a shown citation supports one
    reason: str | None = None  # the answer's reason code when it abstained
    kind: str | None = None  # the answer's kind ("generated", "quote"); None when abstained
    truth: int = 0  # CRAG-style: +1 right (or rightly abstained), 0 abstained when answerable, -1 wrong


# -- scoring -----------------------------------------------------------------------------------------
def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def normalize(text: str) -> str:
    """Lower case, no citation markers, punctuation or articles; CJK characters become one token each. Every
    Unicode punctuation mark goes, as MLQA's evaluation has it, not only SQuAD's ASCII ones: a quote's curly
    marks (“...”) must not glue themselves to its first and last words."""
    text = neutralise(text).lower()
    if _CJK.search(text):  # full-width forms to plain ones, one token a character
        text = _CJK.sub(r" \1 ", unicodedata.normalize("NFKC", text))
    text = _CITE.sub(" ", text)
    text = "".join(" " if ch in string.punctuation or _is_punct(ch) else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(pred: str, golds: Iterable[str]) -> float:
    """SQuAD token-F1, best over the gold answers."""
    p = normalize(pred).split()
    best = 0.0
    for gold in golds:
        g = normalize(gold).split()
        common = sum((Counter(p) & Counter(g)).values())
        if common:
            prec, rec = common / len(p), common / len(g)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def contains(pred: str, golds: Iterable[str]) -> bool:
    p = f" {normalize(pred)} "
    return any(f" {normalize(g)} " in p for g in golds if normalize(g))


def supports_gold(passage: str, golds: Iterable[str], min_share: float = 0.5, min_run: int = 8) -> bool:
    """True when the passage contains a gold answer or shares a long enough run of tokens with one."""
    p = normalize(passage).split()
    for gold in golds:
        g = normalize(gold).split()
        if not g:
            continue
        if f" {' '.join(g)} " in f" {' '.join(p)} ":
            return True
        m = SequenceMatcher(None, p, g, autojunk=False).find_longest_match(0, len(p), 0, len(g))
        if m.size >= min(min_run, len(g)) or m.size >= max(2, min_share * len(g)):
            return True
    return False


def truth_score(is_impossible: bool, abstained: bool, correct_cited: bool) -> int:
    """CRAG-style: answerable +1 correct_cited, 0 abstained, -1 otherwise; unanswerable +1 abstained, -1 not."""
    if is_impossible:
        return 1 if abstained else -1
    return 0 if abstained else (1 if correct_cited else -1)


def score(item: QAItem, final: dict[str, Any]) -> QARecord:
    """One question's record from the final answer dict of `Answerer.ask`."""
    golds = [] if item.is_impossible else item.answers
    sources = {s["n"]: s.get("text") or s.get("snippet", "") for s in final.get("sources", [])}
    shown = [c["n"] for c in final.get("citations", [])]
    in_text = [int(n) for n in _CITE.findall(final.get("answer", ""))]
    out_of_range = sum(1 for n in shown + in_text if n not in sources)
    good = sum(1 for n in shown if n in sources and supports_gold(sources[n], golds))
    plain = " ".join(s["text"] for s in final.get("sentences", [])) or final.get("answer", "")
    abstained = bool(final.get("abstained"))
    has_gold = not abstained and (contains(plain, golds) or contains(final.get("answer", ""), golds))
    correct_cited = has_gold and good > 0
    t = final.get("timings", {})
    first_after_gen_start = (
        t.get("first_token_ms", 0.0) - t.get("rewrite_ms", 0.0) - t.get("retrieve_ms", 0.0)
    )
    return QARecord(
        qid=item.qid,
        question=item.question,
        gold=item.answers,
        answer=final.get("answer", ""),
        abstained=abstained,
        f1=0.0 if abstained else token_f1(plain, golds),
        contains=False if abstained else contains(plain, golds),
        citations=len(shown),
        good_citations=good,
        out_of_range=out_of_range,
        gold_in_sources=any(supports_gold(text, golds) for text in sources.values()),
        first_token_ms=float(t.get("first_token_ms", 0.0)),
        total_ms=float(t.get("total_ms", 0.0)),
        generate_ms=float(t.get("generate_ms", 0.0)),
        decode_ms=max(float(t.get("generate_ms", 0.0)) - max(first_after_gen_start, 0.0), 0.0),
        tokens=float(t.get("tokens", 0.0)),
        raw_answer=str(final.get("raw_answer", "")),
        relevance=final.get("relevance"),
        sources=[sources[n] for n in sorted(sources)],
        is_impossible=item.is_impossible,
        correct_cited=correct_cited,
        reason=(final.get("reason") or "unknown") if abstained else None,
        kind=None if abstained else str(final.get("kind") or "generated"),
        truth=truth_score(item.is_impossible, abstained, correct_cited),
    )


def _share(count: float, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def summarise(records: Sequence[QARecord], settings: dict[str, Any] | None = None) -> QAReport:
    """The report over one system's records (answer and citation figures over answerable questions)."""
    n = len(records)
    gold = [r for r in records if not r.is_impossible]
    impossible = [r for r in records if r.is_impossible]
    answered = [r for r in records if not r.abstained]
    gold_answered = [r for r in gold if not r.abstained]
    shown = sum(r.citations for r in gold)
    generated = [r for r in records if r.tokens > 1 and r.decode_ms > 0]
    decode_tokens = sum(r.tokens - 1 for r in generated)
    decode_s = sum(r.decode_ms for r in generated) / 1000
    ttft = [r.first_token_ms for r in records if r.tokens > 0]
    hit = [r for r in gold if r.gold_in_sources]
    shown_hit = sum(r.citations for r in hit)
    return QAReport(
        questions=n,
        answered=len(answered),
        answerable=len(gold),
        unanswerable=len(impossible),
        correct_cited=_share(sum(r.correct_cited for r in gold), len(gold)),
        wrong_answered=_share(sum(not r.abstained and not r.correct_cited for r in records), n),
        truthfulness=_share(sum(r.truth for r in records), n),
        abstention_answerable=_share(sum(r.abstained for r in gold), len(gold)),
        abstention_unanswerable=_share(sum(r.abstained for r in impossible), len(impossible)),
        abstention_rate=_share(n - len(answered), n),
        f1=_share(sum(r.f1 for r in gold), len(gold)),
        f1_answered=_share(sum(r.f1 for r in gold_answered), len(gold_answered)),
        containment=_share(sum(r.contains for r in gold), len(gold)),
        citation_precision=_share(sum(r.good_citations for r in gold), shown),
        citation_recall=_share(sum(r.good_citations > 0 for r in gold_answered), len(gold_answered)),
        citations_shown=shown,
        out_of_range=sum(r.out_of_range for r in records),
        gold_in_sources=_share(sum(r.gold_in_sources for r in gold), len(gold)),
        citation_precision_retrieved=_share(sum(r.good_citations for r in hit), shown_hit),
        first_token_ms_p50=round(percentile(ttft, 50), 1),
        first_token_ms_mean=round(sum(ttft) / len(ttft), 1) if ttft else 0.0,
        total_ms_p50=round(percentile([r.total_ms for r in records], 50), 1),
        tokens_per_s=round(decode_tokens / decode_s, 2) if decode_s > 0 else 0.0,
        reasons=dict(Counter(r.reason or "unknown" for r in records if r.abstained).most_common()),
        kinds=dict(Counter(r.kind or "generated" for r in answered).most_common()),
        settings=settings or {},
    )


# -- running -----------------------------------------------------------------------------------------
def ask(answerer: Any, item: QAItem, k: int | None = None, mode: str | None = None) -> QARecord:
    """Ask one question (timing it when the answerer does not) and score the answer."""
    t0 = time.perf_counter()
    final = answerer.ask(item.question, k=k, mode=mode)
    final.setdefault("timings", {}).setdefault("total_ms", (time.perf_counter() - t0) * 1000)
    return score(item, final)


def run_qa(
    answerer: Any,
    items: Sequence[QAItem],
    k: int | None = None,
    mode: str | None = None,
    on_record: Callable[[QARecord], None] | None = None,
) -> list[QARecord]:
    """Ask every question (one at a time, as a user would) and score it."""
    records = []
    for item in items:
        rec = ask(answerer, item, k=k, mode=mode)
        records.append(rec)
        if on_record:
            on_record(rec)
    return records


def run_systems(
    answerers: Sequence[Any],
    items: Sequence[QAItem],
    k: int | None = None,
    mode: str | None = None,
    on_record: Callable[[int, QARecord], None] | None = None,
) -> list[list[QARecord]]:
    """Each question put to every answerer in turn before the next question (interleaved, so that machine
    load falls on all alike); one list of records per answerer. on_record gets (answerer index, record)."""
    records: list[list[QARecord]] = [[] for _ in answerers]
    for item in items:
        for i, answerer in enumerate(answerers):
            rec = ask(answerer, item, k=k, mode=mode)
            records[i].append(rec)
            if on_record:
                on_record(i, rec)
    return records
