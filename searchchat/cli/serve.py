"""`searchchat serve`: the web app (search page, JSON API, OpenAI-compatible endpoint) with uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from searchchat.cli import app
from searchchat.cli.common import IndexOpt, make_settings


@app.command()
def serve(
    index: Path | None = IndexOpt,
    host: str | None = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (default 8000)."),
    generator: str | None = typer.Option(None, "--generator", help="local, openai, extractive or llamacpp."),
    model: str | None = typer.Option(None, "--model", help="Model directory, GGUF file or HF id (local)."),
    no_preload: bool = typer.Option(False, "--no-preload", help="Load models on the first request instead."),
) -> None:
    """Serve the search page and the API on http://HOST:PORT (API docs at /docs)."""
    import uvicorn

    from indexer.store import has_index
    from searchchat.web import server
    from searchchat.web.app import create_app

    settings = make_settings(index, host=host, port=port, generator=generator, model=model)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        typer.echo(
            f"Warning: listening on {settings.host} without an API key; set SEARCHCHAT_API_KEY to protect it. "
            "Until then only requests for localhost and the names in SEARCHCHAT_ALLOWED_HOSTS are answered.",
            err=True,
        )
    if not has_index(settings.store, settings.index_dir):
        typer.echo(
            f"No index yet at {settings.index_dir}; the page will say so until you run "
            f"`searchchat index SOURCE... --index {settings.index_dir}` (no restart needed).",
            err=True,
        )
    typer.echo(f"searchchat on http://{settings.host}:{settings.port}  (API docs: /docs; generator: "
               f"{settings.generator}; index: {settings.index_dir})", err=True)  # fmt: skip
    web = create_app(settings, preload=not no_preload)
    uvicorn.run(web, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=5,
                **server.options())  # fmt: skip
