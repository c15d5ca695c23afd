"""The CLI contract: exit codes, exact messages and the shape of --json output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from searchchat.cli import _register, app
from tests.helpers import write_docs

_register()
runner = CliRunner()


@pytest.fixture
def indexed(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    monkeypatch.setenv("SEARCHCHAT_GENERATOR", "extractive")
    docs = write_docs(tmp_path / "docs")
    result = runner.invoke(app, ["index", str(docs), "--json"])
    assert result.exit_code == 0, result.output
    return docs, json.loads(result.stdout)


def test_index_json_summary(indexed):
    _, summary = indexed
    assert summary["documents_added"] == 4 and summary["pages_fetched"] == 4
    assert summary["total_chunks"] == summary["chunks_added"] > 0
    for key in ("skipped", "chunks_removed", "seconds", "docs_per_s", "chunks_per_s", "index", "version"):
        assert key in summary


def test_index_human_summary_and_missing_source(indexed, tmp_path):
    docs, _ = indexed
    result = runner.invoke(app, ["index", str(docs), "--quiet"])
    assert result.exit_code == 0
    assert "pages fetched:   0" in result.stdout and "4 unchanged" in result.stdout
    missing = runner.invoke(app, ["index", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "Error: No such file or folder" in missing.stderr


def test_search_json_shape(indexed):
    result = runner.invoke(app, ["search", "robots.txt disallow rules", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "robots.txt disallow rules" and data["mode"] == "hybrid"
    assert [h["rank"] for h in data["hits"]] == [1, 2]
    top = data["hits"][0]
    assert set(top) >= {"rank", "score", "doc_id", "chunk_id", "url", "title", "section", "text"}
    assert top["title"] == "Robots" and top["url"].endswith("robots.md#disallow")  # the section's anchor


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_modes(indexed, mode):
    result = runner.invoke(app, ["search", "inverse document frequency", "--mode", mode, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["mode"] == mode


def test_search_bad_mode_and_empty_query(indexed):
    bad = runner.invoke(app, ["search", "x", "--mode", "fuzzy"])
    assert bad.exit_code == 1 and "unknown mode" in bad.stderr
    empty = runner.invoke(app, ["search", "  "])
    assert empty.exit_code == 2 and "empty" in empty.stderr


def test_ask_json_contract(indexed):
    result = runner.invoke(app, ["ask", "Is ChatGPT a GAN?", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "answer", "citations", "sources", "abstained", "timings", "sentences"}
    assert data["question"] == "Is ChatGPT a GAN?" and not data["abstained"]
    ns = [s["n"] for s in data["sources"]]
    assert ns == list(range(1, len(ns) + 1))
    assert data["citations"], data
    for c in data["citations"]:
        assert set(c) >= {"n", "url", "title", "section", "snippet"} and c["n"] in ns
    assert any(c["title"] == "GANs" for c in data["citations"])
    assert {"retrieve_ms", "generate_ms"} <= set(data["timings"])


def test_ask_strict_flag_picks_the_strict_policy(indexed, monkeypatch):
    import dataclasses

    from searchchat.answering import policy

    # a strict profile no passage can satisfy
    monkeypatch.setitem(
        policy.PROFILES, "strict", dataclasses.replace(policy.PROFILES["strict"], answer_min=2.0)
    )
    strict = json.loads(runner.invoke(app, ["ask", "Is ChatGPT a GAN?", "--strict", "--json"]).stdout)
    assert strict["abstained"] and strict["citations"] == [] and strict["sources"]
    plain = json.loads(runner.invoke(app, ["ask", "Is ChatGPT a GAN?", "--json"]).stdout)
    assert not plain["abstained"]


def test_ask_without_index_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHCHAT_GENERATOR", "extractive")
    result = runner.invoke(app, ["ask", "anything", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "No index at" in result.stderr and "Traceback" not in result.output


def test_sources_and_remove(indexed):
    docs, _ = indexed
    listed = json.loads(runner.invoke(app, ["sources", "--json"]).stdout)
    assert listed == [{**listed[0], "source": str(docs.resolve()), "kind": "folder", "documents": 4}]
    removed = runner.invoke(app, ["remove", str(docs), "--json"])
    assert removed.exit_code == 0 and json.loads(removed.stdout)["documents_removed"] == 4
    again = runner.invoke(app, ["remove", str(docs)])
    assert again.exit_code == 1 and "No source" in again.stderr


ODD_SOURCES = {
    "long": ("a" * 300, "Not a usable path: File name too long"),
    "no_user": ("~nosuchuser/docs", "No such user's home directory: ~nosuchuser"),
    "control": ("docs\x00x", "contains control characters"),
    "blank": ("   ", "The source is empty."),
    "too_long": ("x" * 2001, "The source is longer than 2000 characters."),
}


@pytest.mark.parametrize("name", sorted(ODD_SOURCES))
def test_index_refuses_odd_source_names_in_one_line(indexed, name):
    source, message = ODD_SOURCES[name]
    result = runner.invoke(app, ["index", source, "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", sorted(ODD_SOURCES))
def test_remove_refuses_odd_source_names_in_one_line(indexed, name):
    source, message = ODD_SOURCES[name]
    result = runner.invoke(app, ["remove", source])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    expected = message if name in ("control", "blank", "too_long") else f"No source {source!r} in the index"
    assert expected in result.stderr and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
