"""Sources over HTTP: the /sources page, adding a site, sitemap, folder or uploaded files, re-indexing and
removing a source, and the indexing runs (jobs) that these start, with their progress as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse

from indexer.sources import MAX_SOURCE_CHARS, SOURCE_PATTERN, InvalidSource, classify
from searchchat.settings import Settings
from searchchat.web import guard
from searchchat.web.auth import require_for_changes, require_for_reads
from searchchat.web.backend import Backend, iso
from searchchat.web.common import STATIC, AppBackend, AppSettings
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


async def jobs_of(request: Request) -> JobRunner:
    """The app's JobRunner (create_app puts it in app.state.jobs)."""
    runner: JobRunner = request.app.state.jobs
    return runner


AppJobs = Annotated[JobRunner, Depends(jobs_of)]


def list_sources(backend: Backend, runner: JobRunner) -> list[dict[str, Any]]:
    settings = backend.settings
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


def prepare(settings: Settings, runner: JobRunner, req: SourceRequest) -> Job:
    """The job that indexes what `req` names, once guard has allowed it."""
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


def check_uploads(settings: Settings, files: list[UploadFile]) -> list[str]:
    """The files' sanitised names; 413 or 422 when there are too many, two share a name or one is too big."""
    if len(files) > settings.max_upload_files:
        raise ApiError(413, "too_many_files", f"Upload at most {settings.max_upload_files} files at once.")
    names = [safe_name(f.filename) for f in files]
    if len(set(names)) != len(names):
        raise ApiError(422, "duplicate_file_name", "Two of the files have the same name.")
    for f, name in zip(files, names, strict=True):
        if f.size is not None and f.size > settings.max_upload_bytes:
            raise ApiError(
                413, "file_too_large", f"{name!r} is larger than {settings.max_upload_bytes} bytes."
            )
    return names


def prepare_reindex(backend: Backend, runner: JobRunner, source: str) -> Job:
    """The job that indexes `source` again with its stored options (404 unknown_source when it has none)."""
    known = backend.store().source_options(source)
    if known is None:
        raise ApiError(404, "unknown_source", f"No source {source!r} in the index.")
    kind, crawl = known
    total = crawl.get("max_pages", backend.settings.crawl_max_pages) if kind in ("web", "sitemap") else None
    return runner.submit("reindex", [source], crawl, total)


def remove_indexed(settings: Settings, source: str) -> tuple[int, int]:
    """Remove a source from the index, and its file when it is an upload: (documents, chunks) removed."""
    from searchchat.indexing import remove_source as remove

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


def find(runner: JobRunner, job_id: str) -> Job:
    job = runner.get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", "There is no such job (jobs are kept until the server restarts).")
    return job


async def progress(job: Job) -> AsyncIterator[dict[str, str]]:
    """A job's events: `progress` whenever it changes, then `done` or `failed`."""
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


router = APIRouter()
READS = [Depends(require_for_reads)]
CHANGES = [Depends(require_for_changes), Depends(guard.same_origin)]


@router.get("/sources", include_in_schema=False)
async def sources_page() -> FileResponse:
    return FileResponse(STATIC / "sources.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/sources", tags=["index"], dependencies=READS,
            responses={200: {"model": list[SourceListOut]}, **ERRORS})  # fmt: skip
async def sources(backend: AppBackend, runner: AppJobs) -> list[dict[str, Any]]:
    """Indexed sources with their document and chunk counts, and the last run started from the web app."""
    return await anyio.to_thread.run_sync(list_sources, backend, runner)


@router.post("/api/sources", tags=["index"], status_code=202, dependencies=CHANGES,
             responses={202: {"model": JobOut}, **ERRORS})  # fmt: skip
async def add_source(req: SourceRequest, settings: AppSettings, runner: AppJobs) -> dict[str, Any]:
    """Index a web site, a sitemap or a server folder in the background; returns the job to follow
    (GET /api/jobs/{id}, or its event stream). Crawls reach only the configured schemes and hosts: by
    default public hosts, never loopback or private addresses. Needs the API key when one is set."""
    return job_out(await anyio.to_thread.run_sync(prepare, settings, runner, req))


@router.post("/api/uploads", tags=["index"], status_code=202, dependencies=CHANGES,
             responses={202: {"model": UploadOut}, **ERRORS})  # fmt: skip
async def upload(
    settings: AppSettings,
    runner: AppJobs,
    files: list[UploadFile] = File(..., description="Markdown, HTML, text, PDF or JSONL files."),
) -> dict[str, Any]:
    """Store files under SEARCHCHAT_HOME/uploads (names sanitised; one of the same name is replaced) and
    index each as a source of its own, in the background. Bounded by SEARCHCHAT_MAX_UPLOAD_FILES and
    SEARCHCHAT_MAX_UPLOAD_BYTES. Needs the API key when one is set."""
    names = check_uploads(settings, files)

    def store() -> list[Any]:
        return [store_upload(settings.uploads_dir, name, f.file, settings.max_upload_bytes)
                for f, name in zip(files, names, strict=True)]  # fmt: skip

    stored = await anyio.to_thread.run_sync(store)
    job = runner.submit("upload", [s.source for s in stored], total=len(stored))
    return {"files": [vars(s) for s in stored], "job": job_out(job)}


@router.post("/api/sources/reindex", tags=["index"], status_code=202, dependencies=CHANGES,
             responses={202: {"model": JobOut}, **ERRORS})  # fmt: skip
async def reindex(req: ReindexRequest, backend: AppBackend, runner: AppJobs) -> dict[str, Any]:
    """Index a source again with the options it was indexed with: unchanged documents are skipped, changed
    ones re-embedded, vanished ones removed. Needs the API key when one is set."""
    return job_out(await anyio.to_thread.run_sync(prepare_reindex, backend, runner, req.source))


@router.delete("/api/sources", tags=["index"], dependencies=CHANGES,
               responses={200: {"model": RemovedOut}, **ERRORS})  # fmt: skip
async def remove_source(
    settings: AppSettings,
    source: str = Query(..., min_length=1, max_length=MAX_SOURCE_CHARS, pattern=SOURCE_PATTERN),
) -> dict[str, Any]:
    """Remove a source and everything indexed from it; an uploaded file is deleted too (needs the API key
    when one is set)."""
    docs, chunks = await anyio.to_thread.run_sync(remove_indexed, settings, source)
    return {"source": source, "documents_removed": docs, "chunks_removed": chunks}


@router.get("/api/jobs", tags=["index"], dependencies=READS,
            responses={200: {"model": list[JobOut]}, **ERRORS})  # fmt: skip
async def jobs(runner: AppJobs) -> list[dict[str, Any]]:
    """Indexing runs started from the web app since the server started, newest first."""
    return [job_out(j) for j in runner.recent()]


@router.get("/api/jobs/{job_id}", tags=["index"], dependencies=READS,
            responses={200: {"model": JobOut}, **ERRORS})  # fmt: skip
async def job(runner: AppJobs, job_id: str = JobId) -> dict[str, Any]:
    """An indexing run: its state, pages and chunks so far, ETA, skips by reason, and its summary."""
    return job_out(find(runner, job_id))


@router.get(
    "/api/jobs/{job_id}/events",
    tags=["index"],
    dependencies=READS,
    responses={
        200: {"description": "Server-sent events: `progress` (the job, as GET /api/jobs/{id}) whenever it "
              "changes, then `done` or `failed` with the final job.",
              "content": {"text/event-stream": {}}},
        **ERRORS,
    },
)  # fmt: skip
async def job_events(runner: AppJobs, job_id: str = JobId) -> EventSourceResponse:
    """An indexing run's progress as server-sent events, until it ends."""
    return EventSourceResponse(progress(find(runner, job_id)), ping=15, sep="\n")
