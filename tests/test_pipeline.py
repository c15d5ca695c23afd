"""The pipeline over local sources: incremental re-runs, removals, JSONL ids, skips and summaries."""

from __future__ import annotations

import json
import os

from indexer.pipeline import index_sources, remove_source
from indexer.store import IndexStore
from searchchat.indexing import index_options
from tests.helpers import write_docs


def test_first_run_then_unchanged_rerun(tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    s1 = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert (s1.documents_added, s1.pages_fetched, s1.total_documents) == (4, 4, 4)
    assert s1.chunks_added == s1.total_chunks > 0
    s2 = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert (s2.documents_added, s2.documents_updated, s2.chunks_added) == (0, 0, 0)
    assert s2.documents_unchanged == 4 and s2.skipped == {"unchanged": 4}


def test_changed_file_is_reembedded_and_deleted_file_removed(tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    (docs / "bm25.md").write_text("# BM25\n\n## Scoring\n\nOkapi BM25 with saturation parameter k1 = 1.2.\n")
    os.utime(docs / "bm25.md", ns=(1, 1))  # a new mtime, so the file is read again
    (docs / "faiss.md").unlink()
    s = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert (s.documents_updated, s.documents_removed, s.documents_unchanged) == (1, 1, 2)
    assert s.chunks_added == 1 and s.chunks_removed >= 2
    store = IndexStore.open(settings.index_dir)
    titles = {c.title for c in store.all_chunks()}
    assert titles == {"GANs", "BM25", "Robots"}
    assert any("k1 = 1.2" in c.text for c in store.all_chunks())
    assert store.stats().chunks == store.vectors.ntotal  # no orphans


def test_touched_but_identical_file_is_unchanged(tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    os.utime(docs / "gan.md", ns=(5, 5))
    s = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert s.documents_unchanged == 4 and s.chunks_added == 0


def test_jsonl_keeps_ids_and_reports_bad_lines(tmp_path, settings, fake_embedder):
    f = tmp_path / "c.jsonl"
    lines = [
        {"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture."},
        {"id": "x1", "url": "https://example.test/x1", "title": "Other", "text": "Some other text here."},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    s = index_sources([str(f)], index_options(settings), embedder=fake_embedder)
    assert s.documents_added == 2 and s.skipped == {"parse_error": 1}
    store = IndexStore.open(settings.index_dir)
    by_doc = {c.doc_id: c for c in store.all_chunks()}
    assert set(by_doc) == {"4983", "x1"}
    assert by_doc["x1"].url == "https://example.test/x1"
    assert by_doc["4983"].title == "Microstructural development"


def test_remove_source(tmp_path, settings, fake_embedder):
    a = write_docs(tmp_path / "a")
    b = write_docs(tmp_path / "b", {"x.md": "# X\n\nSomething about lighthouses and harbours.\n"})
    index_sources([str(a), str(b)], index_options(settings), embedder=fake_embedder)
    assert remove_source(str(b), settings.index_dir) == (1, 1)
    store = IndexStore.open(settings.index_dir)
    assert [s["source"] for s in store.sources()] == [str(a.resolve())]
    assert store.stats().chunks == store.vectors.ntotal


def test_html_pdf_and_text_files(tmp_path, settings, fake_embedder):
    from pypdf import PdfWriter

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "p.html").write_text("<title>Page</title><main><h2 id='a'>Alpha</h2><p>Alpha text.</p></main>")
    (folder / "n.txt").write_text("Notes\nplain text notes")
    w = PdfWriter()
    w.add_blank_page(72, 72)
    with open(folder / "blank.pdf", "wb") as fh:
        w.write(fh)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "image.png").write_bytes(b"\x89PNG")
    s = index_sources([str(folder)], index_options(settings), embedder=fake_embedder)
    assert s.documents_added == 2  # html + txt; the blank PDF has no text, the broken one is reported
    assert s.skipped.get("empty") == 1 and s.skipped.get("parse_error") == 1
    chunk = next(c for c in IndexStore.open(settings.index_dir).all_chunks() if c.title == "Page")
    assert chunk.anchor == "a" and chunk.section == "Alpha"


def test_other_chunk_settings_rechunk_unchanged_files_once(tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    smaller = settings.model_copy(update={"chunk_tokens": 8, "chunk_overlap": 2})
    s = index_sources([str(docs)], index_options(smaller), embedder=fake_embedder)
    assert (s.documents_updated, s.documents_unchanged) == (4, 0)  # read again, though no file changed
    assert s.chunks_added > s.chunks_removed > 0
    again = index_sources([str(docs)], index_options(smaller), embedder=fake_embedder)
    assert again.documents_unchanged == 4 and again.chunks_added == 0


def test_an_index_from_before_fingerprints_is_rechunked_by_a_new_chunker(
    tmp_path, settings, fake_embedder, monkeypatch
):
    import sqlite3

    from indexer import options
    from indexer.store.layout import META_DB

    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    store = IndexStore.open(settings.index_dir)
    db = store.path / META_DB  # the hashes as an index written before fingerprints holds them
    with sqlite3.connect(db) as con:
        con.execute("UPDATE documents SET content_hash = substr(content_hash, instr(content_hash, ':') + 1)")
    store.close()
    s = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert (s.documents_updated, s.documents_unchanged) == (4, 0)
    monkeypatch.setattr(options, "CHUNKER_VERSION", options.CHUNKER_VERSION + 1)  # a chunker that cuts anew
    s = index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert (s.documents_updated, s.documents_unchanged) == (4, 0)
    assert IndexStore.open(settings.index_dir).stats().chunks == s.total_chunks
