"""The browser test, continued: conversations in the sidebar (reopened after a server restart, renamed,
deleted), a share link opened in a fresh browser profile, and a thumbs down that reaches the feedback export.

Uses test_browser's Chromium setup. Screenshots of the sidebar, light and dark, go to a temporary folder, or to
docs/ with SEARCHCHAT_SCREENSHOTS=1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from typer.testing import CliRunner

from searchchat.cli import _register
from searchchat.cli import app as cli
from searchchat.settings import Settings
from searchchat.web.server import BackgroundServer
from tests.conftest import ROOT
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
GAN = "How does a GAN generator and discriminator work?"
BM25 = "And what frequency does BM25 rank documents by?"
FAISS = "What does FAISS IndexFlatIP compute?"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("conversations")
    return web_settings(root / "home", build_index(root))


def serve(settings: Settings, port: int | None = None) -> tuple[BackgroundServer, PacedExtractive]:
    generator = PacedExtractive(delay=0.005)
    return BackgroundServer(make_app(settings, generator), port=port).start(), generator


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def ask_on_page(driver: WebDriver, base: str, question: str) -> None:
    driver.get(base + "/?q=" + question)
    wait(driver, lambda d: finished_turns(d) and d.find_elements(By.CSS_SELECTOR, ".turn .feedback"))


def follow_up(driver: WebDriver, question: str, turns: int) -> None:
    driver.find_element(By.ID, "followup").send_keys(question, Keys.ENTER)
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn .feedback")) == turns)


def sidebar(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#conversations .conv-link")]


def current_id(driver: WebDriver) -> str:
    return str(driver.execute_script("return location.pathname")).rsplit("/", 1)[-1]


def test_a_conversation_reopens_after_a_restart_and_continues(site: Settings, browser: WebDriver) -> None:
    srv, _ = serve(site)
    try:
        ask_on_page(browser, srv.url, GAN)
        follow_up(browser, BM25, 2)
        wait(browser, lambda d: GAN in sidebar(d))
    finally:
        srv.stop()

    srv, generator = serve(site, port=srv.port)  # a new process's worth of state: only the home is kept
    try:
        browser.get(srv.url + "/")
        link = wait(
            browser, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".conv-link") if e.text == GAN]
        )[0]
        link.click()
        wait(browser, lambda d: len(finished_turns(d)) == 2)
        assert "/c/" in browser.current_url
        questions = [q.text for q in browser.find_elements(By.CSS_SELECTOR, ".turn .question")]
        assert questions == [GAN, BM25]
        answers = browser.find_elements(By.CSS_SELECTOR, ".turn .answer")
        assert "discriminator" in answers[0].text and answers[0].find_elements(By.CSS_SELECTOR, "a.cite")
        current = browser.find_element(By.CSS_SELECTOR, "#conversations .conv.current .conv-link")
        assert current.text == GAN

        follow_up(browser, FAISS, 3)  # the follow-up continues the stored conversation
        sent = [m["content"] for m in generator.prompts[-1].messages]
        assert GAN in sent and BM25 in sent
        browser.refresh()
        wait(browser, lambda d: len(finished_turns(d)) == 3)
        conv = httpx.get(f"{srv.url}/api/conversations/{current_id(browser)}", timeout=10).json()
        assert [t["question"] for t in conv["turn_list"]] == [GAN, BM25, FAISS]
    finally:
        srv.stop()


def test_a_share_link_opens_read_only_in_a_fresh_profile_until_deleted(
    site: Settings, browser: WebDriver, tmp_path: Path
) -> None:
    srv, _ = serve(site)
    fresh = start_chromium(tmp_path / "fresh-profile")
    try:
        ask_on_page(browser, srv.url, FAISS)
        browser.find_element(By.ID, "share").click()
        box = wait(browser, lambda d: d.find_element(By.ID, "share-box").is_displayed()
                   and d.find_element(By.ID, "share-url"))  # fmt: skip
        link = box.get_attribute("value")
        assert link.startswith(srv.url + "/s/") and len(link.rsplit("/", 1)[-1]) >= 32

        fresh.get(link)
        assert fresh.find_element(By.TAG_NAME, "h1").text == FAISS
        assert "inner products" in fresh.find_element(By.CSS_SELECTOR, ".shared .turn").text
        assert not fresh.find_elements(By.TAG_NAME, "input") and not fresh.find_elements(By.TAG_NAME, "form")
        assert (
            fresh.execute_script("return localStorage.length") == 0
        )  # nothing carried over: a fresh profile

        # deleting the conversation (two clicks: the first asks) revokes the link
        item = browser.find_element(By.CSS_SELECTOR, "#conversations .conv.current")
        delete = item.find_element(By.CSS_SELECTOR, ".conv-delete")
        delete.click()
        assert "confirm" in delete.get_attribute("class")
        delete.click()
        wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#conversations .conv.current"))
        assert browser.execute_script("return location.pathname") == "/"
        fresh.get(link)
        assert "Not found" in fresh.find_element(By.TAG_NAME, "h1").text
    finally:
        fresh.quit()
        srv.stop()


def test_rename_in_the_sidebar(site: Settings, browser: WebDriver) -> None:
    srv, _ = serve(site)
    try:
        ask_on_page(browser, srv.url, "What is BM25?")
        item = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversations .conv.current"))[0]
        item.find_element(By.CSS_SELECTOR, ".conv-rename").click()
        field = item.find_element(By.CSS_SELECTOR, "input.conv-title")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys("BM25 notes", Keys.ENTER)
        wait(browser, lambda d: "BM25 notes" in sidebar(d))
        browser.refresh()
        wait(browser, lambda d: "BM25 notes" in sidebar(d))
    finally:
        srv.stop()


def test_a_thumbs_down_with_a_reason_reaches_the_export(
    site: Settings, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _ = serve(site)
    try:
        ask_on_page(browser, srv.url, GAN)
        bar = browser.find_element(By.CSS_SELECTOR, ".turn .feedback")
        assert not bar.find_element(By.CSS_SELECTOR, ".reasons").is_displayed()
        bar.find_element(By.CSS_SELECTOR, ".thumb.down").click()
        chip = wait(
            browser, lambda d: bar.find_element(By.CSS_SELECTOR, '.reason-chip[data-reason="wrong_citation"]')
        )
        wait(browser, lambda d: chip.is_displayed())
        chip.click()
        wait(browser, lambda d: chip.get_attribute("aria-pressed") == "true")
        assert bar.find_element(By.CSS_SELECTOR, ".feedback-note").text == "Thanks for the feedback."
        cid = wait(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#conversations .conv.current").get_attribute(
                "data-id"
            ),
        )

        browser.get(f"{srv.url}/c/{cid}")  # the verdict is stored with the answer
        wait(browser, lambda d: finished_turns(d))
        down = browser.find_element(By.CSS_SELECTOR, ".turn .thumb.down")
        assert down.get_attribute("aria-pressed") == "true"
    finally:
        srv.stop()

    _register()
    monkeypatch.setenv("SEARCHCHAT_HOME", str(site.home))
    result = CliRunner().invoke(cli, ["feedback", "export", "--jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    mine = [r for r in rows if r["conversation_id"] == cid]
    assert len(mine) == 1 and mine[0]["question"] == GAN
    assert (mine[0]["verdict"], mine[0]["reason"]) == ("down", "wrong_citation")
    assert mine[0]["answers"] == [] and mine[0]["is_impossible"] is False and mine[0]["sources"]


def test_the_sidebar_is_a_drawer_on_a_phone(site: Settings, browser: WebDriver) -> None:
    srv, _ = serve(site)
    browser.set_window_size(390, 844)
    try:
        ask_on_page(browser, srv.url, "What is BM25?")
        bar = browser.find_element(By.ID, "sidebar")
        assert not bar.is_displayed()
        browser.find_element(By.ID, "sidebar-toggle").click()
        wait(browser, lambda d: bar.is_displayed() and bar.rect["x"] >= 0)
        assert "What is BM25?" in sidebar(browser)
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait(browser, lambda d: not bar.is_displayed())
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
    finally:
        browser.set_window_size(1200, 1000)
        srv.stop()


def test_the_sidebar_in_chinese(site: Settings, tmp_path: Path) -> None:
    srv, _ = serve(site)
    driver = start_chromium(tmp_path / "profile-zh", lang="zh-CN")
    try:
        ask_on_page(driver, srv.url, FAISS)
        assert driver.find_element(By.CSS_SELECTOR, "#new-chat span").text == "新对话"
        assert driver.find_element(By.CSS_SELECTOR, ".thumb.down").get_attribute("aria-label") == "回答不好"
        assert driver.find_element(By.ID, "share").text == "分享"
    finally:
        driver.quit()
        srv.stop()


def test_sidebar_screenshots_light_and_dark(site: Settings, browser: WebDriver, tmp_path: Path) -> None:
    out = ROOT / "docs" if SHOTS_TO_DOCS else tmp_path
    srv, _ = serve(site)
    colors = {}
    try:
        for question in ("What is BM25?", "Is ChatGPT a GAN?"):
            ask_on_page(browser, srv.url, question)
        ask_on_page(browser, srv.url, GAN)
        follow_up(browser, BM25, 2)
        cid = wait(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#conversations .conv.current").get_attribute(
                "data-id"
            ),
        )
        for theme in ("light", "dark"):
            set_theme(browser, theme)
            browser.get(f"{srv.url}/c/{cid}")
            wait(
                browser,
                lambda d: len(finished_turns(d)) == 2 and d.find_elements(By.CSS_SELECTOR, ".conv.current"),
            )
            assert browser.find_element(By.ID, "sidebar").is_displayed()
            colors[theme] = browser.execute_script(
                "return getComputedStyle(document.getElementById('sidebar')).backgroundColor"
            )
            path = out / f"screenshot-sidebar-{theme}.png"
            assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
    finally:
        set_theme(browser, "light")
        srv.stop()
    assert luminance(colors["light"]) > 0.8 and luminance(colors["dark"]) < 0.2, colors
