"""URL normalisation (document ids) and crawl scope rules."""

from __future__ import annotations

import pytest

from indexer.urls import Scope, normalize_url, origin


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com/a#section", "http://example.com/a"),
        ("http://example.com/a?b=2&a=1#x", "http://example.com/a?b=2&a=1"),  # query kept, not sorted
        ("http://example.com/Path/Case", "http://example.com/Path/Case"),  # path case kept
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a/..", "http://example.com/"),
        ("http://example.com/../../x", "http://example.com/x"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/%7e/%2f", "http://example.com/%7E/%2F"),
        ("http://example.com/a/", "http://example.com/a/"),  # trailing slash kept: it can be another page
        ("http://user:secret@example.com/", "http://example.com/"),
        ("http://Example.com./x", "http://example.com/x"),
        ("http://bücher.de/ä", "http://xn--bcher-kva.de/%C3%A4"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("  http://example.com/x  ", "http://example.com/x"),
        ("http://example.com/?", "http://example.com/"),
    ],
)
def test_normalize(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("b.html", "http://ex.com/dir/b.html"),
        ("../up.html#top", "http://ex.com/up.html"),
        ("/root", "http://ex.com/root"),
        ("?page=2", "http://ex.com/dir/page.html?page=2"),
        ("#frag", "http://ex.com/dir/page.html"),
        ("//cdn.ex.com/x", "http://cdn.ex.com/x"),
        ("HTTPS://OTHER.org", "https://other.org/"),
    ],
)
def test_relative_links(link: str, expected: str) -> None:
    assert normalize_url(link, "http://ex.com/dir/page.html") == expected


@pytest.mark.parametrize(
    "url",
    [
        "mailto:a@b.c",
        "javascript:void(0)",
        "ftp://ex.com/f",
        "file:///etc/passwd",
        "http://",
        "http://ex.com:99999/",
    ],
)
def test_not_crawlable(url: str) -> None:
    assert normalize_url(url) is None


def test_normalize_is_idempotent() -> None:
    for url in ("HTTP://A.com:80/x/../y z?q=1#f", "http://bücher.de/ä", "http://ex.com/%7e"):
        once = normalize_url(url)
        assert once is not None and normalize_url(once) == once


def test_origin() -> None:
    assert origin("https://ex.com:8443/a/b?c") == "https://ex.com:8443"


def test_scope_same_host_by_default() -> None:
    scope = Scope.build(["http://ex.com:8000/docs/"], [], [])
    assert scope.allows("http://ex.com:8000/other")
    assert not scope.allows("http://ex.com/other")  # another port is another site
    assert not scope.allows("http://sub.ex.com:8000/")
    assert not scope.allows("http://other.org/")


def test_scope_prefixes() -> None:
    scope = Scope.build(["http://ex.com/"], ["http://EX.com/docs/", "http://ex.com/api"], [])
    assert scope.allows("http://ex.com/docs/a.html")
    assert scope.allows("http://ex.com/api/v1")
    assert not scope.allows("http://ex.com/blog/")
    assert not scope.allows("http://ex.com/doc")


def test_scope_allowed_domains_include_subdomains() -> None:
    scope = Scope.build(["http://ex.com/"], [], ["Docs.Example.org", ".cdn.net"])
    assert scope.allows("https://docs.example.org:8443/x")
    assert scope.allows("http://a.docs.example.org/")
    assert scope.allows("http://img.cdn.net/")
    assert not scope.allows("http://example.org/")
    assert not scope.allows("http://notdocs.example.org/")
    assert scope.allows("http://ex.com/anything")


def test_scope_rejects_bad_prefix() -> None:
    with pytest.raises(ValueError, match="Prefixes must be http"):
        Scope.build(["http://ex.com/"], ["docs/"], [])
