"""Replies before bulk: a gate that holds bulk sends (alerts) while a reply is waiting or in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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
