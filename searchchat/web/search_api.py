"""The read-only JSON API: liveness and readiness (/healthz), the index's figures (/api/stats) and ranked
passages without generation (/search)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query

from searchchat.web.auth import require_for_reads
from searchchat.web.common import ERRORS, AppBackend, check_question, to_filters
from searchchat.web.errors import NO_INDEX
from searchchat.web.models import (
    MAX_DOCTYPE_CHARS,
    MAX_FILTER_CHARS,
    FiltersIn,
    HealthOut,
    Mode,
    SearchOut,
    StatsOut,
)

router = APIRouter()


@router.get("/healthz", tags=["status"], responses={200: {"model": HealthOut}})
async def healthz(backend: AppBackend) -> dict[str, Any]:
    """Liveness and readiness: always fast, never loads anything."""
    has_index = backend.has_index()
    return {"status": "ok", "index": has_index, "message": None if has_index else NO_INDEX,
            "generator": backend.generator_name(), "generations": backend.limiter.snapshot()}  # fmt: skip


@router.get("/api/stats", tags=["index"], dependencies=[Depends(require_for_reads)],
            responses={200: {"model": StatsOut}, **ERRORS})  # fmt: skip
async def stats(backend: AppBackend) -> dict[str, Any]:
    """Documents, chunks and sources in the index, and when it was last indexed."""
    return await anyio.to_thread.run_sync(backend.stats)


@router.get("/search", tags=["search"], dependencies=[Depends(require_for_reads)],
            responses={200: {"model": SearchOut}, **ERRORS})  # fmt: skip
async def search(
    backend: AppBackend,
    q: str = Query(..., description="What to look for."),
    k: int = Query(10, ge=1, le=100, description="Number of passages."),
    mode: Mode | None = Query(None, description="dense, bm25 or hybrid (default: the server's setting)."),
    source: str | None = Query(None, max_length=MAX_FILTER_CHARS),
    url_prefix: str | None = Query(None, max_length=MAX_FILTER_CHARS),
    doctype: str | None = Query(None, max_length=MAX_DOCTYPE_CHARS),
) -> dict[str, Any]:
    """Ranked passages for a query (no generation)."""
    query = check_question(backend.settings, q, "query")
    filters = to_filters(FiltersIn(source=source, url_prefix=url_prefix, doctype=doctype))
    result = await anyio.to_thread.run_sync(lambda: backend.search(query, k, mode, filters))
    out = result.to_dict()
    for row in out["hits"]:
        row["link"] = row["url"]  # the same link (an older name, kept for clients that read it)
    return out
