"""Builders for the web tests: a tiny index (with a hostile title), settings for it, and test generators."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from indexer.pipeline import index_sources
from searchchat.generators.base import Generator, Prompt
from searchchat.indexing import index_options
from searchchat.settings import Settings
from tests.fakes import ScriptedGenerator
from tests.helpers import TOPICS, write_docs

HOSTILE = "<script>alert(1)</script>"
DOCS = {
    **TOPICS,
    "hostile.md": f"# {HOSTILE}\n\n## <img src=x onerror=alert(2)>\n\nThe zebra page has a hostile title; zebras "
    "have black and white stripes.\n",
    "zh.md": "# ChatGPT 与 GAN\n\nChatGPT 不是生成对抗网络，而是基于 Transformer 的大型语言模型。生成对抗网络由生成器和"
    "判别器组成，主要用于生成图像。\n",
}


def build_index(root: Path) -> Path:
    """Index DOCS with the model-free hash embedder into root/index; returns the index directory."""
    settings = Settings(home=root / "home", index=root / "index", embedder="hash-64", generator="extractive")
    index_sources([str(write_docs(root / "docs", DOCS))], index_options(settings), quiet=True)
    return root / "index"


TEST_HOST = "testserver"  # the Host that Starlette's TestClient sends


def web_settings(home: Path, index: Path, **overrides: object) -> Settings:
    """Settings for a test app; the TestClient's Host joins the allowed hosts (loopback names always are)."""
    base = Settings(home=home, index=index, embedder="hash-64", generator="extractive",
                    allowed_hosts=[TEST_HOST])  # fmt: skip
    return base.model_copy(update=overrides)


class BlockingGenerator(ScriptedGenerator):
    """A scripted generator that waits for `release` before its first token (to fill the queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.started.release()
        if not self.release.wait(timeout=30):
            raise TimeoutError("BlockingGenerator was never released")
        yield from super().stream(prompt, max_new_tokens, temperature)


class SlowGenerator(Generator):
    """Yields `tokens` pieces, `delay` seconds apart (spinning the CPU when `burn`, like a model holding
    the GIL between kernels), citing source 1; counts what it produced and whether it was closed early."""

    name = "slow"

    def __init__(self, tokens: int = 50, delay: float = 0.02, burn: bool = False) -> None:
        self.tokens, self.delay, self.burn = tokens, delay, burn
        self.produced = 0
        self.closed_early = threading.Event()
        self.finished = threading.Event()

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        try:
            for i in range(self.tokens):
                if self.burn:
                    end = time.perf_counter() + self.delay
                    while time.perf_counter() < end:
                        sum(j * j for j in range(200))
                else:
                    time.sleep(self.delay)
                self.produced += 1
                yield f"word{i} " if i < self.tokens - 1 else "done [1]."
        except GeneratorExit:
            self.closed_early.set()
            raise
        finally:
            self.finished.set()


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body; comments skipped, `message` when unnamed."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def make_app(settings: Settings, generator: Generator | None = None):  # type: ignore[no-untyped-def]
    """The app over settings.index_dir; with `generator`, an Answerer around it is injected."""
    from indexer.embed import get_embedder
    from indexer.store import open_handle
    from searchchat.answering.pipeline import Answerer
    from searchchat.retrieval.retriever import Retriever
    from searchchat.web.app import create_app

    if generator is None:
        return create_app(settings)
    retriever = Retriever(open_handle(settings.store, settings.index_dir), get_embedder(settings), settings)
    return create_app(settings, answerer=Answerer(retriever, generator, settings))


def page_strings(script: str, page: str) -> tuple[set[str], set[str], set[str], str]:
    """A page script's English and Chinese text-table keys, the keys its HTML uses (data-i18n*), and the
    script's text; both tables sit between `    en: {`, `    zh: {` and `  const LANG`."""
    import re

    from tests.conftest import ROOT

    js = (ROOT / "searchchat/web/static" / script).read_text(encoding="utf-8")
    en = js[js.index("    en: {") : js.index("    zh: {")]
    zh = js[js.index("    zh: {") : js.index("  const LANG")]
    key = re.compile(r'(?:^\s+|,\s+)("[\w.]+"|\w+):\s', re.M)
    keys_en = {k.strip('"') for k in key.findall(en)} - {"en"}
    keys_zh = {k.strip('"') for k in key.findall(zh)} - {"zh"}
    html = (ROOT / "searchchat/web/static" / page).read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder|-title)?="([\w.]+)"', html))
    return keys_en, keys_zh, used, js
