"""Stored conversations and feedback over the API: continue, list, get, rename, delete, share, bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.pipeline import remove_source
from searchchat.conversations import ConversationStore, mark_removed, title_from
from tests.fakes import ScriptedGenerator
from tests.test_web import assert_json_error
from tests.web_helpers import build_index, make_app, sse_events, web_settings

ANSWER = "A GAN trains a generator against a discriminator [1]."
GAN_Q = "How does a GAN generator and discriminator work?"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("conv"))


@pytest.fixture
def settings(tmp_path: Path, built: Path):  # type: ignore[no-untyped-def]
    return web_settings(tmp_path / "home", built)


class Scripted(ScriptedGenerator):
    """Follow-ups are rewritten by the heuristic, so every reply is an answer."""

    language_model = False


def client_for(settings, *replies: str) -> tuple[TestClient, ScriptedGenerator]:  # type: ignore[no-untyped-def]
    gen = Scripted().enqueue(*replies)
    return TestClient(make_app(settings, gen)), gen


@pytest.fixture
def client(settings):  # type: ignore[no-untyped-def]
    c, _ = client_for(settings, *([ANSWER] * 10))
    with c:
        yield c


def ask(client: TestClient, question: str = GAN_Q, **body: object) -> dict:
    r = client.post("/ask", json={"question": question, **body})
    assert r.status_code == 200, r.text
    return r.json()


# -- the store -------------------------------------------------------------------------------------------
def test_store_keeps_turns_in_order_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    store = ConversationStore(path)
    conv = store.create("  What   is a GAN?  ")
    assert conv.title == "What is a GAN?" and len(conv.id) == 16
    store.add_turn(conv.id, "What is a GAN?", {"answer": "A pair of networks [1].", "sources": []})
    store.add_turn(conv.id, "And BM25?", {"answer": "A ranking function.", "sources": []})
    again = ConversationStore(path).get(conv.id)
    assert again is not None and [t.position for t in again.turns] == [1, 2]
    assert ConversationStore(path).history(conv.id, 3) == [
        {"role": "assistant", "content": "A pair of networks [1]."},
        {"role": "user", "content": "And BM25?"},
        {"role": "assistant", "content": "A ranking function."},
    ]
    assert store.history("nope", 20) is None
    assert store.add_turn("nope", "q", {}) is None


def test_concurrent_appends_get_distinct_positions(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = ConversationStore(tmp_path / "c.sqlite")
    cid = store.create("q").id
    with ThreadPoolExecutor(8) as pool:
        turns = list(pool.map(lambda i: store.add_turn(cid, f"q{i}", {"answer": str(i)}), range(40)))
    assert sorted(t.position for t in turns if t) == list(range(1, 41))


def test_titles_are_cut_and_removed_documents_marked() -> None:
    assert title_from("x" * 200).endswith("…") and len(title_from("x" * 200)) == 80
    answer = {"sources": [{"n": 1, "doc_id": "file:///a.md", "url": "file:///a.md#s"},
                          {"n": 2, "doc_id": "file:///b.md", "url": "file:///b.md"}],
              "citations": [{"n": 1}, {"n": 2}]}  # fmt: skip
    marked = mark_removed(answer, {"file:///b.md"})
    assert [s["removed"] for s in marked["sources"]] == [True, False]
    assert [c["removed"] for c in marked["citations"]] == [True, False]
    assert "removed" not in answer["sources"][0]  # a copy


# -- asking within a conversation ---------------------------------------------------------------------------
def test_ask_returns_a_conversation_id_and_continuing_sends_the_stored_turns(settings) -> None:  # type: ignore[no-untyped-def]
    c, gen = client_for(settings, ANSWER, "BM25 ranks by term frequency [1].")
    with c:
        first = ask(c)
        cid, tid = first["conversation_id"], first["turn_id"]
        assert cid and tid and first["answer"] == ANSWER
        second = ask(c, "And what does BM25 rank by?", conversation_id=cid)
        assert second["conversation_id"] == cid and second["turn_id"] != tid
        sent = [m["content"] for m in gen.prompts[-1].messages]
        assert any(GAN_Q in m for m in sent)  # the stored turn was the history
        got = c.get(f"/api/conversations/{cid}").json()
        assert got["title"] == GAN_Q and got["turns"] == 2 and got["shared"] is False
        assert [t["question"] for t in got["turn_list"]] == [GAN_Q, "And what does BM25 rank by?"]
        assert got["turn_list"][0]["id"] == tid and got["turn_list"][0]["answer"]["citations"][0]["n"] == 1
        assert got["turn_list"][0]["answer"]["sources"][0]["removed"] is False


def test_the_stream_returns_the_ids_in_its_final_event(client: TestClient) -> None:
    r = client.post("/ask/stream", json={"question": GAN_Q})
    final = json.loads([d for e, d in sse_events(r.text) if e == "final"][0])
    assert final["conversation_id"] and final["turn_id"]
    r = client.post("/ask/stream", json={"question": "More?", "conversation_id": final["conversation_id"]})
    again = json.loads([d for e, d in sse_events(r.text) if e == "final"][0])
    assert again["conversation_id"] == final["conversation_id"]
    assert client.get(f"/api/conversations/{final['conversation_id']}").json()["turns"] == 2


def test_ask_with_an_unknown_conversation_or_with_history_too(client: TestClient) -> None:
    for path in ("/ask", "/ask/stream"):
        assert_json_error(client.post(path, json={"question": "q", "conversation_id": "nope"}), 404,
                          "unknown_conversation")  # fmt: skip
        assert_json_error(client.post(path, json={"question": "q", "conversation_id": "x" * 65}), 422)
        assert_json_error(client.post(path, json={"question": "q", "conversation_id": 5}), 422)
    cid = ask(client)["conversation_id"]
    both = {"question": "q", "conversation_id": cid, "history": [{"role": "user", "content": "hi"}]}
    assert_json_error(client.post("/ask", json=both), 422, "invalid_request")


# -- list, rename, delete ----------------------------------------------------------------------------------
def test_list_is_newest_first_and_rename_and_delete_work(client: TestClient) -> None:
    a = ask(client, "What is a GAN?")["conversation_id"]
    b = ask(client, "What is BM25?")["conversation_id"]
    rows = client.get("/api/conversations").json()
    assert [r["id"] for r in rows] == [b, a] and rows[0]["title"] == "What is BM25?"
    ask(client, "More about GANs?", conversation_id=a)  # continuing moves it to the top
    assert [r["id"] for r in client.get("/api/conversations").json()] == [a, b]
    assert [r["id"] for r in client.get("/api/conversations?limit=1&offset=1").json()] == [b]

    r = client.patch(f"/api/conversations/{a}", json={"title": "  GANs  "})
    assert r.status_code == 200 and r.json()["title"] == "GANs" and r.json()["turns"] == 2
    r = client.delete(f"/api/conversations/{a}")
    assert r.status_code == 200 and r.json() == {"id": a, "deleted": True}
    assert [r["id"] for r in client.get("/api/conversations").json()] == [b]
    assert_json_error(client.get(f"/api/conversations/{a}"), 404, "unknown_conversation")
    assert_json_error(client.delete(f"/api/conversations/{a}"), 404, "unknown_conversation")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": 3},
        {"title": "ok", "extra": 1},
        [],
    ],
)
def test_rename_refuses_bad_bodies(client: TestClient, body: object) -> None:
    cid = ask(client)["conversation_id"]
    assert_json_error(client.patch(f"/api/conversations/{cid}", json=body), 422)


def test_unknown_ids_and_bad_queries(client: TestClient) -> None:
    assert_json_error(
        client.patch("/api/conversations/nope", json={"title": "x"}), 404, "unknown_conversation"
    )
    assert_json_error(client.post("/api/conversations/nope/share"), 404, "unknown_conversation")
    assert_json_error(client.delete("/api/conversations/nope/share"), 404, "unknown_conversation")
    assert_json_error(client.get("/api/conversations/" + "x" * 65), 422)
    assert_json_error(client.get("/api/conversations?limit=0"), 422)
    assert_json_error(client.get("/api/conversations?offset=-1"), 422)
    assert_json_error(client.get("/api/shared/nope"), 404, "unknown_share")
    assert_json_error(client.patch("/api/conversations/x", content=b"{", headers={"content-type": "application/json"}),
                      400, "malformed_json")  # fmt: skip


# -- sharing ---------------------------------------------------------------------------------------------
def test_a_share_link_shows_a_read_only_copy_until_the_conversation_is_deleted(client: TestClient) -> None:
    cid = ask(client)["conversation_id"]
    share = client.post(f"/api/conversations/{cid}/share").json()
    token = share["token"]
    assert len(token) >= 32 and share["url"] == f"/s/{token}"
    assert client.post(f"/api/conversations/{cid}/share").json()["token"] == token  # stable
    assert client.get(f"/api/conversations/{cid}").json()["share_url"] == f"/s/{token}"
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and GAN_Q in page.text and "read-only" in page.text
    assert "discriminator" in page.text and "gan.md" in page.text
    assert "<script" not in page.text and page.headers["cache-control"] == "no-store"
    assert page.headers["x-robots-tag"] == "noindex"
    data = client.get(f"/api/shared/{token}").json()
    assert data["title"] == GAN_Q and "id" not in data and "share_url" not in data

    client.delete(f"/api/conversations/{cid}")
    assert client.get(f"/s/{token}").status_code == 404
    assert_json_error(client.get(f"/api/shared/{token}"), 404, "unknown_share")


def test_unsharing_revokes_the_link_and_a_new_share_gets_a_new_token(client: TestClient) -> None:
    cid = ask(client)["conversation_id"]
    token = client.post(f"/api/conversations/{cid}/share").json()["token"]
    r = client.delete(f"/api/conversations/{cid}/share")
    assert r.status_code == 200 and r.json()["shared"] is False
    assert client.get(f"/s/{token}").status_code == 404
    assert client.post(f"/api/conversations/{cid}/share").json()["token"] != token


def test_reopen_page_is_the_search_page(client: TestClient) -> None:
    r = client.get("/c/anything")
    assert r.status_code == 200 and 'id="sidebar"' in r.text


# -- feedback --------------------------------------------------------------------------------------------
def test_feedback_is_stored_with_the_answer_and_can_be_replaced(client: TestClient) -> None:
    first = ask(client)
    tid, cid = first["turn_id"], first["conversation_id"]
    r = client.post("/api/feedback", json={"turn_id": tid, "verdict": "down", "reason": "wrong_citation"})
    assert r.status_code == 200
    assert r.json() == {"turn_id": tid, "conversation_id": cid, "verdict": "down", "reason": "wrong_citation"}
    turn = client.get(f"/api/conversations/{cid}").json()["turn_list"][0]
    assert (turn["verdict"], turn["reason"]) == ("down", "wrong_citation")
    client.post("/api/feedback", json={"turn_id": tid, "verdict": "up"})
    turn = client.get(f"/api/conversations/{cid}").json()["turn_list"][0]
    assert (turn["verdict"], turn["reason"]) == ("up", None)


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "up"},
        {"turn_id": "t"},
        {"turn_id": "t", "verdict": "meh"},
        {"turn_id": "t", "verdict": "down", "reason": "boring"},
        {"turn_id": "t", "verdict": "up", "reason": "wrong_answer"},
        {"turn_id": "t", "verdict": "up", "note": "extra"},
        {"turn_id": 1, "verdict": "up"},
        {"turn_id": "", "verdict": "up"},
    ],
)
def test_feedback_refuses_bad_bodies(client: TestClient, body: dict) -> None:
    assert_json_error(client.post("/api/feedback", json=body), 422)


def test_feedback_on_an_unknown_answer(client: TestClient) -> None:
    assert_json_error(
        client.post("/api/feedback", json={"turn_id": "nope", "verdict": "up"}), 404, "unknown_turn"
    )


# -- the API key -----------------------------------------------------------------------------------------
def test_every_state_change_needs_the_key_when_one_is_set(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, api_key="sesame")
    c, _ = client_for(settings, ANSWER, ANSWER)
    with c:
        first = ask(c)  # asking stays open (as before), and is stored
        cid, tid = first["conversation_id"], first["turn_id"]
        assert c.get("/api/conversations").status_code == 200
        changes = [
            ("PATCH", f"/api/conversations/{cid}", {"title": "x"}),
            ("POST", f"/api/conversations/{cid}/share", None),
            ("DELETE", f"/api/conversations/{cid}/share", None),
            ("POST", "/api/feedback", {"turn_id": tid, "verdict": "up"}),
            ("DELETE", f"/api/conversations/{cid}", None),
        ]
        for method, path, body in changes:
            assert_json_error(c.request(method, path, json=body), 401, "unauthorized")
            wrong = {"X-API-Key": "wrong"}
            assert_json_error(c.request(method, path, json=body, headers=wrong), 401, "unauthorized")
        key = {"Authorization": "Bearer sesame"}
        for method, path, body in changes:
            assert c.request(method, path, json=body, headers=key).status_code == 200, (method, path)


def test_with_the_key_on_everything_reads_need_it_too_but_a_share_link_does_not(
    tmp_path: Path, built: Path
) -> None:
    settings = web_settings(tmp_path / "home", built, api_key="sesame", api_key_all=True)
    c, _ = client_for(settings, ANSWER)
    key = {"X-API-Key": "sesame"}
    with c:
        cid = c.post("/ask", json={"question": GAN_Q}, headers=key).json()["conversation_id"]
        assert_json_error(c.get("/api/conversations"), 401)
        assert_json_error(c.get(f"/api/conversations/{cid}"), 401)
        token = c.post(f"/api/conversations/{cid}/share", headers=key).json()["token"]
        assert c.get(f"/s/{token}").status_code == 200
        assert c.get(f"/api/shared/{token}").status_code == 200


# -- restarts and re-indexing ------------------------------------------------------------------------------
def test_conversations_survive_a_restart_and_a_removed_document_is_marked(tmp_path: Path) -> None:
    root = tmp_path / "own"
    index = build_index(root)  # this test removes a source: its own index
    settings = web_settings(tmp_path / "home", index)
    c, _ = client_for(settings, ANSWER)
    with c:
        first = ask(c)
    cid = first["conversation_id"]
    cited = first["sources"][first["citations"][0]["n"] - 1]
    c2, gen = client_for(settings, "More [1].")  # a new app over the same home: a restart
    with c2:
        got = c2.get(f"/api/conversations/{cid}").json()
        assert got["turn_list"][0]["answer"]["answer"] == ANSWER
        ask(c2, "Tell me more", conversation_id=cid)
        assert any(GAN_Q in m["content"] for m in gen.prompts[-1].messages)

    source = str(root / "docs")
    shutil.rmtree(root / "docs")
    remove_source(source, settings.index_dir)
    with TestClient(make_app(settings)) as c3:
        turn = c3.get(f"/api/conversations/{cid}").json()["turn_list"][0]
        src = next(s for s in turn["answer"]["sources"] if s["n"] == cited["n"])
        assert src["removed"] is True and turn["answer"]["citations"][0]["removed"] is True
        token = c3.post(f"/api/conversations/{cid}/share").json()["token"]
        page = c3.get(f"/s/{token}").text
        assert "removed from the index since" in page and "/view?url=" not in page


def test_the_schema_documents_the_new_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/api/conversations"])
    assert {"get", "patch", "delete"} <= set(paths["/api/conversations/{conversation_id}"])
    assert {"post", "delete"} <= set(paths["/api/conversations/{conversation_id}/share"])
    assert "post" in paths["/api/feedback"] and "get" in paths["/api/shared/{token}"]
    assert "/c/{conversation_id}" not in paths and "/s/{token}" not in paths


def test_responses_match_their_documented_models(client: TestClient) -> None:
    """The fuzz run meets mostly unknown ids; here every new endpoint's 200 is checked against its model."""
    from searchchat.web import models

    first = ask(client)
    cid, tid = first["conversation_id"], first["turn_id"]
    models.AnswerOut.model_validate(first)
    checks = [
        (models.ConversationOut, client.get("/api/conversations").json()[0]),
        (models.ConversationDetailOut, client.get(f"/api/conversations/{cid}").json()),
        (models.ConversationOut, client.patch(f"/api/conversations/{cid}", json={"title": "t"}).json()),
        (models.FeedbackOut, client.post("/api/feedback", json={"turn_id": tid, "verdict": "up"}).json()),
        (models.ShareOut, share := client.post(f"/api/conversations/{cid}/share").json()),
        (models.SharedOut, client.get(f"/api/shared/{share['token']}").json()),
        (models.ConversationOut, client.delete(f"/api/conversations/{cid}/share").json()),
        (models.DeletedOut, client.delete(f"/api/conversations/{cid}").json()),
    ]
    for model, body in checks:
        model.model_validate(body)


def test_with_keep_conversations_off_nothing_is_stored(tmp_path: Path, built: Path) -> None:
    settings = web_settings(tmp_path / "home", built, keep_conversations=False)
    c, gen = client_for(settings, ANSWER, ANSWER)
    with c:
        first = ask(c)
        assert first["conversation_id"] is None and first["turn_id"] is None
        history = [{"role": "user", "content": GAN_Q}, {"role": "assistant", "content": ANSWER}]
        ask(c, "And BM25?", history=history)  # the client keeps the history, as before
        assert any(GAN_Q in m["content"] for m in gen.prompts[-1].messages)
        assert c.get("/api/conversations").json() == []
        assert_json_error(
            c.post("/ask", json={"question": "q", "conversation_id": "abc"}), 422, "conversations_off"
        )
    assert not (tmp_path / "home" / "conversations.sqlite").exists()


def test_the_page_has_every_string_in_english_and_chinese() -> None:
    """app.js keeps two text tables; the new sidebar, feedback and share strings are in both."""
    from tests.web_helpers import page_strings

    keys_en, keys_zh, used, _ = page_strings("app.js", "index.html")
    assert keys_en == keys_zh
    assert used <= keys_en, used - keys_en
    assert {
        "html.newChat",
        "wrong_citation",
        "should_not_have_answered",
        "removedSource",
        "stopSharing",
    } <= keys_en
