"""The neutral message types every channel translates to and from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Choice:
    """One option offered to the user: a button on Telegram, a numbered line elsewhere."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message from a user: free `text`, or the `choice` id of an option they picked."""

    channel: str
    user_id: str
    text: str | None = None
    choice: str | None = None
    display_name: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says back: Markdown-subset `text` and the choices offered with it.

    `emergency` marks a reply that leads with the 999 advice (channels send it first);
    `answer` and `suggestions` name the FAQ entries it gives or offers.
    """

    text: str
    choices: tuple[Choice, ...] = ()
    emergency: bool = False
    answer: str | None = None
    suggestions: tuple[str, ...] = ()
