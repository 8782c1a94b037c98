"""Training sessions: what coordinators enter, seats and the waiting list, offers, reminders,
and calendar entries.

Times are stored in UTC and entered and shown in TIMEZONE (Europe/London by default), so a
session at 10:00 is at 10:00 on the clock on the wall either side of the clocks changing. Messages
the bot owes people (a seat offered, a reminder, a session moved or cancelled) are queued in the
database and sent by `safetybot run`, so they are queued once, survive restarts, and can come from
the CLI. A session that moves keeps its calendar entries' UID and raises their SEQUENCE, so
people's calendar apps update the event they have.

    TrainingError         bad input or an impossible action; the message says what to fix
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot import dates
from bot.content import Copy
from bot.dates import parse_local
from bot.messages import Choice, Document, Reply, notice_body
from bot.render import escape_markdown, in_language
from bot.store import Database, Registration, StoreError, TrainingSession

logger = logging.getLogger(__name__)

MAX_CAPACITY = 5000
MAX_SEATS = 5  # seats one registration may take
REQUIRED = ("title", "venue", "address", "borough", "starts", "ends", "capacity")
OPTIONAL = ("provider", "description", "topics")
LIMITS = {"title": 120, "provider": 120, "venue": 120, "address": 200, "borough": 60, "description": 1000}


MOVES = ("starts_at", "ends_at", "venue", "address")  # changes that people booked or waiting are told of
TOLD = ("confirmed", "waiting", "offered")  # the registrations told when a session moves
NEAR_BOROUGH = 0.6  # how alike a typed borough and a known one must be for "did you mean"


class TrainingError(Exception):
    """Bad input or an impossible action; the message says what to fix."""


# --- times -------------------------------------------------------------------------------------
def local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def when(session: TrainingSession, tz: ZoneInfo) -> str:
    """The session's date and times as people read them: "Sat 5 Dec 2026, 10:00–13:00"."""
    return dates.span(session.starts_at, session.ends_at, tz)


# --- what coordinators enter -------------------------------------------------------------------
def validate_session(
    raw: Mapping[str, object],
    tz: ZoneInfo,
    now: datetime,
    *,
    partial: bool = False,
    current: TrainingSession | None = None,
    boroughs: Sequence[str] = (),
) -> dict[str, Any]:
    """Check a session's fields; return them ready to store, or raise TrainingError naming each
    problem. `boroughs`: the known ones (content/boroughs.yaml); the borough must be one of them."""
    problems: list[str] = []
    fields: dict[str, Any] = {}
    known = set(REQUIRED) | set(OPTIONAL)
    for name in raw:
        if name not in known:
            problems.append(f"{name}: not a session field (use {', '.join(REQUIRED + OPTIONAL)})")
    if not partial:
        for name in REQUIRED:
            if raw.get(name) in (None, ""):
                problems.append(f"{name}: missing")
    for name, limit in LIMITS.items():
        if raw.get(name) not in (None, ""):
            value = " ".join(str(raw[name]).split())
            if len(value) > limit:
                problems.append(f"{name}: longer than {limit} characters")
            fields[name] = value
    if boroughs and "borough" in fields:
        try:
            fields["borough"] = match_borough(fields["borough"], boroughs)
        except TrainingError as exc:
            problems.append(str(exc))
    if "topics" in raw and raw["topics"] not in (None, ""):
        topics = raw["topics"]
        items = topics if isinstance(topics, list | tuple) else str(topics).split(";")
        fields["topics"] = [" ".join(str(t).split()) for t in items if str(t).strip()]
    for name in ("starts", "ends"):
        if raw.get(name) not in (None, ""):
            try:
                fields[f"{name}_at"] = parse_local(raw[name], tz, name)
            except ValueError as exc:
                problems.append(str(exc))
    starts = fields.get("starts_at", current.starts_at if current else None)
    ends = fields.get("ends_at", current.ends_at if current else None)
    if "starts_at" in fields and starts is not None and starts <= now:
        problems.append(f"starts: {dates.friendly(starts, tz)} is in the past")
    if starts is not None and ends is not None and ends <= starts:
        problems.append("ends: must be after the start")
    if raw.get("capacity") not in (None, ""):
        try:
            capacity = int(str(raw["capacity"]).strip())
        except ValueError:
            problems.append(f"capacity: {raw['capacity']!r} is not a whole number")
        else:
            if not 1 <= capacity <= MAX_CAPACITY:
                problems.append(f"capacity: must be between 1 and {MAX_CAPACITY}")
            fields["capacity"] = capacity
    if problems:
        raise TrainingError("; ".join(problems))
    return fields


def match_borough(typed: str, known: Sequence[str]) -> str:
    """The borough as content/boroughs.yaml spells it, whatever the case; for a typo, an error
    that suggests the nearest one ("did you mean Newham?")."""
    by_name = {name.casefold(): name for name in known}
    if typed.casefold() in by_name:
        return by_name[typed.casefold()]
    near = process.extractOne(typed, known, scorer=Levenshtein.normalized_similarity, processor=str.casefold,
                              score_cutoff=NEAR_BOROUGH)  # fmt: skip
    hint = f"; did you mean {near[0]}?" if near else " (the list is in content/boroughs.yaml)"
    raise TrainingError(f"borough: {typed!r} is not a London borough{hint}")


def parse_seats(value: object, most: int = MAX_SEATS) -> int:
    """A number of seats between 1 and `most`."""
    try:
        seats = int(str(value).strip())
    except ValueError:
        raise TrainingError(f"seats: {value!r} is not a number") from None
    if not 1 <= seats <= most:
        raise TrainingError(f"seats: choose between 1 and {most}")
    return seats


# --- calendar ----------------------------------------------------------------------------------
def calendar(session: TrainingSession, registration: Registration, tz: ZoneInfo, now: datetime) -> bytes:
    """An iCalendar file for one registration, with the session's time zone. Its UID stays the
    same for the booking and its SEQUENCE is the session's, so a newer file updates the old event."""
    cal = Calendar()
    cal.add("prodid", "-//Faith Safety Bot//training sessions//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"training-{session.id}-registration-{registration.id}@faith-safety-bot")
    event.add("summary", session.title)
    event.add("dtstart", local(session.starts_at, tz))
    event.add("dtend", local(session.ends_at, tz))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("sequence", session.sequence)
    event.add("location", f"{session.venue}, {session.address}")
    details = [session.description, f"Provider: {session.provider}" if session.provider else ""]
    details.append(f"Seats: {registration.seats}")
    event.add("description", "\n".join(d for d in details if d))
    if session.status == "cancelled" or registration.status == "cancelled":
        event.add("status", "CANCELLED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


# --- registration and what follows ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Person:
    """Who is registering (channel and user id say where to reach them)."""

    channel: str
    user_id: str
    name: str
    organisation: str
    role: str
    seats: int
    accessibility: str = ""


class Training:
    """Sessions, registrations and the messages they cause."""

    def __init__(
        self,
        db: Database,
        copy: Copy,
        tz: ZoneInfo,
        *,
        clock: Callable[[], datetime],
        offer_for: timedelta = timedelta(hours=24),
        reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2)),
        boroughs: Sequence[str] = (),
    ) -> None:
        self.db = db
        self.copy = copy
        self.tz = tz
        self.clock = clock
        self.offer_for = offer_for
        self.reminders = tuple(sorted(reminders, reverse=True))
        self.boroughs = tuple(boroughs)  # content/boroughs.yaml: a session's borough is one of them

    def check(self, raw: Mapping[str, object], **options: Any) -> dict[str, Any]:
        """A session's fields checked against the rules and the known boroughs (validate_session)."""
        return validate_session(raw, self.tz, self.clock(), boroughs=self.boroughs, **options)

    async def add(self, raw: Mapping[str, object]) -> int:
        """Create a session from coordinator input."""
        return await self.db.add_session(self.check(raw), self.clock())

    async def import_sessions(self, items: Sequence[object]) -> tuple[list[int], list[int]]:
        """Add a programme's sessions, all or none, skipping those already there (the same title
        and venue at the same start): importing one file twice adds nothing the second time.
        Returns the ids added and the ids already there."""
        problems: list[str] = []
        ready: list[dict[str, Any]] = []
        seen: dict[tuple[str, str, datetime], int] = {}  # a session's identity → where it is in the file
        for number, item in enumerate(items, 1):
            if not isinstance(item, dict):
                problems.append(f"session {number}: expected fields like title, venue, starts")
                continue
            try:
                fields = self.check({k: v for k, v in item.items() if v is not None})
            except TrainingError as exc:
                problems.append(f"session {number} ({item.get('title', 'no title')}): {exc}")
                continue
            same = (fields["title"].casefold(), fields["venue"].casefold(), fields["starts_at"])
            if same in seen:
                problems.append(f"session {number} ({fields['title']}): the same as session {seen[same]}"
                                " (title, venue and start)")  # fmt: skip
                continue
            seen[same] = number
            ready.append(fields)
        if problems:
            raise TrainingError("nothing imported:\n  " + "\n  ".join(problems))
        return await self.db.add_new_sessions(ready, self.clock())

    async def edit(self, session_id: int, raw: Mapping[str, object]) -> tuple[TrainingSession, int]:
        """Change some fields of a session; more capacity offers seats to the waiting list. A new
        time, venue or address is told to everyone booked or waiting, with the booked getting an
        updated calendar entry. Returns the session as it is now and how many are told."""
        current = await self.get(session_id)
        if current.status == "cancelled":
            raise TrainingError(f"session {session_id} is cancelled (add a new one instead)")
        fields = self.check(raw, partial=True, current=current)
        if not fields:
            raise TrainingError("nothing to change")
        moved = any(name in fields and fields[name] != getattr(current, name) for name in MOVES)
        try:
            await self.db.update_session(session_id, fields, self.clock(), moved=moved)
        except StoreError as exc:
            raise TrainingError(str(exc)) from None
        await self._offer_free_seats(session_id)
        session = await self.get(session_id)
        return session, (await self._tell_moved(current, session) if moved else 0)

    async def get(self, session_id: int) -> TrainingSession:
        session = await self.db.session(session_id)
        if session is None:
            raise TrainingError(f"there is no session {session_id}")
        return session

    async def upcoming(self) -> list[TrainingSession]:
        """Scheduled sessions that have not started, soonest first."""
        return await self.db.sessions(after=self.clock(), scheduled_only=True)

    async def cancel(self, session_id: int) -> int:
        """Cancel a session and tell everyone booked, waiting or already checked in; return how
        many registrations that is."""
        session = await self.get(session_id)
        if session.status == "cancelled":
            raise TrainingError(f"session {session_id} is already cancelled")
        affected = await self.db.cancel_session(session_id, self.clock())

        def word() -> Reply:
            text = self.copy.format("training_session_cancelled", title=session.title, when=when(session, self.tz))
            return Reply(text)

        for registration in affected:
            await self._tell(f"cancelled:{session_id}:{registration.id}", registration, word)
        return len(affected)

    async def to_tell(self, session_id: int) -> int:
        """How many registrations cancelling the session would tell (as `cancel` counts them)."""
        return sum(r.status in (*TOLD, "attended") for r in await self.db.attendees(session_id))

    async def register(self, session_id: int, person: Person) -> tuple[Registration, bool]:
        """Take seats or join the waiting list; (registration, False) if they already had one."""
        session = await self.get(session_id)
        if person.seats > session.capacity:
            raise TrainingError(f"seats: this session has {session.capacity} seats in all")
        fields = {
            "channel": person.channel,
            "user_id": person.user_id,
            "name": person.name,
            "organisation": person.organisation,
            "role": person.role,
            "seats": person.seats,
            "accessibility": person.accessibility,
            "calendar_token": secrets.token_urlsafe(24),
        }
        try:
            return await self.db.register(session_id, fields, self.clock())
        except StoreError as exc:
            raise TrainingError(str(exc)) from None

    async def waiting_position(self, registration: Registration) -> int:
        """Where a waiting registration is on the list: 1 is next for a free seat."""
        return await self.db.waiting_position(registration)

    async def cancel_registration(self, registration_id: int) -> Registration:
        """Free a registration's seats (or place on the waiting list) and offer them on."""
        registration = await self.db.registration(registration_id)
        if registration is None:
            raise TrainingError(f"there is no registration {registration_id}")
        changed = await self.db.set_registration_status(
            registration_id, "cancelled", self.clock(), expect=("confirmed", "waiting", "offered")
        )
        if not changed:
            raise TrainingError("that registration is not active")
        await self._offer_free_seats(registration.session_id)
        return registration

    async def accept_offer(self, registration_id: int) -> bool:
        """The person takes the seat offered to them; False if the offer had lapsed."""
        return await self.db.set_registration_status(registration_id, "confirmed", self.clock(), expect=("offered",))

    async def check_in(self, registration_id: int, *, undo: bool = False) -> Registration:
        """Mark a booked registration as attended (`undo`: back to booked), on the session's day
        only (its local date in TIMEZONE): a check-in weeks early is a slip, not attendance."""
        registration = await self.db.registration(registration_id)
        if registration is None:
            raise TrainingError(f"there is no registration {registration_id}")
        self.on_the_day(await self.get(registration.session_id))
        before, after = ("attended", "confirmed") if undo else ("confirmed", "attended")
        if not await self.db.set_registration_status(registration_id, after, self.clock(), expect=(before,)):
            raise TrainingError("only someone checked in can have it undone" if undo
                                else "only a booked (confirmed) registration can be checked in")  # fmt: skip
        changed = await self.db.registration(registration_id)
        assert changed is not None
        return changed

    def is_the_day(self, session: TrainingSession) -> bool:
        """Whether today (in TIMEZONE) is a day the session runs."""
        today = self.clock().astimezone(self.tz).date()
        return session.starts_at.astimezone(self.tz).date() <= today <= session.ends_at.astimezone(self.tz).date()

    def on_the_day(self, session: TrainingSession) -> None:
        """Refuse, saying why, unless people can be checked in to the session today."""
        if session.status == "cancelled":
            raise TrainingError(f"session {session.id} is cancelled")
        if not self.is_the_day(session):
            raise TrainingError(
                f"check-in is only on the day of the session ({dates.day(session.starts_at, self.tz)});"
                f" today is {dates.day(self.clock(), self.tz)}"
            )

    async def _offer_free_seats(self, session_id: int) -> None:
        for registration in await self.db.promote(session_id, self.clock(), self.offer_for):
            session = await self.get(session_id)
            until = registration.offered_until
            assert until is not None

            def word(
                session: TrainingSession = session, registration: Registration = registration, until: datetime = until
            ) -> Reply:
                text = self.copy.format(
                    "training_offer",
                    title=session.title,
                    when=when(session, self.tz),
                    seats=self.copy.count("seats_count", registration.seats),
                    until=dates.friendly(until, self.tz),
                )
                choices = (
                    Choice(f"trn-accept:{registration.id}", self.copy["training_accept"]),
                    Choice(f"trn-decline:{registration.id}", self.copy["training_decline"]),
                )
                return Reply(text, choices)

            await self._tell(f"offer:{registration.id}:{until.isoformat()}", registration, word)

    async def _tell_moved(self, before: TrainingSession, after: TrainingSession) -> int:
        """Tell everyone booked or waiting what changed, old and new; the booked get the updated
        calendar entry. Reminders queued with the old details and not yet sent are withdrawn."""

        def word(registration: Registration) -> Reply:
            changes = []
            if (before.starts_at, before.ends_at) != (after.starts_at, after.ends_at):
                old, new = when(before, self.tz), when(after, self.tz)
                changes.append(self.copy.format("training_moved_when", old=old, new=new))
            if (before.venue, before.address) != (after.venue, after.address):
                old, new = (escape_markdown(f"{s.venue}, {s.address}") for s in (before, after))
                changes.append(self.copy.format("training_moved_where", old=old, new=new))
            text = self.copy.format(
                "training_session_moved" if registration.status == "confirmed" else "training_session_moved_waiting",
                title=escape_markdown(after.title),
                changes="\n".join(changes),
                seats=self.copy.count("seats_count", registration.seats),
                status=self.copy[f"training_status_{registration.status}"],
            )
            return Reply(text)

        people = [r for r in await self.db.attendees(after.id) if r.status in TOLD]
        for registration in people:
            await self.db.withdraw_notifications(reminder_key(lead, registration, before) for lead in self.reminders)
            key = f"moved:{after.id}:{registration.id}:{after.sequence}"
            booked = registration.status == "confirmed"
            await self._tell(key, registration, functools.partial(word, registration), with_calendar=booked)
        return len(people)

    def document(self, session: TrainingSession, registration: Registration) -> Document:
        """A booking's calendar entry as a file to send (one file per booking: in the console, the
        next person's booking must not overwrite it, and an updated one replaces it)."""
        content = calendar(session, registration, self.tz, self.clock())
        return Document(f"training-{session.id}-{registration.id}.ics", content, "text/calendar",
                        registration.calendar_token)  # fmt: skip

    async def calendar_document(self, registration_id: int) -> Document | None:
        """The calendar entry a queued notice carries, as the booking is when it is sent (None
        if the booking has gone)."""
        registration = await self.db.registration(registration_id)
        if registration is None or registration.channel == "deleted":
            return None
        session = await self.db.session(registration.session_id)
        return self.document(session, registration) if session else None

    async def calendar_file(self, token: str) -> bytes | None:
        """The calendar entry behind an unguessable link, or None."""
        if len(token) < 16:
            return None
        registration = await self.db.registration_by_token(token)
        if registration is None:
            return None
        session = await self.db.session(registration.session_id)
        return calendar(session, registration, self.tz, self.clock()) if session else None

    async def run_due(self) -> None:
        """Pass on lapsed offers and queue the reminders that are due (each once per version of
        the session: one that moves gets its reminders again, for the new time)."""
        now = self.clock()
        for lapsed in await self.db.expired_offers(now):
            if await self.db.set_registration_status(lapsed.id, "cancelled", now, expect=("offered",)):
                session = await self.get(lapsed.session_id)

                def lapsed_notice(title: str = session.title) -> Reply:
                    return Reply(self.copy.format("training_offer_lapsed", title=title))

                await self._tell(f"offer-lapsed:{lapsed.id}", lapsed, lapsed_notice)
                await self._offer_free_seats(lapsed.session_id)
        for lead in self.reminders:
            shorter = [other for other in self.reminders if other < lead]
            for registration, session in await self.db.due_reminders(now, lead):
                if registration.created_at > session.starts_at - lead:
                    continue  # they registered after this reminder's time: the confirmation will do
                if session.moved_at is not None and session.moved_at > session.starts_at - lead:
                    continue  # it moved after this reminder's time: the notice of the change will do
                if any(now >= session.starts_at - other for other in shorter):
                    continue  # a later reminder is due already: send that one instead

                def reminder(session: TrainingSession = session, registration: Registration = registration) -> Reply:
                    text = self.copy.format(
                        "training_reminder",
                        title=session.title,
                        when=when(session, self.tz),
                        venue=session.venue,
                        address=session.address,
                        seats=self.copy.count("seats_count", registration.seats),
                    )
                    return Reply(text)

                await self._tell(reminder_key(lead, registration, session), registration, reminder)

    async def _tell(
        self, key: str, registration: Registration, word: Callable[[], Reply], *, with_calendar: bool = False
    ) -> None:
        """Queue a notice for the person, worded (`word`) in the language they chose;
        `with_calendar`: the notifier attaches their calendar entry, built as the booking is when it goes."""
        if registration.channel in ("phone", "deleted"):
            return  # registered by a coordinator after a phone call: they tell the person
        with self.copy.speaking(await self.db.language_of(registration.channel, registration.user_id)) as voice:
            reply = in_language(word(), voice, self.copy)
        body = {**notice_body(reply), **({"calendar": registration.id} if with_calendar else {})}
        if await self.db.notify(key, registration.channel, registration.user_id, body, self.clock()):
            logger.info("training: queued %s", key.split(":", 1)[0])


def reminder_key(lead: timedelta, registration: Registration, session: TrainingSession) -> str:
    """A reminder's notification key: one per lead time, booking and version of the session (the
    first version keeps the key reminders always had, so none already sent is sent again)."""
    key = f"reminder:{int(lead.total_seconds() // 3600)}h:{registration.id}"
    return f"{key}:v{session.sequence}" if session.sequence else key
