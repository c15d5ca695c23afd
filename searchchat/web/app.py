"""The web app: the search page, the JSON API (documented at /docs) and the OpenAI-compatible endpoint, put
together from the routers of searchchat.web, with the middleware and error handlers around them."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from searchchat import __version__
from searchchat.answering.pipeline import Answerer
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings
from searchchat.web import (
    ask_api,
    auth,
    conversation_api,
    openai_compat,
    page_routes,
    search_api,
    sources_api,
)
from searchchat.web.backend import Backend
from searchchat.web.common import STATIC, document_question_rules
from searchchat.web.errors import SafeJSONResponse, install_handlers
from searchchat.web.jobs import JobRunner
from searchchat.web.middleware import BodyLimit, HeadAsGet, HostCheck, SecurityHeaders, TargetLimit
from searchchat.web.models import max_target_bytes
from searchchat.web.sources_api import upload_body_limit

log = logging.getLogger("searchchat.web")
DESCRIPTION = (
    'Errors are JSON: `{"error": code, "detail": message}` (OpenAI\'s error shape under /v1). Answer '
    "generation is bounded: when the queue is full the server answers 503 with Retry-After. When an API key is "
    "configured, send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`."
)
# the routers, in the order requests are matched against them
ROUTERS = (page_routes, search_api, ask_api, conversation_api, sources_api, openai_compat)


def lifespan(backend: Backend, preload: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """With `preload`, the models load in a background thread when the server starts."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        if preload:
            threading.Thread(target=backend.preload, name="searchchat-preload", daemon=True).start()
        yield

    return run


def document(app: FastAPI, settings: Settings) -> None:
    """The app's OpenAPI schema, with check_question's rules on the fields it checks; built once."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_question_rules(plain_openapi(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BodyLimit, paths={"/api/uploads": upload_body_limit(settings)})
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    hosts = auth.allowed_hosts(settings)
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)
    # outermost: a URL longer than any valid one is refused before anything reads it
    app.add_middleware(TargetLimit, limit=max_target_bytes(settings.max_question_chars))


def create_app(
    settings: Settings,
    answerer: Answerer | None = None,
    retriever: Retriever | None = None,
    preload: bool = False,
) -> FastAPI:
    """The app over settings.index_dir (reloaded when a new snapshot is published), or over the given
    answerer/retriever. With `preload`, models load in a background thread at start-up. The routes take
    what they need from app.state: the backend, the settings and the job runner."""
    backend = Backend(settings, answerer=answerer, retriever=retriever)
    app = FastAPI(
        title="searchchat",
        version=__version__,
        summary="Ask questions about your indexed documents; answers cite their sources as [n].",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        default_response_class=SafeJSONResponse,
        lifespan=lifespan(backend, preload),
    )
    app.state.backend = backend
    app.state.settings = settings
    app.state.jobs = JobRunner(settings, lambda: backend.retriever().embedder)
    document(app, settings)
    install_handlers(app)
    add_middleware(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    return app
