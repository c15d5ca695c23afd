"""`searchchat ask --conversation`, `searchchat conversations` and `searchchat feedback export`: exit codes,
exact output and the JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from searchchat.cli import _register, app
from searchchat.conversations import ConversationStore
from searchchat.evaluation.qa import load_qa
from searchchat.settings import Settings
from tests.helpers import write_docs

_register()
runner = CliRunner()


@pytest.fixture
def indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    monkeypatch.setenv("SEARCHCHAT_GENERATOR", "extractive")
    docs = write_docs(tmp_path / "docs")
    assert runner.invoke(app, ["index", str(docs), "--quiet"]).exit_code == 0
    return docs


def store() -> ConversationStore:
    return ConversationStore(Settings().conversations_path)


def ask(*args: str) -> dict:
    result = runner.invoke(app, ["ask", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ask_starts_and_continues_a_conversation(indexed: Path) -> None:
    first = ask("Is ChatGPT a GAN?", "--conversation", "new")
    cid = first["conversation_id"]
    assert cid and first["turn_id"] and not first["abstained"]
    second = ask("And what does BM25 rank by?", "--conversation", cid)
    assert second["conversation_id"] == cid
    conv = store().get(cid)
    assert conv is not None and [t.question for t in conv.turns] == [
        "Is ChatGPT a GAN?",
        "And what does BM25 rank by?",
    ]

    human = runner.invoke(app, ["ask", "More about GANs?", "--conversation", cid])
    assert (
        human.exit_code == 0
        and f"(conversation {cid}; continue it with --conversation {cid})" in human.stderr
    )


def test_plain_ask_stores_nothing(indexed: Path) -> None:
    assert "conversation_id" not in ask("Is ChatGPT a GAN?")
    assert store().recent() == []


def test_ask_with_an_unknown_conversation_or_with_history_too(indexed: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "Is ChatGPT a GAN?", "--conversation", "nope"])
    assert result.exit_code == 1
    assert result.stderr == "Error: No conversation 'nope' (see `searchchat conversations`).\n"
    hist = tmp_path / "h.json"
    hist.write_text("[]")
    both = runner.invoke(app, ["ask", "q", "--conversation", "new", "--history", str(hist)])
    assert both.exit_code == 2 and "give --history or --conversation, not both" in both.stderr


def test_list_show_rename_delete(indexed: Path) -> None:
    assert runner.invoke(app, ["conversations"]).stdout == "No conversations yet.\n"
    a = ask("Is ChatGPT a GAN?", "--conversation", "new")["conversation_id"]
    b = ask("What does BM25 rank by?", "--conversation", "new")["conversation_id"]
    listed = json.loads(runner.invoke(app, ["conversations", "--json"]).stdout)
    assert [c["id"] for c in listed] == [b, a]
    assert set(listed[0]) == {"id", "title", "turns", "created", "updated", "shared"}
    assert listed[1]["title"] == "Is ChatGPT a GAN?" and listed[1]["turns"] == 1
    text = runner.invoke(app, ["conversations"]).stdout.splitlines()
    assert len(text) == 2 and text[0].startswith(b) and text[0].endswith("1 turn   What does BM25 rank by?")

    shown = runner.invoke(app, ["conversations", "show", a])
    assert shown.exit_code == 0 and shown.stdout.startswith("Is ChatGPT a GAN?\n\nQ1: Is ChatGPT a GAN?\n")
    assert "[1] " in shown.stdout
    shown_json = json.loads(runner.invoke(app, ["conversations", "show", a, "--json"]).stdout)
    assert shown_json["turn_list"][0]["answer"]["question"] == "Is ChatGPT a GAN?"

    renamed = runner.invoke(app, ["conversations", "rename", a, "GAN questions"])
    assert renamed.exit_code == 0 and renamed.stdout == f"Renamed {a}.\n"
    assert store().get(a).title == "GAN questions"  # type: ignore[union-attr]
    assert runner.invoke(app, ["conversations", "rename", a, "  "]).exit_code == 2
    deleted = runner.invoke(app, ["conversations", "delete", a])
    assert deleted.exit_code == 0 and deleted.stdout == f"Deleted {a}.\n"
    for args in (["delete", a], ["show", a], ["rename", a, "x"]):
        again = runner.invoke(app, ["conversations", *args])
        assert (
            again.exit_code == 1
            and again.stderr == f"Error: No conversation '{a}' (see `searchchat conversations`).\n"
        )


def test_feedback_export_is_an_eval_qa_set(indexed: Path, tmp_path: Path) -> None:
    up = ask("Is ChatGPT a GAN?", "--conversation", "new")
    down = ask("What does BM25 rank by?", "--conversation", "new")
    wrong = ask("What does FAISS IndexFlatIP compute?", "--conversation", "new")
    s = store()
    s.set_feedback(up["turn_id"], "up", None)
    s.set_feedback(down["turn_id"], "down", "should_not_have_answered")
    s.set_feedback(wrong["turn_id"], "down", "wrong_citation")

    result = runner.invoke(app, ["feedback", "export", "--jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["verdict"] for r in lines] == ["up", "down", "down"]
    first, second, third = lines
    assert set(first) >= {
        "id",
        "question",
        "answers",
        "is_impossible",
        "answer",
        "sources",
        "verdict",
        "reason",
    }
    assert first["question"] == "Is ChatGPT a GAN?" and first["answers"] and "[1]" not in first["answers"][0]
    assert first["is_impossible"] is False and first["reason"] is None
    assert set(first["sources"][0]) == {"n", "url", "title", "section", "doc_id", "snippet"}
    assert (
        second["is_impossible"] is True
        and second["answers"] == []
        and second["reason"] == "should_not_have_answered"
    )
    assert third["answers"] == [] and third["is_impossible"] is False and third["reason"] == "wrong_citation"

    out = tmp_path / "rated.jsonl"
    written = runner.invoke(app, ["feedback", "export", "--jsonl", "-o", str(out)])
    assert written.exit_code == 0 and written.stderr == f"Wrote 3 rated answers to {out}.\n"
    items = load_qa(out)  # the eval-qa reader takes it: the up (a gold answer) and the impossible one
    assert [(i.question, i.is_impossible) for i in items] == [("Is ChatGPT a GAN?", False),
                                                              ("What does BM25 rank by?", True)]  # fmt: skip

    only_down = runner.invoke(app, ["feedback", "export", "--jsonl", "--verdict", "down"])
    assert len(only_down.stdout.splitlines()) == 2
    human = runner.invoke(app, ["feedback", "export"]).stdout.splitlines()
    assert human[0] == "up".ljust(5) + " " * 25 + "Is ChatGPT a GAN?"
    assert runner.invoke(app, ["feedback", "export", "--verdict", "meh"]).exit_code == 2


def test_export_with_no_feedback_is_empty(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "export", "--jsonl"])
    assert result.exit_code == 0 and result.stdout == ""
