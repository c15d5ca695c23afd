"""robots.txt rules per origin (protego), fetched once per crawl and cached: allow, crawl-delay, sitemaps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from protego import Protego

from indexer.fetch import REDIRECTS, Fetcher, FetchError
from indexer.urls import normalize_url

MAX_ROBOTS_BYTES = 512_000  # RFC 9309: parse at least the first 500 KiB


@dataclass
class Robots:
    """The rules of one origin. `rules` None means everything is allowed (no robots.txt, or a 4xx)."""

    user_agent: str
    rules: Protego | None = None
    unavailable: str = ""  # why robots.txt could not be read (5xx, network error): then nothing is allowed
    reason: str = "robots"  # the Skipped reason for pages refused because robots.txt was unavailable
    sitemaps: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        if self.unavailable:
            return False
        return True if self.rules is None else self.rules.can_fetch(url, self.user_agent)

    @property
    def crawl_delay(self) -> float | None:
        if self.rules is None:
            return None
        delay = self.rules.crawl_delay(self.user_agent)
        if delay is None and (rate := self.rules.request_rate(self.user_agent)) is not None:
            delay = rate.seconds / max(rate.requests, 1)
        return float(delay) if delay is not None else None


def parse_robots(text: str, user_agent: str) -> Robots:
    rules = Protego.parse(text)
    return Robots(user_agent=user_agent, rules=rules, sitemaps=list(rules.sitemaps))


async def fetch_robots(fetcher: Fetcher, origin: str, user_agent: str, max_redirects: int = 5) -> Robots:
    """Read origin/robots.txt as RFC 9309 says: 2xx rules apply; 4xx allows everything; 5xx, 429 or a network
    error (after the fetcher's retries) disallows everything; up to 5 redirects are followed."""
    url = origin + "/robots.txt"
    for _ in range(max_redirects + 1):
        try:
            resp = await fetcher.get(
                url, max_bytes=MAX_ROBOTS_BYTES, accept=lambda ct, u: "any", truncate=True
            )
        except FetchError as exc:
            if exc.status is not None:
                return Robots(user_agent, unavailable=f"robots.txt answered HTTP {exc.status}")
            return Robots(user_agent, unavailable=f"robots.txt unreachable: {exc.detail}", reason=exc.reason)
        if resp.status in REDIRECTS and (target := normalize_url(resp.headers.get("location", ""), url)):
            url = target
            continue
        if 200 <= resp.status < 300:
            return parse_robots(resp.body.decode("utf-8", errors="replace"), user_agent)
        return Robots(user_agent)  # 4xx (or an odd status): no rules
    return Robots(user_agent)  # too many redirects: treated as missing


class RobotsCache:
    """One Robots per origin, fetched at most once even when many workers ask at the same time."""

    def __init__(self, fetch: Callable[[str], Awaitable[Robots]]) -> None:
        self._fetch = fetch
        self._tasks: dict[str, asyncio.Task[Robots]] = {}

    async def get(self, origin: str) -> Robots:
        task = self._tasks.get(origin)
        if task is None:
            task = self._tasks[origin] = asyncio.ensure_future(self._fetch(origin))
        return await asyncio.shield(task)
