"""URLs that are not http, https or file (javascript:, data:) are never stored, nor shown as links if stored."""

from __future__ import annotations

import json

import pytest

from indexer import pipeline
from indexer.document import Chunk, url_scheme
from indexer.events import Done, Fetched
from indexer.parse import parse_text
from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.answering.pipeline import Answerer
from searchchat.indexing import index_options
from searchchat.types import Hit, safe_link
from searchchat.web.openai_compat import sources_block
from tests.answer_helpers import ListRetriever

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " \x01java\tscript:alert(1)",  # a browser skips the leading controls and the tab
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
]


@pytest.mark.parametrize(
    ("url", "scheme"),
    [(UNSAFE[1], "javascript"), (UNSAFE[2], "javascript"), (UNSAFE[3], "data"),
     ("HTTPS://example.test/a", "https"), ("file:///tmp/a.md", "file"), ("docs/a.html", ""),
     ("a/b:c", "")],
)  # fmt: skip
def test_url_scheme_reads_it_as_a_browser_does(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


def test_jsonl_url_that_is_not_http_https_or_file_falls_back_to_the_line(
    tmp_path, settings, fake_embedder
) -> None:
    f = tmp_path / "c.jsonl"
    rows = [{"id": f"bad{i}", "url": u, "title": f"Bad {i}", "text": f"Unsafe link number {i}."}
            for i, u in enumerate(UNSAFE)]  # fmt: skip
    rows += [
        {"id": "rel", "url": "docs/page.html", "text": "A relative url has no scheme."},
        {"id": "web", "url": "https://example.test/web", "text": "An https url is kept."},
        {"id": "local", "url": "file:///srv/notes/a.md", "text": "A file url is kept."},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = index_sources([str(f)], index_options(settings), embedder=fake_embedder)
    assert s.documents_added == len(rows)
    store = IndexStore.open(settings.index_dir)
    urls = {c.doc_id: c.url for c in store.all_chunks()}
    base = f.resolve().as_uri()
    assert urls == {
        **{f"bad{i}": f"{base}#bad{i}" for i in range(len(UNSAFE))},
        "rel": f"{base}#rel",
        "web": "https://example.test/web",
        "local": "file:///srv/notes/a.md",
    }
    assert store.stats().documents == len(urls)
    assert {doc_id: store.find_document(doc_id).url for doc_id in urls} == urls


def test_pipeline_stores_no_unsafe_url_from_any_reader(
    tmp_path, settings, fake_embedder, monkeypatch
) -> None:
    """A reader that hands over a javascript: URL (no reader should) still gets none stored."""
    doc = parse_text("Text from a careless reader.", "javascript:alert(1)", doc_id="careless")

    def reader(spec, known, crawl_options):
        yield Fetched(doc)
        yield Done(complete=True)

    monkeypatch.setattr(pipeline, "read_source", reader)
    f = tmp_path / "any.txt"
    f.write_text("placeholder")
    index_sources([str(f)], index_options(settings), embedder=fake_embedder)
    store = IndexStore.open(settings.index_dir)
    assert [(c.doc_id, c.url) for c in store.all_chunks()] == [("careless", "")]


def _hit(n: int, url: str, text: str) -> Hit:
    chunk = Chunk(
        chunk_id=n, doc_id=f"d{n}", url=url, title=f"Doc {n}", section="Intro", text=text, anchor="intro"
    )
    return Hit(rank=n, score=1.0 / n, chunk=chunk)


def test_a_stored_unsafe_url_is_no_link() -> None:
    for url in UNSAFE:
        hit = _hit(1, url, "x")
        assert hit.link == "" and hit.to_dict()["url"] == "" and safe_link(url) == ""
    assert _hit(1, "https://example.test/a", "x").link == "https://example.test/a#intro"
    assert _hit(1, "file:///d.md#top", "x").link == "file:///d.md#top"
    assert (
        _hit(1, "docs/a.html", "x").to_dict()["url"] == "docs/a.html#intro"
    )  # relative: not a scheme to run


def test_citations_and_chat_completion_text_carry_no_unsafe_url(settings, fake_embedder, scripted_generator):
    hits = [
        _hit(1, "javascript:alert(document.cookie)", "ChatGPT is not a GAN. It is a transformer."),
        _hit(2, "data:text/html,<script>alert(1)</script>", "BM25 ranks documents by term frequency."),
        _hit(3, "https://example.test/bm25", "BM25 ranks documents by inverse document frequency."),
    ]
    fixed = settings.model_copy(update={"evidence_rerank": False})
    answerer = Answerer(ListRetriever(hits, fake_embedder), scripted_generator, fixed)
    scripted_generator.enqueue(
        "ChatGPT is not a GAN [1]. BM25 ranks documents by term frequency [2]. BM25 ranks documents by inverse document frequency [3]."
    )
    final = answerer.ask("Is ChatGPT a GAN, and how does BM25 rank?")
    assert [c["n"] for c in final["citations"]] == [1, 2, 3]
    assert [c["url"] for c in final["citations"]] == ["", "", "https://example.test/bm25#intro"]
    assert [s["url"] for s in final["sources"]] == ["", "", "https://example.test/bm25#intro"]
    text = sources_block(final)
    assert "javascript:" not in text and "data:" not in text
    assert "[3] Doc 3 — Intro: https://example.test/bm25#intro" in text
