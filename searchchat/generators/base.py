"""The Generator interface: implement `stream(prompt)`; `generate` comes for free (pick one: factory.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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
