"""Training pairs for "what is X?" questions, made from the defining sentences of the QA sets' documents.

The QA sets ask factoid questions; a user of a search engine over explanatory documents asks "What is
self-attention?", which they hardly hold. A sentence that opens by defining its subject ("BM25 is a ranking
function that...", "预训练是指...") answers "What is <subject>?"; the document's other sentences, and the
sentences of other documents that match the question best, do not. Used only to build training data, never
to decide an answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from searchchat.answering.cite import sentence_spans
from searchchat.models.crossencoder import pair_text
from searchchat.training.data import Pair, load_dataset, mining_terms
from searchchat.training.split import Split, article_of

PER_DOC = 3  # defining sentences used per document at most (long articles have many)
SAME_DOC_NEGATIVES = 2
OTHER_NEGATIVES = 2
# "The transformer is a ...", "Ctenophores are ...", "BM25 is defined as ...": a subject of 1-5 words, in the
# present tense (a past "was used to" describes an event, not a thing).
_EN = re.compile(
    r"^(?P<the>The )?(?:A |An )?(?P<x>[A-Za-z][\w\-]*(?: [\w\-]+){0,4}?) (?P<v>is|are) "
    r"(?:a|an|the|one of|defined as|known as)\b"
)
_ZH = re.compile(r"^(?P<x>[^，。、：；（）()《》\s]{2,12}?)(?:是一种|是一个|是一类|是指|指的是)")
_PRONOUNS = {
    "it",
    "this",
    "that",
    "there",
    "he",
    "she",
    "they",
    "these",
    "those",
    "which",
    "what",
    "one",
    "each",
}
_ZH_FUNCTION = set("他她它这那也都就还其")


def definition(sentence: str) -> str | None:
    """The question a defining sentence answers ("What is BM25?", "什么是预训练？"), or None."""
    s = sentence.strip()
    if m := _EN.match(s):
        x = m.group("x").strip()
        if x.split()[0].lower() in _PRONOUNS:
            return None
        verb = m.group("v")
        return f"What {verb} {'the ' if m.group('the') else ''}{x}?"
    if m := _ZH.match(s):
        x = m.group("x")
        return None if set(x) & _ZH_FUNCTION else f"什么是{x}？"
    return None


def iter_definition_pairs(dataset: str, root: Path, split: Split, part: str) -> Iterator[Pair]:
    """Positive and negative pairs for the defining sentences of `part`'s documents."""
    import bm25s

    docs, _ = load_dataset(root)
    keep = sorted(d for d in docs if split.part_of(dataset, article_of(dataset, d)) == part)
    sentences: list[tuple[str, str]] = []  # (doc id, text)
    by_doc: dict[str, list[int]] = {}
    for doc_id in keep:
        text = docs[doc_id]["text"]
        for s, e in sentence_spans(text):
            if e - s >= 16:
                by_doc.setdefault(doc_id, []).append(len(sentences))
                sentences.append((doc_id, text[s:e]))
    if not sentences:
        return
    retriever = bm25s.BM25()
    retriever.index([mining_terms(t) or ["_"] for _, t in sentences], show_progress=False)
    for doc_id in keep:
        own = by_doc.get(doc_id, [])
        title = docs[doc_id].get("title", "")
        used = 0
        for i in own:
            question = definition(sentences[i][1])
            if question is None or used == PER_DOC:
                continue
            used += 1
            article = article_of(dataset, doc_id)
            yield Pair(question, pair_text(title, sentences[i][1]), 1.0, dataset, article)
            others = [j for j in own if j != i and definition(sentences[j][1]) is None]
            for j in others[:: max(1, len(others) // SAME_DOC_NEGATIVES)][:SAME_DOC_NEGATIVES]:
                yield Pair(question, pair_text(title, sentences[j][1]), 0.0, dataset, article)
            found, _ = retriever.retrieve([mining_terms(question) or ["_"]], k=min(20, len(sentences)),
                                          show_progress=False)  # fmt: skip
            taken = 0
            for j in found[0]:
                d_id, text = sentences[int(j)]
                if taken == OTHER_NEGATIVES:
                    break
                if d_id == doc_id or definition(text) is not None:
                    continue
                taken += 1
                yield Pair(question, pair_text(docs[d_id].get("title", ""), text), 0.0, dataset, article)
