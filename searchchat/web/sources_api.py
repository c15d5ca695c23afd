"""Sources over HTTP: the /sources page, adding a site, sitemap, folder or uploaded files, re-indexing and
removing a source, and the indexing runs (jobs) that these start, with their progress as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse

from indexer.sources import MAX_SOURCE_CHARS, SOURCE_PATTERN, InvalidSource, classify
from searchchat.settings import Settings
from searchchat.web import guard
from searchchat.web.backend import Backend, iso
from searchchat.web.errors import ApiError
from searchchat.web.errors import safe_dumps as dumps
from searchchat.web.jobs import FINISHED, Job, JobRunner, forget_run, last_runs
from searchchat.web.models import (
    MAX_ID_CHARS,
    ErrorOut,
    JobOut,
    ReindexRequest,
    RemovedOut,
    SourceListOut,
    SourceRequest,
    UploadOut,
)
from searchchat.web.uploads import is_upload, safe_name, store_upload

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503)
}
JobId = PathParam(..., min_length=1, max_length=MAX_ID_CHARS, description="A job's id.")
POLL_S = 0.2  # how often an event stream looks at its job


def upload_body_limit(settings: Settings) -> int:
    """The largest POST /api/uploads body: every file at its largest, with room for the multipart framing."""
    return settings.max_upload_files * (settings.max_upload_bytes + 16 * 1024) + 64 * 1024


def job_out(job: Job) -> dict[str, Any]:
    data, _ = job.snapshot()
    return {**data, "created": iso(data["created"]), "started": iso(data["started"]),
            "finished": iso(data["finished"])}  # fmt: skip


def router(backend: Backend, runner: JobRunner, for_changes: Callable[..., None],
           for_reads: Callable[..., None], page: Path) -> APIRouter:  # fmt: skip
    settings = backend.settings
    same_origin = guard.same_origin(settings)
    api = APIRouter()

    @api.get("/sources", include_in_schema=False)
    async def sources_page() -> FileResponse:
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    def list_sources() -> list[dict[str, Any]]:
        runs, active = last_runs(settings.runs_path), runner.active()
        rows = []
        for row in backend.sources():
            run = runs.get(row["source"])
            if row["source"] in active:
                run = {"job": "", "state": active[row["source"]]}
            if run is not None:
                run = {**run, "finished": iso(run.get("finished"))}
            uploaded = is_upload(row["source"], settings.uploads_dir) is not None
            rows.append({**row, "uploaded": uploaded, "last_run": run})
        return rows

    @api.get("/api/sources", tags=["index"], dependencies=[Depends(for_reads)],
             responses={200: {"model": list[SourceListOut]}, **ERRORS})  # fmt: skip
    async def sources() -> list[dict[str, Any]]:
        """Indexed sources with their document and chunk counts, and the last run started from the web app."""
        return await anyio.to_thread.run_sync(list_sources)

    def prepare(req: SourceRequest) -> Job:
        crawl = {k: v for k, v in {"depth": req.depth, "max_pages": req.max_pages}.items() if v is not None}
        if req.folder is not None:
            where, kind = str(guard.check_folder(req.folder, settings)), "folder"
        elif req.sitemap is not None:
            where, kind = guard.check_url(req.sitemap, settings), "sitemap"
            crawl["sitemap"] = True
        else:
            assert req.url is not None
            where, kind = guard.check_url(req.url, settings), "web"
        try:
            key = classify(where).key
        except (ValueError, FileNotFoundError) as exc:
            raise ApiError(422, "invalid_source", str(exc)) from None
        total = None if kind == "folder" else crawl.get("max_pages", settings.crawl_max_pages)
        return runner.submit(kind, [key], crawl, total)

    @api.post("/api/sources", tags=["index"], status_code=202, dependencies=[Depends(for_changes), Depends(same_origin)],
              responses={202: {"model": JobOut}, **ERRORS})  # fmt: skip
    async def add_source(req: SourceRequest) -> dict[str, Any]:
        """Index a web site, a sitemap or a server folder in the background; returns the job to follow
        (GET /api/jobs/{id}, or its event stream). Crawls reach only the configured schemes and hosts: by
        default public hosts, never loopback or private addresses. Needs the API key when one is set."""
        return job_out(await anyio.to_thread.run_sync(prepare, req))

    @api.post("/api/uploads", tags=["index"], status_code=202, dependencies=[Depends(for_changes), Depends(same_origin)],
              responses={202: {"model": UploadOut}, **ERRORS})  # fmt: skip
    async def upload(
        files: list[UploadFile] = File(..., description="Markdown, HTML, text, PDF or JSONL files."),
    ) -> dict[str, Any]:
        """Store files under SEARCHCHAT_HOME/uploads (names sanitised; one of the same name is replaced) and
        index each as a source of its own, in the background. Bounded by SEARCHCHAT_MAX_UPLOAD_FILES and
        SEARCHCHAT_MAX_UPLOAD_BYTES. Needs the API key when one is set."""
        if len(files) > settings.max_upload_files:
            raise ApiError(
                413, "too_many_files", f"Upload at most {settings.max_upload_files} files at once."
            )
        names = [safe_name(f.filename) for f in files]
        if len(set(names)) != len(names):
            raise ApiError(422, "duplicate_file_name", "Two of the files have the same name.")
        for f, name in zip(files, names, strict=True):
            if f.size is not None and f.size > settings.max_upload_bytes:
                raise ApiError(
                    413, "file_too_large", f"{name!r} is larger than {settings.max_upload_bytes} bytes."
                )

        def store() -> list[Any]:
            return [store_upload(settings.uploads_dir, name, f.file, settings.max_upload_bytes)
                    for f, name in zip(files, names, strict=True)]  # fmt: skip

        stored = await anyio.to_thread.run_sync(store)
        job = runner.submit("upload", [s.source for s in stored], total=len(stored))
        return {"files": [vars(s) for s in stored], "job": job_out(job)}

    @api.post("/api/sources/reindex", tags=["index"], status_code=202, dependencies=[Depends(for_changes), Depends(same_origin)],
              responses={202: {"model": JobOut}, **ERRORS})  # fmt: skip
    async def reindex(req: ReindexRequest) -> dict[str, Any]:
        """Index a source again with the options it was indexed with: unchanged documents are skipped, changed
        ones re-embedded, vanished ones removed. Needs the API key when one is set."""

        def prepare_reindex() -> Job:
            store = backend.store()
            known = store.source_options(req.source)
            if known is None:
                raise ApiError(404, "unknown_source", f"No source {req.source!r} in the index.")
            kind, crawl = known
            total = crawl.get("max_pages", settings.crawl_max_pages) if kind in ("web", "sitemap") else None
            return runner.submit("reindex", [req.source], crawl, total)

        return job_out(await anyio.to_thread.run_sync(prepare_reindex))

    @api.delete("/api/sources", tags=["index"], dependencies=[Depends(for_changes), Depends(same_origin)],
                responses={200: {"model": RemovedOut}, **ERRORS})  # fmt: skip
    async def remove_source(
        source: str = Query(..., min_length=1, max_length=MAX_SOURCE_CHARS, pattern=SOURCE_PATTERN),
    ) -> dict[str, Any]:
        """Remove a source and everything indexed from it; an uploaded file is deleted too (needs the API key
        when one is set)."""
        from searchchat.indexing import remove_source as remove

        def run() -> tuple[int, int]:
            upload = is_upload(source, settings.uploads_dir)
            try:
                removed = remove(source, settings)
            except InvalidSource as exc:
                raise ApiError(422, "invalid_source", str(exc)) from None
            except KeyError as exc:
                if upload is None:
                    raise ApiError(404, "unknown_source", str(exc.args[0] if exc.args else exc)) from None
                removed = (0, 0)  # stored but never indexed (its run failed): the file still goes
            if upload is not None:
                upload.unlink(missing_ok=True)
            forget_run(settings.runs_path, source)
            return removed

        docs, chunks = await anyio.to_thread.run_sync(run)
        return {"source": source, "documents_removed": docs, "chunks_removed": chunks}

    @api.get("/api/jobs", tags=["index"], dependencies=[Depends(for_reads)],
             responses={200: {"model": list[JobOut]}, **ERRORS})  # fmt: skip
    async def jobs() -> list[dict[str, Any]]:
        """Indexing runs started from the web app since the server started, newest first."""
        return [job_out(j) for j in runner.recent()]

    def find(job_id: str) -> Job:
        job = runner.get(job_id)
        if job is None:
            raise ApiError(
                404, "unknown_job", "There is no such job (jobs are kept until the server restarts)."
            )
        return job

    @api.get("/api/jobs/{job_id}", tags=["index"], dependencies=[Depends(for_reads)],
             responses={200: {"model": JobOut}, **ERRORS})  # fmt: skip
    async def job(job_id: str = JobId) -> dict[str, Any]:
        """An indexing run: its state, pages and chunks so far, ETA, skips by reason, and its summary."""
        return job_out(find(job_id))

    @api.get(
        "/api/jobs/{job_id}/events",
        tags=["index"],
        dependencies=[Depends(for_reads)],
        responses={
            200: {"description": "Server-sent events: `progress` (the job, as GET /api/jobs/{id}) whenever it "
                  "changes, then `done` or `failed` with the final job.",
                  "content": {"text/event-stream": {}}},
            **ERRORS,
        },
    )  # fmt: skip
    async def job_events(job_id: str = JobId) -> EventSourceResponse:
        """An indexing run's progress as server-sent events, until it ends."""
        job = find(job_id)

        async def events() -> AsyncIterator[dict[str, str]]:
            seen = -1
            while True:
                _, version = job.snapshot()
                if version != seen:
                    seen = version
                    data = job_out(job)
                    yield {"event": "progress", "data": dumps(data)}
                    if data["state"] in FINISHED:
                        yield {"event": data["state"], "data": dumps(data)}
                        return
                await anyio.sleep(POLL_S)

        return EventSourceResponse(events(), ping=15, sep="\n")

    return api
