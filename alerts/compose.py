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


_DURATION = re.compile(r"(\d+)\s*(m|min|mins|minutes?|h|hr|hrs|hours?)?", re.IGNORECASE)
MAX_ESCALATION = timedelta(hours=24)


def parse_duration(value: str) -> timedelta:
    """ "15m", "15 min", "1h", "90" (minutes): how long leaders have to acknowledge an alert."""
    found = _DURATION.fullmatch(value.strip())
    if found is None:
        raise AlertError(f"escalate after: give minutes or hours, e.g. 15m or 1h, not {value!r}")
    amount, unit = int(found.group(1)), (found.group(2) or "m").lower()
    duration = timedelta(hours=amount) if unit.startswith("h") else timedelta(minutes=amount)
    if not timedelta(minutes=1) <= duration <= MAX_ESCALATION:
        raise AlertError("escalate after: between 1 minute and 24 hours")
    return duration


_QUIET = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*(?:-|–|to)\s*(\d{1,2})(?:[:.](\d{2}))?", re.IGNORECASE)
NO_QUIET_HOURS = ("00:00", "00:00")  # start = end: never quiet


def parse_quiet_hours(value: str) -> tuple[str, str]:
    """ "22:00-07:00", "22-7", "23.30 to 6": (start, end) as HH:MM; "none" for no quiet hours."""
    text = value.strip()
    if text.lower() in ("none", "no", "off", "-"):
        return NO_QUIET_HOURS
    found = _QUIET.fullmatch(text)
    if found is None:
        raise AlertError(f"quiet hours: give two times like 22:00-07:00 (or none), not {value!r}")
    start_h, start_m, end_h, end_m = (int(part or 0) for part in found.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        raise AlertError(f"quiet hours: {value!r} is not a time of day")
    return f"{start_h:02d}:{start_m:02d}", f"{end_h:02d}:{end_m:02d}"


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
        approvals: int = 1,
        urgent_alone: bool = False,
        community_channel: str | None = None,
    ) -> None:
        self.community_channel = community_channel  # TELEGRAM_COMMUNITY_CHANNEL: community alerts posted there
        self.approvals = approvals  # ALERT_APPROVALS: 2, a second coordinator approves each alert
        self.urgent_alone = urgent_alone  # ALERT_URGENT_ONE_COORDINATOR: not urgent ones
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

    def needs_approval(self, kind: str) -> bool:
        """Whether an alert of this kind waits for a second coordinator."""
        return self.approvals >= 2 and not (kind == Kind.URGENT and self.urgent_alone)

    def _deliveries(
        self, kind: Kind, recipients: Sequence[Subscriber], when: datetime
    ) -> list[tuple[str, str, datetime]]:
        return [
            (s.channel, s.user_id, when if kind is Kind.URGENT else max(when, quiet_until(when, s, self.tz)))
            for s in recipients
        ]

    def posts_to_channel(self, audience: str, channels: Sequence[str]) -> bool:
        """Whether an alert for this audience is also posted to the Telegram community channel."""
        return self.community_channel is not None and audience != Audience.LEADERS and "telegram" in channels

    def _with_channel(
        self, audience: str, channels: Sequence[str], deliveries: list[tuple[str, str, datetime]], when: datetime
    ) -> list[tuple[str, str, datetime]]:
        if self.community_channel is not None and self.posts_to_channel(audience, channels):
            deliveries.append(("telegram", self.community_channel, when))  # a channel has no quiet hours
        return deliveries

    async def preview(
        self, audience: str, areas: Sequence[str], channels: Sequence[str], kind: str | None = None
    ) -> Preview:
        """Who an alert reaches (of `kind`: those who want that kind; urgent ones reach everyone)."""
        return Preview(tuple(await self.store.recipients(audience, areas, channels, kind)))

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
        escalate_after: timedelta | None = None,
    ) -> Alert:
        """Queue an alert for everyone it reaches, now or at `send_at`; audit it. `translations`:
        its text in other languages (code → text), for the recipients who chose them. With
        ALERT_APPROVALS=2 it is kept, queued for nobody, until another coordinator approves it."""
        kind_, audience_, body = self.check(kind, audience, text)
        translated = self.check_translations(translations or {})
        now = self.clock()
        when = send_at or now
        if when < now - timedelta(minutes=1):
            raise AlertError("at: that time has passed")
        if when > now + MAX_AHEAD:
            raise AlertError(f"at: that is more than {MAX_AHEAD.days} days ahead; check the date")
        awaiting = self.needs_approval(kind_)  # then queued for nobody yet: its recipients are counted
        deliveries: list[tuple[str, str, datetime]] = []
        by_channel: dict[str, int] = {}
        async for page in self.store.recipients_by_page(audience_, areas, channels, kind_):  # a page at a time
            if not awaiting:
                deliveries.extend(self._deliveries(kind_, page, when))
            for channel, count in Preview(tuple(page)).by_channel.items():
                by_channel[channel] = by_channel.get(channel, 0) + count
        if not by_channel:
            raise AlertError("nobody to send it to: no approved subscribers for that audience in those areas")
        if not awaiting:
            self._with_channel(audience_, channels, deliveries, when)
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
            "approval": "awaiting" if awaiting else None,
            "channels": list(channels),
            "total": sum(by_channel.values()) + self.posts_to_channel(audience_, channels),
            "escalate_after": int(escalate_after.total_seconds()) if escalate_after else None,
        }
        alert = await self.store.create_alert(fields, deliveries, now)
        details = {"reference": alert.reference, "kind": alert.kind, "audience": alert.audience, "areas": list(areas),
                   "recipients": by_channel, "send_at": when.isoformat(), "text": body,
                   **({"translations": translated} if translated else {})}  # fmt: skip
        await self.store.audit(created_by, "alert awaiting approval" if awaiting else "alert sent", details, now)
        return alert

    async def approve(self, alert: Alert, who: str) -> Alert:
        """A second coordinator approves an alert: it is queued for everyone it reaches now (at
        its time, or at once if that has passed); audited. Not by whoever composed it."""
        self._check_decision(alert, who)
        now = self.clock()
        when = max(alert.send_at, now)
        if alert.follows is not None:  # a correction or the all clear: to those who had the original by now
            original = await self.root(alert)
            recipients: Sequence[Subscriber] = await self.store.received(original)
            if not recipients:
                raise AlertError(f"nobody has received {original.reference}: there is nobody to send it to")
            deliveries = await self._follow_up_deliveries(
                original, FollowUp(alert.follow_up or FollowUp.CORRECTION), Kind(alert.kind), recipients, when
            )
        else:
            recipients = (await self.preview(alert.audience, alert.areas, alert.channels, alert.kind)).recipients
            if not recipients:
                raise AlertError("nobody to send it to now: no approved subscribers for that audience in those areas")
            deliveries = self._deliveries(Kind(alert.kind), recipients, when)
            self._with_channel(alert.audience, alert.channels, deliveries, when)
        decided = await self.store.decide(alert, True, who, now, deliveries, when)
        if decided is None:
            raise AlertError(f"{alert.reference} was decided meanwhile by another coordinator")
        details = {"reference": alert.reference, "composed_by": alert.created_by,
                   "recipients": Preview(tuple(recipients)).by_channel, "send_at": when.isoformat()}  # fmt: skip
        await self.store.audit(who, "alert approved", details, now)
        return decided

    async def refuse(self, alert: Alert, who: str, reason: str = "") -> Alert:
        """A second coordinator refuses an alert: it never goes; audited."""
        self._check_decision(alert, who)
        now = self.clock()
        decided = await self.store.decide(alert, False, who, now)
        if decided is None:
            raise AlertError(f"{alert.reference} was decided meanwhile by another coordinator")
        details = {
            "reference": alert.reference,
            "composed_by": alert.created_by,
            **({"reason": reason} if reason else {}),
        }
        await self.store.audit(who, "alert refused", details, now)
        return decided

    def _check_decision(self, alert: Alert, who: str) -> None:
        if alert.cancelled_at is not None:
            raise AlertError(f"{alert.reference} was withdrawn")
        if not alert.awaiting:
            state = {"approved": "was already approved", "refused": "was refused"}.get(alert.approval or "", "")
            raise AlertError(f"{alert.reference} {state or 'needs no approval'}")
        if who == alert.created_by:
            raise AlertError(f"{alert.reference}: another coordinator must approve it, not whoever composed it")

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
        recipients: Sequence[Subscriber] | None = None,
    ) -> Alert:
        """Queue a correction or the all clear for everyone who received `original` (or the alert
        it follows up), with its kind's priority and quiet hours; audit it. It carries the
        original's reference; its own (A-7K3Q-1, -2…) is for coordinators' commands. With
        ALERT_APPROVALS=2 it waits, as any alert does, for another coordinator (`approve` then
        sends it to those who had the original by then). A reminder (escalation) goes to the
        `recipients` given, at once: it repeats an alert already approved."""
        try:
            follow = FollowUp(kind)
        except ValueError:
            raise AlertError("kind: correction or all-clear") from None
        original = await self.root(original)
        kind_, _, body = self.check(original.kind, original.audience, text)
        translated = self.check_translations(translations or {})
        if recipients is None:
            recipients = await self.store.received(original)
        if not recipients:
            raise AlertError(
                f"nobody has received {original.reference} yet: withdraw it instead (it never reaches anyone)"
            )
        now = self.clock()
        awaiting = follow is not FollowUp.REMINDER and self.needs_approval(kind_)
        deliveries = await self._follow_up_deliveries(original, follow, kind_, recipients, now)
        fields = {
            "reference": None,  # numbered on from the original's as it is written: A-7K3Q-1, -2…
            "numbered_after": original.reference,
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
            "approval": "awaiting" if awaiting else None,
            "total": len(deliveries),
        }
        alert = await self.store.create_alert(fields, () if awaiting else deliveries, now)
        counts = Preview(tuple(recipients)).by_channel
        details = {"reference": alert.reference, "follows": original.reference, "recipients": counts, "text": body,
                   **({"translations": translated} if translated else {})}  # fmt: skip
        action = {FollowUp.CORRECTION: "correction", FollowUp.ALL_CLEAR: "all clear"}.get(follow, "reminder")
        await self.store.audit(created_by, f"{action} {'awaiting approval' if awaiting else 'sent'}", details, now)
        return alert

    async def _follow_up_deliveries(
        self, original: Alert, follow: FollowUp, kind: Kind, recipients: Sequence[Subscriber], when: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Who a follow-up goes to: the `recipients`, and the community channel if the original
        was posted there (corrected where it was read), but not for a reminder."""
        deliveries = self._deliveries(kind, recipients, when)
        if follow is not FollowUp.REMINDER and self.community_channel is not None:
            if await self.store.was_sent_to(original, "telegram", self.community_channel):
                deliveries.append(("telegram", self.community_channel, when))
        return deliveries
