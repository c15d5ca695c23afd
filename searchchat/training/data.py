"""Training pairs for the answerability model, built from the QA sets in ../shared/data.

Each question gives (question, title | sentence) pairs: a sentence that holds (part of) the gold answer is a
positive; its paragraph's other sentences, every sentence of an unanswerable question's paragraph, and the
sentences of other documents that match the question best lexically (BM25 over sentences, CJK as character
bigrams) are negatives, unless they contain a gold answer."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchchat.answering.cite import sentence_spans
from searchchat.models.crossencoder import around, pair_text
from searchchat.training.split import Split, article_of

SAME_DOC_NEGATIVES = 4  # per question, the paragraph's other sentences that match it best
OTHER_NEGATIVES = 3  # per question, the best-matching sentences of other documents
MIN_SENTENCE_CHARS = 8
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(r"\d+|[^\W\d_]+")  # digit runs apart from the letters around them ("1984年")


@dataclass
class Pair:
    """One training example."""

    question: str
    text: str
    label: float
    dataset: str
    article: str
    span: tuple[int, int] | None = None  # a positive's gold answer: its character span in `text`, where known


@dataclass
class QA:
    qid: str
    question: str
    answers: list[str]
    starts: list[int]
    impossible: bool
    doc_id: str


def mining_terms(text: str) -> list[str]:
    """Lower-cased words, with CJK runs as overlapping character bigrams (Lucene's CJKAnalyzer)."""
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        if _CJK.search(w):
            chars = [c for c in w if _CJK.match(c)]
            out.extend(a + b for a, b in zip(chars, chars[1:], strict=False)) if len(
                chars
            ) > 1 else out.extend(chars)
            out.extend(_WORD.findall(_CJK.sub(" ", w)))
        else:
            out.append(w)
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_dataset(root: Path) -> tuple[dict[str, dict[str, Any]], list[QA]]:
    docs = {str(d["_id"]): d for d in read_jsonl(root / "corpus.jsonl")}
    qas = [
        QA(
            str(q["_id"]),
            str(q["question"]),
            [str(a) for a in q.get("answers") or []],
            [int(s) for s in q.get("answer_starts_verified") or q.get("answer_starts") or []],
            bool(q.get("is_impossible")),
            str(q["document_id"]),
        )  # fmt: skip
        for q in read_jsonl(root / "qa.jsonl")
        if str(q.get("document_id")) in docs
    ]
    return docs, qas


def answer_spans(text: str, qa: QA) -> list[tuple[int, int]]:
    """Character spans of the gold answers in their document (given starts first, else first occurrences)."""
    spans: list[tuple[int, int]] = []
    for i, ans in enumerate(qa.answers):
        start = (
            qa.starts[i] if i < len(qa.starts) and text[qa.starts[i] :].startswith(ans) else text.find(ans)
        )
        if ans and start >= 0:
            spans.append((start, start + len(ans)))
    return spans


def erased(sentence: str, start: int, spans: list[tuple[int, int]]) -> str:
    """The sentence (starting at `start` in its document) with every gold answer span cut out: it still
    restates the question, but no longer answers it."""
    cuts = sorted((max(s, start) - start, min(e, start + len(sentence)) - start) for s, e in spans
                  if s < start + len(sentence) and start < e)  # fmt: skip
    out, at = [], 0
    for s, e in cuts:
        out.append(sentence[at:s])
        at = max(at, e)
    out.append(sentence[at:])
    return " ".join("".join(out).split())


def swapped(question: str, sentence: str, document: str, seed: str) -> str | None:
    """The question with one of its names or numbers that the sentence holds replaced by another of the same kind
    from the document that the sentence lacks (SQuAD 2.0's "entity swap"): the sentence still matches it word for
    word, yet no longer answers it. None when the question has no such name or number."""
    said = set(_TOKEN.findall(sentence))
    q_words = _TOKEN.findall(question)
    slots = [w for i, w in enumerate(q_words) if w in said and _kind(w) and (i > 0 or _kind(w) == "number")]
    if not slots:
        return None
    rng = random.Random(seed)
    slot = rng.choice(sorted(set(slots)))
    kind = _kind(slot)
    pool = sorted({w for w in _TOKEN.findall(document) if _kind(w) == kind and w not in said and w not in q_words
                   and (kind != "number" or len(w) == len(slot))})  # fmt: skip
    if not pool:
        return None
    edge = r"\d" if kind == "number" else r"[^\W_]"  # a number inside CJK text has letters next to it
    return re.sub(rf"(?<!{edge}){re.escape(slot)}(?!{edge})", rng.choice(pool), question, count=1)


def answer_in(sentence: str, start: int, spans: list[tuple[int, int]], at: int) -> tuple[int, int] | None:
    """The first gold answer span that overlaps the sentence (starting at `start` in its document), clipped to the
    sentence and moved to where the sentence begins in its pair text (`at`); None when no span overlaps."""
    end = start + len(sentence)
    for s, e in spans:
        if s < end and start < e:
            return at + max(s, start) - start, at + min(e, end) - start
    return None


def casual(question: str) -> str:
    """The question as it is often typed into a search box: lower-cased, without its closing question mark."""
    return question.strip().rstrip("?？").rstrip().lower()


def _kind(word: str) -> str:
    """ "number" for a run of digits, "name" for a capitalised word of a cased script, else ""."""
    if word.isdigit():
        return "number"
    return "name" if len(word) > 1 and word[0].isupper() and not word.isupper() else ""


def iter_pairs(dataset: str, root: Path, split: Split, part: str, erase: bool = False,
               swap: bool = False, context: bool = False, title_dropout: float = 0.0,
               casual_share: float = 0.0) -> Iterator[Pair]:  # fmt: skip
    """The pairs of one dataset's questions whose article is in `part` of the split. `erase` adds, for each
    positive, a negative: the same sentence with the answer cut out (what a model that restates the question
    writes). `swap` adds another: the question with a name or number swapped (`swapped`). `context` gives
    each sentence the sentences around it (pair_text); the label is still the sentence's own. `title_dropout`
    is the share of pairs whose document title is left out (chosen by a seeded draw), so that the model also
    judges a sentence whose page has no title, or a title unlike its text. `casual_share` is the share of questions
    (a seeded draw of its own) whose pairs all show the question as typed into a search box (`casual`)."""
    import bm25s

    docs, qas = load_dataset(root)
    keep = {d for d in docs if split.part_of(dataset, article_of(dataset, d)) == part}
    sentences: list[tuple[str, int, int, str]] = []  # (doc id, start, end, text)
    by_doc: dict[str, list[int]] = {}
    for doc_id in sorted(keep):
        text = docs[doc_id]["text"]
        for s, e in sentence_spans(text):
            if e - s >= MIN_SENTENCE_CHARS:
                by_doc.setdefault(doc_id, []).append(len(sentences))
                sentences.append((doc_id, s, e, text[s:e]))
    if not sentences:
        return
    spans_of = {d: sentence_spans(docs[d]["text"]) for d in keep} if context else {}

    draw = random.Random(f"{dataset}:{part}")
    casual_draw = random.Random(f"casual:{dataset}:{part}")

    def side(doc_id: str, start: int, end: int, sentence: str) -> str:
        return side_at(doc_id, start, end, sentence)[0]

    def side_at(doc_id: str, start: int, end: int, sentence: str) -> tuple[str, int]:
        """The passage side of a pair, and where the sentence begins in it (after the title)."""
        text = docs[doc_id]["text"]
        near = around(text, start, end, spans_of[doc_id]) if context else ""
        title = "" if title_dropout and draw.random() < title_dropout else docs[doc_id].get("title", "")
        return pair_text(title, sentence, near), len(pair_text(title, "")) if title.strip() else 0

    retriever = bm25s.BM25()
    retriever.index([mining_terms(x[3]) or ["_"] for x in sentences], show_progress=False)
    depth = min(len(sentences), 40)
    for qa in qas:
        if qa.doc_id not in keep or (not qa.impossible and not qa.answers):
            continue
        question = (
            casual(qa.question) if casual_share and casual_draw.random() < casual_share else qa.question
        )
        doc = docs[qa.doc_id]
        spans = [] if qa.impossible else answer_spans(doc["text"], qa)
        if not qa.impossible and not spans:
            continue
        golds = [_norm(a) for a in qa.answers if a.strip()]
        article = article_of(dataset, qa.doc_id)
        found, scores = retriever.retrieve([mining_terms(question) or ["_"]], k=depth, show_progress=False)
        rank = {int(i): r for r, i in enumerate(found[0])}
        own = by_doc.get(qa.doc_id, [])
        positives = [i for i in own if any(s < sentences[i][2] and sentences[i][1] < e for s, e in spans)]
        for i in positives:
            _, start, end, sentence = sentences[i]
            text, at = side_at(qa.doc_id, start, end, sentence)
            yield Pair(question, text, 1.0, dataset, article, answer_in(sentence, start, spans, at))
            rest = erased(sentence, start, spans) if erase else ""
            if len(rest) >= MIN_SENTENCE_CHARS and not any(g in _norm(rest) for g in golds):
                yield Pair(question, side(qa.doc_id, start, end, rest), 0.0, dataset, article)
            other = swapped(question, sentence, doc["text"], f"{qa.qid}:{i}") if swap else None
            if other:
                yield Pair(other, side(qa.doc_id, start, end, sentence), 0.0, dataset, article)
        others = [
            i for i in own if i not in positives and not any(g in _norm(sentences[i][3]) for g in golds)
        ]
        others.sort(key=lambda i: rank.get(i, depth))
        for i in others[:SAME_DOC_NEGATIVES]:
            yield Pair(question, side(*sentences[i]), 0.0, dataset, article)
        taken = 0
        for i in found[0]:
            d_id, _, _, sent = sentences[int(i)]
            if taken == OTHER_NEGATIVES:
                break
            if d_id == qa.doc_id or any(g in _norm(sent) for g in golds):
                continue
            taken += 1
            yield Pair(question, side(*sentences[int(i)]), 0.0, dataset, article)
