"""Training sessions: times across the clock changes, seats never overbooked, the waiting list,
offers, reminders once each, calendar entries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.content import Content
from bot.dates import parse_local
from bot.store import Database
from bot.training import Person, Training, TrainingError, calendar, when
from tests.conftest import FakeClock

LONDON = ZoneInfo("Europe/London")


def session_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "title": "Keeping our mosque safe",
        "venue": "Al Manaar",
        "address": "244 Acklam Road, London W10 5YG",
        "borough": "Kensington and Chelsea",
        "starts": "2026-12-05T10:00",
        "ends": "2026-12-05T13:00",
        "capacity": 30,
        "provider": "Faith Associates",
    }
    fields.update(overrides)
    return fields


def person(n: int, seats: int = 1, channel: str = "telegram") -> Person:
    return Person(channel, str(1000 + n), f"Person {n}", "Masjid", "Volunteer", seats)


async def queued(db: Database) -> list[tuple[str, str, str]]:
    rows = (await db.scan())["notifications"]
    return [(row[1].split(":")[0], row[2], row[3]) for row in rows]


@pytest.mark.parametrize(
    ("local", "utc_hour"),
    [("2027-10-30T10:00", 9), ("2027-11-06T10:00", 10), ("2028-03-25T10:00", 10), ("2028-04-01T10:00", 9)],
)
async def test_times_are_right_either_side_of_the_clocks_changing(
    training: Training, local: str, utc_hour: int
) -> None:
    ends = local.replace("10:00", "12:00")
    session = await training.get(await training.add(session_fields(starts=local, ends=ends)))
    assert session.starts_at.tzinfo is not None and session.starts_at.astimezone(UTC).hour == utc_hour
    assert "10:00–12:00" in when(session, LONDON)


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        parse_local("2027-03-28T01:30", LONDON, "starts")
    assert parse_local("2026-10-25T01:30", LONDON, "starts").hour in (0, 1)  # happens twice: accepted


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"starts": "2026-01-01T10:00", "ends": "2026-01-01T12:00"}, "in the past"),
        ({"ends": "2026-12-05T09:00"}, "must be after the start"),
        ({"capacity": 0}, "between 1 and 5000"),
        ({"capacity": 10_000_000}, "between 1 and 5000"),
        ({"capacity": "lots"}, "not a whole number"),
        ({"starts": "next friday"}, "not a date and time"),
        ({"venue": ""}, "venue: missing"),
    ],
)
async def test_bad_sessions_are_refused_with_a_clear_message(
    training: Training, db: Database, overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TrainingError, match=problem):
        await training.add(session_fields(**overrides))
    assert await db.sessions() == []


async def test_200_people_at_once_for_30_seats(training: Training, tmp_path: Path, clock: FakeClock) -> None:
    """Separate connections and tasks: exactly 30 seats go, the rest wait in arrival order."""
    session_id = await training.add(session_fields(capacity=30))
    connections = [await Database.open(tmp_path / "bot.db") for _ in range(4)]
    try:
        trainings = [Training(db, training.copy, LONDON, clock=clock) for db in connections]
        await asyncio.gather(*(trainings[n % 4].register(session_id, person(n)) for n in range(200)))
    finally:
        for connection in connections:
            await connection.close()
    everyone = await training.db.attendees(session_id)
    confirmed = [r for r in everyone if r.status == "confirmed"]
    waiting = [r for r in everyone if r.status == "waiting"]
    assert len(everyone) == 200 and len(confirmed) == 30 and len(waiting) == 170
    assert max(r.id for r in confirmed) < min(r.id for r in waiting)  # first come, first served
    assert (await training.get(session_id)).taken == 30


async def test_a_repeat_registration_changes_nothing(training: Training) -> None:
    session_id = await training.add(session_fields())
    first, new = await training.register(session_id, person(1))
    again, new_again = await training.register(session_id, person(1, seats=3))
    assert new and not new_again and again.id == first.id and again.seats == 1


async def test_cancellations_offer_seats_in_order_and_none_are_lost(
    training: Training, db: Database, clock: FakeClock
) -> None:
    session_id = await training.add(session_fields(capacity=3))
    people = [(await training.register(session_id, person(n)))[0] for n in range(6)]
    await training.cancel_registration(people[0].id)
    await training.cancel_registration(people[1].id)
    offered = [r for r in await db.attendees(session_id) if r.status == "offered"]
    assert [r.id for r in offered] == [people[3].id, people[4].id]
    assert (await training.get(session_id)).taken == 3
    assert [(kind, channel, user) for kind, channel, user in await queued(db)] == [
        ("offer", "telegram", "1003"),
        ("offer", "telegram", "1004"),
    ]
    assert await training.accept_offer(people[3].id)
    clock.advance(hours=25)  # person 4 never answers: the seat passes on
    await training.run_due()
    statuses = {r.id: r.status for r in await db.attendees(session_id)}
    assert statuses[people[3].id] == "confirmed"
    assert statuses[people[4].id] == "cancelled" and statuses[people[5].id] == "offered"
    assert (await training.get(session_id)).taken == 3


async def test_the_next_person_who_fits_gets_the_offer(training: Training, db: Database) -> None:
    session_id = await training.add(session_fields(capacity=4))
    holder = (await training.register(session_id, person(0, seats=2)))[0]
    await training.register(session_id, person(1, seats=2))
    big = (await training.register(session_id, person(2, seats=3)))[0]
    small = (await training.register(session_id, person(3, seats=2)))[0]
    await training.cancel_registration(holder.id)
    statuses = {r.id: r.status for r in await db.attendees(session_id)}
    assert statuses[big.id] == "waiting" and statuses[small.id] == "offered"


async def test_reminders_go_once_each_even_after_a_restart(
    training: Training, db: Database, content: Content, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    session_id = await training.add(session_fields(starts="2026-12-05T10:00", ends="2026-12-05T13:00"))
    await training.register(session_id, person(1))
    await training.run_due()
    assert await queued(db) == []
    clock.now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)  # under 24 hours before
    await training.run_due()
    await training.run_due()
    restarted = Training(db, content.copy, LONDON, clock=clock)
    await restarted.run_due()
    assert await queued(db) == [("reminder", "telegram", "1001")]
    clock.now = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)  # under 2 hours before
    await restarted.run_due()
    await training.run_due()
    assert [kind for kind, *_ in await queued(db)] == ["reminder", "reminder"]
    keys = [row[1] for row in (await db.scan())["notifications"]]
    assert keys == ["reminder:24h:1", "reminder:2h:1"]


async def test_late_bookers_get_only_the_reminders_still_ahead(
    training: Training, db: Database, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # ten hours before
    session_id = await training.add(session_fields())
    await training.register(session_id, person(1))
    await training.run_due()
    assert await queued(db) == []
    clock.now = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    await training.run_due()
    assert [row[1] for row in (await db.scan())["notifications"]] == ["reminder:2h:1"]


async def test_cancelling_a_session_tells_everyone_booked_or_waiting(training: Training, db: Database) -> None:
    session_id = await training.add(session_fields(capacity=1))
    await training.register(session_id, person(1))
    await training.register(session_id, person(2))
    await training.register(session_id, person(3, channel="phone"))  # a coordinator phones them
    assert await training.cancel(session_id) == 3
    assert [(kind, user) for kind, _, user in await queued(db)] == [("cancelled", "1001"), ("cancelled", "1002")]
    assert all(r.status == "cancelled" for r in await db.attendees(session_id))
    with pytest.raises(TrainingError, match="not open"):
        await training.register(session_id, person(4))


async def test_capacity_can_grow_but_not_below_the_seats_taken(training: Training, db: Database) -> None:
    session_id = await training.add(session_fields(capacity=2))
    for n in range(3):
        await training.register(session_id, person(n))
    with pytest.raises(TrainingError, match="below the 2 seats"):
        await training.edit(session_id, {"capacity": 1})
    await training.edit(session_id, {"capacity": 3})
    assert [r.status for r in await db.attendees(session_id)] == ["confirmed", "confirmed", "offered"]


async def test_the_calendar_entry_round_trips(training: Training, clock: FakeClock) -> None:
    session_id = await training.add(session_fields(starts="2027-03-27T18:30", ends="2027-03-27T20:00"))
    session = await training.get(session_id)
    registration, _ = await training.register(session_id, person(1, seats=2))
    parsed = Calendar.from_ical(calendar(session, registration, LONDON, clock()))
    [event] = parsed.walk("VEVENT")
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert str(start.tzinfo) == "Europe/London" and start == session.starts_at and end == session.ends_at
    assert (start.hour, start.minute) == (18, 30)
    assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/London"]
    assert event["summary"] == "Keeping our mosque safe" and "244 Acklam Road" in event["location"]
    assert await training.calendar_file(registration.calendar_token) is not None
    assert await training.calendar_file("not-the-token-at-all") is None


async def test_a_session_that_moves_gets_its_reminders_for_the_new_time_only(
    training: Training, db: Database, clock: FakeClock
) -> None:
    session_id = await training.add(session_fields())  # Sat 5 Dec, 10:00
    await training.register(session_id, person(1))
    clock.now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)  # under 24 hours before
    await training.run_due()
    assert [row[1] for row in (await db.scan())["notifications"]] == ["reminder:24h:1"]
    [sent] = await db.claim_notifications(["telegram"], clock(), timedelta(minutes=5))
    await db.finish_notification(sent.id, "sent", clock())  # the reminder for the old time went
    clock.advance(minutes=10)
    session, told = await training.edit(session_id, {"starts": "2026-12-12T10:00", "ends": "2026-12-12T13:00"})
    assert told == 1 and session.sequence == 1
    await training.run_due()  # the old time's 2-hour reminder is never due; the new time's not yet
    assert [row[1] for row in (await db.scan())["notifications"]] == ["reminder:24h:1", f"moved:{session_id}:1:1"]
    clock.now = datetime(2026, 12, 11, 10, 30, tzinfo=UTC)
    await training.run_due()
    keys = [row[1] for row in (await db.scan())["notifications"]]
    assert keys[-1] == "reminder:24h:1:v1"  # for the new time, once
    await training.run_due()
    assert [row[1] for row in (await db.scan())["notifications"]] == keys


async def test_a_move_withdraws_unsent_reminders_and_none_follows_it_at_once(
    training: Training, db: Database, clock: FakeClock
) -> None:
    session_id = await training.add(session_fields())
    await training.register(session_id, person(1))
    clock.now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)
    await training.run_due()  # queued, not yet sent, with the old venue
    await training.edit(session_id, {"venue": "Ilford Hall", "address": "1 High Road, Ilford"})
    assert [row[1] for row in (await db.scan())["notifications"]] == [f"moved:{session_id}:1:1"]
    await training.run_due()  # the notice of the change did this reminder's work
    assert len((await db.scan())["notifications"]) == 1
    clock.now = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    await training.run_due()
    [*_, last] = (await db.scan())["notifications"]
    assert last[1] == "reminder:2h:1:v1" and "Ilford Hall" in last[4]


async def test_changes_nobody_needs_to_know_tell_nobody(training: Training, db: Database) -> None:
    session_id = await training.add(session_fields())
    await training.register(session_id, person(1))
    _, told = await training.edit(session_id, {"description": "Bring a notebook", "capacity": 40})
    same, told_again = await training.edit(session_id, {"starts": "2026-12-05T10:00", "venue": "Al Manaar"})
    assert told == told_again == 0 and same.sequence == 0
    assert await queued(db) == []


async def test_moved_notices_carry_the_booking_and_the_calendar_keeps_its_uid(
    training: Training, db: Database, clock: FakeClock
) -> None:
    session_id = await training.add(session_fields(capacity=1))
    booked, _ = await training.register(session_id, person(1))
    waiting, _ = await training.register(session_id, person(2))
    before = Calendar.from_ical(calendar(await training.get(session_id), booked, LONDON, clock()))
    await training.edit(session_id, {"address": "246 Acklam Road, London W10 5YG"})
    notes = await db.pending_notifications(["telegram"])
    assert [(n.user_id, n.body.get("calendar")) for n in notes] == [("1001", booked.id), ("1002", None)]
    document = await training.calendar_document(booked.id)
    assert document is not None and document.token == booked.calendar_token
    [old], [new] = before.walk("VEVENT"), Calendar.from_ical(document.content).walk("VEVENT")
    assert new["uid"] == old["uid"] and (old["sequence"], new["sequence"]) == (0, 1)
    assert "246 Acklam Road" in new["location"]
    await training.cancel(session_id)
    cancelled = await training.calendar_file(booked.calendar_token)
    assert cancelled is not None
    [event] = Calendar.from_ical(cancelled).walk("VEVENT")
    assert event["status"] == "CANCELLED" and event["sequence"] == 2
    assert waiting.status == "waiting"


async def test_someone_checked_in_is_told_when_the_session_is_cancelled(
    training: Training, db: Database, clock: FakeClock
) -> None:
    session_id = await training.add(session_fields())
    here, _ = await training.register(session_id, person(1))
    await training.register(session_id, person(2))
    clock.now = datetime(2026, 12, 5, 9, 45, tzinfo=UTC)
    await training.check_in(here.id)
    assert await training.to_tell(session_id) == 2
    assert await training.cancel(session_id) == 2
    assert [(kind, user) for kind, _, user in await queued(db)] == [("cancelled", "1001"), ("cancelled", "1002")]
    assert (await db.registration(here.id)).status == "attended"  # type: ignore[union-attr]  # still on record


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (datetime(2026, 12, 4, 23, 59, tzinfo=UTC), False),
        (datetime(2026, 12, 5, 0, 0, tzinfo=UTC), True),  # midnight in London: the day has begun
        (datetime(2026, 12, 5, 18, 0, tzinfo=UTC), True),  # after the session, the same day
        (datetime(2026, 12, 6, 0, 0, tzinfo=UTC), False),
    ],
)
async def test_check_in_is_on_the_sessions_local_day_only(
    training: Training, clock: FakeClock, moment: datetime, allowed: bool
) -> None:
    session_id = await training.add(session_fields())
    booked, _ = await training.register(session_id, person(1))
    clock.now = moment
    if allowed:
        assert (await training.check_in(booked.id)).status == "attended"
        assert (await training.check_in(booked.id, undo=True)).status == "confirmed"
    else:
        with pytest.raises(TrainingError, match=r"only on the day of the session \(Sat 5 Dec 2026\)"):
            await training.check_in(booked.id)


async def test_boroughs_are_the_known_ones(training: Training, db: Database) -> None:
    with pytest.raises(TrainingError, match="'Newhm' is not a London borough; did you mean Newham"):
        await training.add(session_fields(borough="Newhm"))
    with pytest.raises(TrainingError, match=r"'Atlantis' is not a London borough \(the list is in content"):
        await training.add(session_fields(borough="Atlantis"))
    assert await db.sessions() == []
    session = await training.get(await training.add(session_fields(borough="  tower   hamlets ")))
    assert session.borough == "Tower Hamlets"
