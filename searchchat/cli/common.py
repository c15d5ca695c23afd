"""Helpers shared by CLI commands: settings from flags, clear errors, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from searchchat.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

IndexOpt = typer.Option(None, "--index", help="Index directory (default: $SEARCHCHAT_HOME/index).")
StrictOpt = typer.Option(
    False, "--strict", help="Answer only when a passage matches the question closely (more 'not found')."
)
ModeOpt = typer.Option(None, "--mode", help="Retrieval mode: dense, bm25 or hybrid (default).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON.")


def make_settings(index: Path | None = None, **overrides: Any) -> Settings:
    try:
        return Settings().with_overrides(index=index, **overrides)
    except ValidationError as exc:
        fail(f"invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", code=2)
        raise  # unreachable


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear line and a non-zero exit code, never a traceback."""
    from indexer.store import IndexError_
    from searchchat.generators.base import GeneratorError

    try:
        yield
    except (IndexError_, GeneratorError, FileNotFoundError, KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        fail(str(msg))
    except KeyboardInterrupt:
        typer.echo("Interrupted; the index was left as it was before this run.", err=True)
        raise typer.Exit(130) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
