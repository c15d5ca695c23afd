"""The lxml HTML parser on tricky markup: nested blocks, tables, pre, comments, entities, broken HTML, charsets."""

from __future__ import annotations

from urllib.parse import urljoin

import bs4
import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.htmlpage import join_url
from indexer.parse import parse_html

URL = "http://t.test/p/page.html"


def sections(html: str | bytes) -> list[tuple[list[str], str | None, str]]:
    return [(s.path, s.anchor, s.text) for s in parse_html(html, URL).document.sections]


def text(html: str | bytes) -> str:
    return parse_html(html, URL).document.text


def test_nested_blocks_put_each_item_on_its_own_line():
    html = (
        "<main><ul><li>One<ul><li>Two <b>bold</b></li><li>Three</li></ul></li><li>Four</li></ul>"
        "<blockquote><p>Quoted</p> tail</blockquote><dl><dt>Term</dt><dd>Def <p>para</p></dd></dl></main>"
    )
    assert text(html) == "One\nTwo bold\nThree\nFour\nQuoted\ntail\nTerm\nDef\npara"


def test_table_rows_join_their_cells_and_empty_rows_go():
    html = (
        "<main><table><caption>Cap</caption><tr><th>A</th><th>B</th></tr><tr><td>1</td><td><table><tr>"
        "<td>in1</td><td>in2</td></tr></table></td></tr><tr><td> </td><td></td></tr></table></main>"
    )
    # a row takes every cell inside it, a nested table's too, in document order
    assert text(html) == "Cap\nA | B\n1 | in1 in2 | in1 | in2"


def test_pre_keeps_its_whitespace_and_loses_only_blank_lines_at_the_ends():
    html = (
        "<main><p>x</p><pre>\n\n  def f():\n      return 1\n<span>  # c</span>\n\n</pre><pre>   </pre></main>"
    )
    assert text(html) == "x\n  def f():\n      return 1\n  # c"


def test_comments_are_dropped_and_the_text_either_side_stays_apart():
    html = "<main><p>foo<!-- hidden -->bar</p>alpha<!-- x -->beta<div>a<!--<p>fake</p>-->b</div></main>"
    assert text(html) == "foo bar\nalpha\nbeta\na\nb"


def test_entities_are_decoded_and_unknown_ones_kept():
    html = "<main><p>Fish &amp; chips&nbsp;&eacute;t&eacute; &#8212; &#x41; &foo; &lt;tag&gt;</p></main>"
    assert text(html) == "Fish & chips\xa0été — A &foo; <tag>"


def test_broken_html_still_gives_text_headings_and_title():
    page = parse_html("<title>Broken</title><p>one<p>two<div>three</span>four<ul><li>five<li>six</ul>"
                      "<h2 id=x>Head<p>after", URL)  # fmt: skip
    assert page.document.title == "Broken"
    assert [(s.path, s.anchor, s.text) for s in page.document.sections] == [
        ([], None, "one\ntwo\nthreefour\nfive\nsix"),
        (["Head"], "x", "after"),
    ]


def test_whitespace_runs_become_one_space_or_newline_outside_pre_and_textarea():
    assert (
        text("<main><p>a<b>x</b>\n\n\n<i>y</i>   <i>z</i></p><p>\xa0 lone</p></main>") == "a x \n y z\nlone"
    )
    assert text("<body><p>a<textarea>\n\n  keep  \n\n</textarea>b</p></body>") == "a \n\n keep \n\n b"


def test_ruby_annotations_stay_out_of_a_paragraph_but_not_out_of_the_page():
    html = "<main><p>漢<ruby>字<rp>(</rp><rt>ji</rt><rp>)</rp></ruby>end</p><div><ruby>字<rt>ji</rt></ruby></div></main>"
    assert text(html) == "漢 字 end\n字\nji"


def test_dropped_tags_go_with_their_content_but_not_the_text_after_them():
    html = ("<body><div>before<script>x</script>after<nav>menu</nav>more</div><form><p>in form</p></form>"
            "<p>k<svg><title>icon</title></svg>m</p></body>")  # fmt: skip
    page = parse_html(html, URL)
    assert page.document.text == "before\nafter\nmore\nk m"
    assert page.document.title == "icon"  # the first <title> anywhere, read before tags are dropped


def test_an_xml_declaration_does_not_stop_a_text_page():
    # lxml's fromstring() refuses text that declares an encoding; the feed parser, like bs4's, reads it
    assert text('<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>café</p></body></html>') == "café"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('<meta charset="iso-8859-1"><body><p>café über</p>'.encode("latin-1"), "café über"),
        ('<meta charset="shift_jis"><body><p>日本語</p>'.encode("shift_jis"), "日本語"),
        ("\ufeff<html><body><p>café</p></body></html>".encode("utf-16"), "café"),  # a BOM, no declaration
    ],
)
def test_bytes_are_read_in_the_encoding_they_declare(data: bytes, expected: str):
    assert text(data) == expected


def test_an_encoding_libxml2_does_not_know_falls_back_to_the_next_candidate():
    data = b'<html><head><meta charset="x-no-such"></head><body><p>caf\xc3\xa9</p></body></html>'
    assert text(data) == "café"  # not an error: UTF-8, the next encoding bs4's order suggests


@pytest.mark.parametrize("html", ["", "   \n ", "<!-- nothing -->", b""])
def test_a_page_without_elements_is_an_empty_document(html: str | bytes):
    doc = parse_html(html, URL).document
    assert (doc.title, doc.sections, doc.text) == ("page.html", [], "")


def test_a_page_without_a_body_is_read_whole_but_not_its_doctype():
    html = "<!DOCTYPE html><html><head><title>Moved</title><meta http-equiv=refresh content='0; url=x'></head></html>"
    doc = parse_html(html, URL).document
    assert (doc.title, doc.text) == ("Moved", "Moved")  # BeautifulSoup's walk gave "html\nMoved"


def test_heading_anchors_come_from_the_heading_what_it_holds_or_its_section():
    html = ("<body><section id=s1><h2>One <a class=headerlink href=#s1>¶</a></h2><p>t1</p><h3><span id=inner>"
            "</span>Two</h3><p>t2</p></section><div id=d><h4>Three</h4>x</div><h1>Top</h1><p>t3</p></body>")  # fmt: skip
    page = parse_html(html, URL)
    assert page.document.title == "Top"
    assert sections(html) == [
        (["One"], "s1", "t1"),
        (["One", "Two"], "inner", "t2"),
        (["One", "Two", "Three"], "d", "x"),
        (["Top"], None, "t3"),  # a new top heading starts without an anchor
    ]


def test_role_main_is_the_content_when_there_is_no_main_element():
    assert text("<body><div>junk</div><div role=main><h1>T</h1><p>in</p></div></body>") == "in"


def test_links_resolve_against_base_and_keep_nofollow_and_canonical():
    html = ("<head><base href='http://b.test/d/'><link rel='Alternate  CANONICAL' href='c.html'></head><body>"
            "<a href=' x.html ' rel='NoFollow noopener'>x</a><a href='javascript:1'>j</a><a href='mailto:a@b'>m"
            "</a><a>no</a><a href=''>e</a></body>")  # fmt: skip
    page = parse_html(html, URL)
    assert page.links == [("http://b.test/d/x.html", True)]
    assert page.canonical == "http://b.test/d/c.html"


def test_robots_and_searchchat_meta_directives():
    html = ("<head><meta name='ROBOTS' content='NoIndex'><meta name='robotsx' content='none'></head><body>x</body>")  # fmt: skip
    page = parse_html(html, URL)
    assert page.noindex and not page.nofollow
    page = parse_html("<head><meta name='searchchat' content='none'></head><body>x</body>", URL)
    assert page.noindex and page.nofollow


def test_no_beautifulsoup_tree_is_built(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse_html built a BeautifulSoup tree")

    monkeypatch.setattr(bs4.BeautifulSoup, "__init__", refuse)
    assert text("<main><h1>T</h1><p>Body text.</p></main>") == "Body text."


BASES = [
    "http://t.test/p/page.html",
    "http://t.test/p/page.html?q=1#top",
    "file:///d/x.html",
    "https://t.test/",
]


@given(
    base=st.sampled_from(BASES),
    hrefs=st.lists(st.text(alphabet="ab/.:#?;%= \t\n\x01", max_size=14), max_size=8),
)
def test_joining_a_page_once_per_anchor_gives_what_urljoin_gives(base: str, hrefs: list[str]):
    joined: dict[str, str] = {}  # shared, as on one page
    assert [join_url(base, h, joined) for h in hrefs] == [urljoin(base, h) for h in hrefs]


def test_a_link_no_url_parser_can_read_is_skipped_not_the_page():
    page = parse_html(
        '<p>Body text.</p><a href="http://[oops/">bad</a><a href="/ok">ok</a>', "https://x.org/a"
    )
    assert page.links == [("https://x.org/ok", False)] and "Body text." in page.document.text
