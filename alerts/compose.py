"""Compose an alert: check it, find who it reaches, preview it, and queue it in one transaction.

Every alert gets a short reference (A-7K3Q) that people can send back to check it is genuine.
Reassurance and vigilance alerts wait out each person's quiet hours (22:00–07:00 local by
default); urgent alerts go at once. A follow-up (a correction, or the all clear) goes to exactly
the people who received the alert, as an alert of the same kind, and carries its reference.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.model import Alert, Audience, FollowUp, Kind, Subscriber
from alerts.store import AlertStore

REFERENCE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to read out
MAX_TEXT = 1200
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # Markdown's backslash before punctuation
MAX_AHEAD = timedelta(days=366)  # a later send time is more likely a typo in the year


class AlertError(Exception):
    """An alert that can't be sent as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Preview:
    """Exactly who an alert would reach, per channel."""

    recipients: tuple[Subscriber, ...]

    @property
    def by_channel(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for subscriber in self.recipients:
            counts[subscriber.channel] = counts.get(subscriber.channel, 0) + 1
        return counts

    @property
    def by_language(self) -> dict[str, int]:
        """How many recipients chose each language ("en" for English and for those who chose none)."""
        counts: dict[str, int] = {}
        for subscriber in self.recipients:
            code = subscriber.language or "en"
            counts[code] = counts.get(code, 0) + 1
        return counts


def parse_areas(value: str | Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    """`all` or boroughs (separated by ;), matched to the known list regardless of case."""
    items = value.split(";") if isinstance(value, str) else list(value)
    wanted = [" ".join(item.split()) for item in items if item.strip()]
    if not wanted:
        raise AlertError("areas: give `all` or one or more boroughs")
    if any(item.lower() == "all" for item in wanted):
        return ("all",)
    by_name = {name.lower(): name for name in known}
    unknown = [item for item in wanted if item.lower() not in by_name]
    if unknown:
        raise AlertError(f"areas: not London boroughs: {', '.join(unknown)}")
    return tuple(dict.fromkeys(by_name[item.lower()] for item in wanted))


def quiet_until(now: datetime, subscriber: Subscriber, tz: ZoneInfo) -> datetime:
    """When a non-urgent alert may reach this person: now, or the end of their quiet hours."""
    start, end = time.fromisoformat(subscriber.quiet_start), time.fromisoformat(subscriber.quiet_end)
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not quiet:
        return now
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tz).astimezone(now.tzinfo)


class Composer:
    """Turns a coordinator's choices into a queued alert."""

    def __init__(
        self,
        store: AlertStore,
        tz: ZoneInfo,
        clock: Callable[[], datetime],
        boroughs: Sequence[str],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.tz = tz
        self.clock = clock
        self.boroughs = tuple(boroughs)
        self.rng = rng or random.SystemRandom()

    def check_translations(self, translations: Mapping[str, str]) -> dict[str, str]:
        """An alert's texts in other languages (code → text), each checked as the English is."""
        checked = {}
        for code, text in translations.items():
            body = text.strip()
            if not re.fullmatch(r"[a-z]{2}", code) or code == "en":
                raise AlertError(f"translation: {code!r} is not a language code such as bn or ar")
            if not body:
                raise AlertError(f"translation {code}: it has no text")
            if len(_ESCAPED.sub(r"\1", body)) > MAX_TEXT:
                raise AlertError(f"translation {code}: keep an alert under {MAX_TEXT} characters")
            checked[code] = body
        return checked

    def check(self, kind: str, audience: str, text: str) -> tuple[Kind, Audience, str]:
        try:
            kind_ = Kind(kind)
        except ValueError:
            raise AlertError("kind: reassurance, vigilance or urgent") from None
        try:
            audience_ = Audience(audience)
        except ValueError:
            raise AlertError("audience: leaders, community or all") from None
        body = text.strip()
        if not body:
            raise AlertError("text: the alert has no text")
        if len(_ESCAPED.sub(r"\1", body)) > MAX_TEXT:  # as read: "\." (a full stop kept as typed) is one
            raise AlertError(f"text: keep an alert under {MAX_TEXT} characters")
        return kind_, audience_, body

    async def preview(self, audience: str, areas: Sequence[str], channels: Sequence[str]) -> Preview:
        return Preview(tuple(await self.store.recipients(audience, areas, channels)))

    async def new_reference(self) -> str:
        while True:
            reference = "A-" + "".join(self.rng.choice(REFERENCE_LETTERS) for _ in range(4))
            if not await self.store.reference_taken(reference):
                return reference

    async def send(
        self,
        *,
        kind: str,
        audience: str,
        areas: Sequence[str],
        text: str,
        created_by: str,
        channels: Sequence[str],
        send_at: datetime | None = None,
        report_to: tuple[str, str] | None = None,
        reference: str | None = None,
        translations: Mapping[str, str] | None = None,
    ) -> Alert:
        """Queue an alert for everyone it reaches, now or at `send_at`; audit it. `translations`:
        its text in other languages (code → text), for the recipients who chose them."""
        kind_, audience_, body = self.check(kind, audience, text)
        translated = self.check_translations(translations or {})
        now = self.clock()
        when = send_at or now
        if when < now - timedelta(minutes=1):
            raise AlertError("at: that time has passed")
        if when > now + MAX_AHEAD:
            raise AlertError(f"at: that is more than {MAX_AHEAD.days} days ahead; check the date")
        deliveries: list[tuple[str, str, datetime]] = []
        by_channel: dict[str, int] = {}
        async for page in self.store.recipients_by_page(audience_, areas, channels):  # a page at a time
            for s in page:
                due = when if kind_ is Kind.URGENT else max(when, quiet_until(when, s, self.tz))
                deliveries.append((s.channel, s.user_id, due))
                by_channel[s.channel] = by_channel.get(s.channel, 0) + 1
        if not deliveries:
            raise AlertError("nobody to send it to: no approved subscribers for that audience in those areas")
        fields = {
            "reference": reference or await self.new_reference(),
            "kind": kind_.value,
            "audience": audience_.value,
            "areas": list(areas),
            "text": body,
            "created_by": created_by,
            "send_at": when,
            "report_channel": report_to[0] if report_to else None,
            "report_user": report_to[1] if report_to else None,
            "translations": translated,
        }
        alert = await self.store.create_alert(fields, deliveries, now)
        details = {"reference": alert.reference, "kind": alert.kind, "audience": alert.audience, "areas": list(areas),
                   "recipients": by_channel, "send_at": when.isoformat(), "text": body,
                   **({"translations": translated} if translated else {})}  # fmt: skip
        await self.store.audit(created_by, "alert sent", details, now)
        return alert

    async def root(self, alert: Alert) -> Alert:
        """The alert a follow-up is about (itself if it is not one): follow-ups are all about it."""
        if alert.follows is None:
            return alert
        found = await self.store.alert(alert.follows)
        return found if found is not None else alert

    async def follow_up(
        self,
        original: Alert,
        *,
        kind: str,
        text: str,
        created_by: str,
        report_to: tuple[str, str] | None = None,
        translations: Mapping[str, str] | None = None,
    ) -> Alert:
        """Queue a correction or the all clear for everyone who received `original` (or the alert
        it follows up), with its kind's priority and quiet hours; audit it. It carries the
        original's reference; its own (A-7K3Q-1, -2…) is for coordinators' commands."""
        try:
            follow = FollowUp(kind)
        except ValueError:
            raise AlertError("kind: correction or all-clear") from None
        original = await self.root(original)
        kind_, _, body = self.check(original.kind, original.audience, text)
        translated = self.check_translations(translations or {})
        recipients = await self.store.received(original)
        if not recipients:
            raise AlertError(
                f"nobody has received {original.reference} yet: withdraw it instead (it never reaches anyone)"
            )
        now = self.clock()
        deliveries = [
            (s.channel, s.user_id, now if kind_ is Kind.URGENT else quiet_until(now, s, self.tz)) for s in recipients
        ]
        earlier = await self.store.follow_ups(original)
        fields = {
            "reference": f"{original.reference}-{len(earlier) + 1}",
            "kind": original.kind,
            "audience": original.audience,
            "areas": list(original.areas),
            "text": body,
            "created_by": created_by,
            "send_at": now,
            "report_channel": report_to[0] if report_to else None,
            "report_user": report_to[1] if report_to else None,
            "translations": translated,
            "follows": original.id,
            "follow_up": follow.value,
        }
        alert = await self.store.create_alert(fields, deliveries, now)
        counts: dict[str, int] = {}
        for s in recipients:
            counts[s.channel] = counts.get(s.channel, 0) + 1
        details = {"reference": alert.reference, "follows": original.reference, "recipients": counts, "text": body,
                   **({"translations": translated} if translated else {})}  # fmt: skip
        await self.store.audit(created_by, "correction sent" if follow is FollowUp.CORRECTION else "all clear sent",
                               details, now)  # fmt: skip
        return alert
