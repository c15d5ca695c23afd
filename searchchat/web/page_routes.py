"""The HTML pages: the search page, the API reference at /docs, and one indexed document at /view."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from searchchat.web import pages
from searchchat.web.auth import require_for_reads
from searchchat.web.common import STATIC, AppBackend
from searchchat.web.errors import ApiError
from searchchat.web.models import MAX_VIEW_CHARS

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(pages.render_docs(request.app.openapi()))


@router.get("/view", include_in_schema=False, dependencies=[Depends(require_for_reads)])
async def view(
    backend: AppBackend,
    url: str = Query(..., max_length=MAX_VIEW_CHARS),
    hl: str | None = Query(None, max_length=MAX_VIEW_CHARS),
) -> HTMLResponse:
    doc = await anyio.to_thread.run_sync(pages.load_document, backend.store(), url)
    if doc is None:
        raise ApiError(404, "not_found", "That document is not in the index.")
    return HTMLResponse(await anyio.to_thread.run_sync(pages.render_document, doc, hl))
