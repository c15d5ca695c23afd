"""Markdown to text: links with parentheses or <angle brackets>, images, code spans, headings' permalinks."""

from __future__ import annotations

import pytest

from indexer.mdlinks import find_links, is_link_item, link_text, without_cross_references
from indexer.parse import heading_text, parse_markdown


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("[Lisp](https://en.wikipedia.org/wiki/Lisp_(programming_language)) is old.", "Lisp is old."),
        ("(see [x](http://a/b_(c)))", "(see x)"),
        ("(see [x](http://a/b_(c)) and [y](http://a/(d(e))f).)", "(see x and y.)"),
        ('Both [one](a_(1)) and [two](b_(2) "Title (2)") here', "Both one and two here"),
        ("[spaced](<docs/a file (v2).md>) and [t](<x> 'quoted')", "spaced and t"),
        ("An image ![a chart (2024)](img/chart_(1).png) inline", "An image a chart (2024) inline"),
        ("[![badge](https://ci.test/b.svg)](https://ci.test/run_(main))", "badge"),
        ("[a [nested] label](u)", "a [nested] label"),
        ("Empty [dest]() link", "Empty dest link"),
        ("Not a link: [x] (y) and \\[esc](u)", "Not a link: [x] (y) and \\[esc](u)"),
        ("Code `[x](http://a/(b))` stays", "Code `[x](http://a/(b))` stays"),
        ("Unbalanced [x](http://a/(b) text", "Unbalanced [x](http://a/(b) text"),
    ],
)
def test_link_text(line: str, text: str) -> None:
    assert link_text(line) == text


def test_find_links_reports_spans_and_images() -> None:
    line = "x ![i](p.png) [l](q_(r))"
    found = find_links(line)
    assert [(line[f.start : f.end], f.text, f.image) for f in found] == [
        ("![i](p.png)", "i", True),
        ("[l](q_(r))", "l", False),
    ]


def test_link_only_list_items() -> None:
    assert is_link_item("- [Lisp](https://en.wikipedia.org/wiki/Lisp_(programming_language))")
    assert is_link_item("1. [BM25](bm25.md).")
    assert not is_link_item("- [BM25](bm25.md): ranking")
    assert not is_link_item("- ![logo](logo.png)")
    assert not is_link_item("[BM25](bm25.md)")


def test_markdown_with_parenthesised_urls_leaves_no_stray_parenthesis() -> None:
    md = (
        "# Languages\n\n"
        "[Lisp](https://en.wikipedia.org/wiki/Lisp_(programming_language)) came early "
        "(see [Scheme](https://en.wikipedia.org/wiki/Scheme_(programming_language))).\n\n"
        "## See also\n\n"
        "- [Fortran](https://en.wikipedia.org/wiki/Fortran_(language))\n"
        "- [ML](https://en.wikipedia.org/wiki/ML_(programming_language)): a typed cousin\n"
    )
    doc = parse_markdown(md, "file:///langs.md")
    assert [s.text for s in doc.sections] == ["Lisp came early (see Scheme).", "- ML: a typed cousin"]
    assert ")" not in doc.text.replace("(see Scheme)", "")


@pytest.mark.parametrize(
    ("heading", "text", "anchor"),
    [
        ("## Installation ¶", "Installation", "installation"),
        ("## Installation §", "Installation", "installation"),
        ("## Installation \U0001f517", "Installation", "installation"),
        ("## Installation #", "Installation", "installation"),
        ("## Installation ##", "Installation", "installation"),
        ("## Installation [¶](#installation)", "Installation", "installation"),
        ("## Learning C#", "Learning C#", "learning-c"),
        ("## [Lisp](https://w.test/Lisp_(lang)) dialects", "Lisp dialects", "lisp-dialects"),
    ],
)
def test_markdown_headings_drop_permalinks_like_html(heading: str, text: str, anchor: str) -> None:
    doc = parse_markdown(f"# Guide ¶\n\nIntro.\n\n{heading}\n\nBody text.\n", "file:///g.md")
    assert doc.title == "Guide"
    assert (doc.sections[-1].path, doc.sections[-1].anchor) == (["Guide", text], anchor)


def test_heading_text_is_the_one_html_uses() -> None:
    assert heading_text("  What's  New ¶") == "What's New"
    assert heading_text("C#") == "C#"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "Tokens it can read at once. See [Context windows](context-windows.md).",
            "Tokens it can read at once.",
        ),
        ("See [A](a.md). Then the text goes on.", "Then the text goes on."),
        ("  - An item. See [A](a.md).", "  - An item."),
        ("上下文窗口是一次能读的词元数。参见[上下文窗口](windows.md)。", "上下文窗口是一次能读的词元数。"),
        ("No. It is not a GAN. See [GANs](g.md) and the [comparison](c.md).", None),  # words of its own
        ("Written by [Ada](a.md) in 1843.", None),
        ("| [BM25](bm25.md) | ranking |", None),  # table rows are data
        ("Version 2.0 of [x](x.md) is out", None),  # "2.0" is no sentence end
        ("No links. At all.", None),
    ],
)
def test_cross_reference_sentences_are_dropped(line: str, kept: str | None) -> None:
    assert without_cross_references(line) == (line if kept is None else kept)


def test_markdown_text_loses_its_see_also_sentences() -> None:
    md = (
        "# Glossary\n\n## Context window\n\nThe tokens a model reads at once. See [Context windows](cw.md).\n"
    )
    assert parse_markdown(md, "file:///g.md").sections[0].text == "The tokens a model reads at once."
