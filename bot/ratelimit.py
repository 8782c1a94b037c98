"""Rate limits the bot applies itself.

PriorityGate   replies before bulk: holds bulk sends (alerts) while a reply is on its way
FloodGuard     per-person limit on incoming messages (USER_RATE_LIMIT, USER_RATE_BURST)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum


class PriorityGate:
    """Bulk traffic waits whenever someone's reply is on its way; replies never wait for bulk."""

    def __init__(self) -> None:
        self._replies = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @asynccontextmanager
    async def reply(self) -> AsyncIterator[None]:
        """Around sending a reply to someone."""
        self._replies += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._replies -= 1
            if not self._replies:
                self._clear.set()

    async def bulk(self) -> None:
        """Before sending bulk: wait until no reply is pending."""
        await self._clear.wait()


class Verdict(Enum):
    """What to do with one person's message under the flood limit."""

    ANSWER = "answer"
    NOTICE = "notice"  # over the limit: say so, once
    IGNORE = "ignore"  # still over it: say nothing


class FloodGuard:
    """Per-person limit on messages, kept in this process: a token bucket of `burst` messages,
    refilled at `per_minute`. Past it, one polite notice, then silence until the bucket refills:
    a flood costs one dictionary lookup per message, no database and no reply."""

    MAX_TRACKED = 10_000  # people tracked before those with a full bucket again are forgotten

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], datetime]) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # key → [tokens, at, noticed]

    def check(self, key: tuple[str, str]) -> Verdict:
        """Take one message from this person's allowance."""
        now = self.clock().timestamp()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_TRACKED:
                self._forget_idle(now)
            bucket = self._buckets[key] = [self.burst, now, 0.0]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0], bucket[2] = tokens - 1.0, 0.0
            return Verdict.ANSWER
        bucket[0] = tokens
        if bucket[2]:
            return Verdict.IGNORE
        bucket[2] = 1.0
        return Verdict.NOTICE

    def _forget_idle(self, now: float) -> None:
        full = [k for k, (tokens, at, _) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
