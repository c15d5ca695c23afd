"""Stored conversations over HTTP: list, get, rename, delete and share them, feedback on answers, the /c/{id}
page that reopens one and the read-only /s/{token} copy; and what POST /ask needs to continue one."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from searchchat.conversations import Conversation, Turn, doc_keys, mark_removed
from searchchat.web import pages
from searchchat.web.auth import require_for_changes, require_for_reads
from searchchat.web.backend import Backend, iso
from searchchat.web.common import STATIC, AppBackend
from searchchat.web.errors import ApiError
from searchchat.web.models import (
    MAX_ID_CHARS,
    MAX_TURNS,
    ConversationDetailOut,
    ConversationOut,
    DeletedOut,
    ErrorOut,
    FeedbackOut,
    FeedbackRequest,
    RenameRequest,
    SharedOut,
    ShareOut,
)

log = logging.getLogger("searchchat.web")
ConversationId = PathParam(..., min_length=1, max_length=MAX_ID_CHARS, description="A conversation's id.")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 413, 422, 500)
}


def not_found(what: str = "conversation") -> ApiError:
    return ApiError(404, f"unknown_{what}", f"There is no such {what}.")


def history_for(
    backend: Backend, conversation_id: str | None, sent: list[dict[str, str]]
) -> list[dict[str, str]]:
    """The history for a question: the stored turns of `conversation_id` (404 when unknown), else what the
    client sent."""
    if conversation_id is None:
        return sent
    if not backend.settings.keep_conversations:
        raise ApiError(
            422, "conversations_off", "This server keeps no conversations: send `history` instead."
        )
    if sent:
        raise ApiError(422, "invalid_request", "Send either `history` or `conversation_id`, not both.")
    stored = backend.conversations.history(conversation_id, MAX_TURNS)
    if stored is None:
        raise not_found()
    return stored


def save_turn(
    backend: Backend, conversation_id: str | None, question: str, answer: dict[str, Any]
) -> dict[str, Any]:
    """The answer with the `conversation_id` and `turn_id` it was stored under (a new conversation when none
    was given). With keep_conversations off, or when storage fails (logged), the ids are null."""
    if not backend.settings.keep_conversations:
        return {**answer, "conversation_id": None, "turn_id": None}
    try:
        store = backend.conversations
        if conversation_id is None:
            conversation_id = store.create(question).id
        turn = store.add_turn(conversation_id, question, answer)
    except sqlite3.Error as exc:
        log.warning("could not store the conversation: %s", exc)
        turn = None
    return {
        **answer,
        "conversation_id": turn.conversation_id if turn else None,
        "turn_id": turn.id if turn else None,
    }


def turn_out(turn: Turn, present: set[str] | None) -> dict[str, Any]:
    answer = mark_removed(turn.answer, present) if present is not None else turn.answer
    return {"id": turn.id, "position": turn.position, "question": turn.question, "answer": answer,
            "created": iso(turn.created), "verdict": turn.verdict, "reason": turn.reason}  # fmt: skip


def conversation_out(conv: Conversation) -> dict[str, Any]:
    return {"id": conv.id, "title": conv.title, "created": iso(conv.created), "updated": iso(conv.updated),
            "turns": conv.turn_count, "shared": conv.share_token is not None}  # fmt: skip


def detail(backend: Backend, conv: Conversation) -> dict[str, Any]:
    present = backend.present_documents(doc_keys(t.answer for t in conv.turns))
    share = f"/s/{conv.share_token}" if conv.share_token else None
    return {
        **conversation_out(conv),
        "turn_list": [turn_out(t, present) for t in conv.turns],
        "share_url": share,
    }


def shared(backend: Backend, token: str) -> dict[str, Any]:
    """What a share link shows of its conversation (404 unknown_share when there is none)."""
    conv = backend.conversations.by_share_token(token)
    if conv is None:
        raise ApiError(404, "unknown_share", "This share link does not exist, or was revoked.")
    full = detail(backend, conv)
    return {k: full[k] for k in ("title", "created", "updated", "turn_list")}


router = APIRouter()
READS, CHANGES = [Depends(require_for_reads)], [Depends(require_for_changes)]


@router.get("/api/conversations", tags=["conversations"], dependencies=READS,
            responses={200: {"model": list[ConversationOut]}, **ERRORS})  # fmt: skip
async def list_conversations(
    backend: AppBackend, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000)
) -> list[dict[str, Any]]:
    """Stored conversations, the most recently continued first; the title is the first question."""
    rows = await anyio.to_thread.run_sync(lambda: backend.conversations.recent(limit, offset))
    return [conversation_out(c) for c in rows]


@router.get("/api/conversations/{conversation_id}", tags=["conversations"], dependencies=READS,
            responses={200: {"model": ConversationDetailOut}, **ERRORS})  # fmt: skip
async def get_conversation(backend: AppBackend, conversation_id: str = ConversationId) -> dict[str, Any]:
    """One conversation with its turns, oldest first."""

    def run() -> dict[str, Any]:
        conv = backend.conversations.get(conversation_id)
        if conv is None:
            raise not_found()
        return detail(backend, conv)

    return await anyio.to_thread.run_sync(run)


@router.patch("/api/conversations/{conversation_id}", tags=["conversations"], dependencies=CHANGES,
              responses={200: {"model": ConversationOut}, **ERRORS})  # fmt: skip
async def rename_conversation(
    req: RenameRequest, backend: AppBackend, conversation_id: str = ConversationId
) -> dict[str, Any]:
    """Give a conversation a new title (needs the API key when one is set)."""
    conv = await anyio.to_thread.run_sync(backend.conversations.rename, conversation_id, req.title)
    if conv is None:
        raise not_found()
    return conversation_out(conv)


@router.delete("/api/conversations/{conversation_id}", tags=["conversations"], dependencies=CHANGES,
               responses={200: {"model": DeletedOut}, **ERRORS})  # fmt: skip
async def delete_conversation(backend: AppBackend, conversation_id: str = ConversationId) -> dict[str, Any]:
    """Delete a conversation, its answers' feedback and its share link (needs the API key when set)."""
    if not await anyio.to_thread.run_sync(backend.conversations.delete, conversation_id):
        raise not_found()
    return {"id": conversation_id, "deleted": True}


@router.post("/api/conversations/{conversation_id}/share", tags=["conversations"], dependencies=CHANGES,
             responses={200: {"model": ShareOut}, **ERRORS})  # fmt: skip
async def share_conversation(backend: AppBackend, conversation_id: str = ConversationId) -> dict[str, Any]:
    """A read-only link to the conversation, /s/TOKEN; the same token on every call until revoked."""
    token = await anyio.to_thread.run_sync(backend.conversations.share, conversation_id)
    if token is None:
        raise not_found()
    return {"id": conversation_id, "token": token, "url": f"/s/{token}"}


@router.delete("/api/conversations/{conversation_id}/share", tags=["conversations"], dependencies=CHANGES,
               responses={200: {"model": ConversationOut}, **ERRORS})  # fmt: skip
async def unshare_conversation(backend: AppBackend, conversation_id: str = ConversationId) -> dict[str, Any]:
    """Revoke the share link (a later share makes a new token)."""
    store = backend.conversations

    def run() -> Conversation | None:
        return store.get(conversation_id) if store.unshare(conversation_id) else None

    conv = await anyio.to_thread.run_sync(run)
    if conv is None:
        raise not_found()
    return conversation_out(conv)


@router.get("/api/shared/{token}", tags=["conversations"], responses={200: {"model": SharedOut}, **ERRORS})
async def get_shared(
    backend: AppBackend, token: str = PathParam(..., min_length=1, max_length=MAX_ID_CHARS)
) -> dict[str, Any]:
    """A shared conversation, read-only. The token is the credential: no API key is needed."""
    return await anyio.to_thread.run_sync(shared, backend, token)


@router.post("/api/feedback", tags=["conversations"], dependencies=CHANGES,
             responses={200: {"model": FeedbackOut}, **ERRORS})  # fmt: skip
async def feedback(req: FeedbackRequest, backend: AppBackend) -> dict[str, Any]:
    """Thumbs up or down on an answer (its `turn_id`), stored with it; a later verdict replaces it.
    `searchchat feedback export --jsonl` turns them into an eval-qa set."""
    store = backend.conversations
    turn = await anyio.to_thread.run_sync(store.set_feedback, req.turn_id, req.verdict, req.reason)
    if turn is None:
        raise not_found("turn")
    return {"turn_id": turn.id, "conversation_id": turn.conversation_id, "verdict": turn.verdict,
            "reason": turn.reason}  # fmt: skip


# -- pages ------------------------------------------------------------------------------------------------
@router.get("/c/{conversation_id}", include_in_schema=False)
async def reopen(conversation_id: str = ConversationId) -> FileResponse:
    """The search page; its script loads the conversation from the path."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/s/{token}", include_in_schema=False)
async def shared_page(
    backend: AppBackend, token: str = PathParam(..., min_length=1, max_length=MAX_ID_CHARS)
) -> HTMLResponse:
    try:
        conv = await anyio.to_thread.run_sync(shared, backend, token)
    except ApiError:
        return HTMLResponse(pages.render_missing_share(), status_code=404)
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}  # a link shared, not published
    return HTMLResponse(pages.render_conversation(conv), headers=headers)
