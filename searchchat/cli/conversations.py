"""`searchchat conversations` (list, show, rename, delete stored conversations) and `searchchat feedback
export`: the conversation store from the command line."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Literal

import typer

from searchchat.cli import app
from searchchat.cli.common import JsonOpt, fail, make_settings, print_json
from searchchat.conversations import Conversation, ConversationStore

conversations_app = typer.Typer(
    help="Stored conversations (from the web page, POST /ask and `ask --conversation`).",
    invoke_without_command=True,
    no_args_is_help=False,
)
feedback_app = typer.Typer(help="Thumbs up and down given to answers.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(feedback_app, name="feedback")


def open_store() -> ConversationStore:
    return ConversationStore(make_settings().conversations_path)


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def summary(conv: Conversation) -> dict[str, object]:
    return {"id": conv.id, "title": conv.title, "turns": conv.turn_count, "created": when(conv.created),
            "updated": when(conv.updated), "shared": conv.share_token is not None}  # fmt: skip


def get_or_fail(store: ConversationStore, conversation_id: str) -> Conversation:
    conv = store.get(conversation_id)
    if conv is None:
        fail(f"No conversation {conversation_id!r} (see `searchchat conversations`).")
    assert conv is not None
    return conv


@conversations_app.callback()
def list_conversations(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="How many, newest first."),
    json_out: bool = JsonOpt,
) -> None:
    """List stored conversations, the most recently continued first."""
    if ctx.invoked_subcommand is not None:
        return
    rows = open_store().recent(limit)
    if json_out:
        print_json([summary(c) for c in rows])
        return
    if not rows:
        typer.echo("No conversations yet.")
    for c in rows:
        typer.echo(
            f"{c.id}  {when(c.updated)}  {c.turn_count:>3} turn{'s' if c.turn_count != 1 else ' '}  {c.title}"
        )


@conversations_app.command("show")
def show(
    conversation_id: str = typer.Argument(..., help="A conversation's id."), json_out: bool = JsonOpt
) -> None:
    """A conversation's questions and answers, with the sources they cited."""
    conv = get_or_fail(open_store(), conversation_id)
    if json_out:
        print_json({**summary(conv), "turn_list": [
            {"id": t.id, "question": t.question, "answer": t.answer, "verdict": t.verdict, "reason": t.reason}
            for t in conv.turns]})  # fmt: skip
        return
    typer.echo(typer.style(conv.title, bold=True))
    for t in conv.turns:
        typer.echo(f"\nQ{t.position}: {t.question}")
        typer.echo(str(t.answer.get("answer") or ""))
        for c in t.answer.get("citations") or []:
            typer.echo(f"  [{c.get('n')}] {c.get('title', '')}  {c.get('url', '')}")
        if t.verdict:
            typer.echo(f"  feedback: {t.verdict}" + (f" ({t.reason})" if t.reason else ""))


@conversations_app.command("rename")
def rename(
    conversation_id: str = typer.Argument(...), title: str = typer.Argument(..., help="The new title.")
) -> None:
    """Give a conversation a new title."""
    if not title.strip():
        fail("the title is empty", code=2)
    if open_store().rename(conversation_id, title[:200]) is None:
        fail(f"No conversation {conversation_id!r} (see `searchchat conversations`).")
    typer.echo(f"Renamed {conversation_id}.")


@conversations_app.command("delete")
def delete(conversation_id: str = typer.Argument(...)) -> None:
    """Delete a conversation with its feedback; its share link stops working."""
    if not open_store().delete(conversation_id):
        fail(f"No conversation {conversation_id!r} (see `searchchat conversations`).")
    typer.echo(f"Deleted {conversation_id}.")


@feedback_app.command("export")
def export(
    jsonl: bool = typer.Option(False, "--jsonl", help="One JSON object a line, in the eval-qa format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of to stdout."),
    verdict: str | None = typer.Option(None, "--verdict", help="Only 'up' or only 'down'."),
) -> None:
    """Rated answers as an evaluation set: question, answer, sources, verdict and reason (eval-qa lines:
    `searchchat eval-qa FILE` reads them)."""
    from searchchat.evaluation.feedback import records

    if verdict not in (None, "up", "down"):
        fail("--verdict must be up or down", code=2)
    chosen: Literal["up", "down"] | None = verdict  # type: ignore[assignment]
    rows = list(records(open_store().feedback(), chosen))
    if jsonl:
        text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)
    else:
        text = "".join(f"{r.verdict:<4} {r.reason or '':<24} {r.question}\n" for r in rows)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {len(rows)} rated answer{'s' if len(rows) != 1 else ''} to {output}.", err=True)
    else:
        sys.stdout.write(text)
