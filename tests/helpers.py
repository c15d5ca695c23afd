"""Small builders shared by tests: a folder of Markdown documents and a settings object for it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOPICS = {
    "gan.md": "# GANs\n\n## Generator and discriminator\n\nA generative adversarial network trains a generator "
    "against a discriminator. ChatGPT is not a GAN; it is a transformer trained by next-token prediction.\n",
    "bm25.md": "# BM25\n\n## Scoring\n\nBM25 ranks documents by term frequency saturation and inverse document "
    "frequency, with length normalisation controlled by b and k1.\n",
    "faiss.md": "# FAISS\n\n## Flat indexes\n\nFAISS searches dense vectors. IndexFlatIP computes exact inner "
    "products, which equal cosine similarity for normalised embeddings.\n",
    "robots.md": "# Robots\n\n## Disallow\n\nA robots.txt file lists Disallow rules per user agent; polite "
    "crawlers read it before fetching pages and wait between requests.\n",
}


def write_docs(folder: Path, docs: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (docs or TOPICS).items():
        (folder / name).write_text(text)
    return folder


def bench_module(name: str) -> ModuleType:
    """bench/NAME.py loaded as module NAME (registered in sys.modules, where dataclasses look their module up)."""
    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
