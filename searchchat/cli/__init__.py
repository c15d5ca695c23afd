"""The `searchchat` command: one typer app, with each command group in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="searchchat: index your documents and sites, search them, and ask questions with cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from searchchat.cli import conversations, index, models, query  # noqa: F401  (commands register themselves on `app`)

    for optional in ("serve", "eval", "evalqa"):
        try:
            __import__(f"searchchat.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"searchchat.cli.{optional}":
                raise


def main() -> None:
    _register()
    app()
