"""QA sets: the questions and gold answers an answer evaluation runs on, read from JSONL or a COVID-QA folder."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class QAItem:
    """One question with its gold answers (none needed when it is unanswerable)."""

    qid: str
    question: str
    answers: list[str]
    is_impossible: bool = False


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
    """Answerable questions with a gold answer and unanswerable ones; clear errors for malformed lines."""
    items: list[QAItem] = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                question = str(rec["question"]).strip()
                answers = rec.get("answers", [])
                impossible = rec.get("is_impossible", False)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ValueError(
                    f"{path}:{lineno}: expected a JSON object with question and answers"
                ) from None
            answers = [answers] if isinstance(answers, str) else answers
            if not isinstance(answers, list):
                raise ValueError(f"{path}:{lineno}: answers must be a list of strings")
            if not isinstance(impossible, bool):
                raise ValueError(f"{path}:{lineno}: is_impossible must be true or false")
            answers = [str(a).strip() for a in answers if str(a).strip()]
            if question and (answers or impossible):
                qid = str(rec.get("_id", rec.get("id", lineno)))
                items.append(QAItem(qid, question, answers, is_impossible=impossible))
    if not items:
        raise ValueError(f"{path} has no questions (with answers, or marked is_impossible)")
    return items


def load_ids(path: Path | str) -> list[str]:
    """Question ids, one per line (blank lines and # comments skipped)."""
    with Path(path).expanduser().open(encoding="utf-8") as fh:
        return [s for s in (line.strip() for line in fh) if s and not s.startswith("#")]


def restrict(items: Sequence[QAItem], ids: Iterable[str]) -> tuple[list[QAItem], list[str]]:
    """(the items whose id is listed, in file order; the listed ids that are not in the QA set)."""
    wanted = list(dict.fromkeys(ids))
    have = {item.qid for item in items}
    keep = set(wanted)
    return [item for item in items if item.qid in keep], [i for i in wanted if i not in have]


def sample(items: Sequence[QAItem], limit: int | None, seed: int) -> list[QAItem]:
    """`limit` items drawn at random with `seed` (all of them without a limit)."""
    if not limit or limit >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), limit)
