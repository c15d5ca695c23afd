"""`searchchat prepare`: get the generator ready (join, verify and convert the packaged model) ahead of time."""

from __future__ import annotations

import time

import typer

from searchchat.cli import app
from searchchat.cli.common import friendly_errors, make_settings


@app.command()
def prepare(
    generator: str | None = typer.Option(None, "--generator", help="local, openai, extractive or llamacpp."),
    model: str | None = typer.Option(None, "--model", help="Model directory, GGUF file or HF id (local)."),
) -> None:
    """Load the configured generator once, so that the first question is answered without a long wait."""
    from searchchat.generators import get_generator

    settings = make_settings(generator=generator, model=model)
    t0 = time.perf_counter()
    with friendly_errors():
        gen = get_generator(settings)
    typer.echo(
        f"Generator {settings.generator!r} ready ({type(gen).__name__}) in {time.perf_counter() - t0:.1f} s."
    )
