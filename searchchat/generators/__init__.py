"""Generator backends, chosen by name in settings: local, openai, extractive, llamacpp."""

from searchchat.generators.base import Generator, GeneratorError, Prompt
from searchchat.generators.factory import get_generator

__all__ = ["Generator", "GeneratorError", "Prompt", "get_generator"]
