"""A generator backed by any OpenAI-compatible chat completions endpoint, streamed over SSE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from searchchat.generators.base import Generator, GeneratorError, Prompt


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


class OpenAIGenerator(Generator):
    """POSTs `{base_url}/chat/completions` with `stream: true` and yields each `choices[0].delta.content`."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout, connect=10.0), transport=transport
        )

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def close(self) -> None:
        self._client.close()

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": prompt.messages,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "stream": True,
        }
        try:
            with self._client.stream("POST", self.url, json=payload) as resp:
                if resp.status_code != 200:
                    raise GeneratorError(
                        f"The OpenAI-compatible server at {self.url} returned HTTP {resp.status_code}: "
                        f"{_excerpt(resp.read())}"
                    )
                if resp.headers.get("content-type", "").startswith("application/json"):
                    yield from self._whole(resp.read())  # a server that ignores `stream`
                    return
                yield from self._events(resp.iter_lines())
        except httpx.HTTPError as e:
            raise GeneratorError(
                f"Could not reach the OpenAI-compatible server at {self.url}: {type(e).__name__}: {e}"
            ) from e

    def _whole(self, body: bytes) -> Iterator[str]:
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise GeneratorError(f"Unexpected response from {self.url}: {_excerpt(body)}") from e
        if content:
            yield content

    def _events(self, lines: Iterator[str]) -> Iterator[str]:
        for line in lines:
            if not line.startswith("data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError as e:
                raise GeneratorError(f"Malformed event from {self.url}: {data[:200]}") from e
            if isinstance(event, dict) and event.get("error"):
                raise GeneratorError(
                    f"The server at {self.url} reported an error: {str(event['error'])[:300]}"
                )
            choices = event.get("choices") if isinstance(event, dict) else None
            if not choices:
                continue  # e.g. a final usage-only chunk
            delta = choices[0].get("delta") or {}
            content = delta.get("content")
            if content:
                yield content
