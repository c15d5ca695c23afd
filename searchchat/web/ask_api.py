"""Answers over HTTP: POST /ask (the cited answer as JSON) and POST /ask/stream (server-sent events), both
bounded by the generation limiter and stored as a conversation's turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from searchchat.answering.events import Final, payload
from searchchat.web.auth import require_for_reads
from searchchat.web.backend import Backend
from searchchat.web.common import ERRORS, AppBackend, TicketedSSE, check_question, error_event, to_filters
from searchchat.web.conversation_api import history_for, save_turn
from searchchat.web.errors import SafeJSONResponse
from searchchat.web.errors import safe_dumps as dumps
from searchchat.web.limiter import Ticket
from searchchat.web.models import AnswerOut, AskRequest, ErrorOut

router = APIRouter()


async def ask_kwargs(backend: Backend, req: AskRequest) -> dict[str, Any]:
    """The answer's options from the request; the history is the stored conversation's (404 when unknown)."""
    sent = [t.model_dump() for t in req.history]
    history = await anyio.to_thread.run_sync(history_for, backend, req.conversation_id, sent)
    return {"history": history or None, "k": req.k, "mode": req.mode, "filters": to_filters(req.filters),
            "strict": req.strict}  # fmt: skip


async def answer_stream(
    backend: Backend, ticket: Ticket, req: AskRequest, question: str, kwargs: dict[str, Any]
) -> AsyncIterator[dict[str, str]]:
    """The answer's events as SSE; the final one is stored as the conversation's turn, with its ids."""
    try:
        async with aclosing(backend.answer_events(ticket, question, **kwargs)) as stream:
            async for ev in stream:
                if isinstance(ev, Final):
                    data = await anyio.to_thread.run_sync(
                        save_turn, backend, req.conversation_id, question, payload(ev)
                    )
                else:
                    data = payload(ev)
                yield {"event": ev.name, "data": dumps(data)}
    except Exception as exc:
        yield {"event": "error", "data": dumps(error_event(exc))}


@router.post("/ask", tags=["answer"], dependencies=[Depends(require_for_reads)],
             responses={200: {"model": AnswerOut}, 404: {"model": ErrorOut}, **ERRORS})  # fmt: skip
async def ask(req: AskRequest, request: Request, backend: AppBackend) -> Any:
    """A cited answer. Markers [n] in `answer` refer to `sources[n-1]`; `citations` lists those used.
    The turn is stored: send the returned `conversation_id` back to continue the conversation."""
    question = check_question(backend.settings, req.question)
    kwargs = await ask_kwargs(backend, req)  # 404 for an unknown conversation
    await anyio.to_thread.run_sync(backend.require_index)  # 503 no_index before queueing
    with backend.limiter.admit() as ticket:
        final = await backend.answer(ticket, question, request.is_disconnected, **kwargs)
    if final is None:
        return SafeJSONResponse({"error": "client_closed", "detail": "The client went away."}, 499)
    return await anyio.to_thread.run_sync(save_turn, backend, req.conversation_id, question, final)


@router.post(
    "/ask/stream",
    tags=["answer"],
    dependencies=[Depends(require_for_reads)],
    responses={
        200: {"description": "Server-sent events: `sources` ({sources, query}), then `token` ({text}) "
              "pieces, then `final` (the Answer JSON of POST /ask); or `error` ({error, detail}).",
              "content": {"text/event-stream": {}}},
        404: {"model": ErrorOut},
        **ERRORS,
    },
)  # fmt: skip
async def ask_stream(req: AskRequest, backend: AppBackend) -> TicketedSSE:
    """The answer as server-sent events, token by token. Generation stops when the client disconnects."""
    question = check_question(backend.settings, req.question)
    kwargs = await ask_kwargs(backend, req)
    await anyio.to_thread.run_sync(backend.require_index)
    ticket = backend.limiter.admit()
    return TicketedSSE(answer_stream(backend, ticket, req, question, kwargs), ticket, ping=15, sep="\n")
