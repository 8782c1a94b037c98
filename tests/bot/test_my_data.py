"""/mydata: what is stored about a person, section by section in plain words, and the same data as
a file (JSON) on Telegram and in the console; no ids, no secrets, times local and friendly."""

from __future__ import annotations

import inspect
import io
import json
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts import AlertStore, Composer
from bot.channels.console import run_console
from bot.dialog import Engine
from bot.messages import Reply
from bot.render import Style, render
from bot.store import Database, Registration
from bot.training import Person, Training
from tests.conftest import ALERT_CHANNELS, SESSION, FakeClock, make_incoming

NAME, ORGANISATION, PLACE = "Amina Khan", "Al-Noor Trust", "Masjid Al-Noor (Newham) #1"
ACCESS = "step-free access [ramp]"  # Markdown in someone's words must show as typed
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


async def live(
    engine: Engine, training: Training, alerts: AlertStore, composer: Composer, channel: str, user_id: str
) -> tuple[Registration, str]:
    """A person books a session, signs up as a faith leader (approved), gets an alert and answers
    it, then talks to the bot; returns their booking and the alert's reference."""

    async def say(text: str | None = None, choice: str | None = None) -> Reply:
        return await engine.handle(make_incoming(text, choice=choice, channel=channel, user_id=user_id))

    session = await training.add(SESSION)
    registration, _ = await training.register(
        session, Person(channel, user_id, NAME, ORGANISATION, "Trustee", 2, ACCESS)
    )
    await say("/alerts")
    for step in ({"choice": "alr:leader"}, {"text": NAME}, {"text": "Imam"}, {"text": PLACE},
                 {"text": "Newham, Hackney"}, {"text": "1"}):  # fmt: skip
        await say(**step)
    me = await alerts.subscriber(channel, user_id)
    assert me is not None
    await alerts.set_status(me.id, "approved", training.clock())
    alert = await composer.send(kind="vigilance", audience="leaders", areas=["Newham"], text="Be alert tonight",
                                created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    [delivery] = await alerts.deliveries_of(channel, user_id)
    await say(choice=f"alr-ack:{delivery}")
    await say("how do I report graffiti")
    return registration, alert.reference


def assert_plain_words(text: str, registration: Registration) -> None:
    """What a person reads: every section in words, and nothing raw, secret or internal."""
    for shown in (
        "Everything this bot stores about you",
        "Your conversation:",
        "Training bookings:",
        "Keeping our mosque safe, Sat 5 Dec 2026, 10:00–13:00, Al Manaar: 2 seats, booked.",
        f"Name {NAME}, organisation {ORGANISATION}, role Trustee, accessibility needs {ACCESS}.",
        "Booked Thu 26 Nov 2026, 09:00.",
        "Alerts: faith leader, checked.",
        f"Name {NAME}; role Imam; place of worship {PLACE}; areas Newham, Hackney; quiet hours 22:00–07:00;"
        " alerts you get: Urgent, Vigilance, Reassurance;",
        "1 alert sent to you, you answered 1:",
        "You answered “Received”, Thu 26 Nov 2026, 09:00.",
        "Deleted after 30 days without a message.",
        "send /forget",
    ):
        assert shown in text, shown
    assert registration.calendar_token not in text  # a secret: it opens the calendar link
    assert not ISO.search(text), "times are for people, not UTC ISO"
    for raw in ("{", "[[", "menu:", "trn", "alr-", "null", "None", "_at", "calendar", "user_id"):
        assert raw not in text, raw


def assert_the_file_matches(content: bytes, registration: Registration, reference: str, user_id: str) -> None:
    data = json.loads(content)
    assert data["user_id"] == user_id and data["times"] == "ISO 8601, UTC"
    [booking] = data["training_bookings"]
    assert booking["title"] == SESSION["title"] and booking["starts_at"] == "2026-12-05T10:00:00+00:00"
    kept = (booking["name"], booking["organisation"], booking["seats"], booking["accessibility"], booking["status"])
    assert kept == (registration.name, registration.organisation, 2, ACCESS, "confirmed")
    signed_up = data["alerts_sign_up"]
    assert (signed_up["status"], signed_up["place"]) == ("approved", PLACE)
    assert signed_up["boroughs"] == ["Newham", "Hackney"]
    assert signed_up["kinds"] == ["reassurance", "vigilance", "urgent"]  # which alerts they chose to get
    [received] = data["alerts_received"]
    assert received["reference"] == reference and received["acknowledged"] == "received"
    assert data["conversation"]["state"] == "idle"
    raw = content.decode()
    assert registration.calendar_token not in raw and "calendar_token" not in raw


async def test_on_the_console_mydata_reads_as_words_and_the_file_is_saved_for_the_person_only(
    engine: Engine, training: Training, alert_store: AlertStore, composer: Composer, tmp_path: Path
) -> None:
    registration, reference = await live(engine, training, alert_store, composer, "console", "amina")
    out, files = io.StringIO(), tmp_path / "files"
    await run_console(engine, "amina", stdin=io.StringIO("/mydata\n"), stdout=out, files=files)
    said = out.getvalue().split("> /mydata", 1)[1]
    assert_plain_words(said, registration)
    assert "Everything stored about you, as a file for a computer to read (JSON)" in said
    saved = files / "my-data.json"
    assert f"Saved: {saved}" in said
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(files.stat().st_mode) == 0o700
    assert_the_file_matches(saved.read_bytes(), registration, reference, "amina")


async def test_someone_with_nothing_stored_is_told_so_and_gets_no_file(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/mydata", user_id="newcomer"))
    text = render(reply.text, Style.PLAIN)
    assert "Nothing. The bot keeps nothing linked to you at the moment." in text and "send /forget" in text
    assert reply.document is None
    assert "Your conversation:" not in text and "Training bookings" not in text


async def test_times_are_local_in_the_deployments_timezone(
    engine: Engine, training: Training, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # British Summer Time: 10:00 in London
    session = await training.add({**SESSION, "starts": "2026-06-20T18:30", "ends": "2026-06-20T20:00"})
    await training.register(session, Person("console", "amina", NAME, ORGANISATION, "Trustee", 1))
    text = render((await engine.handle(make_incoming("/mydata"))).text, Style.PLAIN)
    assert "Keeping our mosque safe, Sat 20 Jun 2026, 18:30–20:00, Al Manaar: 1 seat, booked." in text
    assert "Booked Wed 10 Jun 2026, 10:00." in text
    assert "accessibility needs none." in text


async def test_every_kind_of_thing_kept_about_a_coordinator_has_its_section(
    engine: Engine, db: Database, alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    now = clock()
    await engine.handle(make_incoming("/start", user_id="coord"))
    await db.record_inbound("console", "coord", now)
    await db.set_opted_out("console", "coord", now)
    await db.mark_blocked("console", "coord", now)
    await db.mark_window_closed("console", "coord", now)
    await db.notify(
        "reminder:1", "console", "coord", {"text": "**Reminder:** Keeping our mosque safe", "choices": []}, now
    )
    await db.record_outgoing("SM1", "console", "coord", "message", "delivered", now)
    await db.record_outgoing("SM2", "console", "coord", "message", "read", now)
    await db.hold_message("console", "coord", "Your seat is confirmed", now)
    await alert_store.save_subscriber("whatsapp", "+447700900123", kind="community", status="approved",
                                      boroughs=["Newham"], now=now)  # fmt: skip
    await composer.send(kind="reassurance", audience="all", areas=["all"], text="All is calm",
                        created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    await db.audit("cli:operator", "coordinator added", {"coordinator": "console:coord"}, now)
    await db.audit("cli:operator", "coordinator added", {"coordinator": "console:coordinator2"}, now)
    data = await db.data_of("console", "coord")
    text = render(engine.my_data.text(data, "console", "coord"), Style.PLAIN)
    for shown in (
        "Your conversation: you were last at the main menu",
        "Reaching you: you last wrote Thu 26 Nov 2026, 09:00; you sent STOP Thu 26 Nov 2026, 09:00, so the bot"
        " sends you nothing first until you send START; you blocked the bot (noted Thu 26 Nov 2026, 09:00, when a"
        " message to you was refused); WhatsApp closed the 24-hour window for free messages Thu 26 Nov 2026, 09:00.",
        "Messages the bot sent you:\n\n• Thu 26 Nov 2026, 09:00, waiting to be sent: Reminder: Keeping our mosque safe",
        "Messages to you through the platform: 2 since Thu 26 Nov 2026, 09:00, and what became of them: 1 delivered,"
        " 1 read. Not what they said.",
        "Waiting for your reply: 1 message since Thu 26 Nov 2026, 09:00.",
        "Alerts you sent:\n\n• Reassurance alert A-",
        "to faith leaders and community members in All of London, Thu 26 Nov 2026, 09:00: 1 recipient.",
        "Coordinator: you have been a coordinator since Thu 26 Nov 2026, 09:00.",
        "The audit log: 1 action of yours, Thu 26 Nov 2026, 09:00: alert sent. About you: coordinator added,"
        " Thu 26 Nov 2026, 09:00.",
    ):
        assert shown in text, shown
    assert text.count("coordinator added") == 1  # the other coordinator's entry is not theirs
    assert "Your seat is confirmed" not in text  # the held text is in the file, not repeated here
    file = json.loads(engine.my_data.document(data, "console", "coord", now).content)
    assert file["held_messages"][0]["text"] == "Your seat is confirmed"
    assert file["messages_from_the_bot"][0]["body"]["text"].startswith("**Reminder:**")
    assert file["coordinator"]["removed_at"] is None and file["alerts_sent"][0]["areas"] == ["all"]


async def test_every_table_that_holds_rows_about_a_person_is_read_for_mydata(db: Database) -> None:
    tables = [name for (name,) in await db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    personal = []
    for table in tables:
        columns = {row[1] for row in await db.query(f'PRAGMA table_info("{table}")')}
        if "user_id" in columns or "actor" in columns or "created_by" in columns:
            personal.append(table)
    assert len(personal) >= 10
    source = inspect.getsource(Database.data_of)
    missing = [table for table in personal if not re.search(rf"\bFROM {table}\b", source)]
    assert missing == [], f"/mydata does not show {missing}: add them to Database.data_of and bot/my_data.py"


def _long_list(count: int) -> dict[str, Any]:
    when = "2026-11-26T09:00:00+00:00"
    rows = [{"reference": f"A-{n:04d}", "kind": "vigilance", "send_at": when, "status": "delivered", "reason": None,
             "sent_at": when, "acknowledged": None, "acknowledged_at": None} for n in range(count)]  # fmt: skip
    return {"alert_deliveries": rows}


def test_a_long_list_shows_its_latest_and_counts_the_rest_within_the_channels_limits(engine: Engine) -> None:
    text = render(engine.my_data.text(_long_list(200), "whatsapp", "+447700900123"), Style.PLAIN)
    assert "200 alerts sent to you, you answered 0:" in text and "…and 180 earlier ones, counted above." in text
    assert "A-0199" in text and "A-0179" not in text
    assert len(text) < 4 * 1600  # at most a few WhatsApp messages, whatever the history
