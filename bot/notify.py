"""Send the messages the bot owes people (training offers, reminders, cancellations).

They are queued in the database by whoever causes them (the chat, the CLI, the scheduler) and sent
here, by `safetybot run`, through each channel's `send_proactive`. A message is marked sent once
the platform took it; temporary failures are tried again, up to a limit; and the reason is kept
when it can't go (STOP, blocked, no template outside WhatsApp's 24 hours).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from bot.dialog import Engine
from bot.messages import Choice, Delivery, Reply
from bot.store import Database

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class ProactiveSender(Protocol):
    """A channel that can write to someone first."""

    async def send_proactive(self, user_id: str, reply: Reply) -> Delivery:
        """Send a message nobody asked for just now; say what happened."""


class Notifier:
    """Delivers queued notifications through the channels given."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        senders: Mapping[str, ProactiveSender],
        clock: Callable[[], datetime],
        *,
        only_user: str | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.senders = senders
        self.clock = clock
        self.only_user = only_user  # the console reaches only the person at the keyboard

    async def send_pending(self) -> int:
        """Send what is queued; return how many went."""
        sent = 0
        for note in await self.db.pending_notifications(list(self.senders)):
            if self.only_user is not None and note.user_id != self.only_user:
                continue
            if note.coordinators_only and not await self.db.is_coordinator(note.channel, note.user_id):
                # queued for someone who has stopped being a coordinator since
                await self.db.finish_notification(note.id, "not a coordinator", self.clock())
                continue
            reply = Reply(str(note.body.get("text", "")), tuple(Choice(i, label) for i, label in note.body["choices"]))
            try:
                delivery = await self.senders[note.channel].send_proactive(note.user_id, reply)
            except Exception:
                logger.exception("notification %d: sending failed", note.id)
                delivery = Delivery.FAILED
            if delivery in (Delivery.SENT, Delivery.TEMPLATE):
                await self.db.finish_notification(note.id, delivery.value, self.clock())
                if reply.choices:  # let their next reply pick from this message
                    await self.engine.remember_choices(note.channel, note.user_id, reply)
                sent += 1
            elif delivery is Delivery.FAILED and note.attempts + 1 < MAX_ATTEMPTS:
                await self.db.retry_notification(note.id)
            else:
                await self.db.finish_notification(note.id, delivery.value, self.clock())
                logger.info("notification %d not delivered: %s", note.id, delivery.value)
        return sent
