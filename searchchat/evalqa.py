"""Answer evaluation: run `Answerer.ask` over a QA set and score answers, citations, abstention and speed.

QA sets are JSONL lines `{"question", "answers": [...]}` (optionally `_id`/`id`), or a folder in the COVID-QA
layout (qa.jsonl + corpus.jsonl), whose corpus is indexed once into a cached index like `searchchat eval`.

Figures (SQuAD-style normalisation: lower case, no punctuation, no articles):
- f1 / containment: best token-F1 against the gold answers, and the share of answers that contain a gold
  answer verbatim; abstentions count as 0 (f1_answered averages over answered questions only);
- citation_precision: share of shown citations whose passage supports a gold answer, i.e. contains it or
  overlaps it (a common run of at least half of its tokens, or 8 tokens: chunking may cut a gold span);
- citation_recall: share of answered questions with at least one such citation;
- gold_in_sources: share of questions where a passage given to the model supports a gold answer (retrieval);
- out_of_range: citation numbers shown (in `citations` or as [n] in the text) that are not a source number;
- abstention_rate, first-token latency, tokens/s (decode, after the first token) and total latency.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from searchchat.markers import neutralise
from searchchat.metrics import percentile

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITE = re.compile(r"\[(\d+)\]")


@dataclass
class QAItem:
    qid: str
    question: str
    answers: list[str]


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


@dataclass
class QAReport:
    questions: int
    answered: int
    abstention_rate: float
    f1: float
    f1_answered: float
    containment: float
    citation_precision: float
    citation_recall: float
    citations_shown: int
    out_of_range: int
    gold_in_sources: float
    citation_precision_retrieved: float  # over questions whose gold answer was in the sources (retrieval hit)
    first_token_ms_p50: float
    first_token_ms_mean: float
    total_ms_p50: float
    tokens_per_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- loading -----------------------------------------------------------------------------------------
def resolve(path: Path | str) -> tuple[Path, Path | None]:
    """(qa file, corpus file or None) for a QA JSONL file or a folder holding qa.jsonl (+ corpus.jsonl)."""
    p = Path(path).expanduser()
    if p.is_dir():
        qa = p / "qa.jsonl"
        if not qa.is_file():
            raise FileNotFoundError(f"{p} has no qa.jsonl")
        corpus = p / "corpus.jsonl"
        return qa, corpus if corpus.is_file() else None
    if not p.is_file():
        raise FileNotFoundError(f"No QA file at {p}")
    return p, None


def load_qa(path: Path | str) -> list[QAItem]:
    """Questions with at least one gold answer; clear errors for malformed lines."""
    items: list[QAItem] = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                question = str(rec["question"]).strip()
                answers = rec.get("answers", [])
            except (ValueError, KeyError, TypeError):
                raise ValueError(
                    f"{path}:{lineno}: expected a JSON object with question and answers"
                ) from None
            answers = [answers] if isinstance(answers, str) else answers
            if not isinstance(answers, list):
                raise ValueError(f"{path}:{lineno}: answers must be a list of strings")
            answers = [str(a).strip() for a in answers if str(a).strip()]
            if question and answers and not rec.get("is_impossible", False):
                items.append(QAItem(str(rec.get("_id", rec.get("id", lineno))), question, answers))
    if not items:
        raise ValueError(f"{path} has no questions with answers")
    return items


def sample(items: Sequence[QAItem], limit: int | None, seed: int) -> list[QAItem]:
    if not limit or limit >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), limit)


# -- scoring -----------------------------------------------------------------------------------------
def normalize(text: str) -> str:
    text = _CITE.sub(" ", neutralise(text).lower())
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
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


def score(item: QAItem, final: dict[str, Any]) -> QARecord:
    sources = {s["n"]: s.get("text") or s.get("snippet", "") for s in final.get("sources", [])}
    shown = [c["n"] for c in final.get("citations", [])]
    in_text = [int(n) for n in _CITE.findall(final.get("answer", ""))]
    out_of_range = sum(1 for n in shown + in_text if n not in sources)
    good = sum(1 for n in shown if n in sources and supports_gold(sources[n], item.answers))
    plain = " ".join(s["text"] for s in final.get("sentences", [])) or final.get("answer", "")
    abstained = bool(final.get("abstained"))
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
        f1=0.0 if abstained else token_f1(plain, item.answers),
        contains=False if abstained else contains(plain, item.answers),
        citations=len(shown),
        good_citations=good,
        out_of_range=out_of_range,
        gold_in_sources=any(supports_gold(text, item.answers) for text in sources.values()),
        first_token_ms=float(t.get("first_token_ms", 0.0)),
        total_ms=float(t.get("total_ms", 0.0)),
        generate_ms=float(t.get("generate_ms", 0.0)),
        decode_ms=max(float(t.get("generate_ms", 0.0)) - max(first_after_gen_start, 0.0), 0.0),
        tokens=float(t.get("tokens", 0.0)),
        raw_answer=str(final.get("raw_answer", "")),
        relevance=final.get("relevance"),
        sources=[sources[n] for n in sorted(sources)],
    )


def summarise(records: Sequence[QARecord], settings: dict[str, Any] | None = None) -> QAReport:
    n = len(records)
    answered = [r for r in records if not r.abstained]
    shown = sum(r.citations for r in records)
    generated = [r for r in records if r.tokens > 1 and r.decode_ms > 0]
    decode_tokens = sum(r.tokens - 1 for r in generated)
    decode_s = sum(r.decode_ms for r in generated) / 1000
    ttft = [r.first_token_ms for r in records if r.tokens > 0]
    hit = [r for r in records if r.gold_in_sources]
    shown_hit = sum(r.citations for r in hit)
    return QAReport(
        questions=n,
        answered=len(answered),
        abstention_rate=round(1 - len(answered) / n, 4) if n else 0.0,
        f1=round(sum(r.f1 for r in records) / n, 4) if n else 0.0,
        f1_answered=round(sum(r.f1 for r in answered) / len(answered), 4) if answered else 0.0,
        containment=round(sum(r.contains for r in records) / n, 4) if n else 0.0,
        citation_precision=round(sum(r.good_citations for r in records) / shown, 4) if shown else 0.0,
        citation_recall=round(sum(r.good_citations > 0 for r in answered) / len(answered), 4)
        if answered
        else 0.0,
        citations_shown=shown,
        out_of_range=sum(r.out_of_range for r in records),
        gold_in_sources=round(sum(r.gold_in_sources for r in records) / n, 4) if n else 0.0,
        citation_precision_retrieved=round(sum(r.good_citations for r in hit) / shown_hit, 4)
        if shown_hit
        else 0.0,
        first_token_ms_p50=round(percentile(ttft, 50), 1),
        first_token_ms_mean=round(sum(ttft) / len(ttft), 1) if ttft else 0.0,
        total_ms_p50=round(percentile([r.total_ms for r in records], 50), 1),
        tokens_per_s=round(decode_tokens / decode_s, 2) if decode_s > 0 else 0.0,
        settings=settings or {},
    )


# -- running -----------------------------------------------------------------------------------------
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
        t0 = time.perf_counter()
        final = answerer.ask(item.question, k=k, mode=mode)
        final.setdefault("timings", {}).setdefault("total_ms", (time.perf_counter() - t0) * 1000)
        rec = score(item, final)
        records.append(rec)
        if on_record:
            on_record(rec)
    return records


def format_report(report: QAReport) -> str:
    r = report
    return "\n".join(
        [
            f"questions           {r.questions}  (answered {r.answered}, abstention rate {r.abstention_rate:.3f})",
            f"answer token-F1     {r.f1:.3f}  (answered only {r.f1_answered:.3f})",
            f"containment         {r.containment:.3f}",
            f"citation precision  {r.citation_precision:.3f}  ({r.citations_shown} citations shown)",
            f"citation recall     {r.citation_recall:.3f}",
            f"out-of-range cites  {r.out_of_range}",
            f"gold in sources     {r.gold_in_sources:.3f}  (citation precision on those {r.citation_precision_retrieved:.3f})",
            f"first token         p50 {r.first_token_ms_p50:.0f} ms, mean {r.first_token_ms_mean:.0f} ms",
            f"total per question  p50 {r.total_ms_p50:.0f} ms",
            f"decode speed        {r.tokens_per_s:.1f} tokens/s",
        ]
    )
