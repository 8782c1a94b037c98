"""Send the messages the bot owes people (calls for help, seat offers, reminders, sessions moved
or cancelled).

They are queued in the database by whoever causes them (the chat, the CLI, the scheduler) and sent
here, by `safetybot run`, through each channel's `send_proactive`. Each is claimed with a lease,
so of several processes on one database exactly one sends it, and a crashed sender's claims come
back. A message is marked sent once the platform took it. A temporary failure (the platform down,
the network gone) is tried again with exponential backoff and jitter, for days if need be; only a
permanent reason ends it unsent (STOP, blocked, an invalid recipient, refused for good, no
template outside WhatsApp's 24 hours), and that reason is kept. A notice that names a booking
(`calendar` in its body) goes with the booking's calendar entry as it is when sent (a file, or a
link on WhatsApp), so it is never out of date.

A leader's call for help is queued for every coordinator on every channel and goes first; while any
copy is still undelivered `safetybot run` logs a WARNING, and an ERROR if no coordinator at all can
be reached.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from bot.dialog import Engine
from bot.messages import Delivery, Document, Reply, notice_reply
from bot.store import NEED_HELP_KEY, Database, Notification, is_call_for_help

logger = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)  # after the first temporary failure; doubling from there
LONGEST_WAIT = timedelta(hours=1)  # between attempts, at most
GIVE_UP_AFTER = timedelta(days=7)  # a notice nobody could deliver for a week is of no use any more
LEASE = timedelta(minutes=5)  # a claim not recorded by then is taken again (its sender died)
CLAIM_BATCH = 20  # claimed at a time: each is sent well within its lease
WARN_EVERY = timedelta(minutes=1)  # how often the undelivered calls for help are logged
_DELIVERED = (Delivery.SENT, Delivery.TEMPLATE, Delivery.UNCONFIRMED)


class ProactiveSender(Protocol):
    """A channel that can write to someone first."""

    async def send_proactive(self, user_id: str, reply: Reply, *, about: str | None = None) -> Delivery:
        """Send a message nobody asked for just now; say what happened. FAILED means a temporary
        failure (worth trying again); every other unsent outcome is permanent. `about`: the key
        of the notice, kept with any copy held for later (so /forget can find it)."""


def retry_delay(attempts: int, jitter: float) -> timedelta:
    """How long to wait after the `attempts`-th failure: 30 s, 1 min, 2 min… up to an hour, each
    scaled by 0.5–1.0 (`jitter` in [0, 1)) so that many queued notices don't retry in step."""
    doublings = min(max(0, attempts - 1), 16)  # 30 s times 2^16 is far past the hour already
    wait: timedelta = min(LONGEST_WAIT, FIRST_RETRY * (1 << doublings))
    return wait * (0.5 + jitter / 2)


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
        lease: timedelta = LEASE,
        jitter: Callable[[], float] = random.random,
        calendars: Callable[[int], Awaitable[Document | None]] | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.senders = senders
        self.clock = clock
        self.only_user = only_user  # the console reaches only the person at the keyboard
        self.lease = lease
        self.jitter = jitter
        self.calendars = calendars  # a notice naming a booking (`calendar`) carries its entry, built now
        self._warned_at: datetime | None = None

    async def send_pending(self) -> int:
        """Send what is due (calls for help first); return how many went."""
        sent = 0
        while True:
            notes = await self.db.claim_notifications(
                list(self.senders), self.clock(), self.lease, user_id=self.only_user, limit=CLAIM_BATCH
            )
            for note in notes:
                sent += await self._send(note)
            if len(notes) < CLAIM_BATCH:
                return sent

    async def _send(self, note: Notification) -> int:
        if note.coordinators_only and not await self.db.is_coordinator(note.channel, note.user_id):
            # queued for someone who has stopped being a coordinator since
            await self.db.finish_notification(note.id, "not a coordinator", self.clock())
            return 0
        reply = await self._reply(note)
        try:
            delivery = await self.senders[note.channel].send_proactive(note.user_id, reply, about=note.key)
        except Exception:
            logger.exception("notification %d: sending failed", note.id)
            delivery = Delivery.FAILED
        now = self.clock()
        if delivery in _DELIVERED:
            await self.db.finish_notification(note.id, delivery.value, now)
            if reply.choices:  # let their next reply pick from this message
                await self.engine.remember_choices(note.channel, note.user_id, reply)
            return 1
        if delivery is Delivery.FAILED and now - note.created_at < GIVE_UP_AFTER:
            at = now + retry_delay(note.attempts + 1, self.jitter())
            await self.db.retry_notification(note.id, at, "temporary failure")
            logger.info("notification %d not sent yet (attempt %d); next try at %s", note.id, note.attempts + 1,
                        at.isoformat(timespec="seconds"))  # fmt: skip
            return 0
        status = "expired" if delivery is Delivery.FAILED else delivery.value
        await self.db.finish_notification(note.id, status, now)
        logger.info("notification %d not delivered: %s", note.id, status)
        if is_call_for_help(note.key):
            await self._check_reached(note)
        return 0

    async def _reply(self, note: Notification) -> Reply:
        """The notice as sent: with the booking's calendar entry as it is now, if it names one."""
        reply = notice_reply(note.body)
        booking = note.body.get("calendar")
        if isinstance(booking, int) and self.calendars is not None:
            reply = dataclasses.replace(reply, document=await self.calendars(booking))
        return reply

    async def _check_reached(self, note: Notification) -> None:
        """After one copy of a call for help failed for good: say so loudly if no coordinator at
        all has it or can still get it."""
        request = note.key[: note.key.index(":", len(NEED_HELP_KEY)) + 1]  # need-help:<delivery>:
        statuses = await self.db.notification_statuses(request)
        if not any(s in ("pending", "sending", *(d.value for d in _DELIVERED)) for s in statuses):
            logger.error("a leader's call for help reached no coordinator: every coordinator is unreachable")

    async def warn_undelivered(self) -> int:
        """Log a WARNING (at most once a minute) while calls for help are still undelivered a
        minute after they were made; return how many there are."""
        now = self.clock()
        waiting = await self.db.undelivered(NEED_HELP_KEY, now - WARN_EVERY)
        if waiting and (self._warned_at is None or now - self._warned_at >= WARN_EVERY):
            self._warned_at = now
            logger.warning("%d call(s) for help not yet delivered to a coordinator; still trying", waiting)
        return waiting
