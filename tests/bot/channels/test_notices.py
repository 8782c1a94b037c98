"""Queued notices through the real Telegram client and the fake Bot API, under faults: retried with
backoff for hours until delivered, ended only for a permanent reason, sent once however many
processes share the database, and a reply that could not go is queued, not dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import telegram_options
from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.notify import GIVE_UP_AFTER, Notifier, retry_delay
from bot.store import Database
from tests.bot.channels.conftest import WhatsApp, telegram_settings
from tests.conftest import FakeClock, eventually
from tests.fakes.telegram_api import FakeBotApi, private_message

HELP = {"text": "Need help: Amina, Masjid Al-Huda (A-7K3Q)", "choices": []}
ATTEMPTS = 4  # the Telegram channel's own quick retries within one try


def status_of(rows: list[tuple[object, ...]], key: str) -> tuple[object, ...]:
    return next(row for row in rows if row[1] == key)


async def call_for_help(db: Database, clock: FakeClock, delivery: int, channel: str, coordinator: str) -> None:
    """A leader's call for help about alert delivery `delivery`, queued for one coordinator."""
    await db.set_coordinator(channel, coordinator, True, clock())
    await db.notify(f"need-help:{delivery}:{channel}:{coordinator}", channel, coordinator, HELP, clock(),
                    coordinators_only=True)  # fmt: skip


async def notices(db: Database) -> list[tuple[object, ...]]:
    return await db.query("SELECT id, key, status, attempts, next_attempt_at, reason FROM notifications ORDER BY id")


async def test_a_call_for_help_survives_the_bot_api_failing_for_hours(
    telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    await call_for_help(db, clock, 7, "telegram", "555")
    notifier = Notifier(db, engine, {"telegram": telegram}, clock, jitter=lambda: 1.0)
    failing_tries = 12  # every sendMessage answers 500 for 12 tries: about six hours of backoff
    telegram_api.fail("sendMessage", "server_error", times=failing_tries * ATTEMPTS)
    for attempt in range(1, failing_tries + 1):
        assert await notifier.send_pending() == 0
        _id, _key, status, attempts, due, reason = (await notices(db))[0]
        assert (status, attempts, reason) == ("pending", attempt, "temporary failure")
        assert due == (clock() + retry_delay(attempt, 1.0)).isoformat()
        assert await notifier.send_pending() == 0  # not due yet: nothing is tried
        clock.advance(seconds=retry_delay(attempt, 1.0).total_seconds())
    assert retry_delay(failing_tries, 1.0) == timedelta(hours=1)  # the wait grows, to an hour at most
    assert await notifier.send_pending() == 1
    assert [p["text"] for p in telegram_api.sent(555)] == [HELP["text"]]
    assert (await notices(db))[0][2] == "sent"


async def test_retries_are_spread_by_jitter() -> None:
    assert retry_delay(1, 0.0) == timedelta(seconds=15)
    assert retry_delay(1, 0.999) < timedelta(seconds=30)
    assert retry_delay(3, 0.5) == timedelta(seconds=90)
    assert retry_delay(40, 0.0) == timedelta(minutes=30)


async def test_only_a_permanent_reason_ends_a_notice(
    telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    for user in ("603", "601", "602"):  # 603's first try meets the dropped connections
        await db.notify(f"reminder:{user}", "telegram", user, {"text": "Reminder", "choices": []}, clock())
    telegram_api.fail_chat(601, "forbidden")  # blocked the bot
    telegram_api.fail_chat(602, "not_found")  # no such chat
    telegram_api.fail("sendMessage", "drop", times=ATTEMPTS)  # the first try of 603: connection dropped
    notifier = Notifier(db, engine, {"telegram": telegram}, clock)
    await notifier.send_pending()
    rows = await notices(db)
    assert status_of(rows, "reminder:601")[2] == "blocked"
    assert status_of(rows, "reminder:602")[2] == "refused"
    assert status_of(rows, "reminder:603")[2] == "pending"
    clock.advance(minutes=1)
    assert await notifier.send_pending() == 1
    assert status_of(await notices(db), "reminder:603")[2] == "sent"


async def test_a_week_of_failures_ends_the_notice_as_expired(
    telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    await db.notify("reminder:604", "telegram", "604", {"text": "Reminder", "choices": []}, clock())
    clock.advance(seconds=GIVE_UP_AFTER.total_seconds())
    telegram_api.fail("sendMessage", "server_error", times=ATTEMPTS)
    await Notifier(db, engine, {"telegram": telegram}, clock).send_pending()
    assert (await notices(db))[0][2] == "expired"


async def test_a_call_for_help_goes_first_and_run_warns_while_it_is_undelivered(
    telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    engine: Engine,
    db: Database,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await db.notify("reminder:700", "telegram", "700", {"text": "Reminder", "choices": []}, clock())
    for coordinator in ("701", "702"):
        await call_for_help(db, clock, 9, "telegram", coordinator)
    telegram_api.fail("sendMessage", "server_error", times=2 * ATTEMPTS)  # both calls for help fail once
    notifier = Notifier(db, engine, {"telegram": telegram}, clock)
    caplog.set_level(logging.WARNING, logger="bot.notify")
    assert await notifier.send_pending() == 1  # the reminder, after the two calls for help were tried
    assert await notifier.warn_undelivered() == 0  # queued less than a minute ago
    clock.advance(minutes=2)
    assert await notifier.warn_undelivered() == 2
    assert "2 call(s) for help not yet delivered to a coordinator" in caplog.text
    assert await notifier.send_pending() == 2
    assert await notifier.warn_undelivered() == 0


async def test_a_call_for_help_no_coordinator_can_get_is_logged_as_an_error(
    telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    engine: Engine,
    db: Database,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for coordinator in (801, 802):
        await call_for_help(db, clock, 3, "telegram", str(coordinator))
        telegram_api.fail_chat(coordinator, "forbidden")
    caplog.set_level(logging.ERROR, logger="bot.notify")
    await Notifier(db, engine, {"telegram": telegram}, clock).send_pending()
    assert caplog.text.count("reached no coordinator") == 1  # said once, when the last copy failed


async def test_two_processes_on_one_database_send_each_notice_once(
    tmp_path: Path, telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    booked = [str(900 + n) for n in range(30)]  # a cancelled session with 30 booked
    for user in booked:
        await db.notify(f"cancelled:1:{user}", "telegram", user, {"text": "Cancelled", "choices": []}, clock())
    other = await Database.open(tmp_path / "bot.db")  # the second process's own connection
    try:
        first = Notifier(db, engine, {"telegram": telegram}, clock)
        second = Notifier(other, engine, {"telegram": telegram}, clock)
        counts = await asyncio.gather(first.send_pending(), second.send_pending(), first.send_pending())
    finally:
        await other.close()
    assert sum(counts) == 30
    assert sorted(p["chat_id"] for p in telegram_api.sent()) == sorted(int(u) for u in booked)


async def test_a_claim_whose_sender_died_is_taken_again_after_its_lease(
    telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    await db.notify("reminder:990", "telegram", "990", {"text": "Reminder", "choices": []}, clock())
    [claimed] = await db.claim_notifications(["telegram"], clock(), timedelta(minutes=5))  # then it died
    notifier = Notifier(db, engine, {"telegram": telegram}, clock)
    assert await notifier.send_pending() == 0  # still leased to the dead sender
    clock.advance(minutes=5)
    assert await notifier.send_pending() == 1
    assert claimed.key == "reminder:990" and len(telegram_api.sent(990)) == 1


@pytest.mark.parametrize("fault", ["server_error", "not_json"])
async def test_a_reply_the_bot_api_did_not_take_is_queued_and_sent_later(
    fault: str, telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    times = ATTEMPTS if fault == "server_error" else 1
    telegram_api.fail("sendMessage", fault, times=times)
    telegram_api.push(private_message("how do I report a hate crime?"))
    assert await eventually(lambda: _has_notices(db))
    queued = (await notices(db))[0]
    assert queued[1].startswith("reply:telegram:") and queued[2] == "pending"
    assert telegram_api.sent(111) == []  # no apology was sent instead
    await Notifier(db, engine, {"telegram": telegram}, clock).send_pending()
    [answer] = telegram_api.sent(111)
    assert "report" in answer["text"].lower()


async def _has_notices(db: Database) -> bool:
    return bool(await notices(db))


async def test_forgetting_a_leader_deletes_their_call_for_help_held_for_a_coordinator(
    whatsapp: WhatsApp, engine: Engine, db: Database, clock: FakeClock
) -> None:
    coordinator = "+447700900555"
    await whatsapp.say("hello", number=coordinator)
    clock.advance(hours=30)  # outside WhatsApp's 24 hours: a template goes, the text is held
    await call_for_help(db, clock, 5, "whatsapp", coordinator)
    assert await Notifier(db, engine, {"whatsapp": whatsapp.channel}, clock).send_pending() == 1
    assert [text for _, text in await db.held_messages("whatsapp", coordinator)] == [HELP["text"]]
    await db.drop_notifications("need-help:5:", sent_too=True)  # what the leader's /forget does
    assert await db.held_messages("whatsapp", coordinator) == []


# --- a timeout after the Bot API took the message ----------------------------------------------
@pytest.fixture
async def impatient(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel with a short read timeout, so that a "slow" Bot API outlasts it."""
    channel = TelegramChannel(
        telegram_options(telegram_settings(tmp_path, telegram_api)), engine, db, backoff=0.01, read_timeout=0.2
    )
    await channel.start()
    yield channel
    telegram_api.release()
    await channel.stop()


async def _unconfirmed(db: Database) -> list[tuple[object, ...]]:
    return await db.query("SELECT user_id, status FROM outgoing_messages WHERE status = 'unconfirmed'")


async def test_a_reply_taken_but_answered_too_late_is_not_sent_again(
    impatient: TelegramChannel, telegram_api: FakeBotApi, db: Database
) -> None:
    telegram_api.fail("sendMessage", "slow")  # taken at once, answered after the client gave up
    telegram_api.push(private_message("how do I report a hate crime?"))
    assert await eventually(lambda: _unconfirmed(db))
    assert await _unconfirmed(db) == [("111", "unconfirmed")]
    telegram_api.release()
    assert await eventually(lambda: _handled_all(db))
    [answer] = telegram_api.sent(111)  # once: neither retried nor queued
    assert "report" in answer["text"].lower()
    assert await notices(db) == []


async def test_the_999_advice_is_sent_again_after_a_timeout(
    impatient: TelegramChannel, telegram_api: FakeBotApi, db: Database
) -> None:
    telegram_api.fail("sendMessage", "slow")
    telegram_api.push(private_message("a man with a knife is at the gate"))
    assert await eventually(lambda: _sent_twice(telegram_api, 111))
    first, again = telegram_api.sent(111)[:2]
    assert first == again and "999" in first["text"][:300]  # better twice than never
    assert await _unconfirmed(db) == []


async def test_a_call_for_help_is_sent_again_after_a_timeout_and_a_reminder_is_not(
    impatient: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    await call_for_help(db, clock, 8, "telegram", "555")
    telegram_api.fail("sendMessage", "slow")
    notifier = Notifier(db, engine, {"telegram": impatient}, clock)
    assert await notifier.send_pending() == 1
    assert [p["text"] for p in telegram_api.sent(555)] == [HELP["text"]] * 2
    await db.notify("reminder:556", "telegram", "556", {"text": "Reminder", "choices": []}, clock())
    telegram_api.fail("sendMessage", "slow")
    assert await notifier.send_pending() == 1
    assert [p["text"] for p in telegram_api.sent(556)] == ["Reminder"]
    assert status_of(await notices(db), "reminder:556")[2] == "unconfirmed"
    clock.advance(hours=2)
    assert await notifier.send_pending() == 0  # an unconfirmed notice is done, not retried
    assert len(telegram_api.sent(556)) == 1


async def _sent_twice(api: FakeBotApi, chat_id: int) -> bool:
    return len(api.sent(chat_id)) >= 2


async def _handled_all(db: Database) -> bool:
    return await db.unhandled("telegram") == []
