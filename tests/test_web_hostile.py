"""Hostile input to the web app (issue 19): odd source names, long URLs, foreign Host headers, loosely typed
JSON, the body limit against the request model's bounds, and Retry-After after a start."""

from __future__ import annotations

import json
import logging
import math
import shutil
import socket
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from searchchat.settings import Settings
from searchchat.web.limiter import GUESS_S, GenerationLimiter
from searchchat.web.middleware import host_name
from searchchat.web.models import MAX_BODY_BYTES, MAX_TURN_CHARS, MAX_TURNS, MAX_VIEW_CHARS, max_target_bytes
from searchchat.web.server import LOGGED_TARGET_CHARS, MAX_HEAD_BYTES, BackgroundServer
from tests.fakes import ScriptedGenerator
from tests.web_helpers import build_index, make_app, web_settings

ANSWER = "A GAN trains a generator against a discriminator [1]. ChatGPT is not a GAN [1]."


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def settings(tmp_path: Path, built: Path) -> Settings:
    return web_settings(tmp_path / "home", built)


@pytest.fixture
def client(settings: Settings):  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as c:
        yield c


def json_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert "Traceback" not in resp.text
    body = resp.json()
    if code is not None:
        assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# -- item 3: source names ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "status", "code"),
    [
        ("a" * 300, 404, "unknown_source"),  # was a 500: OSError, file name too long
        ("~nosuchuser", 404, "unknown_source"),  # was a 500: RuntimeError from expanduser
        ("~nosuchuser/docs", 404, "unknown_source"),
        ("/" + "b" * 300 + "/c", 404, "unknown_source"),
        ("file:///x%00y", 404, "unknown_source"),
        ("   ", 422, "invalid_request"),
        ("docs\x00x", 422, "invalid_request"),
        ("x" * 2001, 422, "invalid_request"),
    ],
)
def test_removing_an_odd_source_name_is_a_json_4xx(
    tmp_path: Path, built: Path, source: str, status: int, code: str
) -> None:
    index = tmp_path / "index"
    shutil.copytree(built, index)
    with TestClient(make_app(web_settings(tmp_path / "home", index)), raise_server_exceptions=False) as c:
        json_error(c.delete("/api/sources", params={"source": source}), status, code)
        assert c.get("/api/stats").json()["documents"] == 6


def test_a_blank_source_reaching_the_pipeline_is_refused_as_invalid(tmp_path: Path, built: Path) -> None:
    from indexer.pipeline import remove_source
    from indexer.sources import InvalidSource

    with pytest.raises(InvalidSource, match="empty"):
        remove_source(" \t", web_settings(tmp_path / "home", built).index_dir)


# -- item 8: long URLs ------------------------------------------------------------------------------------
def test_the_longest_valid_url_is_answered_and_a_longer_one_is_a_json_414(settings: Settings) -> None:
    limit = max_target_bytes(settings.max_question_chars)
    assert 64 * 1024 < limit < MAX_HEAD_BYTES  # more than httpx sends: these requests go over a raw socket
    widest = {"q": "\U0001f600" * settings.max_question_chars, "source": "\u00e9" * 2000,
              "url_prefix": "\U0001f600" * 2000, "doctype": "\U0001f600" * 32, "mode": "hybrid", "k": 100}  # fmt: skip
    search = "/search?" + urlencode(widest)
    view = "/view?" + urlencode({"url": "\U0001f600" * MAX_VIEW_CHARS, "hl": "\U0001f600" * MAX_VIEW_CHARS})
    assert max(len(search), len(view)) <= limit < max(len(search), len(view)) + 2048
    with BackgroundServer(make_app(settings)) as server, connect(server) as sock:
        assert exchange(sock, search)[0] == 200
        assert exchange(sock, view) == (
            404,
            {"error": "not_found", "detail": "That document is not in the index."},
        )
        status, body = exchange(
            sock, "/search?q=zebra&pad=" + "a" * (limit - len("/search?q=zebra&pad=") + 1)
        )
        assert status == 414 and body["error"] == "uri_too_long" and str(limit) in body["detail"]
        assert exchange(sock, "/" + "p" * limit)[1]["error"] == "uri_too_long"
        status, body = exchange(sock, "/v1/models?x=" + "y" * limit)
        assert status == 414 and body["error"]["code"] == "uri_too_long"  # OpenAI's shape under /v1


def test_a_200_kb_url_gets_a_414_from_uvicorn_and_a_short_access_log_line(settings: Settings) -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    server = BackgroundServer(make_app(settings), log_level="info")
    access = logging.getLogger("uvicorn.access")
    keep = Keep()
    access.addHandler(keep)
    try:
        with server, connect(server) as sock:
            status, body = exchange(sock, "/search?q=zebra&pad=" + "z" * 200_000)
            assert status == 414 and body["error"] == "uri_too_long"
            assert exchange(sock, "/healthz")[0] == 200  # the same connection goes on
    finally:
        access.removeHandler(keep)
    long_line = next(line for line in lines if "414" in line)
    assert len(long_line) < LOGGED_TARGET_CHARS + 100 and "(200020 chars)" in long_line
    assert any("/healthz" in line for line in lines)


def connect(server: BackgroundServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=30)


def exchange(sock: socket.socket, target: str) -> tuple[int, dict]:
    """GET `target` on an open HTTP/1.1 connection: the status and the JSON body."""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"].startswith("application/json")
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(body)


# -- item 9: Host header ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "name"),
    [("localhost:8000", "localhost"), ("LOCALHOST", "localhost"), ("[::1]:8000", "::1"), ("::1", "::1"),
     ("127.0.0.1:80", "127.0.0.1"), ("example.com.", "example.com"), ("a.b:x", "a.b:x")],
)  # fmt: skip
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_a_keyless_server_answers_only_its_own_host_names(tmp_path: Path, built: Path) -> None:
    settings = Settings(home=tmp_path / "home", index=built, embedder="hash-64", generator="extractive")
    app = make_app(settings)  # production defaults: no test host added
    for base in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000", "http://LocalHost"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/api/stats").status_code == 200, base
    with TestClient(app, base_url="http://rebound.example") as c:
        body = json_error(c.get("/api/stats"), 400, "invalid_host")
        assert "SEARCHCHAT_ALLOWED_HOSTS" in body["detail"]
        json_error(c.delete("/api/sources", params={"source": "x"}), 400, "invalid_host")
        json_error(c.get("/"), 400, "invalid_host")
        assert c.get("/v1/models").json()["error"]["code"] == "invalid_host"
        assert c.get("/api/stats", headers={"host": "localhost.rebound.example"}).status_code == 400


def test_allowed_hosts_the_bind_host_and_a_full_key(tmp_path: Path, built: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEARCHCHAT_ALLOWED_HOSTS", "search.lan, docs.example:8000")
    settings = Settings(home=tmp_path / "home", index=built, embedder="hash-64", generator="extractive")
    assert settings.allowed_hosts == ["search.lan", "docs.example:8000"]
    with TestClient(make_app(settings.model_copy(update={"host": "box.lan"}))) as c:
        for host in ("search.lan", "docs.example", "box.lan:8000", "localhost"):
            assert c.get("/api/stats", headers={"host": host}).status_code == 200, host
        json_error(c.get("/api/stats", headers={"host": "other.lan"}), 400, "invalid_host")
    keyed_reads_open = settings.model_copy(update={"api_key": "k"})
    with TestClient(make_app(keyed_reads_open), base_url="http://other.lan") as c:
        json_error(c.get("/api/stats"), 400, "invalid_host")  # reads need no key, so the check stays
    keyed = settings.model_copy(update={"api_key": "k", "api_key_all": True})
    with TestClient(make_app(keyed), base_url="http://other.lan") as c:
        json_error(c.get("/api/stats"), 401, "unauthorized")
        assert c.get("/api/stats", headers={"Authorization": "Bearer k"}).status_code == 200
    anyone = settings.model_copy(update={"allowed_hosts": ["*"]})
    with TestClient(make_app(anyone), base_url="http://other.lan") as c:
        assert c.get("/api/stats").status_code == 200


# -- item 11: strict request models and their schema ------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [{"strict": 0}, {"strict": "yes"}, {"strict": 1}, {"k": "3"}, {"k": True}, {"k": 3.5},
     {"history": [{"role": "user", "content": 7}]}, {"filters": {"doctype": 1}}],
)  # fmt: skip
def test_loosely_typed_json_is_refused(client: TestClient, payload: dict) -> None:
    body = json_error(client.post("/ask", json={"question": "Is ChatGPT a GAN?", **payload}), 422)
    assert body["error"] == "invalid_request" and next(iter(payload)) in body["detail"]


def test_loosely_typed_chat_requests_are_refused(client: TestClient) -> None:
    messages = [{"role": "user", "content": "Is ChatGPT a GAN?"}]
    resp = client.post("/v1/chat/completions", json={"messages": messages, "stream": "yes"})
    assert resp.status_code == 422 and resp.json()["error"]["type"] == "invalid_request_error"


def test_the_schema_says_what_is_enforced(settings: Settings) -> None:
    with TestClient(make_app(settings.model_copy(update={"max_question_chars": 500}))) as c:
        spec = c.get("/openapi.json").json()
        ask = spec["components"]["schemas"]["AskRequest"]["properties"]
        assert ask["question"] | {"minLength": 1, "maxLength": 500, "pattern": r"\S"} == ask["question"]
        assert ask["k"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 50}
        assert ask["strict"]["anyOf"][0] == {"type": "boolean"}
        q = next(p for p in spec["paths"]["/search"]["get"]["parameters"] if p["name"] == "q")["schema"]
        assert (q["minLength"], q["maxLength"], q["pattern"]) == (1, 500, r"\S")
        assert json_error(c.post("/ask", json={"question": "x" * 501}), 422)["error"] == "question_too_long"
        assert json_error(c.post("/ask", json={"question": ""}), 422)["error"] == "empty_question"
        assert c.get("/docs").text.count("maxLength 500") == 2


# -- item 15: the body limit fits the largest valid request -----------------------------------------------
def test_the_largest_valid_request_is_under_the_body_limit(settings: Settings) -> None:
    wide = "\U0001f600"  # two \\u escapes in ASCII JSON: 12 bytes a character, the most
    history = [
        {"role": ("user", "assistant")[i % 2], "content": wide * MAX_TURN_CHARS} for i in range(MAX_TURNS)
    ]
    payload = {"question": "Is ChatGPT a GAN?", "history": history, "k": 3, "mode": "hybrid", "strict": False,
               "filters": {"source": wide * 2000, "url_prefix": wide * 2000, "doctype": wide * 32}}  # fmt: skip
    raw = json.dumps(payload, ensure_ascii=True, indent=4).encode()
    assert len(raw) <= MAX_BODY_BYTES
    gen = ScriptedGenerator().enqueue(ANSWER)
    with TestClient(make_app(settings, gen)) as c:
        resp = c.post("/ask", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code == 200, resp.text[:300]  # no sources under that filter: a plain "not found"
        payload["history"] = history + history[:1]
        json_error(c.post("/ask", json=payload), 422, "invalid_request")


# -- item 6: Retry-After ----------------------------------------------------------------------------------
def test_retry_after_follows_measured_generations() -> None:
    limiter = GenerationLimiter(running=1, queued=4)
    assert limiter.generation_s() == GUESS_S and limiter.retry_after() == 5 * GUESS_S
    for _ in range(5):
        limiter.admit()._limiter._done(0.01)  # noqa: SLF001  (a finished 10 ms generation)
    assert limiter.generation_s() == pytest.approx(0.01) and limiter.retry_after() == 1
    for _ in range(40):
        limiter.admit()._limiter._done(100.0)
    assert limiter.retry_after() == 60


def test_a_503_after_fast_answers_advises_a_short_retry(settings: Settings) -> None:
    gen = ScriptedGenerator().enqueue(ANSWER, ANSWER, ANSWER)
    app = make_app(settings, gen)
    with TestClient(app) as c:
        for _ in range(3):
            assert c.post("/ask", json={"question": "Is ChatGPT a GAN?"}).status_code == 200
        limiter = app.state.backend.limiter
        tickets = [limiter.admit() for _ in range(limiter.capacity)]  # the queue is full
        try:
            busy = c.post("/ask", json={"question": "Is ChatGPT a GAN?"})
        finally:
            for t in tickets:
                t.release()
    json_error(busy, 503, "busy")
    # The header follows the three measured (scripted, so fast) generations, not the guess made before any.
    # It is compared with the limiter's own figure, not with a fixed number of seconds: a slow CI machine may
    # take a few hundred milliseconds per scripted answer, which rounds up to 2 s where a fast one gives 1 s.
    assert limiter.generation_s() < GUESS_S
    assert busy.headers["retry-after"] == str(limiter.retry_after())
    assert int(busy.headers["retry-after"]) < math.ceil(GUESS_S * limiter.capacity / limiter.max_running)
