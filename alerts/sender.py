"""The one thing alerts needs from a channel: send a message to a person, and say what happened."""

from __future__ import annotations

from typing import Protocol

from alerts.model import AlertMessage, Outcome


class Sender(Protocol):
    """A channel that can deliver alerts. The app wires one in per channel at start-up."""

    channel: str  # "telegram", "whatsapp", ...
    rate_limit: float  # messages per second the platform allows this sender overall

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        """Send one alert to one person. Never raises for a platform's refusal: classify it."""
