"""`searchchat search` and `searchchat ask`: the read path from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from searchchat.answering.events import AnswerEvent, Final, Preview, Rewrite, Token
from searchchat.cli import app
from searchchat.cli.common import (
    IndexOpt,
    JsonOpt,
    ModeOpt,
    StrictOpt,
    fail,
    friendly_errors,
    make_settings,
    print_json,
)

if TYPE_CHECKING:
    from searchchat.conversations import ConversationStore
    from searchchat.retrieval.retriever import Retriever
    from searchchat.settings import Settings


def build_retriever(settings: Settings) -> Retriever:
    from indexer.embed import get_embedder
    from indexer.store import open_reader
    from searchchat.retrieval.retriever import Retriever

    store = open_reader(settings.store, settings.index_dir)
    return Retriever(store, get_embedder(settings), settings)


def _filters(source: str | None, url_prefix: str | None, doctype: str | None):  # type: ignore[no-untyped-def]
    from searchchat.retrieval.retriever import Filters

    return (
        Filters(source=source, url_prefix=url_prefix, doctype=doctype)
        if (source or url_prefix or doctype)
        else None
    )


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    index: Path | None = IndexOpt,
    k: int = typer.Option(10, "-k", min=1, max=200, help="Number of passages."),
    mode: str | None = ModeOpt,
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    url_prefix: str | None = typer.Option(None, "--url-prefix", help="Only URLs starting with this."),
    doctype: str | None = typer.Option(
        None, "--type", help="Only this document type (html, markdown, pdf, ...)."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Ranked passages for a query."""
    if not query.strip():
        fail("the query is empty", code=2)
    settings = make_settings(index, mode=mode)
    with friendly_errors():
        result = build_retriever(settings).search(
            query, k=k, mode=mode, filters=_filters(source, url_prefix, doctype)
        )
    if json_out:
        print_json(result.to_dict())
        return
    if not result.hits:
        typer.echo("No results.")
    for hit in result.hits:
        c = hit.chunk
        typer.echo(
            f"{hit.rank:>2}. {c.title}" + (f" — {c.section}" if c.section else "") + f"  ({hit.score:.3f})"
        )
        typer.echo(f"    {hit.link}")
        text = " ".join(c.text.split())
        typer.echo(f"    {text[:200]}{'…' if len(text) > 200 else ''}")


def load_history(path: Path) -> list[dict[str, str]]:
    """A conversation from a JSON file ("-" for stdin): a list of {"role": "user"|"assistant", "content"}."""
    import json

    try:
        raw = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        data = json.loads(raw)
    except OSError as exc:
        fail(f"cannot read the history file: {exc}", code=2)
    except ValueError as exc:
        fail(f"the history file is not valid JSON: {exc}", code=2)
    ok = isinstance(data, list) and all(
        isinstance(t, dict)
        and t.get("role") in ("user", "assistant", "system")
        and isinstance(t.get("content"), str)
        for t in data
    )
    if not ok:
        fail('the history must be a JSON list of {"role": "user" or "assistant", "content": "..."}', code=2)
    return list(data)


def print_answer(final: dict[str, Any], streamed: bool) -> None:
    """After the (dimmed) raw stream: the verified answer when the check changed it, then the sources."""
    if streamed:
        typer.echo()
    if final.get("changed") or not streamed:
        if streamed:
            typer.echo(typer.style("\nVerified answer:", bold=True))
        typer.echo(final.get("answer", ""))
    unsupported = [s["text"] for s in final.get("sentences", []) if not s.get("supported", True)]
    if unsupported:
        typer.echo(typer.style(f"\nNot supported by the sources ({len(unsupported)}):", fg="yellow"))
        for text in unsupported:
            typer.echo(f"  - {text}")
    if final.get("citations"):
        typer.echo(typer.style("\nSources:", bold=True))
        for c in final["citations"]:
            typer.echo(f"  [{c['n']}] {c['title']}" + (f" — {c['section']}" if c["section"] else ""))
            typer.echo(f"      {c['url']}")
            typer.echo(typer.style(f"      “{c['snippet']}”", dim=True))
    elif final.get("abstained") and final.get("sources"):
        closest = final.get("closest")
        if closest:
            typer.echo(
                typer.style(f"\nClosest passage [{closest['n']}], not confirmed as an answer:", bold=True)
            )
            typer.echo(f"  \u201c{' '.join((closest.get('quote') or closest['snippet']).split())}\u201d")
        typer.echo(typer.style("\nClosest sources:", bold=True))
        for s in final["sources"][:5]:
            typer.echo(
                f"  [{s['n']}] {s['title']}"
                + (f" — {s['section']}" if s["section"] else "")
                + f"\n      {s['url']}"
            )


def _show_stream(events: Iterable[AnswerEvent], json_out: bool) -> tuple[dict[str, Any], bool]:
    """Show the rewritten query, the top passage and the tokens as they come (not with --json); returns the
    final answer as a dict and whether tokens were streamed."""
    final: dict[str, Any] = {}
    streamed = False
    for event in events:
        if isinstance(event, Rewrite) and not json_out:
            typer.echo(typer.style(f"(searching for: {event.query})", dim=True), err=True)
        elif isinstance(event, Preview) and not json_out:  # something to read while the model writes
            typer.echo(typer.style(f"(top passage [{event.source}]: \u201c{' '.join(event.quote.split())}\u201d)",
                                   dim=True), err=True)  # fmt: skip
        elif isinstance(event, Token) and not json_out:
            typer.echo(typer.style(event.text, dim=True), nl=False)
            sys.stdout.flush()
            streamed = True
        elif isinstance(event, Final):
            final = event.answer.to_dict()
    return final, streamed


def _save_turn(
    store: ConversationStore, conversation: str, question: str, final: dict[str, Any], json_out: bool
) -> dict[str, Any]:
    """Store the turn in its conversation ('new' starts one); the answer dict with the conversation's ids."""
    cid = store.create(question).id if conversation == "new" else conversation
    turn = store.add_turn(cid, question.strip(), final)
    if not json_out:
        typer.echo(f"(conversation {cid}; continue it with --conversation {cid})", err=True)
    return {**final, "conversation_id": cid, "turn_id": turn.id if turn else None}


@app.command()
def ask(
    question: str = typer.Argument(..., help="A question in plain language."),
    index: Path | None = IndexOpt,
    k: int | None = typer.Option(None, "-k", min=1, max=50, help="Passages given to the model."),
    mode: str | None = ModeOpt,
    generator: str | None = typer.Option(None, "--generator", help="local, openai, extractive or llamacpp."),
    model: str | None = typer.Option(None, "--model", help="Model directory, GGUF file or HF id (local)."),
    history: Path | None = typer.Option(
        None, "--history", help='Earlier turns: a JSON file ("-" for stdin) with [{"role", "content"}, ...].'
    ),
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    url_prefix: str | None = typer.Option(None, "--url-prefix", help="Only URLs starting with this."),
    doctype: str | None = typer.Option(None, "--type", help="Only this document type."),
    strict: bool = StrictOpt,
    conversation: str | None = typer.Option(
        None,
        "--conversation",
        help="Continue this stored conversation (its turns are the history) and "
        "store the answer in it; 'new' starts one. See `searchchat conversations`.",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Answer a question from the indexed documents, with verified numbered citations (streamed)."""
    from searchchat.answering.pipeline import Answerer
    from searchchat.conversations import HISTORY_MESSAGES, ConversationStore
    from searchchat.generators import get_generator

    if not question.strip():
        fail("the question is empty", code=2)
    if history and conversation:
        fail("give --history or --conversation, not both", code=2)
    turns = load_history(history) if history else None
    settings = make_settings(index, mode=mode, generator=generator, model=model, strict=strict or None)
    store = ConversationStore(settings.conversations_path) if conversation else None
    if store is not None and conversation != "new":
        turns = store.history(str(conversation), HISTORY_MESSAGES)
        if turns is None:
            fail(f"No conversation {conversation!r} (see `searchchat conversations`).")
    with friendly_errors():
        answerer = Answerer(build_retriever(settings), get_generator(settings), settings)
        events = answerer.stream(question, history=turns, k=k, mode=mode,
                                 filters=_filters(source, url_prefix, doctype))  # fmt: skip
        final, streamed = _show_stream(events, json_out)
    if store is not None:
        final = _save_turn(store, str(conversation), question, final, json_out)
    if json_out:
        print_json(final)
        return
    print_answer(final, streamed)
    t = final.get("timings", {})
    typer.echo(f"\n(retrieval {t.get('retrieve_ms', 0):.0f} ms, first token {t.get('first_token_ms', 0):.0f} ms, "
               f"total {t.get('total_ms', 0):.0f} ms)", err=True)  # fmt: skip
