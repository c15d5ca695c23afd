"""Bad local input is skipped with a clear reason and line or file; the rest of the run is indexed."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pypdf import PdfWriter

from indexer.events import Done, Fetched, Skipped
from indexer.files import read_jsonl, read_local
from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.indexing import index_options


def _skips(events) -> dict[str, tuple[str, str]]:
    """Skipped events by the last part of their URL (file name, or #L<line> for JSONL)."""
    return {
        e.url.rsplit("/", 1)[-1].split("#")[-1]: (e.reason, e.detail)
        for e in events
        if isinstance(e, Skipped)
    }


def _write_jsonl(path: Path) -> Path:
    lines = [
        b'\xef\xbb\xbf{"id": "bom", "text": "The first line starts with a byte order mark."}',
        b"[1, 2]",
        b'"just a string"',
        b"42",
        b"null",
        b'{"title": "no id", "text": "Some text."}',
        b'{"id": null, "text": "Some text."}',
        b'{"id": "no-text", "title": "Only a title"}',
        b'{"id": "blank", "text": "   "}',
        b'{"id": "latin1", "text": "caf\xe9"}',
        b'{"id": "lone", "text": "Half a pair \\ud83d here."}',
        b'{"id": 7, "text": "A numeric id is fine."}',
        b"{not json",
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_jsonl_lines_that_are_no_document_are_skipped_with_their_line_and_why(tmp_path: Path) -> None:
    events = list(read_jsonl(_write_jsonl(tmp_path / "c.jsonl"), "src"))
    assert [e.document.doc_id for e in events if isinstance(e, Fetched)] == ["bom", "lone", "7"]
    assert _skips(events) == {
        "L2": ("parse_error", "line 2: expected a JSON object, got an array"),
        "L3": ("parse_error", "line 3: expected a JSON object, got a string"),
        "L4": ("parse_error", "line 4: expected a JSON object, got a number"),
        "L5": ("parse_error", "line 5: expected a JSON object, got null"),
        "L6": ("parse_error", 'line 6: no "_id" or "id" (a string or number)'),
        "L7": ("parse_error", 'line 7: no "_id" or "id" (a string or number)'),
        "L8": ("empty", 'line 8: no "text" to index (id no-text)'),
        "L9": ("empty", 'line 9: no "text" to index (id blank)'),
        "L10": ("parse_error", "line 10: not valid UTF-8 (byte 0xe9 at column 30)"),
        "L13": ("parse_error", "line 13: not JSON (Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1))"),
    }  # fmt: skip


def test_a_bad_jsonl_line_does_not_stop_the_run(tmp_path: Path, settings, fake_embedder) -> None:
    s = index_sources(
        [str(_write_jsonl(tmp_path / "c.jsonl"))], index_options(settings), embedder=fake_embedder
    )
    assert s.documents_added == 3 and s.skipped == {"parse_error": 8, "empty": 2}
    assert any("not valid UTF-8" in x for x in s.examples)
    texts = {c.doc_id: c.text for c in IndexStore.open(settings.index_dir).all_chunks()}
    assert texts["lone"] == "Half a pair \ufffd here."  # a lone surrogate cannot be stored: replaced
    assert set(texts) == {"bom", "lone", "7"}


def _pdf(blank: bool) -> bytes:
    w = PdfWriter()
    w.add_blank_page(72, 72)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue() if blank else out.getvalue()[:40]


def test_empty_unreadable_and_textless_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "zero.pdf").write_bytes(b"")
    (folder / "zero.md").write_bytes(b"")
    (folder / "scan.pdf").write_bytes(_pdf(blank=True))
    (folder / "cut.pdf").write_bytes(_pdf(blank=False))
    (folder / "ok.md").write_text("# Fine\n\nA readable note.\n")
    events = list(read_local(folder, "src", {}))
    assert [e.document.title for e in events if isinstance(e, Fetched)] == ["Fine"]
    skips = _skips(events)
    assert skips["zero.pdf"] == skips["zero.md"] == ("empty", "an empty file (0 bytes)")
    assert skips["scan.pdf"] == ("empty", "a PDF without a text layer (scanned pages? run OCR on it first)")
    reason, detail = skips["cut.pdf"]
    assert reason == "parse_error" and detail.startswith("not a readable PDF (")
    assert isinstance(events[-1], Done) and events[-1].complete


def test_html_file_that_is_not_utf8_is_read_in_its_declared_charset(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_bytes('<meta charset="iso-8859-1"><title>Café</title><p>Crème brûlée.</p>'.encode("latin-1"))
    (event,) = [e for e in read_local(page, "src", {}) if isinstance(e, Fetched)]
    assert (event.document.title, event.document.text) == ("Café", "Crème brûlée.")


def test_utf8_html_file_keeps_its_text(tmp_path: Path) -> None:
    page = tmp_path / "u.html"
    page.write_bytes("\ufeff<title>Ünïcode</title><p>日本語のテキスト。</p>".encode())
    (event,) = [e for e in read_local(page, "src", {}) if isinstance(e, Fetched)]
    assert (event.document.title, event.document.text) == ("Ünïcode", "日本語のテキスト。")


def test_jsonl_fields_keep_their_values(tmp_path: Path) -> None:
    f = tmp_path / "k.jsonl"
    f.write_text(json.dumps({"_id": "a", "title": "T", "text": "Body.", "url": "https://x.test/a"}) + "\n")
    (event,) = [e for e in read_jsonl(f, "src") if isinstance(e, Fetched)]
    doc = event.document
    assert (doc.doc_id, doc.title, doc.text, doc.url, doc.doctype) == (
        "a",
        "T",
        "Body.",
        "https://x.test/a",
        "jsonl",
    )
