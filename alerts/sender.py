"""The one thing alerts needs from a channel: send a message to a person, and say what happened.

A channel may also read and write a claimed batch's per-person data all at once (`BatchSender`),
so that sending costs no database round trip per person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alerts.model import AlertMessage, Outcome


class Sender(Protocol):
    """A channel that can deliver alerts. The app wires one in per channel at start-up."""

    channel: str  # "telegram", "whatsapp", ...
    rate_limit: float  # messages per second the platform allows this sender overall

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        """Send one alert to one person. Never raises for a platform's refusal: classify it."""


@runtime_checkable
class BatchSender(Sender, Protocol):
    """A Sender that prepares for a batch at once and records it at once. The dispatcher calls
    `prepare` with the people of each batch it claims, before sending to them, and `flush` once
    they have all been tried, before it records their outcomes (also when stopping)."""

    async def prepare(self, user_ids: Sequence[str]) -> None:
        """Read what sending to these people needs (how to reach them), in one query."""

    async def flush(self) -> None:
        """Write what the sends since the last flush recorded, in one transaction."""
