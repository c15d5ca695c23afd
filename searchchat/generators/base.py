"""The Generator interface: implement `stream(prompt)`; `generate` and the registry come for free."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from searchchat.settings import Settings
from searchchat.types import Hit


class GeneratorError(RuntimeError):
    """A backend could not be loaded or called; the message says what to do."""


@dataclass
class Prompt:
    """What a generator gets: chat messages for language models, the question and numbered sources for all."""

    messages: list[dict[str, str]]
    question: str = ""
    sources: list[Hit] = field(default_factory=list)  # source n is sources[n - 1]
    fixed: int = 0  # how many leading messages are the same for every question (a generator may cache them)


class Generator:
    name: str = "generator"

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        """Yield pieces of text as they are generated."""
        raise NotImplementedError

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> str:
        return "".join(self.stream(prompt, max_new_tokens=max_new_tokens, temperature=temperature))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's tokenizer (a rough estimate unless overridden)."""
        return max(1, len(text) // 4)


def _build(settings: Settings) -> Generator:
    name = settings.generator
    if name == "extractive":
        from searchchat.generators.extractive import ExtractiveGenerator

        return ExtractiveGenerator()
    if name == "openai":
        from searchchat.generators.openai import OpenAIGenerator

        return OpenAIGenerator(settings.openai_base_url, settings.openai_model, settings.openai_api_key)
    if name == "local":
        from searchchat.generators.local import LocalGenerator

        return LocalGenerator.from_settings(settings)
    if name == "llamacpp":
        from searchchat.generators.llamacpp import LlamaCppGenerator

        return LlamaCppGenerator.from_settings(settings)
    raise GeneratorError(f"Unknown generator {name!r}; choose local, openai, extractive or llamacpp.")


@functools.lru_cache(maxsize=4)
def _cached(key: str, settings_json: str) -> Generator:
    return _build(Settings.model_validate_json(settings_json))


def get_generator(settings: Settings) -> Generator:
    """The generator named in settings, loaded once per process and reused."""
    keys: dict[str, Any] = {
        "generator": settings.generator, "model": settings.model, "home": str(settings.home),
        "openai_base_url": settings.openai_base_url, "openai_model": settings.openai_model,
        "openai_api_key": settings.openai_api_key,
    }  # fmt: skip
    return _cached(repr(sorted(keys.items())), Settings(**keys).model_dump_json())
