"""The search page in Debian's headless Chromium (selenium + chromium-driver) against a real uvicorn server.

Screenshots of the light and dark themes go to a temporary folder, or to docs/ with SEARCHCHAT_SCREENSHOTS=1.
SEARCHCHAT_SCREENSHOT_INDEX=DIR takes them against a real index instead (its embedder; the generator named by
SEARCHCHAT_GENERATOR, default extractive), SEARCHCHAT_SCREENSHOT_QUESTION picks the question."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from searchchat.generators.base import Generator, Prompt
from searchchat.generators.extractive import ABSTAIN, ExtractiveGenerator
from searchchat.settings import Settings
from searchchat.web.app import create_app
from searchchat.web.server import BackgroundServer
from tests.conftest import ROOT
from tests.fakes import OverlapScorer
from tests.web_helpers import HOSTILE, build_index, make_app, web_settings

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")  # fmt: skip
WAIT = 60
# Read at import: the autouse fixture in conftest clears SEARCHCHAT_* variables before each test runs.
SHOTS_TO_DOCS = os.environ.get("SEARCHCHAT_SCREENSHOTS") == "1"
SHOT_INDEX = os.environ.get("SEARCHCHAT_SCREENSHOT_INDEX")
SHOT_QUESTION = os.environ.get("SEARCHCHAT_SCREENSHOT_QUESTION", "Is ChatGPT a GAN?")
SHOT_GENERATOR = os.environ.get("SEARCHCHAT_GENERATOR", "extractive")


class PacedExtractive(Generator):
    """The model-free extractive generator, slowed down so the page visibly streams. A question containing
    "explode" fails, one containing "unanswerable" gets a refusal; every prompt is recorded."""

    name = "paced-extractive"
    language_model = False  # follow-ups are rewritten by the heuristic, as with `extractive`

    def __init__(self, delay: float = 0.04) -> None:
        self.inner, self.delay = ExtractiveGenerator(), delay
        self.prompts: list[Prompt] = []

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.prompts.append(prompt)
        last = prompt.messages[-1]["content"] if prompt.messages else ""
        if "explode" in last:
            raise RuntimeError("the generator exploded")
        if "unanswerable" in last:
            yield ABSTAIN
            return
        for piece in self.inner.stream(prompt, max_new_tokens, temperature):
            time.sleep(self.delay)
            yield piece

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    root = tmp_path_factory.mktemp("browser")
    generator = PacedExtractive()
    with pytest.MonkeyPatch.context() as mp:  # conftest's per-test fake starts after this module's server
        mp.setattr(
            "searchchat.answering.pipeline.get_scorer",
            lambda path=None, embed=None, reads_cjk=True: OverlapScorer(),
        )
        app = make_app(web_settings(root / "home", build_index(root)), generator)
    with BackgroundServer(app) as srv:
        srv.generator = generator  # type: ignore[attr-defined]
        yield srv


def start_chromium(profile: Path, lang: str | None = None) -> WebDriver:
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1200,1000")
    if lang:
        options.add_argument(f"--lang={lang}")
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition, timeout: float = WAIT):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def finished_turns(driver: WebDriver) -> list:
    return [t for t in driver.find_elements(By.CSS_SELECTOR, ".turn") if t.find_element(By.CSS_SELECTOR, ".meta").text
            or t.find_elements(By.CSS_SELECTOR, ".notice")]  # fmt: skip


def no_alert(driver: WebDriver) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def set_theme(driver: WebDriver, theme: str) -> None:
    feature = {"name": "prefers-color-scheme", "value": theme}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [feature]})


def luminance(css_color: str) -> float:
    r, g, b = (
        int(float(v)) for v in css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3]
    )
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


# -- the main flow ----------------------------------------------------------------------------------------
def test_question_streams_an_answer_with_citations_and_a_follow_up(server, browser: WebDriver) -> None:
    browser.get(server.url + "/")
    wait(browser, lambda d: "6 documents" in d.find_element(By.ID, "stats").text)
    browser.find_element(By.TAG_NAME, "h1").click()  # move focus away from the search box
    ActionChains(browser).send_keys("/").perform()
    assert browser.switch_to.active_element.get_attribute("id") == "q"
    browser.switch_to.active_element.send_keys("How does a GAN generator and discriminator work?", Keys.ENTER)

    # streamed: partial text shows while the answer is still being written, under the top passage (the best
    # evidence sentence with its citation, shown before the model's first word)
    seen = wait(browser, lambda d: [(a.text, p.text) for a in d.find_elements(By.CSS_SELECTOR, ".answer.streaming")
                                    if a.text.strip() and "…" not in a.text
                                    for p in d.find_elements(By.CSS_SELECTOR, ".turn .preview")])  # fmt: skip
    partial = [text for text, _ in seen]
    assert seen[0][1].lower().startswith("top passage") and "\u201c" in seen[0][1]
    wait(browser, lambda d: finished_turns(d))
    assert not browser.find_elements(By.CSS_SELECTOR, ".turn .preview")  # the answer replaced it
    answer = browser.find_element(By.CSS_SELECTOR, ".turn .answer")
    assert len(answer.text) > len(partial[0]) and "discriminator" in answer.text
    assert "q=How+does" in browser.current_url or "q=How%20does" in browser.current_url

    # a chip links to its source; hovering it highlights that source's card
    chip = answer.find_element(By.CSS_SELECTOR, "a.cite")
    n = chip.get_attribute("data-n")
    card = browser.find_element(By.CSS_SELECTOR, f'.turn .card[data-n="{n}"]')
    assert chip.get_attribute("href") == card.get_attribute("href")
    assert "/view?url=file" in chip.get_attribute("href") and "gan.md" in chip.get_attribute("href")
    assert "GANs" in card.text and "hl" not in card.get_attribute("class")
    ActionChains(browser).move_to_element(chip).perform()
    wait(browser, lambda d: "hl" in card.get_attribute("class"))
    page = httpx.get(chip.get_attribute("href"), timeout=10)
    assert page.status_code == 200 and "discriminator" in page.text

    # the follow-up keeps the conversation
    follow = browser.find_element(By.ID, "followup")
    follow.send_keys("And what frequency does BM25 rank documents by?", Keys.ENTER)
    wait(browser, lambda d: len(finished_turns(d)) == 2)
    turns = browser.find_elements(By.CSS_SELECTOR, ".turn")
    assert turns[1].find_element(By.CSS_SELECTOR, ".question").text.startswith("And what frequency")
    assert "frequency" in turns[1].find_element(By.CSS_SELECTOR, ".answer").text
    sent = [m["content"] for m in server.generator.prompts[-1].messages]
    assert "How does a GAN generator and discriminator work?" in sent  # the history reached the model


FAISS_QUOTE = (
    "IndexFlatIP computes exact inner products, which equal cosine similarity for normalised embeddings."
)


def test_the_cited_span_is_marked_on_its_card_and_in_the_reader(server, browser: WebDriver) -> None:
    browser.get(server.url + "/?q=" + "What does FAISS IndexFlatIP compute?")
    wait(browser, lambda d: finished_turns(d))
    assert not browser.find_elements(By.CSS_SELECTOR, ".answer-kind")  # the model's own (checked) answer
    card = browser.find_element(By.CSS_SELECTOR, ".turn .card:not(.uncited)")
    snippet = card.find_element(By.CSS_SELECTOR, ".card-snippet")
    assert snippet.find_element(By.CSS_SELECTOR, "mark.cited-span").text == FAISS_QUOTE
    assert snippet.text.startswith("FAISS searches dense vectors. " + FAISS_QUOTE)

    # a chip's click brings its card forward (in this tab); the card's link carries the quote to the reader
    chip = browser.find_element(By.CSS_SELECTOR, f'.answer a.cite[data-n="{card.get_attribute("data-n")}"]')
    chip.click()
    wait(browser, lambda d: "flash" in card.get_attribute("class"))
    assert len(browser.window_handles) == 1 and browser.switch_to.active_element == card
    href = card.get_attribute("href")
    assert chip.get_attribute("href") == href and "&hl=IndexFlatIP%20computes" in href and ":~:text=" in href
    page = httpx.get(href, timeout=10).text
    assert f"<mark class=cited-span id=cited>{FAISS_QUOTE}</mark>" in page


def test_cited_span_without_offsets_or_quote(server, browser: WebDriver) -> None:
    """Null offsets fall back to finding the quote; no quote at all (an older server) leaves the card as it was."""
    edits = (
        (r'"(start|end)":\s*\d+', '"$1": null', True),
        (r',\s*"(quote|start|end)":\s*("(?:[^"\\]|\\.)*"|\d+|null)', "", False),
    )
    for pattern, replacement, marked in edits:
        browser.get(server.url + "/")
        browser.execute_script(
            "const re = new RegExp(arguments[0], 'g'), to = arguments[1], f = window.fetch;"
            "window.fetch = async (u, o) => { const r = await f(u, o);"
            "  if (!String(u).endsWith('/ask/stream')) return r;"
            "  return new Response((await r.text()).replace(re, to), { status: r.status, headers: r.headers }); };",
            pattern,
            replacement,
        )
        browser.find_element(By.ID, "q").send_keys("What does FAISS IndexFlatIP compute?", Keys.ENTER)
        wait(browser, lambda d: finished_turns(d))
        card = browser.find_element(By.CSS_SELECTOR, ".turn .card:not(.uncited)")
        marks = [m.text for m in card.find_elements(By.CSS_SELECTOR, "mark.cited-span")]
        assert marks == ([FAISS_QUOTE] if marked else []), pattern
        assert ("&hl=" in card.get_attribute("href")) is marked
        assert FAISS_QUOTE in card.find_element(By.CSS_SELECTOR, ".card-snippet").text


def test_a_quoted_answer_is_labelled(server, browser: WebDriver) -> None:
    # the model declines; the best evidence sentence is quoted instead
    browser.get(server.url + "/?q=" + "unanswerable question about bm25")
    wait(browser, lambda d: finished_turns(d))
    label = browser.find_element(By.CSS_SELECTOR, ".turn .label .answer-kind")
    assert label.text == "Quoted from the sources" and label.is_displayed()
    assert "BM25 ranks documents" in browser.find_element(By.CSS_SELECTOR, ".turn .answer").text
    assert browser.find_elements(By.CSS_SELECTOR, ".turn .card mark.cited-span")


def test_not_found_shows_the_closest_passage_marked_on_its_card(server, browser: WebDriver) -> None:
    """A "not found" whose answer JSON names a closest passage (the final event of an answer, turned into one)."""
    browser.get(server.url + "/")
    browser.execute_script(
        "const f = window.fetch;"
        "window.fetch = async (u, o) => { const r = await f(u, o);"
        "  if (!String(u).endsWith('/ask/stream')) return r;"
        "  const lines = (await r.text()).split('\\n').map((line) => {"
        "    if (!line.startsWith('data: ') || !line.includes('\"citations\"')) return line;"
        "    const a = JSON.parse(line.slice(6));"
        "    Object.assign(a, { abstained: true, reason: 'not_answerable', kind: null, closest: a.citations[0],"
        "                       citations: [], answer: 'The indexed documents do not answer this question.' });"
        "    return 'data: ' + JSON.stringify(a); });"
        "  return new Response(lines.join('\\n'), { status: r.status, headers: r.headers }); };"
    )
    browser.find_element(By.ID, "q").send_keys("What does FAISS IndexFlatIP compute?", Keys.ENTER)
    notice = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice.notfound"))[0]
    closest = browser.find_element(By.CSS_SELECTOR, ".turn .notice + .closest")
    assert closest.find_element(By.CSS_SELECTOR, ".preview-label").text.lower() == (
        "closest passage, not confirmed as an answer"
    )
    assert FAISS_QUOTE in closest.text and "Not found" in notice.text
    n = closest.find_element(By.CSS_SELECTOR, "a.cite, span.cite").get_attribute("data-n")
    card = browser.find_element(By.CSS_SELECTOR, f'.turn .card[data-n="{n}"]')
    assert card.find_element(By.CSS_SELECTOR, "mark.cited-span").text == FAISS_QUOTE


def test_a_chinese_question_gets_a_chinese_answer_with_a_citation(server, browser: WebDriver) -> None:
    browser.get(server.url + "/?q=" + quote("ChatGPT是生成对抗网络吗？"))
    wait(browser, lambda d: finished_turns(d))
    answer = browser.find_element(By.CSS_SELECTOR, ".turn .answer")
    assert "不是生成对抗网络" in answer.text
    chip = answer.find_element(By.CSS_SELECTOR, "a.cite")
    assert "zh.md" in chip.get_attribute("href")
    card = browser.find_element(By.CSS_SELECTOR, f'.turn .card[data-n="{chip.get_attribute("data-n")}"]')
    assert "ChatGPT 与 GAN" in card.text


def test_the_page_speaks_chinese_to_a_chinese_browser(server, tmp_path: Path) -> None:
    driver = start_chromium(tmp_path / "profile-zh", lang="zh-CN")
    try:
        driver.get(server.url + "/")
        assert driver.execute_script("return navigator.language").lower().startswith("zh")
        assert driver.find_element(By.TAG_NAME, "h1").text == "向你的文档提问"
        assert driver.find_element(By.ID, "q").get_attribute("placeholder") == "问点什么…"
        wait(driver, lambda d: "6 篇文档" in d.find_element(By.ID, "stats").text)
        driver.get(server.url + "/?q=" + quote("火星上有多少座火山城市？"))  # nothing indexed answers it
        wait(driver, lambda d: finished_turns(d))
        notice = driver.find_element(By.CSS_SELECTOR, ".turn .notice").text
        assert "已索引的文档中没有找到答案" in notice
    finally:
        driver.quit()


def test_strict_toggle_is_sent_and_remembered(server, browser: WebDriver) -> None:
    browser.get(server.url + "/")
    wait(browser, lambda d: "6 documents" in d.find_element(By.ID, "stats").text)
    box = browser.find_element(By.ID, "strict")
    assert not box.is_selected()
    box.click()
    browser.refresh()  # the choice is remembered
    wait(browser, lambda d: d.find_element(By.ID, "strict").is_selected())
    browser.execute_script(
        "window.sent = []; const f = window.fetch;"
        "window.fetch = (u, o) => { if (o && o.body) window.sent.push(o.body); return f(u, o); };"
    )
    browser.find_element(By.ID, "q").send_keys("How does a GAN generator and discriminator work?", Keys.ENTER)
    wait(browser, lambda d: finished_turns(d))
    sent = [json.loads(b) for b in browser.execute_script("return window.sent")]
    assert sent and sent[-1]["strict"] is True  # the server accepted it: the turn finished without an error
    assert not browser.find_elements(By.CSS_SELECTOR, ".turn .notice.error")
    browser.find_element(By.ID, "strict").click()  # leave the default for the other tests
    assert browser.execute_script("return localStorage.getItem('searchchat.strict')") == "0"


def test_hostile_titles_render_as_text(server, browser: WebDriver) -> None:
    browser.get(server.url + "/?q=" + "zebra stripes hostile title")
    wait(browser, lambda d: finished_turns(d))
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".card-title")]
    assert HOSTILE in titles
    assert no_alert(browser)
    assert (
        browser.execute_script("return document.querySelectorAll('#thread script, #thread img').length") == 0
    )
    sections = browser.execute_script(
        "return [...document.querySelectorAll('.card-section')].map(e => e.textContent)"
    )
    assert "<img src=x onerror=alert(2)>" in " ".join(sections)


def test_shared_url_not_found_and_error_states(server, browser: WebDriver) -> None:
    question = "unanswerable question about the capital of Peru"
    browser.get(server.url + "/?q=" + question)
    notice = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice.notfound"))[0]
    assert "Not found in the indexed documents" in notice.text
    assert (
        notice.find_element(By.CSS_SELECTOR, ".reason").text
        == "The answer check found no passage that clearly holds the answer."
    )
    assert browser.find_element(By.ID, "q").get_attribute("value") == question

    browser.get(server.url + "/?q=" + "What does FAISS IndexFlatIP compute? Please explode now.")
    error = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.notice.error[role="alert"]'))[0]
    assert (
        "server failed" in error.text and error.find_element(By.CSS_SELECTOR, "button.retry").is_displayed()
    )


def test_unreachable_server_shows_an_error(server, browser: WebDriver) -> None:
    browser.get(server.url + "/")
    wait(browser, lambda d: "documents" in d.find_element(By.ID, "stats").text)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/ask/stream"]})
    try:
        browser.find_element(By.ID, "q").send_keys("What is FAISS?", Keys.ENTER)
        error = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice.error"))[0]
        assert "Could not reach the server" in error.text
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})


def test_phone_sized_layout_does_not_overflow(server, browser: WebDriver) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(server.url + "/?q=" + "What does FAISS IndexFlatIP compute?")
        wait(browser, lambda d: finished_turns(d))
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        assert browser.find_element(By.ID, "followup").is_displayed()
        assert browser.find_element(By.CSS_SELECTOR, ".card").size["width"] < 390
    finally:
        browser.set_window_size(1200, 1000)


# -- themes and screenshots ---------------------------------------------------------------------------------
def screenshot_server(default: BackgroundServer) -> tuple[BackgroundServer | None, str]:
    if not SHOT_INDEX:
        return None, "How does a GAN generator and discriminator work?"
    manifest = json.loads(next(Path(SHOT_INDEX).glob("snapshots/*/manifest.json")).read_text())
    embedder = "minilm" if manifest["embedder"] == "all-MiniLM-L6-v2" else manifest["embedder"]
    settings = Settings(home=Path.home() / ".searchchat", index=Path(SHOT_INDEX), embedder=embedder,
                        generator=SHOT_GENERATOR)  # fmt: skip
    return BackgroundServer(create_app(settings)).start(), SHOT_QUESTION


def test_light_and_dark_themes(server, browser: WebDriver, tmp_path: Path) -> None:
    out = ROOT / "docs" if SHOTS_TO_DOCS else tmp_path
    own, question = screenshot_server(server)
    target = own or server
    colors = {}
    try:
        for theme in ("light", "dark"):
            set_theme(browser, theme)
            browser.get(target.url + "/?q=" + question)
            wait(browser, lambda d: finished_turns(d), timeout=600)
            time.sleep(0.3)  # let the last transitions settle
            colors[theme] = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
            path = out / f"screenshot-{theme}.png"
            assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
    finally:
        set_theme(browser, "light")
        if own is not None:
            own.stop()
    assert luminance(colors["light"]) > 0.8 and luminance(colors["dark"]) < 0.2, colors


def test_api_key_prompt_when_the_whole_api_is_protected(server, browser: WebDriver, tmp_path: Path) -> None:
    root = tmp_path / "keyed"
    settings = web_settings(root / "home", build_index(root), api_key="open-sesame", api_key_all=True)
    with BackgroundServer(create_app(settings)) as keyed:
        browser.get(keyed.url + "/")
        browser.execute_script("localStorage.clear()")
        browser.get(keyed.url + "/?q=" + "What does FAISS compute?")
        wait(browser, lambda d: "API key" in d.find_element(By.ID, "stats").text)
        notice = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice.error .keyform"))[0]
        notice.find_element(By.TAG_NAME, "input").send_keys("open-sesame", Keys.ENTER)
        wait(browser, lambda d: finished_turns(d) and not d.find_elements(By.CSS_SELECTOR, ".notice.error"))
        assert "inner products" in browser.find_element(By.CSS_SELECTOR, ".turn .answer").text
        wait(browser, lambda d: "6 documents" in d.find_element(By.ID, "stats").text)
        browser.execute_script("localStorage.clear()")
