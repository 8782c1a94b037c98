"""The neutral message types every channel translates to and from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


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
    private: bool = True  # False: said in a group, where everyone in it sees the reply
    language_hint: str | None = None  # the app's language (Telegram's language_code): offered first


@dataclass(frozen=True, slots=True)
class Document:
    """A file that goes with a reply (a calendar entry, a copy of someone's data).

    A channel that can't send a file sends a link instead, where `token` names it in an
    unguessable one; a document without a token is never put behind a link (someone's data is
    too sensitive to leave the chat as a URL), and such a channel says `unlinked` instead."""

    filename: str
    content: bytes
    media_type: str
    token: str = ""
    caption: str = ""  # what the file is, shown with it (Telegram's caption, the console's note)
    unlinked: str = ""  # Markdown said in its place where it can be neither sent nor linked


class Delivery(StrEnum):
    """What happened to a message the bot sent first (a reminder, an offer, an alert)."""

    SENT = "sent"
    TEMPLATE = "template"  # WhatsApp: only the template went; the text waits for the person's reply
    OPTED_OUT = "opted_out"  # they sent STOP
    BLOCKED = "blocked"  # they blocked the bot
    NO_TEMPLATE = "no_template"  # WhatsApp: outside the 24-hour window and no template configured
    UNREACHABLE = "unreachable"  # the channel can't write first to this person (e.g. the console)
    REFUSED = "refused"  # the platform refused this message for good (a bad request, an invalid chat)
    FAILED = "failed"  # a temporary failure (the platform or the network down): worth trying again
    # The platform had the whole request but its answer never came (a read timeout): it most
    # likely arrived, and sending it again blindly could show it twice, so it is not resent.
    UNCONFIRMED = "unconfirmed"


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
    document: Document | None = None
    typed: bool = False  # it asks for a typed answer (what happened), the options only help
    silent: bool = False  # nothing to send (someone flooding the bot, past their one notice)
    # A message the bot sends first (an alert, a reminder, an offer): its choices are lettered
    # (A, B…) where there are no buttons, so they can't be taken for the numbered options of
    # whatever the person is in the middle of.
    lettered: bool = False
    language: str | None = None  # the language it is worded in, if not English (sets its direction)


def notice_body(reply: Reply) -> dict[str, Any]:
    """A reply as a queued notification stores it (JSON): its text and choices."""
    body: dict[str, Any] = {"text": reply.text, "choices": [[c.id, c.label] for c in reply.choices]}
    if reply.language is not None:
        body["language"] = reply.language
    return body


def notice_reply(body: dict[str, Any]) -> Reply:
    """The reply a queued notification's body holds (sent first by the bot: its choices lettered)."""
    choices = tuple(Choice(i, label) for i, label in body.get("choices", []))
    language = body.get("language")
    return Reply(str(body.get("text", "")), choices, lettered=True, language=str(language) if language else None)
