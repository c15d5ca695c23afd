"""An OpenAI-compatible chat endpoint, so existing chat clients can use searchchat as a model that cites."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from searchchat.answering.events import Final, Token, payload
from searchchat.settings import Settings
from searchchat.web.auth import require_for_reads
from searchchat.web.backend import Backend
from searchchat.web.common import AppBackend, TicketedSSE, check_question, error_event
from searchchat.web.errors import ApiError, error_body
from searchchat.web.errors import safe_dumps as dumps
from searchchat.web.limiter import Ticket
from searchchat.web.models import ChatMessage, ChatRequest, valid_unicode

MODEL_ID = "searchchat"
SOURCES_HEADING = "\n\nSources:\n"
STARTED = int(time.time())


def text_of(message: ChatMessage) -> str:
    """A message's text: a plain string, or the text parts of a list of content parts."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") in ("text", "input_text"))


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; earlier user and assistant turns are the history (with the
    Sources block that this endpoint appends removed again). System messages are ignored: searchchat's own
    instructions keep answers grounded in the documents."""
    if messages[-1].role != "user":
        raise ApiError(422, "invalid_request", "The last message must come from the user.")
    history = []
    for m in messages[:-1]:
        if m.role in ("user", "assistant"):
            text = text_of(m).split(SOURCES_HEADING, 1)[0].strip()
            if text:
                history.append({"role": m.role, "content": text})
    return text_of(messages[-1]), history


def sources_block(answer: dict[str, Any]) -> str:
    lines = []
    for c in answer.get("citations", []):
        head = c["title"] + (f" — {c['section']}" if c.get("section") and c["section"] != c["title"] else "")
        lines.append(f"[{c['n']}] {head}: {c['url']}")
    return SOURCES_HEADING + "\n".join(lines) if lines else ""


def extras(answer: dict[str, Any]) -> dict[str, Any]:
    """Fields added to OpenAI's shape: the citations used, every source given, and abstention."""
    return {"citations": answer.get("citations", []), "sources": answer.get("sources", []),
            "abstained": answer.get("abstained", False)}  # fmt: skip


def check_chat(settings: Settings, req: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """The question (checked like /ask's) and the history; every earlier message passes the same Unicode
    check, since it reaches the model too."""
    question, history = split_messages(req.messages)
    question = check_question(settings, question)
    for turn in history:
        try:
            valid_unicode(turn["content"])
        except ValueError as e:
            raise ApiError(422, "invalid_message", f"A message {e}.") from None
    return question, history


def completion(final: dict[str, Any] | None, ident: str, created: int, model: str) -> dict[str, Any]:
    """The chat.completion of a whole answer (None: the client went away)."""
    if final is None:
        return {"error": {"message": "client closed", "type": "client_closed"}}
    message = {"role": "assistant", "content": final["answer"] + sources_block(final)}
    return {"id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            **extras(final)}  # fmt: skip


async def chunks(
    backend: Backend,
    ticket: Ticket,
    question: str,
    kwargs: dict[str, Any],
    ident: str,
    created: int,
    model: str,
) -> AsyncIterator[dict[str, str]]:
    """The answer as chat.completion.chunk events, ending with `data: [DONE]`; an error is OpenAI's error JSON."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> dict[str, str]:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}  # fmt: skip
        return {"data": dumps(body)}

    yield chunk({"role": "assistant", "content": ""})
    try:
        async with aclosing(backend.answer_events(ticket, question, **kwargs)) as stream:
            async for ev in stream:
                if isinstance(ev, Token) and ev.text:
                    yield chunk({"content": ev.text})
                elif isinstance(ev, Final):
                    final = payload(ev)
                    block = sources_block(final)
                    if block:
                        yield chunk({"content": block})
                    yield chunk({}, "stop", **extras(final))
    except Exception as exc:
        err = error_event(exc)
        status = 503 if err["error"] != "internal_error" else 500
        yield {"data": dumps(error_body("/v1/", status, err["error"], err["detail"]))}
    yield {"data": "[DONE]"}


router = APIRouter(prefix="/v1", tags=["openai-compatible"], dependencies=[Depends(require_for_reads)])


@router.get("/models")
async def models() -> dict[str, Any]:
    """The one model this server offers (any `model` value is accepted by chat completions)."""
    return {"object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": STARTED, "owned_by": "searchchat"}]}  # fmt: skip


@router.post(
    "/chat/completions",
    responses={200: {"description": "An OpenAI chat.completion (or, with `stream`, chat.completion.chunk "
                     "server-sent events ending with `data: [DONE]`). The content ends with a Sources list "
                     "for the [n] markers; `citations` and `sources` carry them as data.",
                     "content": {"application/json": {}, "text/event-stream": {}}}},
)  # fmt: skip
async def chat(req: ChatRequest, request: Request, backend: AppBackend) -> Any:
    """OpenAI-compatible chat: the last user message is answered from the index, with citations."""
    question, history = check_chat(backend.settings, req)
    await anyio.to_thread.run_sync(backend.require_index)
    ticket = backend.limiter.admit()
    ident, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), req.model or MODEL_ID
    kwargs: dict[str, Any] = {"history": history or None}
    if not req.stream:
        with ticket:
            final = await backend.answer(ticket, question, request.is_disconnected, **kwargs)
        return completion(final, ident, created, model)
    events = chunks(backend, ticket, question, kwargs, ident, created, model)
    return TicketedSSE(events, ticket, ping=15, sep="\n")
