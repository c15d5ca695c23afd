"""The crawler against hostile pages (issue 19): binary bodies, drips, gzip bombs, undeclared charsets, and a
time budget for the whole crawl. Every case runs against the real local HTTP site of tests/crawl_site.py."""

from __future__ import annotations

import json
import re
import threading
import time
import tracemalloc
from typing import Any

import pytest
from typer.testing import CliRunner

from indexer.charset import binary_reason, decode_body
from indexer.crawl import CrawlOptions, crawl
from indexer.events import Done, Event, Fetched, Skipped
from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.cli import _register, app
from searchchat.indexing import crawl_options, index_options
from searchchat.settings import Settings
from tests import crawl_site as site_fixtures
from tests.crawl_site import BIG, BINARY, CAFE, DRIP, Page, Site, html, random_bytes, serve_site

clean_site = site_fixtures.clean_site  # pytest fixture

FAST = dict(delay=0.0, timeout=1.0, max_bytes=BIG // 4, backoff=0.05, max_retries=1)


def run(site: Site, start: str = "/index.html", **opts: Any) -> list[Event]:
    return list(crawl([site.url(start)], "test-source", {}, CrawlOptions(**{**FAST, **opts})))


def fetched(events: list[Event]) -> dict[str, Any]:
    return {e.document.doc_id: e.document for e in events if isinstance(e, Fetched)}


def skips(events: list[Event]) -> dict[str, Skipped]:
    return {e.url: e for e in events if isinstance(e, Skipped)}


def done(events: list[Event]) -> Done:
    assert isinstance(events[-1], Done)
    return events[-1]


def only(site: Site, pages: dict[str, Page]) -> None:
    """Make index.html link to exactly these pages, in this order."""
    site.pages.update(pages)
    site.set_html("/index.html", "Home", "".join(f'<a href="{p[1:]}">{p}</a>' for p in pages))


# ---- item 2: binary served as text -------------------------------------------------------------------------
def test_binary_bodies_served_as_text_are_skipped(clean_site: Site) -> None:
    only(clean_site, {
        "/binary.html": Page(random_bytes(BINARY), "text/html"),
        "/binary.txt": Page(random_bytes(BINARY, seed=2), "text/plain; charset=utf-8"),
        "/binary-stream.html": Page(random_bytes(BIG, seed=3), "text/html", stream=True),  # over max_bytes
        "/utf16.html": Page("\ufeff" + html("UTF-16", "<p>Sixteen bits.</p>"), "text/html"),
        "/a.html": clean_site.pages["/a.html"],
    })  # fmt: skip
    clean_site.pages["/utf16.html"].body = (
        clean_site.pages["/utf16.html"].render("").decode().encode("utf-16")
    )
    events = run(clean_site)
    got = skips(events)
    for path in ("/binary.html", "/binary.txt", "/binary-stream.html"):
        assert got[clean_site.url(path)].reason == "binary_body", path
    assert "NUL bytes in the first 4096 bytes" in got[clean_site.url("/binary.html")].detail
    docs = fetched(events)
    assert "Sixteen bits." in docs[clean_site.url("/utf16.html")].text  # NUL bytes, but a BOM says UTF-16
    assert sorted(docs) == sorted(
        clean_site.url(p) for p in ("/index.html", "/a.html", "/b.html", "/utf16.html")
    )


def test_binary_page_adds_no_chunks_to_the_index(clean_site: Site, settings: Settings, fake_embedder) -> None:
    clean_site.pages["/binary.html"] = Page(random_bytes(BINARY), "text/html")
    clean_site.set_html(
        "/index.html", "Home", '<p>Home page.</p><a href="binary.html">b</a><a href="a.html">a</a>'
    )
    summary = index_sources([clean_site.url("/index.html")], index_options(settings, **FAST),
                            embedder=fake_embedder)  # fmt: skip
    assert summary.skipped.get("binary_body") == 1
    doc_ids = {c.doc_id for c in IndexStore.open(settings.index_dir).all_chunks()}
    assert clean_site.url("/a.html") in doc_ids and clean_site.url("/binary.html") not in doc_ids


def test_binary_reason() -> None:
    assert binary_reason(random_bytes(4096)) is not None
    assert binary_reason(bytes(range(1, 32)) * 10) is not None  # control characters without NUL
    assert binary_reason("café – naïve\n\tplain text\r\n".encode("cp1252") * 50) is None
    assert binary_reason("日本語のテキスト".encode("utf-16")) is None  # its BOM says what the NULs are
    assert binary_reason(b"") is None


# ---- item 4: a drip holds up neither its host nor the crawl ---------------------------------------------
def test_drip_page_is_cut_at_the_timeout_and_does_not_hold_up_its_host(clean_site: Site) -> None:
    only(clean_site, {
        "/drip.html": Page(html("Drip", "<p>" + "z" * 4000 + "</p>"), drip=DRIP),
        "/a.html": clean_site.pages["/a.html"],
        "/b.html": clean_site.pages["/b.html"],
    })  # fmt: skip
    t0 = time.monotonic()
    events = run(clean_site, delay=0.2, timeout=1.5)
    elapsed = time.monotonic() - t0
    drip = skips(events)[clean_site.url("/drip.html")]
    assert drip.reason == "timeout"
    m = re.fullmatch(r"body not complete within 1\.5 s \((\d+) bytes read\)", drip.detail)
    assert m and 0 < int(m.group(1)) < 4000, drip.detail  # the message says the limit that cut it
    assert elapsed < 3.0  # cut at the 1.5 s timeout, not at 3 x 1.5 s
    # the next request on the host went out one delay after the drip's headers, not after its body
    start = clean_site.requests_for("/drip.html")[0].time
    after = min(r.time for r in clean_site.requests if r.time > start)
    assert 0.15 <= after - start < 1.0  # it was 1.5 s at least: the lock was held until the cut
    assert {clean_site.url("/a.html"), clean_site.url("/b.html")} <= set(fetched(events))


def test_no_answer_message_names_the_limit(clean_site: Site) -> None:
    only(clean_site, {"/slow.html": Page(html("Slow", "<p>late</p>"), delay=3.0)})
    t0 = time.monotonic()
    events = run(clean_site, timeout=0.6)
    assert skips(events)[clean_site.url("/slow.html")].detail == "no answer within 0.6 s"
    assert time.monotonic() - t0 < 2.0


def test_time_budget_stops_the_crawl_and_reports_what_it_left(clean_site: Site) -> None:
    gate = threading.Event()  # never set: /stuck.html answers only after the site's 10 s gate limit
    clean_site.set_html("/stuck.html", "Stuck", "<p>late</p>").gate = gate
    index = clean_site.pages["/index.html"]
    assert isinstance(index.body, str)
    index.body = index.body.replace("</main>", '<a href="stuck.html">stuck</a></main>')
    t0 = time.monotonic()
    events = run(clean_site, delay=0.25, timeout=5.0, max_seconds=1.2)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5  # the budget, not the 5 s timeout or the ~5 s the delay needs for every page
    end = done(events)
    assert end.complete is False and end.reason.startswith("max_seconds: the crawl's 1.2 s budget")
    left = {u for u, s in skips(events).items() if s.reason == "max_seconds"}
    assert clean_site.url("/stuck.html") in left and len(left) >= 3  # in flight, and still queued
    docs = fetched(events)
    assert clean_site.url("/index.html") in docs and not left & set(docs)
    assert sum(isinstance(e, Done) for e in events) == 1


def test_time_budget_from_settings_env_and_cli(clean_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCHCHAT_CRAWL_MAX_SECONDS", "12.5")
    assert crawl_options(Settings()).max_seconds == 12.5
    assert crawl_options(Settings(), max_seconds=3).max_seconds == 3
    monkeypatch.delenv("SEARCHCHAT_CRAWL_MAX_SECONDS")
    assert crawl_options(Settings()).max_seconds is None
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        CrawlOptions(max_seconds=0)

    clean_site.set_html("/stuck.html", "Stuck", "<p>late</p>").gate = threading.Event()
    clean_site.set_html("/index.html", "Home", '<p>Home page text.</p><a href="stuck.html">stuck</a>')
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    _register()
    args = ["index", clean_site.url("/index.html"), "--delay", "0", "--max-seconds", "1", "--json"]
    t0 = time.monotonic()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - t0 < 8  # the request timeout is 10 s: the budget cut the crawl
    summary = json.loads(result.stdout)
    assert summary["skipped"] == {"max_seconds": 1}
    assert summary["examples"][0].startswith(f"stopped early: {clean_site.url('/index.html')} (max_seconds:")
    assert summary["documents_added"] == 1 and summary["total_documents"] == 1  # committed what it had


# ---- item 5: a gzip bomb is cut as it inflates ----------------------------------------------------------
def test_gzip_bomb_is_cut_at_the_cap_without_inflating_in_memory() -> None:
    cap = 1_000_000
    with serve_site(site_fixtures.default_pages(traps=True)) as site:
        site.pages["/robots.txt"] = Page("User-agent: *\nAllow: /\n", "text/plain")
        run(
            site, start="/a.html", depth=0
        )  # one-time costs (TLS context, lazy imports) stay out of the count
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            events = run(site, start="/bomb.html", max_bytes=cap)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    bomb = skips(events)[site.url("/bomb.html")]
    assert (bomb.reason, bomb.detail) == ("too_large", f"body over {cap} bytes")
    assert len(site.requests_for("/bomb.html")) == 1
    # measured: the cap + 0.6 MB; decoding each 64 KiB network chunk whole took ~65 MB at once
    assert peak < cap + 4_000_000, f"peak {peak / 1e6:.1f} MB"


def test_gzip_page_within_the_cap_is_decoded(clean_site: Site) -> None:
    page = clean_site.set_html(
        "/a.html", "Page A", "<p>Zipped apples. " + "Filler words here. " * 2000 + "</p>"
    )
    page.gzip, page.headers["Content-Encoding"] = True, "gzip"
    doc = fetched(run(clean_site, max_bytes=100_000))[clean_site.url("/a.html")]
    assert "Zipped apples." in doc.text and doc.text.count("Filler words here.") == 2000
    assert "gzip" in clean_site.requests_for("/a.html")[0].headers["Accept-Encoding"]


# ---- item 10: HTML and text without a charset ---------------------------------------------------------
def test_pages_without_a_charset_are_decoded_like_a_browser(clean_site: Site) -> None:
    russian = "Привет, как дела? Это тестовая страница на русском языке."
    only(clean_site, {
        "/cafe.html": Page(html("Café", f"<p>{CAFE}</p>").encode("cp1252"), "text/html"),
        "/meta.html": Page(html("Мета", f"<p>{russian}</p>", '<meta charset="windows-1251">').encode("cp1251"),
                           "text/html"),
        "/equiv.html": Page(html("Équiv", f"<p>{CAFE}</p>", '<meta http-equiv="Content-Type" '
                                 'content="text/html; charset=iso-8859-1">').encode("cp1252"), "text/html"),
        "/russian.html": Page(html("Русский", f"<p>{russian * 3}</p>").encode("cp1251"), "text/html"),
        "/notes.txt": Page(f"Notes\n\n{CAFE}\n".encode("cp1252"), "text/plain"),
        "/utf8.html": Page(html("UTF-8", f"<p>{CAFE} 日本</p>").encode(), "text/html"),
    })  # fmt: skip
    docs = fetched(run(clean_site))
    doc = docs[clean_site.url("/cafe.html")]
    assert doc.title == "Café" and CAFE in doc.text
    assert (
        docs[clean_site.url("/meta.html")].title == "Мета"
        and russian in docs[clean_site.url("/meta.html")].text
    )
    assert (
        CAFE in docs[clean_site.url("/equiv.html")].text
    )  # iso-8859-1 is read as windows-1252, as browsers do
    assert russian in docs[clean_site.url("/russian.html")].text  # detected
    assert CAFE in docs[clean_site.url("/notes.txt")].text
    assert f"{CAFE} 日本" in docs[clean_site.url("/utf8.html")].text


def test_cafe_page_is_indexed_correctly(clean_site: Site, settings: Settings, fake_embedder) -> None:
    only(clean_site, {"/cafe.html": Page(html("Café", f"<p>{CAFE}</p>").encode("cp1252"), "text/html")})
    index_sources([clean_site.url("/index.html")], index_options(settings, **FAST), embedder=fake_embedder)
    texts = {c.doc_id: c.text for c in IndexStore.open(settings.index_dir).all_chunks()}
    assert CAFE in texts[clean_site.url("/cafe.html")]


def test_decode_body_order() -> None:
    body = html("T", f"<p>{CAFE}</p>", '<meta charset="utf-8">').encode("cp1252")
    assert CAFE in decode_body(body, "windows-1252", html=True)  # the header wins over <meta>
    assert "\ufffd" in decode_body(body, None, html=True)  # <meta> wins over detection
    assert decode_body(b"\xef\xbb\xbfplain", "latin-1") == "plain"  # a BOM wins over the header
    assert decode_body("‘quoted’".encode("cp1252"), "iso-8859-1") == "‘quoted’"  # latin-1 means cp1252
    assert decode_body(b"caf\xe9", None) == "café"  # not UTF-8, reads as windows-1252
    assert decode_body(b"caf\xe9", "no-such-charset") == "café"  # an unknown label is ignored


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "Grüße aus München, schöne Straße – übermäßig."),  # charset-normalizer says mac_roman
        ("cp1252", "Le café – naïve, déjà vu.\n" * 3000),  # ... and cp1257 here: "naļve"
        ("cp1252", "Smörgåsbord på Östermalm, “quoted” — dash."),
        ("cp1251", "Привет, как дела? Это тестовая страница."),
        ("cp1253", "Καλημέρα κόσμε, αυτή είναι μια δοκιμή."),
        ("gbk", "这是一个中文测试页面，用于检测字符编码。" * 4000),  # the detection sample ends mid-character
        ("shift_jis", "日本語のテストページです。"),
    ],
)
def test_undeclared_encodings_are_detected(encoding: str, text: str) -> None:
    body = html("T", f"<p>{text}</p>").encode(encoding)
    assert text in decode_body(body, None, html=True)
