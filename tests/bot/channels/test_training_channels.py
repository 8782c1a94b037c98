"""Training on each platform: the calendar entry as a Telegram document or a WhatsApp link, and
offers and reminders sent by the notifier."""

from __future__ import annotations

import httpx
from icalendar import Calendar

from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.messages import Delivery, Reply
from bot.notify import Notifier
from bot.store import Database
from bot.training import Person, Training
from bot.web import create_web_app
from tests.bot.channels.conftest import WhatsApp
from tests.conftest import SESSION as CONFTEST_SESSION
from tests.conftest import serving
from tests.fakes.telegram_api import FakeBotApi, button_press, private_message

SESSION = {**CONFTEST_SESSION, "capacity": 1}


async def test_telegram_gets_the_calendar_entry_as_a_file(
    telegram: TelegramChannel, telegram_api: FakeBotApi, training: Training
) -> None:
    session_id = await training.add(SESSION)
    telegram_api.push(private_message(f"/start register-{session_id}"))
    await telegram_api.called("sendMessage", lambda p: "Book a place" in str(p.get("reply_markup")))
    steps = [button_press(f"trn-reg:{session_id}"), private_message("Amina"), private_message("Masjid"),
             private_message("Trustee"), private_message("1"), button_press("trn-access:none"),
             button_press("trn-consent:yes"), button_press("trn-confirm:yes")]  # fmt: skip
    for update in steps:
        before = len(telegram_api.sent(111))
        telegram_api.push(update)
        await telegram_api.called("sendMessage", lambda p, n=before: len(telegram_api.sent(111)) > n)
    document = await telegram_api.called("sendDocument")
    assert document.params["chat_id"] == 111
    ics = document.params["document"]
    assert isinstance(ics, bytes) and Calendar.from_ical(ics).walk("VEVENT")[0]["summary"] == SESSION["title"]


async def test_offers_reach_telegram_with_buttons_that_work(
    telegram: TelegramChannel, telegram_api: FakeBotApi, training: Training, engine: Engine, db: Database
) -> None:
    session_id = await training.add(SESSION)
    holder, _ = await training.register(session_id, Person("console", "x", "A", "B", "C", 1))
    waiting, _ = await training.register(session_id, Person("telegram", "111", "Amina", "Masjid", "Chair", 1))
    await training.cancel_registration(holder.id)
    notifier = Notifier(db, engine, {"telegram": telegram}, training.clock)
    assert await notifier.send_pending() == 1
    offer = await telegram_api.called("sendMessage", lambda p: "A seat is free" in p["text"])
    accept = offer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert accept == f"trn-accept:{waiting.id}"
    telegram_api.push(button_press(accept))
    await telegram_api.called("sendDocument")
    assert (await db.registration(waiting.id)).status == "confirmed"  # type: ignore[union-attr]
    assert await notifier.send_pending() == 0  # sent once only


async def test_telegram_proactive_messages_respect_stop(
    telegram: TelegramChannel, telegram_api: FakeBotApi, db: Database, training: Training
) -> None:
    await db.set_opted_out("telegram", "111", training.clock())
    assert await telegram.send_proactive("111", Reply("Reminder")) is Delivery.OPTED_OUT
    assert telegram_api.sent() == []


async def test_whatsapp_gets_a_calendar_link_that_serves_the_entry(whatsapp: WhatsApp, training: Training) -> None:
    session_id = await training.add(SESSION)
    # the shared link's words, Book a place, name, organisation, role, seats, no needs, consent
    for text in (f"REGISTER {session_id}", "1", "Amina", "Masjid", "Trustee", "1", "1", "1"):
        await whatsapp.say(text)
    confirmed = await whatsapp.say("1")  # Confirm booking
    link = next(m for m in confirmed if "/calendar/" in m)
    token = link.split("/calendar/")[1].split(".ics")[0]
    async with serving(create_web_app(calendar=training.calendar_file)) as base, httpx.AsyncClient() as client:
        found = await client.get(f"{base}/calendar/{token}.ics")
        assert found.status_code == 200 and found.headers["content-type"].startswith("text/calendar")
        assert Calendar.from_ical(found.content).walk("VEVENT")[0]["summary"] == SESSION["title"]
        assert (await client.get(f"{base}/calendar/guessing-{token[:10]}.ics")).status_code == 404


async def test_a_reminder_queued_before_a_restart_is_sent_once_after_it(
    telegram: TelegramChannel, telegram_api: FakeBotApi, training: Training, engine: Engine, db: Database
) -> None:
    session_id = await training.add(SESSION)
    await training.register(session_id, Person("telegram", "111", "Amina", "Masjid", "Chair", 1))
    training.clock.advance(hours=195)  # type: ignore[attr-defined]  # now 22 hours before the start
    await training.run_due()  # queued by one process...
    after_restart = Notifier(db, engine, {"telegram": telegram}, training.clock)
    assert await after_restart.send_pending() == 1  # ...sent by the next
    await training.run_due()
    assert await Notifier(db, engine, {"telegram": telegram}, training.clock).send_pending() == 0
    reminders = [p for p in telegram_api.sent(111) if p["text"].startswith("<b>Reminder:</b>")]
    assert len(reminders) == 1


async def test_a_moved_session_reaches_whatsapp_with_the_link_to_the_updated_entry(
    whatsapp: WhatsApp, training: Training, engine: Engine, db: Database
) -> None:
    session_id = await training.add(SESSION)
    for text in (f"REGISTER {session_id}", "1", "Amina", "Masjid", "Trustee", "1", "1", "1"):
        await whatsapp.say(text)
    booked = next(m for m in await whatsapp.say("1") if "/calendar/" in m)
    link = booked[booked.index("http") :].split()[0]
    await training.edit(session_id, {"venue": "Ilford Hall", "address": "1 High Road, Ilford IG1 1AA"})
    assert await Notifier(db, engine, {"whatsapp": whatsapp.channel}, training.clock,
                          calendars=training.calendar_document).send_pending() == 1  # fmt: skip
    [moved] = [m["Body"] for m in whatsapp.api.messages if "has changed" in m.get("Body", "")]
    assert "Where: now *Ilford Hall, 1 High Road, Ilford IG1 1AA* (was Al Manaar" in moved
    assert f"Add it to your calendar: {link}" in moved  # the same link, which now serves the new entry
    token = link.split("/calendar/")[1].removesuffix(".ics")
    async with serving(create_web_app(calendar=training.calendar_file)) as base, httpx.AsyncClient() as client:
        [event] = Calendar.from_ical((await client.get(f"{base}/calendar/{token}.ics")).content).walk("VEVENT")
    assert event["sequence"] == 1 and "Ilford Hall" in event["location"]
