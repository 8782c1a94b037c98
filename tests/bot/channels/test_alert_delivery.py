"""Alerts through the real channels, against fake Telegram and Twilio servers that enforce a rate
limit (429 beyond it) and fail on cue: nobody is lost, nobody gets an alert twice, every failure
is recorded with its reason, and people's replies go before bulk alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import Alert, AlertStore, Composer, Dispatcher, Sender
from bot.alerts_flow import AlertsFlow
from bot.app import alerts_dispatcher, open_app, telegram_options
from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.notify import Notifier
from bot.store import Database
from tests.bot.channels.conftest import TEMPLATE, WhatsApp, telegram_settings
from tests.conftest import FakeClock, eventually
from tests.fakes.telegram_api import FakeBotApi, button_press, private_message

ALL = ("telegram", "whatsapp")


def utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def fast_telegram(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> AsyncIterator[TelegramChannel]:
    """Telegram configured for 100 messages a second: faster than the fake server allows."""
    settings = telegram_settings(tmp_path, telegram_api, telegram_rate_limit=100)
    channel = TelegramChannel(telegram_options(settings), engine, db, backoff=0.01)
    await channel.start()
    yield channel
    await channel.stop()


async def leader(store: AlertStore, channel: str, user_id: str, clock: FakeClock) -> None:
    await store.save_subscriber(channel, user_id, kind="leader", status="approved", name="N", role="Imam",
                                place="Masjid", boroughs=("Newham",), now=clock())  # fmt: skip


def dispatcher_for(store: AlertStore, flow: AlertsFlow, senders: dict[str, Sender], **options: Any) -> Dispatcher:
    """The dispatcher as the app builds it, on the real clock, looking for work every 20 ms."""
    return Dispatcher(store, senders, utcnow, flow.message_for, **{"idle_wait": 0.02, **options})


async def run_until_done(dispatcher: Dispatcher, store: AlertStore, alert: Alert, within: float = 30.0) -> None:
    task = asyncio.create_task(dispatcher.run())

    async def done() -> bool:
        return (await store.progress(alert)).done

    try:
        assert await eventually(done, within=within), await store.progress(alert)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def number(i: int) -> str:
    return f"+4479111230{i:02d}"


async def test_a_broadcast_under_rate_limits_and_faults_loses_nobody(
    fast_telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    whatsapp: WhatsApp,
    db: Database,
    clock: FakeClock,
    alert_store: AlertStore,
    composer: Composer,
    alerts_flow: AlertsFlow,
) -> None:
    clock.now = utcnow()
    chats = list(range(3001, 3031))
    for chat in chats:
        await leader(alert_store, "telegram", str(chat), clock)
    for i in range(30):
        await leader(alert_store, "whatsapp", number(i), clock)
        if i % 2 == 0:  # wrote in the last 24 hours: the alert goes as it is; else the template
            await db.record_inbound("whatsapp", number(i), clock())
    # The platforms' limits are lower than the bot's settings: they answer 429 when exceeded.
    telegram_limit = telegram_api.rate_limit(20, burst=5)
    twilio_limit = whatsapp.api.rate_limit(20, burst=5)
    # Passing server errors, and people the platforms refuse for good.
    telegram_api.fail("sendMessage", "server_error", times=3)
    whatsapp.api.fail("status", 500, times=3)
    telegram_api.fail_chat(3029, "forbidden")
    telegram_api.fail_chat(3030, "not_found")
    whatsapp.api.fail_number(f"whatsapp:{number(28)}", 21211)
    whatsapp.api.fail_number(f"whatsapp:{number(29)}", 21610)

    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="**Keep doors shut**",
                                created_by="console:coord", channels=ALL)  # fmt: skip
    assert alert.total == 60
    senders: dict[str, Sender] = {"telegram": fast_telegram, "whatsapp": whatsapp.channel}
    dispatcher = dispatcher_for(alert_store, alerts_flow, senders, base_delay=0.05, max_delay=0.5, max_attempts=12)
    await run_until_done(dispatcher, alert_store, alert)

    progress = await alert_store.progress(alert)
    assert progress.failed_by_reason == {
        "blocked the bot": 1,
        "invalid recipient": 1,
        "invalid number": 1,
        "opted out": 1,
    }
    assert progress.sent == 56 and progress.pending == 0
    # Every reachable person got it exactly once: no losses, no duplicates.
    for chat in chats[:-2]:
        got = telegram_api.sent(chat)
        assert len(got) == 1, (chat, got)
        assert alert.reference in got[0]["text"] and "<b>Keep doors shut</b>" in got[0]["text"]
        assert next(b[0]["callback_data"] for b in got[0]["reply_markup"]["inline_keyboard"]).startswith("alr-ack:")
    accepted = [m for m in whatsapp.api.messages if m["To"] != "whatsapp:+14155238886"]
    for i in range(28):
        mine = [m for m in accepted if m["To"] == f"whatsapp:{number(i)}"]
        assert len(mine) == 1, (i, mine)
        if i % 2 == 0:
            assert alert.reference in mine[0]["Body"] and "*Keep doors shut*" in mine[0]["Body"]
        else:  # outside 24 hours: the approved template; the alert waits for them to reply VIEW
            assert mine[0]["ContentSid"] == TEMPLATE
    # The limits were reached and honoured (429s answered, then sent later).
    assert telegram_limit.refused and twilio_limit.refused
    # Refusals for good are remembered: blocked people are left out of every future alert.
    assert await db.is_blocked("telegram", "3029")
    again = await composer.preview("leaders", ("Newham",), ALL)
    assert "3029" not in {s.user_id for s in again.recipients}


async def test_people_who_stop_or_block_the_bot_after_an_alert_is_queued_are_not_sent_it(
    fast_telegram: TelegramChannel, telegram_api: FakeBotApi, whatsapp: WhatsApp, db: Database, clock: FakeClock,
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    """Each batch reads how to reach its people at once (the channels' `prepare`), after they stopped."""
    clock.now = utcnow()
    for chat in (4001, 4002, 4003):
        await leader(alert_store, "telegram", str(chat), clock)
    for i in (40, 41):
        await leader(alert_store, "whatsapp", number(i), clock)
        await db.record_inbound("whatsapp", number(i), clock())
    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Doors shut",
                                created_by="cli", channels=ALL)  # fmt: skip
    await db.set_opted_out("telegram", "4002", clock())  # STOP, after it was queued
    await db.mark_blocked("telegram", "4003", clock())
    await db.set_opted_out("whatsapp", number(41), clock())
    senders: dict[str, Sender] = {"telegram": fast_telegram, "whatsapp": whatsapp.channel}
    await run_until_done(dispatcher_for(alert_store, alerts_flow, senders), alert_store, alert)
    progress = await alert_store.progress(alert)
    assert progress.sent == 2 and progress.failed_by_reason == {"opted out": 2, "blocked the bot": 1}
    assert [m["chat_id"] for m in telegram_api.sent()] == [4001]
    assert [m["To"] for m in whatsapp.api.messages] == [f"whatsapp:{number(40)}"]


async def test_held_alerts_are_read_with_view_and_delivery_reports_count(
    whatsapp: WhatsApp, db: Database, clock: FakeClock, alert_store: AlertStore, composer: Composer,
    alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    clock.now = utcnow()
    whatsapp.channel.on_status = alert_store.report_delivery
    await leader(alert_store, "whatsapp", number(1), clock)  # hasn't written: template, alert held
    await leader(alert_store, "whatsapp", number(2), clock)
    await db.record_inbound("whatsapp", number(2), clock())
    alert = await composer.send(kind="urgent", audience="leaders", areas=("all",), text="Doors shut",
                                created_by="cli", channels=ALL)  # fmt: skip
    dispatcher = dispatcher_for(alert_store, alerts_flow, {"whatsapp": whatsapp.channel})
    await run_until_done(dispatcher, alert_store, alert)
    assert await whatsapp.say("VIEW", number=number(1)) == []  # the held text comes by REST, recorded
    [held] = [m["Body"] for m in whatsapp.api.messages if m["To"] == f"whatsapp:{number(1)}" and "Body" in m]
    assert alert.reference in held and "Doors shut" in held
    assert "A. Received\nB. Need help\n\nReply with a letter (A–B)." in held  # not the numbers of a flow

    sid = next(m["Sid"] for m in whatsapp.api.messages if m["To"] == f"whatsapp:{number(2)}")
    response = await whatsapp.post("/whatsapp/status", {"MessageSid": sid, "MessageStatus": "delivered"})
    assert response.status_code == 204
    forged = await whatsapp.post("/whatsapp/status", {"MessageSid": sid, "MessageStatus": "failed"}, signature="x")
    assert forged.status_code == 403
    progress = await alert_store.progress(alert)
    assert (progress.sent, progress.delivered) == (1, 1)

    # "B" answers the alert's second choice, Need help: the coordinators are told at once.
    answer = await whatsapp.say("B", number=number(2))
    assert "told the coordinators" in answer[0]
    notes = await db.pending_notifications(["console", "telegram", "whatsapp"])
    assert any("Help needed" in n.body["text"] and number(2) in n.body["text"] for n in notes)


async def test_without_a_template_a_closed_window_is_a_recorded_failure(
    whatsapp: WhatsApp, clock: FakeClock, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow
) -> None:
    clock.now = utcnow()
    whatsapp.channel.template_sids = {}
    await leader(alert_store, "whatsapp", number(3), clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("all",), text="x", created_by="cli",
                                channels=ALL)  # fmt: skip
    dispatcher = dispatcher_for(alert_store, alerts_flow, {"whatsapp": whatsapp.channel})
    await run_until_done(dispatcher, alert_store, alert)
    progress = await alert_store.progress(alert)
    assert progress.failed_by_reason == {"window closed, no template": 1}
    assert whatsapp.api.messages == []


@pytest.mark.parametrize("paid", [False, True])
async def test_alerts_alone_go_as_paid_broadcasts_and_only_when_set(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock,
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, paid: bool,
) -> None:  # fmt: skip
    """TELEGRAM_PAID_BROADCAST: alerts are sent with allow_paid_broadcast (they cost Telegram Stars
    and may then go at up to 1,000 a second); replies never are."""
    settings = telegram_settings(tmp_path, telegram_api, telegram_rate_limit=1000, telegram_paid_broadcast=paid)
    channel = TelegramChannel(telegram_options(settings), engine, db, backoff=0.01)
    await channel.start()
    try:
        clock.now = utcnow()
        for chat in (5001, 5002):
            await leader(alert_store, "telegram", str(chat), clock)
        alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Doors shut",
                                    created_by="cli", channels=ALL)  # fmt: skip
        await run_until_done(dispatcher_for(alert_store, alerts_flow, {"telegram": channel}), alert_store, alert)
        telegram_api.push(private_message("/help", user_id=5001))
        await telegram_api.called("sendMessage", lambda p: p["chat_id"] == 5001 and alert.reference not in p["text"])
    finally:
        await channel.stop()
    alerts = [m for m in telegram_api.sent() if alert.reference in m["text"]]
    replies = [m for m in telegram_api.sent() if alert.reference not in m["text"]]
    assert len(alerts) == 2 and replies
    assert all(m.get("allow_paid_broadcast") is (True if paid else None) for m in alerts)
    assert all("allow_paid_broadcast" not in m for m in replies)


async def test_replies_go_before_a_broadcast(
    fast_telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    clock: FakeClock,
    alert_store: AlertStore,
    composer: Composer,
    alerts_flow: AlertsFlow,
) -> None:
    clock.now = utcnow()
    for chat in range(5000, 5150):
        await leader(alert_store, "telegram", str(chat), clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("all",), text="x", created_by="cli",
                                channels=ALL)  # fmt: skip
    fast_telegram.rate_limit = 20  # the broadcast takes seven seconds: time for a slow machine to answer
    dispatcher = dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram})
    task = asyncio.create_task(dispatcher.run())
    try:
        await telegram_api.called("sendMessage", lambda p: p.get("chat_id") == 5010)  # the broadcast is going
        telegram_api.push(private_message("how do I report a hate crime", user_id=111))
        await telegram_api.called("sendMessage", lambda p: p.get("chat_id") == 111)
        progress = await alert_store.progress(alert)
        assert progress.pending > 50  # the reply didn't wait behind the alert's queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_final_report_reaches_the_coordinator(
    fast_telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    db: Database,
    clock: FakeClock,
    alert_store: AlertStore,
    composer: Composer,
    alerts_flow: AlertsFlow,
) -> None:
    clock.now = utcnow()
    await leader(alert_store, "telegram", "7001", clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("all",), text="x", created_by="telegram:9",
                                channels=ALL, report_to=("telegram", "9"))  # fmt: skip
    dispatcher = dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram},
                                on_finished=alerts_flow.finished, progress_every=0.05)  # fmt: skip
    await run_until_done(dispatcher, alert_store, alert)
    await dispatcher.report()
    notes = await db.pending_notifications(["telegram"])
    report = next(n for n in notes if n.user_id == "9")
    assert f"Alert {alert.reference}: finished" in report.body["text"]
    assert "Sent 1" in report.body["text"] and "of 1" in report.body["text"]
    assert timedelta(0) <= utcnow() - alert.created_at < timedelta(minutes=1)


async def test_the_coordinator_sees_progress_change_in_place(tmp_path: Path, telegram_api: FakeBotApi) -> None:
    """In the coordinator's own language (Bengali here, drafts shown)."""
    settings = telegram_settings(tmp_path, telegram_api, coordinators="telegram:9", translation_min_status="draft")
    async with open_app(settings, database=tmp_path / "live.db") as app:
        channel = TelegramChannel(telegram_options(settings), app.engine, app.db, backoff=0.01)
        await channel.start()
        try:
            await app.db.set_language("telegram", "9", "bn")
            with app.engine.copy.speaking("bn"):
                refresh = app.engine.copy["alerts_refresh"]
            assert refresh != "Refresh"
            now = utcnow()
            for chat in range(8001, 8016):
                await app.alerts.save_subscriber("telegram", str(chat), kind="leader", status="approved",
                                                 boroughs=["all"], now=now)  # fmt: skip
            alert = await app.composer.send(kind="urgent", audience="leaders", areas=["all"], text="x",
                                            created_by="telegram:9", channels=ALL,
                                            report_to=("telegram", "9"))  # fmt: skip
            channel.rate_limit = 10  # slow enough to watch: three batches of five
            dispatcher = alerts_dispatcher(app, {"telegram": channel}, idle_wait=0.02, progress_every=0.05)
            await run_until_done(dispatcher, app.alerts, alert)
            await dispatcher.report()
        finally:
            await channel.stop()
        first = await telegram_api.called("sendMessage", lambda p: p.get("chat_id") == 9)
        assert alert.reference in first.params["text"] and "sending" not in first.params["text"]
        assert first.params["reply_markup"]["inline_keyboard"][0][0]["text"] == refresh
        edits = [c.params for c in telegram_api.calls if c.method == "editMessageText"]
        assert edits and len({e["message_id"] for e in edits}) == 1  # one message, changed in place
        assert all(e["chat_id"] == 9 for e in edits)
        assert len({e["text"] for e in edits}) == len(edits)  # edited only when something changed
        notes = await app_notes(tmp_path / "live.db")
        assert any(alert.reference in text and "finished" not in text for text in notes)  # in Bengali too


async def app_notes(path: Path) -> list[str]:
    db = await Database.open(path)
    try:
        return [n.body["text"] for n in await db.pending_notifications(["telegram"])]
    finally:
        await db.close()


async def test_an_urgent_alert_overtakes_a_running_broadcast(
    fast_telegram: TelegramChannel, telegram_api: FakeBotApi, clock: FakeClock, alert_store: AlertStore,
    composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    # A reassurance waits out quiet hours (22:00-07:00 in London): compose it at a past noon, in the
    # day, while the dispatcher sends on the real clock, whatever the hour the test runs at.
    noon = datetime(2026, 6, 1, 12, tzinfo=UTC)
    clock.now = noon
    chats = list(range(5001, 5301))
    for chat in chats:
        await leader(alert_store, "telegram", str(chat), clock)
    await alert_store.save_subscriber("telegram", "9999", kind="leader", status="approved", name="N", role="Imam",
                                      place="Masjid", boroughs=("Camden",), now=clock())  # fmt: skip
    calm = await composer.send(kind="reassurance", audience="leaders", areas=("Newham",), text="All calm",
                               created_by="cli", channels=ALL)  # fmt: skip
    task = asyncio.create_task(dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram}).run())
    try:
        assert await eventually(lambda: _async(len(telegram_api.sent()) >= 20))  # the broadcast is under way
        clock.now = noon + timedelta(seconds=1)
        urgent = await composer.send(kind="urgent", audience="leaders", areas=("Camden",), text="Doors shut",
                                     created_by="cli", channels=ALL)  # fmt: skip
        assert await eventually(lambda: _async(bool(telegram_api.sent(9999))), within=10)
        position = next(i for i, sent in enumerate(telegram_api.sent()) if sent["chat_id"] == 9999)
        assert position < len(chats) - 100, position  # well before the 300 of the broadcast are done
        assert urgent.reference in telegram_api.sent(9999)[0]["text"]

        async def finished() -> bool:
            return (await alert_store.progress(calm)).done

        assert await eventually(finished, within=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await alert_store.progress(calm)).sent == len(chats) and len(telegram_api.sent()) == len(chats) + 1


async def _async(value: bool) -> bool:
    return value


async def test_withdrawn_mid_broadcast_nothing_more_goes_and_a_correction_reaches_exactly_who_got_it(
    fast_telegram: TelegramChannel, telegram_api: FakeBotApi, clock: FakeClock, alert_store: AlertStore,
    composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    clock.now = datetime(2026, 6, 1, 12, tzinfo=UTC)  # a past noon: due at once on the real clock
    chats = list(range(6001, 6121))
    for chat in chats:
        await leader(alert_store, "telegram", str(chat), clock)
    fast_telegram.rate_limit = 40  # three seconds for everyone: time to withdraw it on the way
    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Avoid Green Street",
                                created_by="cli", channels=ALL)  # fmt: skip
    task = asyncio.create_task(dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram}).run())
    try:
        assert await eventually(lambda: _async(len(telegram_api.sent()) >= 20))
        await alerts_flow.withdraw(alert, "cli", clock())

        async def settled() -> bool:
            return (await alert_store.progress(alert)).done

        assert await eventually(settled)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    progress = await alert_store.progress(alert)
    got = {int(m["chat_id"]) for m in telegram_api.sent()}
    assert progress.sent == len(got) == len(telegram_api.sent()) and progress.cancelled == len(chats) - len(got) > 0
    # Restarted, the dispatcher finds nothing of it to send.
    again = dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram})
    assert await again.send_due("telegram") == 0 and len(telegram_api.sent()) == len(got)

    correction = await composer.follow_up(alert, kind="correction", text="It is Upton Lane", created_by="cli")
    assert correction.total == len(got)
    await run_until_done(again, alert_store, correction)
    for chat in chats:
        messages = [m["text"] for m in telegram_api.sent(chat)]
        if chat in got:
            assert len(messages) == 2 and "Correction to alert" in messages[1], (chat, messages)
            assert alert.reference in messages[1] and correction.reference not in messages[1]
        else:
            assert messages == [], chat


async def test_an_escalation_reminds_over_telegram_those_who_have_not_answered(
    fast_telegram: TelegramChannel, telegram_api: FakeBotApi, db: Database, clock: FakeClock,
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    clock.now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    for chat in (7101, 7102, 7103):
        await leader(alert_store, "telegram", str(chat), clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Doors shut",
                                created_by="cli", channels=ALL, escalate_after=timedelta(minutes=15))  # fmt: skip
    dispatcher = dispatcher_for(alert_store, alerts_flow, {"telegram": fast_telegram},
                                on_tick=alerts_flow.escalate_due, progress_every=0.02)  # fmt: skip
    await run_until_done(dispatcher, alert_store, alert)
    [(answered,)] = await db.query("SELECT id FROM alert_deliveries WHERE user_id = '7101'")
    await alert_store.acknowledge(int(answered), "received", clock())
    clock.advance(minutes=15)  # the alerts flow's clock: the escalation is due
    task = asyncio.create_task(dispatcher.run())
    try:
        assert await eventually(lambda: _async(len(telegram_api.sent()) == 5))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [len(telegram_api.sent(chat)) for chat in (7101, 7102, 7103)] == [1, 2, 2]
    reminder = telegram_api.sent(7102)[1]["text"]
    assert f"Reminder: alert {alert.reference}" in reminder and "Doors shut" in reminder
    notes = await db.pending_notifications(["console", "telegram", "whatsapp"])
    assert any(f"Alert {alert.reference}: 2 faith leaders have not acknowledged it" in n.body["text"] for n in notes)


async def test_community_alerts_are_also_posted_to_the_telegram_community_channel(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock,
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    settings = telegram_settings(tmp_path, telegram_api, telegram_rate_limit=100,
                                 telegram_community_channel="@faithsafety_ldn")  # fmt: skip
    composer.community_channel = settings.telegram_community_channel
    channel = TelegramChannel(telegram_options(settings), engine, db, backoff=0.01)
    await channel.start()
    try:
        clock.now = datetime(2026, 6, 1, 12, tzinfo=UTC)
        await alert_store.save_subscriber("telegram", "8101", kind="community", status="approved",
                                          boroughs=("all",), now=clock())  # fmt: skip
        await leader(alert_store, "telegram", "8102", clock)
        dispatcher = dispatcher_for(alert_store, alerts_flow, {"telegram": channel})
        leaders_only = await composer.send(kind="urgent", audience="leaders", areas=("all",), text="Doors shut",
                                           created_by="cli", channels=ALL)  # fmt: skip
        await run_until_done(dispatcher, alert_store, leaders_only)
        assert telegram_api.sent("@faithsafety_ldn") == []  # leaders' alerts stay with leaders
        calm = await composer.send(kind="urgent", audience="all", areas=("all",), text="All calm tonight",
                                   created_by="cli", channels=ALL)  # fmt: skip
        assert calm.total == 3
        await run_until_done(dispatcher, alert_store, calm)
        [post] = telegram_api.sent("@faithsafety_ldn")
        assert "All calm tonight" in post["text"] and calm.reference in post["text"]
        assert "reply_markup" not in post or not post["reply_markup"]  # nobody in a channel can answer it
        assert telegram_api.sent(8101)[-1].get("reply_markup")  # a member still gets Received / Need help
        fixed = await composer.follow_up(calm, kind="correction", text="Calm, and the hall is open", created_by="cli")
        await run_until_done(dispatcher, alert_store, fixed)
        assert "Correction to alert" in telegram_api.sent("@faithsafety_ldn")[-1]["text"]
    finally:
        await channel.stop()


async def test_a_second_coordinator_approves_an_alert_from_its_notice_on_telegram(
    telegram: TelegramChannel, telegram_api: FakeBotApi, engine: Engine, db: Database, clock: FakeClock,
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow,
) -> None:  # fmt: skip
    composer.approvals = 2
    await db.set_coordinator("telegram", "555", True, clock())
    await leader(alert_store, "telegram", "7301", clock)
    alert = await composer.send(kind="vigilance", audience="leaders", areas=("Newham",), text="Patrols tonight",
                                created_by="console:coord", channels=ALL)  # fmt: skip
    await alerts_flow.ask_approval(alert)
    assert await Notifier(db, engine, {"telegram": telegram}, clock).send_pending() == 1
    [asked] = telegram_api.sent(555)
    assert "needs your approval" in asked["text"] and "Patrols tonight" in asked["text"]
    buttons = [b["callback_data"] for row in asked["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[:2] == [f"alr-appr:{alert.id}", f"alr-refuse:{alert.id}"]
    telegram_api.push(button_press(f"alr-appr:{alert.id}", user_id=555))
    approved = await telegram_api.called("sendMessage", lambda p: "Approved" in str(p.get("text")))
    assert approved.params["chat_id"] == 555
    decided = await alert_store.alert(alert.id)
    assert decided is not None and decided.approval == "approved" and decided.decided_by == "telegram:555"
    assert (await alert_store.progress(decided)).pending == 1  # queued for the leader now
