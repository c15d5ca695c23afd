"""The web app in-process: the page, every JSON endpoint and error path, SSE order, the queue, the API key."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from searchchat.generators.base import GeneratorError
from searchchat.web.models import MAX_BODY_BYTES
from searchchat.web.pages import DocView, Part, render_document
from searchchat.web.server import BackgroundServer
from tests.fakes import ScriptedGenerator
from tests.web_helpers import (
    HOSTILE,
    BlockingGenerator,
    SlowGenerator,
    build_index,
    make_app,
    sse_events,
    web_settings,
)

ANSWER = "A GAN trains a generator against a discriminator [1]. ChatGPT is not a GAN [1]."


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("web"))


@pytest.fixture
def settings(tmp_path: Path, built: Path):  # type: ignore[no-untyped-def]
    return web_settings(tmp_path / "home", built)


@pytest.fixture
def client(settings):  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as c:
        yield c


def scripted_client(settings, *replies: str, **kw):  # type: ignore[no-untyped-def]
    gen = ScriptedGenerator().enqueue(*replies)
    return TestClient(make_app(settings, gen), **kw), gen


def assert_json_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in resp.text
    if code:
        assert body["error"] == code, body
    return body


# -- the page ---------------------------------------------------------------------------------------------
def test_page_and_static_assets_work_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'src="/static/app.js"' in html and 'href="/static/style.css"' in html
    assert 'id="q"' in html and 'id="followup"' in html and 'id="stats"' in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), "the page must not load anything external"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg")):
        r = client.get(f"/static/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
        assert not re.search(r"(url\(|import\s|fetch\()\s*[\"']?https?://", r.text)
    js = client.get("/static/app.js").text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


def test_docs_render_offline_from_the_openapi_spec(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    expected = {"/ask", "/ask/stream", "/search", "/api/stats", "/api/sources", "/healthz",
                "/v1/chat/completions", "/v1/models"}  # fmt: skip
    assert expected <= paths
    k = spec["components"]["schemas"]["AskRequest"]["properties"]["k"]["anyOf"][0]
    assert (k["type"], k["minimum"], k["maximum"]) == ("integer", 1, 50)
    docs = client.get("/docs")
    assert docs.status_code == 200
    for path in expected:
        assert f"<code>{path}</code>" in docs.text
    assert not re.search(r"(src|href)=[\"']?https?://", docs.text)
    assert "AskRequest" in docs.text and "/openapi.json" in docs.text and "maximum 50" in docs.text


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert_json_error(client.get("/nope"), 404, "not_found")
    assert_json_error(client.get("/ask"), 405, "method_not_allowed")


# -- status and index endpoints ---------------------------------------------------------------------------
def test_healthz_stats_and_sources(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["index"] is True and health["generator"] == "extractive"
    assert health["generations"]["running"] == 0
    stats = client.get("/api/stats").json()
    assert stats["documents"] == 6 and stats["chunks"] >= 5 and stats["sources"] == 1
    assert stats["embedder"] == "hash-64" and re.match(r"\d{4}-\d\d-\d\dT", stats["last_indexed"])
    sources = client.get("/api/sources").json()
    assert len(sources) == 1 and sources[0]["documents"] == 6 and sources[0]["kind"] == "folder"


def test_without_an_index_the_page_works_and_the_api_says_so(tmp_path: Path) -> None:
    settings = web_settings(tmp_path / "home", tmp_path / "missing")
    with TestClient(make_app(settings)) as c:
        assert c.get("/").status_code == 200
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["index"] is False
        assert "searchchat index" in health.json()["message"]
        for resp in (c.post("/ask", json={"question": "hi"}), c.post("/ask/stream", json={"question": "hi"}),
                     c.get("/search", params={"q": "hi"}), c.get("/api/stats"), c.get("/api/sources")):  # fmt: skip
            body = assert_json_error(resp, 503, "no_index")
            assert "searchchat index" in body["detail"]


def test_a_running_server_picks_up_a_newly_built_index(tmp_path: Path, built: Path) -> None:
    index = tmp_path / "later"
    settings = web_settings(tmp_path / "home", index)
    with TestClient(make_app(settings)) as c:
        assert c.get("/api/stats").status_code == 503
        shutil.copytree(built, index)
        assert c.get("/api/stats").json()["documents"] == 6
        assert c.get("/healthz").json()["index"] is True
        assert c.get("/search", params={"q": "discriminator"}).json()["hits"]


def test_an_index_built_with_another_embedder_is_a_clear_503(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, embedder="hash-32")
    with TestClient(make_app(settings)) as c:
        for r in (c.get("/search", params={"q": "bm25"}), c.post("/ask", json={"question": "What is BM25?"})):
            assert "hash-64" in assert_json_error(r, 503, "index_mismatch")["detail"]


def test_removing_a_source_needs_the_key_and_updates_the_index(tmp_path: Path, built: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(built, index)
    settings = web_settings(tmp_path / "home", index, api_key="s3cret")
    with TestClient(make_app(settings)) as c:
        source = c.get("/api/sources").json()[0]["source"]
        assert_json_error(c.delete("/api/sources", params={"source": source}), 401, "unauthorized")
        bad = c.delete("/api/sources", params={"source": source}, headers={"Authorization": "Bearer nope"})
        assert "not valid" in assert_json_error(bad, 401)["detail"]
        auth = {"Authorization": "Bearer s3cret"}
        assert_json_error(c.delete("/api/sources", params={"source": "/no/such"}, headers=auth), 404)
        done = c.delete("/api/sources", params={"source": source}, headers=auth)
        assert done.status_code == 200 and done.json()["documents_removed"] == 6
        assert c.get("/api/stats").json()["documents"] == 0


# -- search -----------------------------------------------------------------------------------------------
def test_search_ranks_passages_with_links(client: TestClient) -> None:
    body = client.get("/search", params={"q": "generator discriminator", "k": 2}).json()
    assert body["query"] == "generator discriminator" and body["mode"] == "hybrid"
    assert 1 <= len(body["hits"]) <= 2
    top = body["hits"][0]
    assert top["title"] == "GANs" and top["rank"] == 1
    assert "#" in top["url"] and top["link"] == top["url"]  # the section's anchor (issue 19, item 14)
    for mode in ("dense", "bm25"):
        assert client.get("/search", params={"q": "robots.txt crawlers", "mode": mode}).json()["mode"] == mode
    filtered = client.get("/search", params={"q": "stripes", "doctype": "markdown"}).json()
    assert filtered["hits"] and all(h["url"].split("#")[0].endswith(".md") for h in filtered["hits"])


def test_search_hits_link_to_the_section_as_citations_do(settings) -> None:  # type: ignore[no-untyped-def]
    c, _ = scripted_client(settings, ANSWER)
    with c:
        hits = c.get("/search", params={"q": "Is ChatGPT a GAN?", "k": 10}).json()["hits"]
        answer = c.post("/ask", json={"question": "Is ChatGPT a GAN?", "k": 10}).json()
    by_chunk = {h["chunk_id"]: h["url"] for h in hits}
    shared = [s for s in answer["sources"] if s["chunk_id"] in by_chunk]
    assert shared and any("#" in s["url"] for s in shared)
    for source in shared:
        assert by_chunk[source["chunk_id"]] == source["url"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_request"),
        ({"q": ""}, "empty_query"),
        ({"q": "   "}, "empty_query"),
        ({"q": "x" * 2001}, "query_too_long"),
        ({"q": "bm25", "k": 0}, "invalid_request"),
        ({"q": "bm25", "k": 101}, "invalid_request"),
        ({"q": "bm25", "k": "many"}, "invalid_request"),
        ({"q": "bm25", "mode": "semantic"}, "invalid_request"),
    ],
)
def test_search_rejects_bad_input(client: TestClient, params: dict, code: str) -> None:
    assert_json_error(client.get("/search", params=params), 422, code)


# -- ask --------------------------------------------------------------------------------------------------
def test_each_request_resolves_the_snapshot_once(settings) -> None:  # type: ignore[no-untyped-def]
    """A search and a question each open the live snapshot once, and search the snapshot they opened."""
    app = make_app(settings)
    with TestClient(app) as c:
        handle = app.state.backend.handle
        opened: list[str] = []
        real = handle.get

        def counting_get():  # type: ignore[no-untyped-def]
            store = real()
            opened.append(store.version)
            return store

        handle.get = counting_get
        assert c.get("/search", params={"q": "discriminator"}).json()["hits"]
        assert len(opened) == 1
        opened.clear()
        assert c.post("/ask", json={"question": "Is ChatGPT a GAN?"}).status_code == 200
        assert len(opened) == 1


def test_ask_returns_the_answer_contract(settings) -> None:  # type: ignore[no-untyped-def]
    c, gen = scripted_client(settings, ANSWER)
    with c:
        body = c.post("/ask", json={"question": "Is ChatGPT a GAN?", "k": 3}).json()
    assert body["question"] == "Is ChatGPT a GAN?" and "[1]" in body["answer"] and body["abstained"] is False
    assert len(body["sources"]) <= 3 and [s["n"] for s in body["sources"]] == list(
        range(1, len(body["sources"]) + 1)
    )
    (cite,) = body["citations"]
    source = body["sources"][0]
    assert cite["n"] == 1 and cite["url"] == source["url"] and cite["title"] == source["title"] == "GANs"
    assert {"retrieve_ms", "generate_ms"} <= set(body["timings"])
    assert isinstance(body["sentences"], list)
    assert gen.prompts[0].question == "Is ChatGPT a GAN?"


def test_ask_passes_history_mode_and_filters(settings) -> None:  # type: ignore[no-untyped-def]
    c, gen = scripted_client(settings, "zebra stripes", "Zebras have black and white stripes [1].")
    history = [{"role": "user", "content": "What is a GAN?"}, {"role": "assistant", "content": "A pair [1]."}]
    with c:
        r = c.post("/ask", json={"question": "And zebras?", "history": history, "mode": "bm25",
                                 "filters": {"doctype": "markdown"}})  # fmt: skip
    assert r.status_code == 200, r.text
    contents = [m["content"] for m in gen.prompts[-1].messages]  # (a rewrite of the follow-up may come first)
    assert "What is a GAN?" in contents and any(c.startswith("A pair") for c in contents)


def test_ask_strict_per_request(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from searchchat.answering import policy

    # a strict profile no passage can satisfy
    monkeypatch.setitem(
        policy.PROFILES, "strict", dataclasses.replace(policy.PROFILES["strict"], answer_min=2.0)
    )
    c, gen = scripted_client(settings, "Zebras have black and white stripes [1].")
    with c:
        strict = c.post("/ask", json={"question": "Why do zebras have stripes?", "strict": True})
        assert strict.status_code == 200 and strict.json()["abstained"] and gen.prompts == []
        plain = c.post("/ask", json={"question": "Why do zebras have stripes?"})
    assert plain.status_code == 200 and len(gen.prompts) == 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"question": ""}, 422, "empty_question"),
        ({"question": " \n\t "}, 422, "empty_question"),
        ({"question": "x" * 2001}, 422, "question_too_long"),
        ({}, 422, "invalid_request"),
        ({"question": 42}, 422, "invalid_request"),
        ({"question": "hi", "k": 0}, 422, "invalid_request"),
        ({"question": "hi", "k": 51}, 422, "invalid_request"),
        ({"question": "hi", "k": "six"}, 422, "invalid_request"),
        ({"question": "hi", "mode": "semantic"}, 422, "invalid_request"),
        ({"question": "hi", "history": [{"role": "system", "content": "x"}]}, 422, "invalid_request"),
        ({"question": "hi", "history": "nope"}, 422, "invalid_request"),
        ({"question": "hi", "surprise": True}, 422, "invalid_request"),
        (["question"], 422, "invalid_request"),
        (
            {"question": "\ud800"},
            422,
            "invalid_request",
        ),  # half a UTF-16 pair: not Unicode (issue 19, item 1)
        ({"question": "hi", "history": [{"role": "user", "content": "a\udfffb"}]}, 422, "invalid_request"),
    ],
)
@pytest.mark.parametrize("path", ["/ask", "/ask/stream"])
def test_ask_rejects_bad_input(
    client: TestClient, path: str, payload: object, status: int, code: str
) -> None:
    # sent as JSON text with \u escapes, as any client would send half a surrogate pair
    raw = json.dumps(payload)
    body = assert_json_error(
        client.post(path, content=raw, headers={"content-type": "application/json"}), status, code
    )
    if code == "invalid_request" and payload != ["question"] and isinstance(payload, dict) and payload:
        key = next(k for k in payload if k != "question") if len(payload) > 1 else "question"
        assert key in body["detail"]


def test_malformed_and_oversized_bodies(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    assert_json_error(
        client.post("/ask", content=b'{"question": "hi"', headers=headers), 400, "malformed_json"
    )
    assert_json_error(client.post("/ask", content=b"", headers=headers), 422)
    huge = json.dumps({"question": "hi", "history": [{"role": "user", "content": "x" * 19_000}] * 300})
    assert len(huge) > MAX_BODY_BYTES
    assert_json_error(client.post("/ask", content=huge.encode(), headers=headers), 413)


def test_unexpected_errors_are_a_json_500_without_details(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    class Broken(ScriptedGenerator):
        def stream(self, prompt, max_new_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
            raise RuntimeError("secret internal detail")
            yield ""

    with TestClient(make_app(settings, Broken()), raise_server_exceptions=False) as c:
        r = c.post("/ask", json={"question": "Is ChatGPT a GAN?"})
        body = assert_json_error(r, 500, "internal_error")
        assert "secret" not in r.text
        stream = c.post("/ask/stream", json={"question": "Is ChatGPT a GAN?"})
        events = sse_events(stream.text)
        assert [e for e, _ in events] == ["sources", "preview", "error"]
        assert json.loads(events[-1][1])["error"] == "internal_error" and "secret" not in stream.text
        assert c.get("/healthz").json()["generations"] == {"running": 0, "waiting": 0, "max_running": 1,
                                                           "max_waiting": 4}  # fmt: skip
    assert body["detail"] == "Internal server error."
    assert any("secret internal detail" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_generator_failures_are_a_clear_503(settings) -> None:  # type: ignore[no-untyped-def]
    class Missing(ScriptedGenerator):
        def stream(self, prompt, max_new_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
            raise GeneratorError("The model file is missing; run searchchat models.")
            yield ""

    with TestClient(make_app(settings, Missing())) as c:
        body = assert_json_error(c.post("/ask", json={"question": "GAN?"}), 503, "generator_unavailable")
        assert "model file is missing" in body["detail"]


# -- streaming --------------------------------------------------------------------------------------------
def test_stream_sends_sources_then_tokens_then_final(settings) -> None:  # type: ignore[no-untyped-def]
    c, _ = scripted_client(settings, ANSWER, ANSWER)
    with c:
        r = c.post("/ask/stream", json={"question": "Is ChatGPT a GAN?"})
        plain = c.post("/ask", json={"question": "Is ChatGPT a GAN?"}).json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [e for e, _ in events]
    assert names[:2] == ["sources", "preview"] and names[-1] == "final" and set(names[2:-1]) == {"token"}
    assert len(names) - 3 == len(ANSWER.split(" "))
    preview = json.loads(events[1][1])
    assert preview["quote"] and 1 <= preview["source"] <= len(json.loads(events[0][1])["sources"])
    sources = json.loads(events[0][1])
    assert sources["sources"][0]["title"] == "GANs" and sources["query"]
    assert "".join(json.loads(d)["text"] for e, d in events if e == "token") == ANSWER
    final = json.loads(events[-1][1])
    assert final["answer"] == plain["answer"] and final["citations"] == plain["citations"]


# -- escaping ---------------------------------------------------------------------------------------------
def test_hostile_titles_are_data_never_markup(client: TestClient) -> None:
    r = client.get("/search", params={"q": "zebra stripes hostile", "k": 3})
    assert "<script" not in r.text and "<img" not in r.text and "\\u003cscript\\u003e" in r.text
    hit = next(h for h in r.json()["hits"] if "zebra" in h["text"])
    assert hit["title"] == HOSTILE and "<img src=x onerror=alert(2)>" in hit["section"]
    stream = client.post("/ask/stream", json={"question": "zebra stripes hostile title"})
    assert "<script" not in stream.text and "\\u003cscript\\u003e" in stream.text
    view = client.get("/view", params={"url": hit["link"]})
    assert view.status_code == 200 and "<script>alert" not in view.text and "<img src=x" not in view.text
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in view.text
        and "zebras have black and white stripes" in view.text
    )
    assert_json_error(client.get("/view", params={"url": "file:///not/indexed.md"}), 404)


def test_view_marks_the_cited_quote(client: TestClient) -> None:
    link = client.get("/search", params={"q": "zebra stripes hostile", "k": 1}).json()["hits"][0]["link"]

    def view(hl: str) -> str:
        r = client.get("/view", params={"url": link, "hl": hl})
        assert r.status_code == 200
        return r.text

    marked = view("zebras have   black and white stripes")  # whitespace differences do not matter
    assert "title; <mark class=cited-span id=cited>zebras have black and white stripes</mark>." in marked
    for absent in ("<script>alert(3)</script>", "zebras " * 200):  # not in the text; too long (over HL_MAX)
        page = view(absent)
        assert "<mark" not in page and "<script>alert(3)" not in page and "zebras have black" in page


def test_reader_escapes_both_sides_of_the_mark_and_skips_reference_markers() -> None:
    text = "Use <b>bold</b> & <script>x()</script> tags [12]. Then <i>stop</i>.\nAgain: tags. Then more."
    doc = DocView(url="file:///d.md", title="D", doctype="markdown", parts=[Part("D", None, [text])])
    page = render_document(doc, "<script>x()</script> tags. Then")  # the quoted source text lost "[12]"
    assert page.count("<mark") == 1 and "<script>" not in page and "<b>" not in page
    assert (
        "<p>Use &lt;b&gt;bold&lt;/b&gt; &amp; <mark class=cited-span id=cited>&lt;script&gt;x()&lt;/script&gt; "
        "tags [12]. Then</mark> &lt;i&gt;stop&lt;/i&gt;.</p><p>Again: tags. Then more.</p>" in page
    )
    assert render_document(doc, "tags. Then").count("<mark") == 1  # the first occurrence only
    assert "<mark" not in render_document(doc, "<script>alert(1)</script>")


# -- the API key ------------------------------------------------------------------------------------------
def test_api_key_all_protects_everything_but_health_and_page(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, api_key="k3y", api_key_all=True)
    with TestClient(make_app(settings)) as c:
        for r in (c.get("/search", params={"q": "bm25"}), c.get("/api/stats"), c.get("/api/sources"),
                  c.post("/ask", json={"question": "bm25?"}), c.post("/ask/stream", json={"question": "bm25?"}),
                  c.get("/v1/models")):  # fmt: skip
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/models").json()["error"]["code"] == "unauthorized"  # OpenAI's shape under /v1
        for path in ("/healthz", "/", "/static/app.js"):
            assert c.get(path).status_code == 200
        assert c.get("/api/stats", headers={"X-API-Key": "k3y"}).status_code == 200
        assert (
            c.get("/search", params={"q": "bm25"}, headers={"Authorization": "Bearer k3y"}).status_code == 200
        )
        assert c.get("/api/stats", headers={"X-API-Key": "k3y-not"}).status_code == 401


def test_api_key_without_all_leaves_reads_open(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, api_key="k3y")
    with TestClient(make_app(settings)) as c:
        assert c.get("/search", params={"q": "bm25"}).status_code == 200
        assert c.post("/ask", json={"question": "What is BM25?"}).status_code == 200


def test_two_apps_in_one_process_keep_their_own_settings_and_state(tmp_path: Path, built: Path) -> None:
    """The routers are shared module-level objects: each request must reach its own app's backend."""
    keyed = web_settings(tmp_path / "a", built, api_key="k3y", api_key_all=True, max_question_chars=20)
    open_ = web_settings(tmp_path / "b", built)
    key = {"X-API-Key": "k3y"}
    with TestClient(make_app(keyed)) as a, TestClient(make_app(open_)) as b:
        assert a.get("/api/stats").status_code == 401 and b.get("/api/stats").status_code == 200
        long_query = {"q": "what is bm25 and how does it rank"}
        assert_json_error(a.get("/search", params=long_query, headers=key), 422, "query_too_long")
        assert b.get("/search", params=long_query).status_code == 200
        turn = b.post("/ask", json={"question": "What is BM25?"}).json()
        assert turn["conversation_id"] and len(b.get("/api/conversations").json()) == 1
        assert a.get("/api/conversations", headers=key).json() == []
        assert a.get(f"/api/conversations/{turn['conversation_id']}", headers=key).status_code == 404
        assert a.get("/api/jobs", headers=key).json() == b.get("/api/jobs").json() == []


# -- behaviour under load (a real uvicorn server) ---------------------------------------------------------
def test_full_queue_answers_503_with_retry_after(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, max_concurrent_generations=1, max_queued_generations=1)
    gen = BlockingGenerator().enqueue(ANSWER, ANSWER, ANSWER)
    results: dict[str, httpx.Response] = {}
    with (
        BackgroundServer(make_app(settings, gen)) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):

        def ask(name: str) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as own:
                results[name] = own.post("/ask", json={"question": "Is ChatGPT a GAN?"})

        first = threading.Thread(target=ask, args=("first",))
        first.start()
        assert gen.started.acquire(timeout=10)  # running, blocked in the generator
        second = threading.Thread(target=ask, args=("queued",))
        second.start()
        deadline = time.monotonic() + 10
        while c.get("/healthz").json()["generations"]["waiting"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        t0 = time.perf_counter()
        busy = c.post("/ask", json={"question": "Is ChatGPT a GAN?"})
        busy_stream = c.post("/ask/stream", json={"question": "Is ChatGPT a GAN?"})
        busy_openai = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "GAN?"}]})
        search = c.get("/search", params={"q": "discriminator"})
        assert time.perf_counter() - t0 < 5  # refused and searched at once, not queued behind generation
        gen.release.set()
        first.join(10)
        second.join(10)
        health = c.get("/healthz").json()["generations"]
    body = assert_json_error(busy, 503, "busy")
    assert int(busy.headers["retry-after"]) >= 1 and "busy" in body["detail"]
    assert_json_error(busy_stream, 503, "busy")
    assert busy_openai.status_code == 503 and busy_openai.json()["error"]["code"] == "busy"
    assert search.status_code == 200 and search.json()["hits"]
    assert results["first"].status_code == 200 and results["queued"].status_code == 200
    assert results["queued"].json()["citations"]
    assert health["running"] == 0 and health["waiting"] == 0


def test_generation_stops_when_the_stream_client_disconnects(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built)
    gen = SlowGenerator(tokens=500, delay=0.02)
    with (
        BackgroundServer(make_app(settings, gen)) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        with c.stream("POST", "/ask/stream", json={"question": "Is ChatGPT a GAN?"}) as r:
            seen = 0
            for line in r.iter_lines():
                seen += line.startswith("event: token")
                if seen >= 3:
                    break
        assert gen.finished.wait(10), "the generator kept running after the client left"
        assert gen.closed_early.is_set() and gen.produced < 500
        deadline = time.monotonic() + 5
        while c.get("/healthz").json()["generations"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_search_and_health_stay_fast_while_an_answer_is_generated(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built)
    gen = SlowGenerator(tokens=150, delay=0.02, burn=True)
    with (
        BackgroundServer(make_app(settings, gen)) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        asker = threading.Thread(
            target=lambda: httpx.post(server.url + "/ask", json={"question": "GAN?"}, timeout=60)
        )
        asker.start()
        while gen.produced < 5:
            time.sleep(0.01)
        times = []
        for q in ("bm25", "faiss vectors", "robots", "discriminator", "stripes") * 2:
            t0 = time.perf_counter()
            assert c.get("/search", params={"q": q}).status_code == 200
            assert c.get("/healthz").status_code == 200
            times.append(time.perf_counter() - t0)
        still_generating = not gen.finished.is_set()
        asker.join(30)
    assert still_generating, "the checks must overlap generation"
    assert max(times) < 2.0, times


# -- the serve command ------------------------------------------------------------------------------------
def test_serve_command_builds_the_app_and_runs_uvicorn(tmp_path: Path, built: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import uvicorn
    from typer.testing import CliRunner

    from searchchat.cli import _register, app

    _register()
    calls: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda web, **kw: calls.update(app=web, **kw))
    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    monkeypatch.setenv("SEARCHCHAT_GENERATOR", "extractive")
    result = CliRunner().invoke(app, ["serve", "--index", str(built), "--port", "8123", "--no-preload"])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8123
    assert calls["http"] == "h11" and calls["h11_max_incomplete_event_size"] >= 64 * 1024
    with TestClient(calls["app"], base_url="http://localhost:8123") as c:
        assert c.get("/api/stats").json()["documents"] == 6
    with TestClient(calls["app"]) as c:  # Host: testserver is no name of this server (issue 19, item 9)
        assert_json_error(c.get("/api/stats"), 400, "invalid_host")
    missing = CliRunner().invoke(app, ["serve", "--index", str(tmp_path / "none"), "--no-preload"])
    assert missing.exit_code == 0 and "No index yet" in missing.output
    assert CliRunner().invoke(app, ["serve", "--port", "0"]).exit_code == 2


@pytest.mark.parametrize("path", ["/", "/healthz", "/docs", "/api/stats", "/api/sources", "/search?q=zebra",
                                  "/v1/models"])  # fmt: skip
def test_head_is_answered_like_get_without_a_body(client: TestClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200 and get.content and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers.get("x-content-type-options") == "nosniff"


def test_head_on_a_post_only_route_is_refused(client: TestClient) -> None:
    assert client.head("/ask").status_code == 405
