"""What the web app runs on: the live index, a lazily loaded retriever and answerer, and generation that runs
in worker threads (off the event loop), bounded by the limiter and stopped when the client goes away."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any, cast

import anyio
import anyio.to_thread

from indexer.store import IndexError_, IndexNotFound, ReadStore, has_index, open_handle
from searchchat.answering.events import AnswerEvent, Final
from searchchat.answering.pipeline import Answerer
from searchchat.conversations import ConversationStore
from searchchat.retrieval.retriever import (
    EmbedderMismatch,
    Filters,
    Retriever,
    SearchResult,
    check_embedder,
    single_threaded_faiss,
)
from searchchat.settings import Settings
from searchchat.web.errors import ApiError
from searchchat.web.limiter import GenerationLimiter, Ticket

log = logging.getLogger("searchchat.web")
_END = object()


def iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds") if ts else None


class Backend:
    """Shared state of one app. Anything that may block (loading models, searching, generating) is called
    from worker threads; the event loop only shuttles results."""

    def __init__(
        self, settings: Settings, answerer: Answerer | None = None, retriever: Retriever | None = None
    ):
        self.settings = settings
        self.handle = open_handle(settings.store, settings.index_dir)
        self._retriever = retriever or (answerer.retriever if answerer is not None else None)
        self._answerer = answerer
        self._injected = self._retriever is not None
        self._retriever_lock = threading.Lock()
        self._answerer_lock = threading.Lock()  # separate: loading a model must not hold up searches
        self._checked: str | None = None  # the snapshot whose embedder matched ours
        self.limiter = GenerationLimiter(settings.max_concurrent_generations, settings.max_queued_generations)
        self.conversations = ConversationStore(settings.conversations_path)

    # -- the index ----------------------------------------------------------------------------------------
    def has_index(self) -> bool:
        """Cheap enough for /healthz: one small file read (local) or one small query (Milvus), no loading."""
        if self._injected:
            try:
                self.store()
                return True
            except Exception:
                return False
        return has_index(self.settings.store, self.settings.index_dir)

    def store(self) -> ReadStore:
        """The live snapshot (IndexNotFound -> 503 no_index through the app's handlers)."""
        if self._retriever is not None:
            return self._retriever.store
        return self.handle.get()

    def stats(self) -> dict[str, Any]:
        s = self.store().stats()
        return {"documents": s.documents, "chunks": s.chunks, "sources": s.sources,
                "last_indexed": iso(s.last_indexed), "version": s.version, "embedder": s.embedder}  # fmt: skip

    def sources(self) -> list[dict[str, Any]]:
        return [{**row, "last_indexed": iso(row["last_indexed"])} for row in self.store().sources()]

    def present_documents(self, keys: set[str]) -> set[str] | None:
        """Which of these doc_ids (or URLs) the live index holds; None when there is no index to ask."""
        try:
            store = self.store()
        except IndexError_:
            return None
        return store.document_keys(keys)

    # -- models -------------------------------------------------------------------------------------------
    def retriever(self) -> Retriever:
        with self._retriever_lock:
            if self._retriever is None:
                from indexer.embed import get_embedder

                self._retriever = Retriever(self.handle, get_embedder(self.settings), self.settings)
            return self._retriever

    def answerer(self) -> Answerer:
        retriever = self.retriever()
        with self._answerer_lock:
            if self._answerer is None:
                from searchchat.generators import get_generator

                self._answerer = Answerer(retriever, get_generator(self.settings), self.settings)
            return self._answerer

    def generator_name(self) -> str:
        return self._answerer.generator.name if self._answerer is not None else self.settings.generator

    def require_index(self) -> None:
        """Raise no_index (503 through the app's handlers) before a question waits for a generation slot;
        reads only the small marker has_index reads, the snapshot is opened once, by the request's work."""
        if not self.has_index():
            raise IndexNotFound(
                f"No index at {self.settings.index_dir}. Build one first: searchchat index SOURCE..."
            )

    def snapshot(self, retriever: Retriever) -> ReadStore:
        """The request's snapshot, resolved once and checked against the query embedder (once per version);
        the request's search runs on it even if a commit lands meanwhile."""
        store = retriever.store
        if self._checked == store.version:
            return store
        try:
            check_embedder(store, retriever.embedder)
        except EmbedderMismatch as exc:
            raise ApiError(503, "index_mismatch", str(exc)) from None
        self._checked = store.version
        return store

    def preload(self) -> None:
        """Load the embedder and generator now (in a background thread at start-up) so the first question
        does not wait; failures are logged and reported again on the first request."""
        try:
            self.retriever()
            answerer = self.answerer()
            if answerer.policy().choice != "generated":
                answerer.load_judge()
            log.info(
                "models loaded: embedder %s, generator %s", self.settings.embedder, self.settings.generator
            )
        except Exception as exc:  # reported to clients as 503 when they ask
            log.warning("could not preload models: %s", exc)

    # -- work ---------------------------------------------------------------------------------------------
    def search(self, query: str, k: int, mode: str | None, filters: Filters | None) -> SearchResult:
        single_threaded_faiss()
        retriever = self.retriever()
        store = self.snapshot(retriever)
        try:
            return retriever.search(query, k=k, mode=mode, filters=filters, store=store)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc

    def _open_stream(self, question: str, **kwargs: Any) -> Iterator[AnswerEvent]:
        single_threaded_faiss()
        answerer = self.answerer()
        store = self.snapshot(answerer.retriever)  # no_index or index_mismatch before the stream starts
        return answerer.stream(question, store=store, **kwargs)

    async def answer_events(
        self, ticket: Ticket, question: str, is_disconnected: Callable[[], Any] | None = None, **kwargs: Any
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Answerer events, produced in worker threads one at a time within a generation slot. Stops (and
        closes the generator, which stops the model) when the consumer is cancelled or the client leaves."""
        try:
            async with ticket.running():
                it = await anyio.to_thread.run_sync(lambda: self._open_stream(question, **kwargs))
                try:
                    while True:
                        event = await anyio.to_thread.run_sync(next, it, _END)
                        if event is _END:
                            return
                        yield cast(AnswerEvent, event)
                        if is_disconnected is not None and await is_disconnected():
                            log.info("client went away; stopped generating")
                            return
                finally:
                    with anyio.CancelScope(shield=True):
                        close = getattr(it, "close", None)
                        if close is not None:
                            await anyio.to_thread.run_sync(close)
        finally:
            ticket.release()

    async def answer(self, ticket: Ticket, question: str, is_disconnected: Callable[[], Any] | None = None,
                     **kwargs: Any) -> dict[str, Any] | None:  # fmt: skip
        """The final answer JSON, or None when the client disconnected first."""
        final: dict[str, Any] | None = None
        async with aclosing(self.answer_events(ticket, question, is_disconnected, **kwargs)) as events:
            async for event in events:
                if isinstance(event, Final):
                    final = event.answer.to_dict()
        return final
