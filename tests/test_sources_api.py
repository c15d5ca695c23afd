"""The sources API: uploads, sites, sitemaps and folders indexed in the background through the CLI's pipeline,
jobs and their event stream, re-index and remove; every bad input a clear 4xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.store import IndexWriter
from searchchat.settings import Settings
from searchchat.web.errors import ApiError
from searchchat.web.guard import public_address
from searchchat.web.uploads import safe_name
from tests import crawl_site as site_fixtures
from tests.crawl_site import Site, make_pdf
from tests.fakes import FakeEmbedder
from tests.web_helpers import build_index, make_app, sse_events, web_settings

clean_site = site_fixtures.clean_site  # pytest fixture
OKAPI = b"# Okapi\n\nThe okapi is a giraffid that lives in the rainforests of the Congo.\n"
QUOKKA = b"Quokkas are small marsupials that live on Rottnest Island near Perth.\n"
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("sources"))


@pytest.fixture
def index(built: Path, tmp_path: Path) -> Path:
    """A copy of the small index for one test (jobs change it)."""
    import shutil

    return Path(shutil.copytree(built, tmp_path / "index"))


def client(tmp_path: Path, index: Path, **overrides: Any) -> TestClient:
    settings = web_settings(tmp_path / "home", index, crawl_delay=0.0, **overrides)
    return TestClient(make_app(settings))


def wait_job(c: TestClient, job_id: str, timeout: float = 30, **headers: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def docs_source(c: TestClient) -> str:
    """The source of the small index's documents (a folder)."""
    return next(r["source"] for r in c.get("/api/sources").json() if r["kind"] == "folder")


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


def test_uploaded_files_are_stored_under_home_indexed_and_searchable(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    r = c.post("/api/uploads", files=files(("okapi notes.md", OKAPI), ("quokka.txt", QUOKKA)))
    assert r.status_code == 202, r.text
    body = r.json()
    uploads = (tmp_path / "home" / "uploads").resolve()
    assert [f["name"] for f in body["files"]] == ["okapi notes.md", "quokka.txt"]
    assert all(Path(f["source"]).parent == uploads for f in body["files"])
    job = wait_job(c, body["job"]["id"])
    assert job["state"] == "done", job
    assert job["kind"] == "upload" and job["pages"] == 2 and job["chunks"] == 2 and job["total"] == 2
    assert job["summary"]["documents_added"] == 2

    rows = {r["source"]: r for r in c.get("/api/sources").json()}
    okapi = rows[str(uploads / "okapi notes.md")]
    assert okapi["uploaded"] and okapi["documents"] == 1 and okapi["last_run"]["state"] == "done"
    assert not rows[docs_source(c)]["uploaded"]
    hits = c.get("/search", params={"q": "okapi giraffid Congo"}).json()["hits"]
    assert hits[0]["url"].endswith("okapi%20notes.md")

    # the event stream of a finished job: its last progress, then `done`
    events = sse_events(c.get(f"/api/jobs/{job['id']}/events").text)
    assert [name for name, _ in events] == ["progress", "done"]

    # uploading a file of the same name replaces it; the run re-indexes it in place
    r = c.post("/api/uploads", files=files(("okapi notes.md", OKAPI + b"\nOkapis eat leaves.\n")))
    job = wait_job(c, r.json()["job"]["id"])
    assert job["summary"]["documents_updated"] == 1 and job["summary"]["documents_added"] == 0

    # removing an uploaded source deletes its file too
    source = str(uploads / "okapi notes.md")
    r = c.delete("/api/sources", params={"source": source})
    assert r.status_code == 200 and r.json()["documents_removed"] == 1
    assert not Path(source).exists()
    assert source not in {r["source"] for r in c.get("/api/sources").json()}


def test_every_upload_kind_is_indexed(tmp_path: Path, index: Path) -> None:
    """PDF, HTML and JSONL as well as Markdown and text: what a user drops on the page becomes searchable."""
    jsonl = b'{"id": "t1", "title": "Tapirs", "text": "Tapirs have a short prehensile snout."}\n'
    page = (
        b"<html><head><title>Axolotl</title></head><body><p>The axolotl regrows its limbs.</p></body></html>"
    )
    c = client(tmp_path, index)
    upload = [("pangolin.pdf", make_pdf("Pangolins are covered in keratin scales")),
              ("axolotl.html", page), ("tapirs.jsonl", jsonl)]  # fmt: skip
    job = wait_job(c, c.post("/api/uploads", files=files(*upload)).json()["job"]["id"])
    assert job["state"] == "done" and job["summary"]["documents_added"] == 3, job
    for query, name in (("pangolin keratin scales", "pangolin.pdf"), ("axolotl regrows limbs", "axolotl.html"),
                        ("tapirs prehensile snout", "tapirs.jsonl")):  # fmt: skip
        hit = c.get("/search", params={"q": query}).json()["hits"][0]
        assert name in hit["url"], (query, hit)


def test_progress_streams_while_the_run_goes_on(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    many = [(f"note{i}.md", f"# Note {i}\n\nNote number {i} is about lemurs.\n".encode()) for i in range(6)]
    job_id = c.post("/api/uploads", files=files(*many)).json()["job"]["id"]
    events = sse_events(c.get(f"/api/jobs/{job_id}/events").text)
    assert events[-1][0] == "done"
    assert len(events) >= 2 and all(name == "progress" for name, _ in events[:-1])
    assert '"pages":6' in events[-1][1]


class GatedEmbedder(FakeEmbedder):
    """Embeds queries at once, but an indexing run's passages only after `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release, self.waiting = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str], batch_tokens: int = 2048, progress: Any = None) -> np.ndarray:
        self.waiting.set()
        assert self.release.wait(30)
        return super().embed(texts, batch_tokens, progress)


def test_search_answers_during_a_run_and_sees_its_snapshot_when_it_commits(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedEmbedder()
    monkeypatch.setattr("indexer.embed.get_embedder", lambda settings: gated)
    c = client(tmp_path, index)
    job_id = c.post("/api/uploads", files=files(("okapi.md", OKAPI))).json()["job"]["id"]
    assert gated.waiting.wait(30)
    assert c.get(f"/api/jobs/{job_id}").json()["state"] == "running"
    during = c.get("/search", params={"q": "okapi giraffid"})
    assert during.status_code == 200
    assert not any("okapi" in h["url"] for h in during.json()["hits"])
    gated.release.set()
    assert wait_job(c, job_id)["state"] == "done"
    after = c.get("/search", params={"q": "okapi giraffid"}).json()["hits"]
    assert "okapi" in after[0]["url"]


def test_a_run_while_another_writer_holds_the_index_fails_clearly(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    with IndexWriter(index, "hash-64", 64):  # `searchchat index` running in another process
        job = wait_job(c, c.post("/api/uploads", files=files(("okapi.md", OKAPI))).json()["job"]["id"])
    assert job["state"] == "failed" and job["error"]["error"] == "index_locked", job
    rows = {Path(r["source"]).name: r for r in c.get("/api/sources").json()}
    assert "okapi.md" not in rows  # nothing half-done
    retry = c.post("/api/sources/reindex", json={"source": docs_source(c)})
    assert wait_job(c, retry.json()["id"])["state"] == "done"


@pytest.mark.parametrize(
    "name", ["../../etc/evil.md", "..\\..\\evil.md", "/etc/passwd.md", "sub/dir.md", ".."]
)
def test_a_file_name_with_a_path_is_refused(tmp_path: Path, index: Path, name: str) -> None:
    c = client(tmp_path, index)
    r = c.post("/api/uploads", files=files((name, OKAPI)))
    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("unsafe_file_name", "invalid_request")
    assert not list((tmp_path / "home").rglob("*.md"))
    assert not (tmp_path / "etc").exists()


def test_file_names_are_sanitised() -> None:
    assert safe_name("Résumé (final)?.MD") == "Résumé _final_.md"
    assert safe_name(".hidden.txt") == "hidden.txt"
    assert safe_name("<script>.html") == "_script_.html"
    assert len(safe_name("x" * 500 + ".pdf")) == 120
    for unsafe in ("C:\\evil.md", "a\x00b.md", "../x.md", ""):
        with pytest.raises(ApiError):
            safe_name(unsafe)


def test_upload_bounds(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index, max_upload_bytes=2048, max_upload_files=2)
    big = c.post("/api/uploads", files=files(("big.md", b"x" * 5000)))
    assert big.status_code == 413 and big.json()["error"] == "file_too_large"
    many = c.post("/api/uploads", files=files(("a.md", b"a"), ("b.md", b"b"), ("c.md", b"c")))
    assert many.status_code == 413 and many.json()["error"] == "too_many_files"
    huge = c.post("/api/uploads", files=files(("huge.md", b"x" * 200_000)))  # past the body limit
    assert huge.status_code == 413
    kind = c.post("/api/uploads", files=files(("tool.exe", b"MZ")))
    assert kind.status_code == 415 and kind.json()["error"] == "unsupported_file_type"
    same = c.post("/api/uploads", files=files(("a.md", b"a"), ("a.md", b"b")))
    assert same.status_code == 422
    none = c.post("/api/uploads")
    assert none.status_code == 422
    assert not list((tmp_path / "home").rglob("*.md"))  # nothing stored from a refused request


def test_unknown_jobs_and_sources(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    for path in ("/api/jobs/nope", "/api/jobs/nope/events"):
        r = c.get(path)
        assert r.status_code == 404 and r.json()["error"] == "unknown_job"
    r = c.post("/api/sources/reindex", json={"source": "https://never.example/"})
    assert r.status_code == 404 and r.json()["error"] == "unknown_source"
    r = c.delete("/api/sources", params={"source": "https://never.example/"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "http://127.0.0.1:8000/"}, 403, "source_not_allowed"),
        ({"url": "http://localhost/admin"}, 403, "source_not_allowed"),
        ({"url": "http://10.1.2.3/"}, 403, "source_not_allowed"),
        ({"url": "http://[::1]/"}, 403, "source_not_allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 403, "source_not_allowed"),
        ({"sitemap": "http://192.168.1.1/sitemap.xml"}, 403, "source_not_allowed"),
        ({"url": "ftp://example.com/"}, 403, "source_not_allowed"),
        ({"url": "file:///etc/passwd"}, 422, "invalid_url"),
        ({"url": "not a url"}, 422, "invalid_url"),
        ({"url": "http://no-such-host.invalid/"}, 422, "unknown_host"),
        ({"folder": "/etc"}, 403, "source_not_allowed"),
        ({}, 422, "invalid_request"),
        ({"url": "https://example.com/", "folder": "/tmp"}, 422, "invalid_request"),
        ({"folder": "/tmp", "depth": 2}, 422, "invalid_request"),
        ({"url": "https://example.com/", "depth": "2"}, 422, "invalid_request"),
        ({"url": "https://example.com/", "max_pages": 0}, 422, "invalid_request"),
        ({"url": "https://example.com/", "extra": 1}, 422, "invalid_request"),
    ],
)
def test_what_a_request_may_not_index(
    tmp_path: Path, index: Path, body: dict[str, Any], status: int, code: str
) -> None:
    r = client(tmp_path, index).post("/api/sources", json=body)
    assert (r.status_code, r.json()["error"]) == (status, code), r.text


def test_only_listed_hosts_when_crawl_hosts_is_set(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index, crawl_hosts=["docs.example.org"])
    r = c.post("/api/sources", json={"url": "https://example.com/"})
    assert r.status_code == 403 and "SEARCHCHAT_CRAWL_HOSTS" in r.json()["detail"]


def test_public_addresses() -> None:
    assert public_address("93.184.216.34") and public_address("2606:4700::1111")
    for private in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.1.1", "::1", "fe80::1%eth0",
                    "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"):  # fmt: skip
        assert not public_address(private), private


def test_a_site_and_its_sitemap_from_an_allowed_local_host(
    tmp_path: Path, index: Path, clean_site: Site
) -> None:
    c = client(tmp_path, index, crawl_hosts=["127.0.0.1"])
    r = c.post("/api/sources", json={"url": clean_site.url("/index.html"), "depth": 1, "max_pages": 20})
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"])
    assert job["state"] == "done" and job["kind"] == "web" and job["total"] == 20, job
    assert job["pages"] >= 3 and job["skipped"].get("robots", 0) >= 1  # /private/ is disallowed
    assert any(n.startswith("robots") for n in job["notes"]) or "robots" in job["skipped"]
    sources = {r["source"]: r for r in c.get("/api/sources").json()}
    site_row = sources[job["sources"][0]]
    assert (
        site_row["kind"] == "web" and site_row["documents"] >= 3 and site_row["last_run"]["state"] == "done"
    )

    # re-index with the stored options: everything unchanged (conditional requests)
    again = wait_job(c, c.post("/api/sources/reindex", json={"source": site_row["source"]}).json()["id"])
    assert again["state"] == "done" and again["summary"]["documents_added"] == 0
    assert again["summary"]["documents_unchanged"] >= 3

    r = c.post("/api/sources", json={"sitemap": clean_site.url("/sitemap.xml")})
    job = wait_job(c, r.json()["id"])
    assert job["state"] == "done" and job["kind"] == "sitemap", job


def test_a_folder_under_the_configured_roots(tmp_path: Path, index: Path) -> None:
    root = tmp_path / "shared"
    (root / "team").mkdir(parents=True)
    (root / "team" / "okapi.md").write_bytes(OKAPI)
    c = client(tmp_path, index, folder_roots=[root])
    assert c.post("/api/sources", json={"folder": str(tmp_path)}).status_code == 403
    assert c.post("/api/sources", json={"folder": str(root / "team" / ".." / "..")}).status_code == 403
    assert c.post("/api/sources", json={"folder": str(root / "missing")}).status_code == 404
    r = c.post("/api/sources", json={"folder": str(root / "team")})
    assert r.status_code == 202
    job = wait_job(c, r.json()["id"])
    assert job["state"] == "done" and job["summary"]["documents_added"] == 1


def test_every_change_needs_the_key_when_one_is_set(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index, api_key=KEY)
    source = docs_source(c)
    calls = [
        ("post", "/api/uploads", {"files": files(("okapi.md", OKAPI))}),
        ("post", "/api/sources", {"json": {"url": "https://example.com/"}}),
        ("post", "/api/sources/reindex", {"json": {"source": source}}),
        ("delete", "/api/sources", {"params": {"source": source}}),
    ]
    for method, path, kwargs in calls:
        for headers in ({}, {"X-API-Key": "wrong"}):
            r = getattr(c, method)(path, headers=headers, **kwargs)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
    assert not (tmp_path / "home" / "uploads").exists()
    # reads stay open (api_key_all is off), and with the key the change goes through
    assert c.get("/api/sources").status_code == 200 and c.get("/api/jobs").status_code == 200
    r = c.post("/api/uploads", files=files(("okapi.md", OKAPI)), headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 202
    assert wait_job(c, r.json()["job"]["id"])["state"] == "done"


def test_a_page_of_another_origin_cannot_change_sources(tmp_path: Path, index: Path) -> None:
    """A multipart POST needs no CORS preflight: any site could make a visitor's browser upload to a server on
    their machine. The browser's Origin header gives it away."""
    c = client(tmp_path, index)
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = c.post("/api/uploads", files=files(("okapi.md", OKAPI)), headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["error"] == "cross_origin", origin
        r = c.delete("/api/sources", params={"source": docs_source(c)}, headers={"Origin": origin})
        assert r.status_code == 403
    assert not (tmp_path / "home" / "uploads").exists()
    same = c.post("/api/uploads", files=files(("okapi.md", OKAPI)), headers={"Origin": "http://testserver"})
    assert same.status_code == 202
    # behind a reverse proxy: its public name, in allowed_hosts, is a trusted origin
    c = client(tmp_path, index, allowed_hosts=["testserver", "search.example.org"])
    proxied = c.post("/api/uploads", files=files(("tapir.md", OKAPI)),
                     headers={"Origin": "https://search.example.org"})  # fmt: skip
    assert proxied.status_code == 202


def test_reads_need_the_key_with_api_key_all(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index, api_key=KEY, api_key_all=True)
    for path in ("/api/jobs", "/api/jobs/x", "/api/jobs/x/events", "/api/sources"):
        assert c.get(path).status_code == 401, path
    assert c.get("/api/jobs/x", headers={"X-API-Key": KEY}).status_code == 404


def test_too_many_waiting_runs_are_refused(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    runner = c.app.state.jobs  # type: ignore[attr-defined]
    runner.max_queued = 0
    r = c.post("/api/uploads", files=files(("okapi.md", OKAPI)))
    assert r.status_code == 429 and r.headers["retry-after"]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCHCHAT_CRAWL_HOSTS", "127.0.0.1, Docs.Example.org")
    monkeypatch.setenv("SEARCHCHAT_FOLDER_ROOTS", "/srv/docs,/data")
    monkeypatch.setenv("SEARCHCHAT_MAX_UPLOAD_FILES", "5")
    s = Settings()
    assert s.crawl_hosts == ["127.0.0.1", "docs.example.org"] and s.crawl_schemes == ["http", "https"]
    assert s.folder_roots == [Path("/srv/docs"), Path("/data")] and s.max_upload_files == 5
    assert s.uploads_dir == s.home / "uploads"


def test_jobs_list_newest_first(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    first = c.post("/api/uploads", files=files(("a.md", b"# A\n\nalpha text\n"))).json()["job"]["id"]
    second = c.post("/api/uploads", files=files(("b.md", b"# B\n\nbeta text\n"))).json()["job"]["id"]
    wait_job(c, second)
    assert [j["id"] for j in c.get("/api/jobs").json()][:2] == [second, first]


def test_the_page_and_the_schema(tmp_path: Path, index: Path) -> None:
    c = client(tmp_path, index)
    page = c.get("/sources")
    assert page.status_code == 200 and 'id="dropzone"' in page.text
    assert 'href="/sources"' in c.get("/").text
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/api/uploads", "/api/sources/reindex", "/api/jobs", "/api/jobs/{job_id}",
            "/api/jobs/{job_id}/events"} <= set(paths)  # fmt: skip
    assert {"get", "post", "delete"} <= set(paths["/api/sources"])
    assert "multipart/form-data" in paths["/api/uploads"]["post"]["requestBody"]["content"]


def test_the_sources_page_has_every_string_in_english_and_chinese() -> None:
    import re

    from tests.web_helpers import page_strings

    keys_en, keys_zh, used, js = page_strings("sources.js", "sources.html")
    assert keys_en == keys_zh and len(keys_en) > 40
    assert used <= keys_en, used - keys_en
    used_in_js = set(re.findall(r'tr\("(\w+)"', js)) - {"kind_"}  # kind_ + a job's kind
    assert used_in_js <= keys_en, used_in_js - keys_en
