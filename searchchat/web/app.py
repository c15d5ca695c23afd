"""The web app: the search page, the JSON API (documented at /docs) and the OpenAI-compatible endpoint."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from searchchat import __version__
from searchchat.answer import Answerer
from searchchat.answer_events import Final, payload
from searchchat.retrieve import Retriever
from searchchat.settings import Settings
from searchchat.web import auth, pages
from searchchat.web.backend import Backend
from searchchat.web.common import (
    TicketedSSE,
    check_question,
    document_question_rules,
    error_event,
    to_filters,
)
from searchchat.web.conversation_api import history_for, save_turn
from searchchat.web.conversation_api import router as conversation_router
from searchchat.web.errors import NO_INDEX, ApiError, SafeJSONResponse, install_handlers
from searchchat.web.errors import safe_dumps as dumps
from searchchat.web.jobs import JobRunner
from searchchat.web.middleware import BodyLimit, HeadAsGet, HostCheck, SecurityHeaders, TargetLimit
from searchchat.web.models import (
    MAX_DOCTYPE_CHARS,
    MAX_FILTER_CHARS,
    MAX_VIEW_CHARS,
    AnswerOut,
    AskRequest,
    ErrorOut,
    FiltersIn,
    HealthOut,
    Mode,
    SearchOut,
    StatsOut,
    max_target_bytes,
)
from searchchat.web.sources_api import router as sources_router
from searchchat.web.sources_api import upload_body_limit

log = logging.getLogger("searchchat.web")
STATIC = Path(__file__).parent / "static"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 409, 413, 414, 422, 500, 503)
}


def create_app(
    settings: Settings,
    answerer: Answerer | None = None,
    retriever: Retriever | None = None,
    preload: bool = False,
) -> FastAPI:
    """The app over settings.index_dir (reloaded when a new snapshot is published), or over the given
    answerer/retriever. With `preload`, models load in a background thread at start-up."""
    backend = Backend(settings, answerer=answerer, retriever=retriever)
    for_changes, for_reads = auth.dependencies(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if preload:
            threading.Thread(target=backend.preload, name="searchchat-preload", daemon=True).start()
        yield

    app = FastAPI(
        title="searchchat",
        version=__version__,
        summary="Ask questions about your indexed documents; answers cite their sources as [n].",
        description='Errors are JSON: `{"error": code, "detail": message}` (OpenAI\'s error shape under '
        "/v1). Answer generation is bounded: when the queue is full the server answers 503 with Retry-After. "
        "When an API key is configured, send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`.",
        docs_url=None,
        redoc_url=None,
        default_response_class=SafeJSONResponse,
        lifespan=lifespan,
    )
    app.state.backend = backend
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_question_rules(plain_openapi(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    install_handlers(app)
    app.add_middleware(BodyLimit, paths={"/api/uploads": upload_body_limit(settings)})
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    hosts = auth.allowed_hosts(settings)
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)
    # outermost: a URL longer than any valid one is refused before anything reads it
    app.add_middleware(TargetLimit, limit=max_target_bytes(settings.max_question_chars))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- pages ----------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(pages.render_docs(app.openapi()))

    @app.get("/view", include_in_schema=False, dependencies=[Depends(for_reads)])
    async def view(
        url: str = Query(..., max_length=MAX_VIEW_CHARS),
        hl: str | None = Query(None, max_length=MAX_VIEW_CHARS),
    ) -> HTMLResponse:
        doc = await anyio.to_thread.run_sync(pages.load_document, backend.store(), url)
        if doc is None:
            raise ApiError(404, "not_found", "That document is not in the index.")
        return HTMLResponse(await anyio.to_thread.run_sync(pages.render_document, doc, hl))

    # -- API ------------------------------------------------------------------------------------------------
    @app.get("/healthz", tags=["status"], responses={200: {"model": HealthOut}})
    async def healthz() -> dict[str, Any]:
        """Liveness and readiness: always fast, never loads anything."""
        has_index = backend.has_index()
        return {"status": "ok", "index": has_index, "message": None if has_index else NO_INDEX,
                "generator": backend.generator_name(), "generations": backend.limiter.snapshot()}  # fmt: skip

    @app.get("/api/stats", tags=["index"], dependencies=[Depends(for_reads)],
             responses={200: {"model": StatsOut}, **ERRORS})  # fmt: skip
    async def stats() -> dict[str, Any]:
        """Documents, chunks and sources in the index, and when it was last indexed."""
        return await anyio.to_thread.run_sync(backend.stats)

    @app.get("/search", tags=["search"], dependencies=[Depends(for_reads)],
             responses={200: {"model": SearchOut}, **ERRORS})  # fmt: skip
    async def search(
        q: str = Query(..., description="What to look for."),
        k: int = Query(10, ge=1, le=100, description="Number of passages."),
        mode: Mode | None = Query(None, description="dense, bm25 or hybrid (default: the server's setting)."),
        source: str | None = Query(None, max_length=MAX_FILTER_CHARS),
        url_prefix: str | None = Query(None, max_length=MAX_FILTER_CHARS),
        doctype: str | None = Query(None, max_length=MAX_DOCTYPE_CHARS),
    ) -> dict[str, Any]:
        """Ranked passages for a query (no generation)."""
        query = check_question(settings, q, "query")
        filters = to_filters(FiltersIn(source=source, url_prefix=url_prefix, doctype=doctype))
        result = await anyio.to_thread.run_sync(lambda: backend.search(query, k, mode, filters))
        out = result.to_dict()
        for row in out["hits"]:
            row["link"] = row["url"]  # the same link (an older name, kept for clients that read it)
        return out

    async def ask_kwargs(req: AskRequest) -> dict[str, Any]:
        sent = [t.model_dump() for t in req.history]
        history = await anyio.to_thread.run_sync(history_for, backend, req.conversation_id, sent)
        return {"history": history or None, "k": req.k, "mode": req.mode, "filters": to_filters(req.filters),
                "strict": req.strict}  # fmt: skip

    @app.post("/ask", tags=["answer"], dependencies=[Depends(for_reads)],
              responses={200: {"model": AnswerOut}, 404: {"model": ErrorOut}, **ERRORS})  # fmt: skip
    async def ask(req: AskRequest, request: Request) -> Any:
        """A cited answer. Markers [n] in `answer` refer to `sources[n-1]`; `citations` lists those used.
        The turn is stored: send the returned `conversation_id` back to continue the conversation."""
        question = check_question(settings, req.question)
        kwargs = await ask_kwargs(req)  # 404 for an unknown conversation
        await anyio.to_thread.run_sync(backend.store)  # 503 no_index before queueing
        with backend.limiter.admit() as ticket:
            final = await backend.answer(ticket, question, request.is_disconnected, **kwargs)
        if final is None:
            return SafeJSONResponse({"error": "client_closed", "detail": "The client went away."}, 499)
        return await anyio.to_thread.run_sync(save_turn, backend, req.conversation_id, question, final)

    @app.post(
        "/ask/stream",
        tags=["answer"],
        dependencies=[Depends(for_reads)],
        responses={
            200: {"description": "Server-sent events: `sources` ({sources, query}), then `token` ({text}) "
                  "pieces, then `final` (the Answer JSON of POST /ask); or `error` ({error, detail}).",
                  "content": {"text/event-stream": {}}},
            404: {"model": ErrorOut},
            **ERRORS,
        },
    )  # fmt: skip
    async def ask_stream(req: AskRequest) -> TicketedSSE:
        """The answer as server-sent events, token by token. Generation stops when the client disconnects."""
        question = check_question(settings, req.question)
        kwargs = await ask_kwargs(req)
        await anyio.to_thread.run_sync(backend.store)
        ticket = backend.limiter.admit()

        async def events() -> AsyncIterator[dict[str, str]]:
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

        return TicketedSSE(events(), ticket, ping=15, sep="\n")

    app.include_router(conversation_router(backend, for_changes, for_reads, STATIC / "index.html"))
    runner = JobRunner(settings, lambda: backend.retriever().embedder)
    app.state.jobs = runner
    app.include_router(sources_router(backend, runner, for_changes, for_reads, STATIC / "sources.html"))

    from searchchat.web.openai_compat import router as openai_router

    app.include_router(openai_router(backend, settings, for_reads))
    return app
