"""Pick a generator backend by name (settings.generator) and keep one per configuration per process."""

from __future__ import annotations

import functools
from typing import Any

from searchchat.generators.base import Generator, GeneratorError
from searchchat.settings import Settings


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
