"""Users own their data, floods don't drown the bot, and logs keep people's details out: /mydata,
/forget with a scan of every table (and of the file on disk), the per-person message limit, masked
logs, owner-only database files, and coordinators managed from the command line."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alerts import AlertStore, Composer
from bot.app import telegram_options
from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.logs import MaskingFilter, mask
from bot.ratelimit import FloodGuard
from bot.render import Style, render
from bot.store import Database
from bot.training import Person, Training
from tests.bot.channels.conftest import telegram_settings
from tests.conftest import ALERT_CHANNELS, FakeClock, Ran, make_incoming, settings_for
from tests.fakes.telegram_api import FakeBotApi, private_message

NAME, ORGANISATION, PLACE, NUMBER = "Zainab Qureshi-Okafor", "Harrow Zq Centre", "Masjid Zq Noor", "+447911123456"


async def say(engine: Engine, text: str | None = None, *, choice: str | None = None, **who: object) -> str:
    reply = await engine.handle(make_incoming(text, choice=choice, **{"channel": "whatsapp", "user_id": NUMBER, **who}))
    return render(reply.text, Style.PLAIN)


async def live_a_full_life(engine: Engine, training: Training, alert_store: AlertStore, composer: Composer) -> None:
    """One person does everything the bot stores something for, on WhatsApp."""
    session = await training.add({"title": "Protective security basics", "venue": "Hall", "address": "1 High St",
                                  "borough": "Harrow", "starts": "2026-11-26T18:00", "ends": "2026-11-26T20:00",
                                  "capacity": 10})  # fmt: skip
    await training.register(session, Person("whatsapp", NUMBER, NAME, ORGANISATION, "Trustee", 1, "step-free access"))
    await say(engine, "/alerts")
    await say(engine, choice="alr:leader")
    await say(engine, NAME)
    await say(engine, "Imam")
    await say(engine, PLACE)
    await say(engine, "Harrow")
    await say(engine, "1")  # yes to the consent
    me = await alert_store.subscriber("whatsapp", NUMBER)
    assert me is not None and me.status == "pending"
    await alert_store.set_status(me.id, "approved", training.clock())
    alert = await composer.send(kind="vigilance", audience="leaders", areas=["Harrow"], text="Be alert",
                                created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    [delivery] = await alert_store.deliveries_of("whatsapp", NUMBER)
    await engine.handle(make_incoming(choice=f"alr-help:{delivery}", channel="whatsapp", user_id=NUMBER))
    assert alert.reference
    await say(engine, "Please ring me back")  # what's wrong (Need help asks), then no more messages
    await say(engine, "STOP")
    # Questions the bot can't answer are kept as content gaps, without who asked: a number typed
    # in one is masked, and a story (names, places) is not kept at all.
    await say(engine, "what time does the jummah car park open, ring me on 07700 900 982")
    await say(engine, f"Salaam, {NAME} here, I do the tea rota at {PLACE}. My daughter is getting married in June and "
                      "we would love to hire the hall for about two hundred guests, who do I ask about the kitchen, "
                      "the price and the coaches")  # fmt: skip
    # A coordinator looks at the session on its day: its check-in button names them.
    await engine.handle(make_incoming("/menu", channel="console", user_id="coord"))
    for choice in ("menu:training", "trn:manage", f"trn-admin:{session}"):
        await engine.handle(make_incoming(choice=choice, channel="console", user_id="coord"))
    shown = await engine.db.query("SELECT data FROM dialog_state WHERE user_id = 'coord'")
    assert NAME in shown[0][0]
    await say(engine, "/report")
    await say(engine, choice="rep-safe:yes")
    for answer in ("kind=verbal", "target=me", "hatred=anti-muslim"):
        await say(engine, choice=f"rep-ans:{answer}")
    await say(engine, choice="rep-write:yes")
    await say(engine, f"Friday, told by {NAME}")  # left half-way: the write-up is still in the form


async def test_mydata_shows_everything_stored_and_forget_leaves_nothing_that_identifies_them(
    engine: Engine, training: Training, alert_store: AlertStore, composer: Composer, db: Database, tmp_path: Path
) -> None:
    await live_a_full_life(engine, training, alert_store, composer)
    mine = await say(engine, "/mydata")
    for shown in ("Training bookings:", NAME, ORGANISATION, "step-free access", "Alerts: faith leader, checked.",
                  PLACE, "1 alert sent to you, you answered 1:", "You answered “Need help”",
                  "Reaching you: you sent STOP",
                  "Your conversation: you were last in the middle of a step-by-step report of an incident",
                  "what you wrote: Friday, told by", "The audit log: 2 actions of yours"):  # fmt: skip
        assert shown in mine, shown
    assert "Messages the bot sent you" not in mine  # the need-help notice went to coordinators, not to them
    assert "opted_out_at" not in mine and "{" not in mine  # words, not the rows as stored

    await say(engine, "/forget")
    assert "Everything linked to you has been deleted" in await say(engine, "yes")
    everything = repr(await db.scan())
    for trace in (NUMBER, NUMBER.lstrip("+"), NAME, ORGANISATION, PLACE, "step-free access"):
        assert trace not in everything, trace
    on_disk = b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("bot.db"))  # noqa: ASYNC240
    for trace in (NUMBER, NAME, PLACE):
        assert trace.encode() not in on_disk, trace  # zeroed and the write-ahead log emptied
    gaps = [text for (text,) in await db.query("SELECT text FROM unanswered")]
    assert any("[number]" in gap for gap in gaps) and not any("900 982" in gap for gap in gaps), gaps
    assert any(gap.startswith("[a message of") for gap in gaps), gaps
    # counts stay: the alert still went to one leader, and the booking's seat was given back
    assert await db.query("SELECT count(*) FROM alert_deliveries") == [(1,)]
    assert "Nothing" in await say(engine, "/mydata")


async def test_mydata_is_only_shown_in_a_private_chat(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/mydata", channel="telegram", user_id="-100:7", private=False))
    assert reply.text.startswith("For your privacy, I only show what is stored about you in a private chat")


async def test_privacy_offers_mydata_and_forget_and_says_how_long_things_are_kept(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/privacy"))
    assert [c.id for c in reply.choices][:2] == ["menu:mydata", "menu:forget"]
    assert "wiped 30 days after the session" in reply.text and "after 60 minutes" in reply.text
    mydata = await engine.handle(make_incoming(choice="menu:mydata"))
    assert mydata.text.startswith("**Everything this bot stores about you**, linked to your console name amina:")
    where = "**Your conversation:** you were last at a menu offering “See what is stored about me”, “Delete"
    assert where in mydata.text and "” and 1 more, " in mydata.text  # the privacy menu's first three options
    forget = await engine.handle(make_incoming(choice="menu:forget"))
    assert forget.text.startswith("Delete everything this bot keeps about you?")


# --- floods ---------------------------------------------------------------------------------------
def flooded_engine(make_engine: Callable[..., Engine], clock: FakeClock) -> Engine:
    return make_engine(flood=FloodGuard(per_minute=20, burst=8, clock=clock))


async def test_a_thousand_messages_in_a_second_get_one_notice_and_others_are_still_answered(
    make_engine: Callable[..., Engine], clock: FakeClock
) -> None:
    engine = flooded_engine(make_engine, clock)
    flood = [engine.handle(make_incoming(f"spam {n}", user_id="troll")) for n in range(1000)]
    others = [engine.handle(make_incoming("how do I report graffiti", user_id=f"member{n}")) for n in range(20)]
    replies = await asyncio.gather(*flood, *others)
    to_troll, to_others = replies[:1000], replies[1000:]
    # Whatever reads as danger is answered past the limit ("spam 20" may: "20 men outside"); the rest is held back.
    urgent = sum(r.emergency for r in to_troll[8:])
    answered = [r for r in to_troll if not r.silent and not r.emergency and not r.text.startswith("You're sending")]
    notices = [r for r in to_troll if r.text.startswith("You're sending messages faster than I can answer")]
    assert len(answered) == 8 and len(notices) == 1 and urgent <= 5
    assert sum(r.silent for r in to_troll) == 1000 - 8 - 1 - urgent
    assert all(r.answer == "graffiti-criminal-damage" for r in to_others)
    clock.advance(minutes=1)  # they slowed down: answered again, and told again if they flood again
    again = await engine.handle(make_incoming("how do I report graffiti", user_id="troll"))
    assert again.answer == "graffiti-criminal-damage"


async def test_danger_now_still_gets_the_999_advice_while_flooding_but_only_once_a_minute(
    make_engine: Callable[..., Engine], clock: FakeClock
) -> None:
    engine = flooded_engine(make_engine, clock)
    for n in range(9):
        await engine.handle(make_incoming(f"hello {n}", user_id="flooder"))
    knife = [
        await engine.handle(make_incoming("a man with a knife is at the gate", user_id="flooder")) for _ in range(5)
    ]
    assert knife[0].emergency and knife[0].text.startswith("**If you or anyone else is in danger now, call 999**")
    assert all(r.silent for r in knife[1:])
    clock.advance(seconds=61)
    assert (await engine.handle(make_incoming("there's a fire in the hall", user_id="flooder"))).emergency


async def test_a_flood_on_telegram_gets_one_notice_and_the_bot_keeps_answering_others(
    tmp_path: Path, make_engine: Callable[..., Engine], clock: FakeClock, db: Database
) -> None:
    engine = flooded_engine(make_engine, clock)
    with FakeBotApi() as api:
        channel = TelegramChannel(telegram_options(telegram_settings(tmp_path, api)), engine, db, backoff=0.01)
        await channel.start()
        try:
            for n in range(1000):
                api.push(private_message(f"spam {n}", user_id=111, message_id=n + 1))
            api.push(private_message("how do I report graffiti", user_id=222, message_id=5000))
            reply = await api.called("sendMessage", lambda p: p.get("chat_id") == 222)
            assert "Graffiti" in reply.params["text"]
            await api.called("sendMessage", lambda p: "faster than I can answer" in str(p.get("text")))
        finally:
            await channel.stop()
        to_flooder = api.sent(111)
        assert sum("faster than I can answer" in m["text"] for m in to_flooder) == 1
        assert len(to_flooder) <= 8 * 2 + 1  # eight answers (a long one may be two messages) and the notice


def test_the_flood_limit_forgets_quiet_people_when_it_tracks_too_many(clock: FakeClock) -> None:
    guard = FloodGuard(per_minute=60, burst=2, clock=clock)
    guard.MAX_TRACKED = 100
    for n in range(100):
        guard.check(("console", str(n)))
    clock.advance(seconds=5)
    guard.check(("console", "new"))
    assert len(guard._buckets) <= 2


# --- logs -----------------------------------------------------------------------------------------
def test_numbers_are_masked_in_logs_but_short_codes_and_dates_stay() -> None:
    assert mask("whatsapp:+447911123456 replied") == "whatsapp:+•••••••••456 replied"
    assert mask("07911 123456") == "••••••••456"
    assert mask("call 999, 101 or 0800 555 111 on 2026-11-26 (row 12345)").startswith("call 999, 101 or ")
    assert "2026-11-26" in mask("on 2026-11-26") and "row 12345" in mask("row 12345")


def test_the_masking_filter_masks_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "send to %s failed", (NUMBER,), None)
    try:
        raise ValueError(f"bad number {NUMBER}")
    except ValueError:
        record.exc_info = sys.exc_info()
    MaskingFilter().filter(record)
    assert NUMBER not in record.getMessage() and NUMBER not in (record.exc_text or "")
    assert record.getMessage().endswith("+•••••••••456 failed")


# --- files ----------------------------------------------------------------------------------------
async def test_the_database_and_its_backups_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "private.db")
    try:
        await db.save_dialog("console", "amina", "idle", {}, FakeClock()())
        await db.backup(tmp_path / "backups" / "copy.db")
    finally:
        await db.close()
    for path in (tmp_path / "private.db", tmp_path / "backups" / "copy.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- coordinators on the command line -------------------------------------------------------------
def test_coordinators_are_added_listed_and_removed_and_a_removal_sticks(
    cli: Callable[[list[str]], Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COORDINATORS", "telegram:111,console:amina")
    listed = cli(["coordinators", "list", "--json"])
    assert listed.returncode == 0
    assert {(c["channel"], c["user_id"]) for c in json.loads(listed.stdout)} == {
        ("telegram", "111"),
        ("console", "amina"),
    }
    added = cli(["coordinators", "add", "whatsapp:07911 123456"])
    assert added.returncode == 0 and added.stdout.strip() == "whatsapp:+447911123456 is now a coordinator"
    assert cli(["coordinators", "add", "whatsapp:+447911123456"]).stdout.strip().endswith("is already a coordinator")
    removed = cli(["coordinators", "remove", "telegram:111", "--json"])
    assert json.loads(removed.stdout) == {
        "channel": "telegram",
        "user_id": "111",
        "coordinator": False,
        "changed": True,
    }
    # still listed in COORDINATORS, but removed: a restart does not bring them back
    people = json.loads(cli(["coordinators", "list", "--json"]).stdout)
    assert {(c["channel"], c["user_id"]) for c in people} == {("console", "amina"), ("whatsapp", "+447911123456")}
    audit = cli(["alerts", "audit"]).stdout
    assert "coordinator added" in audit and "coordinator removed" in audit and "telegram:111" in audit


@pytest.mark.parametrize("who", ["telegram:abc", "signal:123", "whatsapp:12", "telegram:", "nobody"])
def test_a_wrong_coordinator_id_is_refused_clearly(cli: Callable[[list[str]], Ran], who: str) -> None:
    ran = cli(["coordinators", "add", who])
    assert ran.returncode == 1 and ran.stderr.startswith("safetybot coordinators add: ")
    assert "Traceback" not in ran.stderr


async def test_a_coordinator_added_while_running_counts_at_once_and_a_removed_one_at_once_too(
    engine: Engine, db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    assert "coordinator" not in (await engine.handle(make_incoming("/start", user_id="yusuf"))).text
    await db.set_coordinator("console", "yusuf", True, clock())
    assert "signed in as a **coordinator**" in (await engine.handle(make_incoming("/start", user_id="yusuf"))).text
    await db.set_coordinator("console", "yusuf", False, clock())
    assert "coordinator" not in (await engine.handle(make_incoming("/start", user_id="yusuf"))).text
    await db.bootstrap_coordinators({("console", "yusuf")}, clock())  # as a restart with COORDINATORS would
    assert not await db.is_coordinator("console", "yusuf")
    assert settings_for(tmp_path).user_rate_limit == 30 and settings_for(tmp_path).user_rate_burst == 15


async def test_forget_takes_a_coordinators_name_off_the_alerts_they_sent(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    await alert_store.save_subscriber("telegram", "101", kind="leader", status="approved", name="Yusuf",
                                      boroughs=["Newham"], now=clock())  # fmt: skip
    alert = await composer.send(kind="urgent", audience="leaders", areas=["Newham"], text="Stay in.",
                                created_by="console:amina", channels=ALERT_CHANNELS,
                                report_to=("console", "amina"))  # fmt: skip
    await say(engine, "/forget", channel="console", user_id="amina")
    await say(engine, "yes", channel="console", user_id="amina")
    kept = await alert_store.alert(alert.id)
    assert kept is not None and kept.text == "Stay in." and kept.total == 1  # the alert stays, counted
    assert (kept.created_by, kept.report_channel, kept.report_user) == ("forgotten", None, None)
    assert "amina" not in repr(await db.scan())


async def test_what_became_of_messages_is_forgotten_after_the_retention_period(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    await db.record_outgoing("SM1", "whatsapp", "+447700900123", "reply", "sent", clock())
    clock.advance(days=29)
    await engine.purge_expired()
    assert await db.query("SELECT count(*) FROM outgoing_messages") == [(1,)]
    clock.advance(days=2)
    await engine.purge_expired()
    assert await db.query("SELECT count(*) FROM outgoing_messages") == [(0,)]
