"""Parsers keep main text, headings and anchors; the chunker follows headings with token windows."""

from __future__ import annotations

from indexer.chunk import chunk_document, embed_text, split_section
from indexer.embed import HashEmbedder
from indexer.parse import parse_html, parse_markdown, parse_text

PAGE = """<!doctype html><html><head><title>Polite crawling</title>
<link rel="canonical" href="/guide/crawling.html"><meta name="robots" content="nofollow"></head>
<body><nav><a href="/a">Menu item</a></nav><header>Site header</header>
<main><h1 id="top">Polite crawling</h1><p>Intro paragraph about crawlers.</p>
<h2 id="robots">Robots.txt</h2><p>Disallow rules keep crawlers out.</p>
<pre><code>User-agent: *
Disallow: /private</code></pre>
<h3 id="delay">Crawl delay</h3><p>Wait between requests.</p>
<table><tr><th>Code</th><th>Meaning</th></tr><tr><td>429</td><td>Too many requests</td></tr></table>
<a href="other.html" rel="nofollow">other</a><a href="#robots">self</a></main>
<aside>Related ads</aside><footer>Copyright</footer><script>var x = 1;</script></body></html>"""


def tokenize(text: str) -> list[tuple[int, int]]:
    return HashEmbedder().tokenize(text)


def test_html_keeps_main_text_headings_anchors_code_and_tables():
    page = parse_html(PAGE, "http://example.test/guide/crawling.html")
    doc = page.document
    assert doc.title == "Polite crawling"
    assert "Menu item" not in doc.text and "Site header" not in doc.text
    assert "Related ads" not in doc.text and "Copyright" not in doc.text and "var x" not in doc.text
    paths = [(s.path, s.anchor) for s in doc.sections]
    assert (["Polite crawling", "Robots.txt"], "robots") in paths
    assert (["Polite crawling", "Robots.txt", "Crawl delay"], "delay") in paths
    robots = next(s for s in doc.sections if s.anchor == "robots")
    assert "User-agent: *\nDisallow: /private" in robots.text
    delay = next(s for s in doc.sections if s.anchor == "delay")
    assert "429 | Too many requests" in delay.text
    assert page.canonical == "http://example.test/guide/crawling.html"
    assert page.nofollow and not page.noindex
    assert ("http://example.test/guide/other.html", True) in page.links


def test_markdown_sections_slugs_and_links_become_text():
    md = "# Title\n\nIntro [BM25](bm25.md) text.\n\n## Scoring formula\n\nk1 and b.\n```\n# not a heading\n```\n"
    doc = parse_markdown(md, "file:///x/doc.md")
    assert doc.title == "Title"
    assert doc.sections[0].text == "Intro BM25 text."
    assert doc.sections[1].path == ["Title", "Scoring formula"]
    assert doc.sections[1].anchor == "scoring-formula"
    assert "# not a heading" in doc.sections[1].text


def test_split_section_respects_size_and_overlap():
    text = " ".join(f"w{i}." for i in range(100))
    parts = split_section(text, tokenize, size=30, overlap=5)
    assert all(n <= 30 for _, n in parts)
    assert parts[0][0].startswith("w0.") and parts[-1][0].endswith("w99.")
    # consecutive windows overlap by a few words
    first_words = parts[0][0].split()
    second_words = parts[1][0].split()
    assert second_words[0] in first_words


def chars(text: str) -> list[tuple[int, int]]:
    """One token per non-space character, as BERT's tokenizer splits Chinese."""
    return [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]


def test_chinese_windows_end_and_begin_at_sentence_ends():
    text = "".join(f"第{i}句话讲的是一件事情。" for i in range(60))
    parts = split_section(text, chars, size=40, overlap=16)
    assert len(parts) > 10
    assert all(p.endswith("。") and p.startswith("第") for p, _ in parts)
    # the overlap is whole sentences: each window repeats the last sentence of the one before
    assert all(b.split("。")[0] + "。" in a for (a, _), (b, _) in zip(parts, parts[1:], strict=False))


def test_english_overlap_begins_at_a_sentence_start():
    text = " ".join(f"Sentence {i} has five words." for i in range(40))
    parts = split_section(text, tokenize, size=24, overlap=8)
    assert all(p.startswith("Sentence") and p.endswith(".") for p, _ in parts)
    assert all(b.split(".")[0] in a for (a, _), (b, _) in zip(parts, parts[1:], strict=False))


def test_chunks_follow_headings_and_record_position():
    body = "\n\n".join(f"## Part {i}\n\n" + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(3))
    doc = parse_markdown("# Doc\n\n" + body, "file:///d.md")
    chunks = chunk_document(doc, tokenize, size=40, overlap=8)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.n_tokens <= 40
        part = c.section.split(" > ")[-1]
        assert all(w.startswith(f"word{part[-1]}x") for w in c.text.split())  # never crosses a heading
        assert c.anchor == f"part-{part[-1]}"
    assert embed_text(chunks[0]).startswith("Doc — Part 0\n")


def test_no_chunk_exceeds_the_character_bound_whatever_the_tokenizer_says():
    words = " ".join(f"word{i}" for i in range(40_000))  # ~350,000 characters
    cases = {
        "one token for everything": lambda t: [(0, len(t))] if t else [],
        "no tokens at all": lambda t: [],
        "a few long tokens": lambda t: [(i, min(i + 90_000, len(t))) for i in range(0, len(t), 90_000)],
        "whitespace words": tokenize,
    }
    for name, tok in cases.items():
        parts = split_section(words, tok, size=220, overlap=32, max_chars=2000)
        assert parts and all(0 < len(p) <= 2000 for p, _ in parts), name
        joined = " ".join(p for p, _ in parts)
        assert "word0 " in joined and "word39999" in joined, name  # nothing is lost at either end
    glued = "x" * 200_000  # one 200,000-character "word"
    parts = split_section(glued, tokenize, size=220, overlap=32, max_chars=3000)
    assert len(parts) == 67 and all(len(p) <= 3000 for p, _ in parts)
    assert sum(len(p) for p, _ in parts) == 200_000  # cut in pieces, no overlap inside one word


def test_character_bound_leaves_normal_text_alone():
    text = " ".join(f"w{i}." for i in range(1000))
    assert split_section(text, tokenize, 30, 5) == split_section(text, tokenize, 30, 5, max_chars=10**9)
    doc = parse_text("Title\n\n" + "Ordinary prose goes on. " * 3000, "file:///p.txt")
    chunks = chunk_document(doc, tokenize, size=220, overlap=32, max_chars=1000)
    assert all(len(c.text) <= 1000 for c in chunks) and all(c.n_tokens <= 220 for c in chunks)
    assert max(len(c.text) for c in chunks) > 900  # the character bound, not the 220 tokens, cut these


def test_plain_text_title_from_first_line():
    doc = parse_text("Release notes\n\nVersion 2 fixes bugs.", "file:///n.txt")
    assert doc.title == "Release notes"
    assert doc.content_hash and doc.doctype == "text"


def test_markdown_link_only_lists_are_dropped_but_described_links_kept():
    md = "# T\n\nBody.\n\n## Related documents\n\n- [GAN vs GPT](gan-vs-gpt.md)\n- [BM25](bm25.md): ranking\n"
    doc = parse_markdown(md, "file:///t.md")
    related = doc.sections[-1]
    assert related.path == ["T", "Related documents"]
    assert related.text == "- BM25: ranking"


def test_sphinx_permalinks_stay_out_of_titles_and_sections():
    html = ("<html><body><main><h1>What's New<a class='headerlink' href='#new'>¶</a></h1><p>Intro text.</p>"
            "<section id='pep-322'><h2>PEP 322: Reverse Iteration<a class='headerlink' href='#pep-322'>¶</a></h2>"
            "<p>A new built-in function, reversed(seq), was added.</p></section></main></body></html>")  # fmt: skip
    doc = parse_html(html, "http://example.test/whatsnew.html").document
    assert doc.title == "What's New"
    assert (["What's New", "PEP 322: Reverse Iteration"], "pep-322") in [
        (s.path, s.anchor) for s in doc.sections
    ]
    assert _heading_text("C# 12") == "C# 12"  # a '#' inside a heading stays


def _heading_text(text: str) -> str:
    from bs4 import BeautifulSoup

    from indexer.parse import _heading

    return _heading(BeautifulSoup(f"<h2>{text}</h2>", "lxml").h2)  # type: ignore[arg-type]
