"""Channels: each translates between one platform and the dialog engine.

ChannelError          a channel cannot start (bad token, platform unreachable)
as_reply              an alert (alerts' AlertMessage) as the Reply a channel renders
"""

from __future__ import annotations

from alerts import AlertMessage
from bot.messages import Choice, Reply


class ChannelError(Exception):
    """A channel cannot start; the message says how to fix it."""


def as_reply(message: AlertMessage) -> Reply:
    """An alert as a reply: its text and its answers as (lettered) choices."""
    choices = tuple(Choice(choice_id, label) for choice_id, label in message.choices)
    return Reply(message.text, choices, lettered=True, language=message.language)
