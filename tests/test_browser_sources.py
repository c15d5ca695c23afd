"""The Sources page in Chromium against a real server: two files uploaded and followed to done, then asked
about with a citation to them; a local test site crawled; a source removed. Screenshots of the page with a run
in progress, light and dark, go to a temporary folder, or to docs/ with SEARCHCHAT_SCREENSHOTS=1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from searchchat.settings import Settings
from searchchat.web.server import BackgroundServer
from tests import crawl_site as site_fixtures
from tests.conftest import ROOT
from tests.crawl_site import Site
from tests.fakes import FakeEmbedder
from tests.test_browser import (
    SHOTS_TO_DOCS,
    PacedExtractive,
    finished_turns,
    luminance,
    set_theme,
    start_chromium,
    wait,
)
from tests.web_helpers import build_index, make_app, web_settings

pytestmark = pytest.mark.browser
clean_site = site_fixtures.clean_site  # pytest fixture
OKAPI = (
    "# Okapi\n\n## Habitat\n\nThe okapi is a shy giraffid that lives in the rainforests of the Congo basin.\n"
)
QUOKKA = "# Quokka\n\n## Islands\n\nThe quokka is a small wallaby that lives on Rottnest Island near Perth.\n"


@pytest.fixture
def site(tmp_path: Path) -> Settings:
    return web_settings(tmp_path / "home", build_index(tmp_path), crawl_delay=0.0, crawl_hosts=["127.0.0.1"])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def serve(settings: Settings) -> BackgroundServer:
    return BackgroundServer(make_app(settings, PacedExtractive(delay=0.005))).start()


def run_cards(driver: WebDriver) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, "#runs .run")


def table_rows(driver: WebDriver) -> dict[str, dict[str, Any]]:
    """The sources table, read in one go (the page re-renders it when a run ends): source -> cells' text."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#sources tr')].map(r => [r.dataset.source,"
        " [...r.cells].map(c => c.innerText)])"
    )
    return {source: {"name": cells[0], "documents": cells[1], "run": cells[4]} for source, cells in rows}


def table_sources(driver: WebDriver) -> list[str]:
    return list(table_rows(driver))


def test_upload_two_files_follow_the_run_then_ask_about_them(
    site: Settings, browser: WebDriver, tmp_path: Path
) -> None:
    picked = tmp_path / "picked"
    picked.mkdir()
    (picked / "okapi.md").write_text(OKAPI)
    (picked / "quokka.md").write_text(QUOKKA)
    srv = serve(site)
    try:
        browser.get(srv.url + "/")
        browser.find_element(By.CSS_SELECTOR, 'footer a[href="/sources"]').click()
        wait(browser, lambda d: d.current_url.endswith("/sources") and table_sources(d))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sources"

        browser.find_element(By.ID, "file-input").send_keys(f"{picked / 'okapi.md'}\n{picked / 'quokka.md'}")
        card = wait(browser, lambda d: run_cards(d))[0]
        wait(browser, lambda d: card.get_attribute("data-state") == "done")
        assert "okapi.md" in card.text and "quokka.md" in card.text
        assert "2 pages" in card.find_element(By.CSS_SELECTOR, ".run-stats").text
        assert card.find_element(By.CSS_SELECTOR, ".fill").get_attribute("style").endswith("width: 100%;")
        uploads = str((site.uploads_dir).resolve())
        wait(browser, lambda d: {f"{uploads}/okapi.md", f"{uploads}/quokka.md"} <= set(table_sources(d)))
        row = table_rows(browser)[f"{uploads}/okapi.md"]
        assert "uploaded" in row["name"] and row["run"] == "done", row

        # a third file dropped on the page (a drop event carrying a File, as a drag from the desktop does)
        browser.execute_script(
            "const dt = new DataTransfer();"
            "dt.items.add(new File(['# Tapir\\n\\nTapirs have a short prehensile snout.\\n'], 'tapir.md'));"
            "document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt}));"
        )
        wait(browser, lambda d: f"{uploads}/tapir.md" in table_sources(d))

        browser.get(srv.url + "/?q=Where does the okapi giraffid live?")
        wait(browser, lambda d: finished_turns(d))
        answer = browser.find_element(By.CSS_SELECTOR, ".turn .answer")
        assert "Congo" in answer.text, answer.text
        chip = answer.find_element(By.CSS_SELECTOR, "a.cite")
        assert "okapi.md" in chip.get_attribute("href")
        page = httpx.get(chip.get_attribute("href"), timeout=10)
        assert page.status_code == 200 and "giraffid" in page.text
    finally:
        srv.stop()


def test_add_a_local_site_then_remove_a_source(site: Settings, browser: WebDriver, clean_site: Site) -> None:
    srv = serve(site)
    try:
        browser.get(srv.url + "/sources")
        wait(browser, lambda d: table_sources(d))
        start = clean_site.url("/index.html")
        browser.find_element(By.ID, "site-url").send_keys(start)
        depth = browser.find_element(By.ID, "site-depth")
        depth.clear()
        depth.send_keys("1")
        browser.find_element(By.CSS_SELECTOR, "#site-form button[type=submit]").click()
        card = wait(browser, lambda d: run_cards(d))[0]
        wait(browser, lambda d: card.get_attribute("data-state") == "done")
        assert "robots 1" in card.find_element(By.CSS_SELECTOR, ".run-skips").text  # /private/ is disallowed
        wait(browser, lambda d: start in table_sources(d))
        assert int(table_rows(browser)[start]["documents"]) >= 3
        assert "/a.html" in httpx.get(srv.url + "/search", params={"q": "A again"}, timeout=10).text

        # a loopback address that SEARCHCHAT_CRAWL_HOSTS does not name is refused, with the reason
        field = browser.find_element(By.ID, "site-url")
        field.send_keys(start.replace("127.0.0.1", "localhost"))
        browser.find_element(By.CSS_SELECTOR, "#site-form button[type=submit]").click()
        error = wait(
            browser,
            lambda d: (
                d.find_element(By.ID, "add-error").is_displayed() and d.find_element(By.ID, "add-error")
            ),
        )
        assert "SEARCHCHAT_CRAWL_HOSTS" in error.text

        remove = browser.find_element(By.CSS_SELECTOR, f'#sources tr[data-source="{start}"] button.remove')
        remove.click()
        assert "confirm" in remove.get_attribute("class")  # the first click asks
        remove.click()
        wait(browser, lambda d: start not in table_sources(d))
        listed = {r["source"] for r in httpx.get(srv.url + "/api/sources", timeout=10).json()}
        assert start not in listed
        answer = httpx.get(srv.url + "/search", params={"q": "A again"}, timeout=10).json()
        assert not any("/a.html" in h["url"] for h in answer["hits"])
    finally:
        srv.stop()


class GatedEmbedder(FakeEmbedder):
    """Embeds queries at once; an indexing run's passages wait for `release` (a run held in progress)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], batch_tokens: int = 2048, progress: Any = None) -> np.ndarray:
        assert self.release.wait(60)
        return super().embed(texts, batch_tokens, progress)


def test_sources_screenshots_with_a_run_in_progress(
    site: Settings, browser: WebDriver, clean_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ROOT / "docs" if SHOTS_TO_DOCS else tmp_path
    gated = GatedEmbedder()
    gated.release.set()
    monkeypatch.setattr("indexer.embed.get_embedder", lambda settings: gated)
    srv = serve(site)
    colors = {}
    browser.set_window_size(1200, 1700)  # the whole page: forms, the run, the table
    try:
        files = [("files", (name, text.encode(), "text/markdown")) for name, text in
                 (("okapi.md", OKAPI), ("quokka.md", QUOKKA))]  # fmt: skip
        job = httpx.post(srv.url + "/api/uploads", files=files, timeout=10).json()["job"]
        while httpx.get(f"{srv.url}/api/jobs/{job['id']}", timeout=10).json()["state"] != "done":
            time.sleep(0.05)
        gated.release.clear()  # the next run reads its pages, then waits to embed them
        body = {"url": clean_site.url("/index.html"), "depth": 2, "max_pages": 40}
        assert httpx.post(srv.url + "/api/sources", json=body, timeout=10).status_code == 202
        for theme in ("light", "dark"):
            set_theme(browser, theme)
            browser.get(srv.url + "/sources")
            wait(browser, lambda d: run_cards(d) and d.find_element(By.CSS_SELECTOR, "#runs .run-skips").text)
            card = run_cards(browser)[0]
            assert "pages" in card.text
            assert card.get_attribute("data-state") == "running"
            time.sleep(0.5)  # the bar's width transition
            colors[theme] = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
            path = out / f"screenshot-sources-{theme}.png"
            assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
        gated.release.set()
        wait(browser, lambda d: card.get_attribute("data-state") == "done")
    finally:
        gated.release.set()
        set_theme(browser, "light")
        srv.stop()
    assert luminance(colors["light"]) > 0.8 and luminance(colors["dark"]) < 0.2, colors
