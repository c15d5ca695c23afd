"""Conversations that last: questions, answers (with citations and sources) and feedback, in SQLite under
SEARCHCHAT_HOME, apart from the index so that a restart or a re-index keeps them."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["up", "down"]
REASONS = ("wrong_citation", "wrong_answer", "should_have_answered", "should_not_have_answered")
TITLE_CHARS = 80  # a title made from the first question is cut here
HISTORY_MESSAGES = 20  # stored messages given as history to a follow-up (the web API's MAX_TURNS)
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    share_token TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL,
    verdict TEXT, reason TEXT, feedback_at REAL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, position);
"""


@dataclass
class Turn:
    """One question and the answer it got (the Answerer's answer dict, as it was), with its feedback."""

    id: str
    conversation_id: str
    position: int
    question: str
    answer: dict[str, Any]
    created: float
    verdict: Verdict | None = None
    reason: str | None = None

    def history(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.question},
                {"role": "assistant", "content": str(self.answer.get("answer") or "")}]  # fmt: skip


@dataclass
class Conversation:
    """A conversation's header; `turns` is filled by `ConversationStore.get`."""

    id: str
    title: str
    created: float
    updated: float
    share_token: str | None = None
    turn_count: int = 0
    turns: list[Turn] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def title_from(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def new_id() -> str:
    return secrets.token_hex(8)


class ConversationStore:
    """All conversations of one SEARCHCHAT_HOME. Every call opens its own connection: safe from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _missing(self) -> bool:
        """Nothing stored yet: reads answer empty without creating the file."""
        return not self._ready and not self.path.exists()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(SCHEMA)
                self._ready = True
            with db:  # one transaction: committed, or rolled back on an error
                yield db

    # -- conversations ------------------------------------------------------------------------------------
    def create(self, title: str) -> Conversation:
        now = time.time()
        conv = Conversation(new_id(), title_from(title) or "Untitled", now, now)
        with self._db() as db:
            db.execute("INSERT INTO conversations (id, title, created, updated) VALUES (?, ?, ?, ?)",
                       (conv.id, conv.title, now, now))  # fmt: skip
        return conv

    def recent(self, limit: int = 100, offset: int = 0) -> list[Conversation]:
        """Newest (last changed) first."""
        if self._missing():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created, c.updated, c.share_token, COUNT(t.id) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id GROUP BY c.id "
                "ORDER BY c.updated DESC, c.rowid DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [Conversation(*row) for row in rows]

    def _header(self, db: sqlite3.Connection, where: str, value: str) -> Conversation | None:
        row = db.execute(
            "SELECT c.id, c.title, c.created, c.updated, c.share_token, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) "
            f"FROM conversations c WHERE c.{where} = ?",
            (value,),
        ).fetchone()
        return Conversation(*row) if row else None

    def get(self, conversation_id: str) -> Conversation | None:
        if self._missing():
            return None
        with self._db() as db:
            conv = self._header(db, "id", conversation_id)
            if conv is not None:
                conv.turns = list(self._turns(db, "conversation_id = ? ORDER BY position", (conv.id,)))
        return conv

    def by_share_token(self, token: str) -> Conversation | None:
        if self._missing():
            return None
        with self._db() as db:
            conv = self._header(db, "share_token", token)
            if conv is not None:
                conv.turns = list(self._turns(db, "conversation_id = ? ORDER BY position", (conv.id,)))
        return conv

    def rename(self, conversation_id: str, title: str) -> Conversation | None:
        if self._missing():
            return None
        with self._db() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), conversation_id))
            return self._header(db, "id", conversation_id)

    def delete(self, conversation_id: str) -> bool:
        """Removes its turns, their feedback and its share link."""
        if self._missing():
            return False
        with self._db() as db:
            return db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0

    def share(self, conversation_id: str) -> str | None:
        """The conversation's share token (made on first use; unguessable), or None when there is none."""
        if self._missing():
            return None
        with self._db() as db:
            conv = self._header(db, "id", conversation_id)
            if conv is None:
                return None
            if conv.share_token is None:
                conv.share_token = secrets.token_urlsafe(24)
                db.execute(
                    "UPDATE conversations SET share_token = ? WHERE id = ?", (conv.share_token, conv.id)
                )
            return conv.share_token

    def unshare(self, conversation_id: str) -> bool:
        if self._missing():
            return False
        with self._db() as db:
            cur = db.execute("UPDATE conversations SET share_token = NULL WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    # -- turns --------------------------------------------------------------------------------------------
    def add_turn(self, conversation_id: str, question: str, answer: dict[str, Any]) -> Turn | None:
        """Appends a turn (its position taken in the same statement, so concurrent appends stay in order);
        None when the conversation does not exist (or was deleted meanwhile)."""
        now, tid = time.time(), new_id()
        with self._db() as db:
            try:
                db.execute(
                    "INSERT INTO turns (id, conversation_id, position, question, answer, created) "
                    "SELECT ?, ?, COALESCE(MAX(position), 0) + 1, ?, ?, ? FROM turns WHERE conversation_id = ?",
                    (tid, conversation_id, question, json.dumps(answer, default=str), now, conversation_id),
                )
            except sqlite3.IntegrityError:  # the foreign key: no such conversation
                return None
            (position,) = db.execute("SELECT position FROM turns WHERE id = ?", (tid,)).fetchone()
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return Turn(tid, conversation_id, position, question, answer, now)

    def history(self, conversation_id: str, max_messages: int) -> list[dict[str, str]] | None:
        """The stored turns as chat messages (the last `max_messages`), or None for an unknown conversation."""
        conv = self.get(conversation_id)
        if conv is None:
            return None
        return [m for t in conv.turns for m in t.history()][-max_messages:] if max_messages else []

    def turn(self, turn_id: str) -> Turn | None:
        if self._missing():
            return None
        with self._db() as db:
            return next(self._turns(db, "id = ?", (turn_id,)), None)

    def set_feedback(self, turn_id: str, verdict: Verdict, reason: str | None) -> Turn | None:
        """Records (or replaces) the verdict on an answer; None for an unknown turn."""
        if self._missing():
            return None
        with self._db() as db:
            cur = db.execute("UPDATE turns SET verdict = ?, reason = ?, feedback_at = ? WHERE id = ?",
                             (verdict, reason, time.time(), turn_id))  # fmt: skip
            if cur.rowcount == 0:
                return None
            return next(self._turns(db, "id = ?", (turn_id,)))

    def feedback(self) -> list[Turn]:
        """Every turn with a verdict, oldest feedback first."""
        if self._missing():
            return []
        with self._db() as db:
            return list(self._turns(db, "verdict IS NOT NULL ORDER BY feedback_at, rowid", ()))

    @staticmethod
    def _turns(db: sqlite3.Connection, where: str, params: Iterable[Any]) -> Iterator[Turn]:
        rows = db.execute(
            "SELECT id, conversation_id, position, question, answer, created, verdict, reason FROM turns "
            f"WHERE {where}",
            tuple(params),
        )
        for tid, cid, pos, question, answer, created, verdict, reason in rows:
            yield Turn(tid, cid, pos, question, json.loads(answer), created, verdict, reason)


def mark_removed(answer: dict[str, Any], present: set[str]) -> dict[str, Any]:
    """A copy of an answer dict whose sources and citations say `removed: true` when their document is no
    longer in the index (`present`: the doc_ids and URLs that are)."""
    out = dict(answer)
    gone: set[int] = set()
    sources = []
    for src in answer.get("sources") or []:
        doc = str(src.get("doc_id") or src.get("url") or "").split("#")[0]
        removed = doc not in present
        if removed:
            gone.add(src.get("n", -1))
        sources.append({**src, "removed": removed})
    out["sources"] = sources
    out["citations"] = [{**c, "removed": c.get("n") in gone} for c in answer.get("citations") or []]
    return out


def doc_keys(answers: Iterable[dict[str, Any]]) -> set[str]:
    """The doc_ids that answers' sources came from (what `mark_removed` looks up in the index)."""
    return {
        str(s.get("doc_id") or s.get("url") or "").split("#")[0]
        for a in answers
        for s in a.get("sources") or []
    }
