"""`searchchat index`, `sources` and `remove`: the write path from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from searchchat.cli import app
from searchchat.cli.common import IndexOpt, JsonOpt, friendly_errors, make_settings, print_json

if TYPE_CHECKING:
    from indexer.options import IndexOptions
    from indexer.pipeline import IndexSummary

RayOpt = typer.Option(False, "--ray", help="Run the pipeline as a Ray Data job (needs the 'ray' extra).")
RayAddressOpt = typer.Option(
    None,
    "--ray-address",
    metavar="ADDRESS",
    help="Join this Ray cluster ('auto', 'ray://head:10001'); implies --ray.",
)
RayWorkersOpt = typer.Option(2, "--ray-workers", help="With --ray: embedding actors (and local Ray's CPUs).")


@app.command()
def index(
    sources: list[str] = typer.Argument(
        ..., help="Files, folders, JSONL files, file:// or http(s) URLs, sitemaps."
    ),
    index: Path | None = IndexOpt,
    depth: int | None = typer.Option(None, "--depth", help="Crawl depth from the start URL."),
    max_pages: int | None = typer.Option(None, "--max-pages", help="Stop a crawl after this many pages."),
    delay: float | None = typer.Option(
        None, "--delay", help="Seconds between requests to one host (0 ok for local)."
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Stop a crawl after this many seconds, keeping what it fetched."
    ),
    prefix: list[str] = typer.Option([], "--prefix", help="Only crawl URLs starting with this (repeatable)."),
    allow_domain: list[str] = typer.Option([], "--allow-domain", help="Also crawl this host (repeatable)."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Parallel requests in a crawl."),
    user_agent: str | None = typer.Option(None, "--user-agent", help="User-Agent for crawling."),
    ray: bool = RayOpt,
    ray_address: str | None = RayAddressOpt,
    ray_workers: int = RayWorkersOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = JsonOpt,
) -> None:
    """Index local files and folders, JSONL collections, and web sites (crawled politely, incrementally)."""
    from indexer.pipeline import index_sources
    from searchchat.indexing import embedder_note, index_options

    settings = make_settings(index, user_agent=user_agent)
    with friendly_errors():
        options = index_options(settings, depth=depth, max_pages=max_pages, delay=delay,
                                concurrency=concurrency, max_seconds=max_seconds, prefixes=prefix or None,
                                allow_domains=allow_domain or None)  # fmt: skip
        if ray or ray_address:
            summary = _index_ray(sources, options, ray_address, ray_workers, quiet or json_out)
        else:
            summary = index_sources(sources, options, quiet=quiet or json_out)
    if json_out:
        print_json(summary.to_dict())
        return
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items())) or "none"
    typer.echo(
        f"Indexed into {summary.index}\n"
        f"  pages fetched:   {summary.pages_fetched}\n"
        f"  documents:       +{summary.documents_added} new, {summary.documents_updated} changed, "
        f"{summary.documents_unchanged} unchanged, -{summary.documents_removed} removed\n"
        f"  skipped:         {skipped}\n"
        f"  chunks:          +{summary.chunks_added} added, -{summary.chunks_removed} removed\n"
        f"  index now holds: {summary.total_documents} documents, {summary.total_chunks} chunks\n"
        f"  time:            {summary.seconds:.1f} s ({summary.docs_per_s:.1f} docs/s, "
        f"{summary.chunks_per_s:.1f} chunks/s)"
    )
    for line in summary.examples[:5]:
        typer.echo(f"  note: {line}")
    if summary.total_chunks and (note := embedder_note(settings)):
        typer.echo(f"  note: {note}")


def _index_ray(sources: list[str], options: IndexOptions, address: str | None, workers: int,
               quiet: bool) -> IndexSummary:  # fmt: skip
    from indexer.ray_pipeline import RayUnavailable, index_sources_ray

    try:
        return index_sources_ray(sources, options, address=address, workers=workers, quiet=quiet)
    except RayUnavailable as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def sources(index: Path | None = IndexOpt, json_out: bool = JsonOpt) -> None:
    """List indexed sources with document and chunk counts and the last indexing time."""
    from indexer.store import open_reader

    settings = make_settings(index)
    with friendly_errors():
        rows = open_reader(settings.store, settings.index_dir).sources()
    if json_out:
        print_json(rows)
        return
    if not rows:
        typer.echo("No sources indexed.")
    for r in rows:
        when = (
            dt.datetime.fromtimestamp(r["last_indexed"]).strftime("%Y-%m-%d %H:%M")
            if r["last_indexed"]
            else "-"
        )
        typer.echo(
            f"{r['source']}  [{r['kind']}]  {r['documents']} docs, {r['chunks']} chunks, last indexed {when}"
        )


@app.command()
def remove(source: str = typer.Argument(..., help="A source as `searchchat sources` lists it."),
           index: Path | None = IndexOpt, json_out: bool = JsonOpt) -> None:  # fmt: skip
    """Remove a source and everything indexed from it."""
    from searchchat.indexing import remove_source

    settings = make_settings(index)
    with friendly_errors():
        docs, chunks = remove_source(source, settings)
    if json_out:
        print_json({"source": source, "documents_removed": docs, "chunks_removed": chunks})
    else:
        typer.echo(f"Removed {source}: {docs} documents, {chunks} chunks.")
