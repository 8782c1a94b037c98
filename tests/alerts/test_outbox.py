"""Who an alert reaches, quiet hours, the outbox's transaction and leases, and the dispatcher's
retries and classification, with a scripted in-memory sender and an injected clock."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import (
    Alert,
    AlertError,
    AlertMessage,
    AlertStore,
    Composer,
    Delivery,
    Dispatcher,
    Outcome,
    Progress,
    Result,
    Subscriber,
    parse_areas,
    quiet_until,
)
from bot.content import Content
from bot.store import Database
from tests.conftest import FakeClock

LONDON = ZoneInfo("Europe/London")
CHANNELS = ("console", "telegram", "whatsapp")


async def add(
    store: AlertStore,
    clock: FakeClock,
    user: str,
    boroughs: tuple[str, ...] = ("Newham",),
    *,
    channel: str = "telegram",
    kind: str = "leader",
    status: str = "approved",
) -> Subscriber:
    subscriber, _ = await store.save_subscriber(
        channel, user, kind=kind, status=status, name=f"Name {user}", role="Imam", place="Masjid",
        boroughs=boroughs, now=clock(),
    )  # fmt: skip
    return subscriber


async def reach(composer: Composer, audience: str, areas: tuple[str, ...]) -> set[str]:
    return {s.user_id for s in (await composer.preview(audience, areas, CHANNELS)).recipients}


# --- who an alert reaches -------------------------------------------------------------------------
async def test_areas_and_audience_pick_the_recipients(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await add(alert_store, clock, "newham-leader", ("Newham",))
    await add(alert_store, clock, "two-boroughs", ("Barnet", "Tower Hamlets"))
    await add(alert_store, clock, "everywhere", ("all",))
    await add(alert_store, clock, "camden-leader", ("Camden",))
    await add(alert_store, clock, "waiting", ("Newham",), status="pending")
    await add(alert_store, clock, "turned-down", ("Newham",), status="rejected")
    await add(alert_store, clock, "member", ("Newham",), kind="community")

    assert await reach(composer, "leaders", ("Newham",)) == {"newham-leader", "everywhere"}
    assert await reach(composer, "leaders", ("Tower Hamlets", "Camden")) == {
        "two-boroughs",
        "everywhere",
        "camden-leader",
    }
    assert await reach(composer, "community", ("Newham",)) == {"member"}
    assert await reach(composer, "all", ("Newham",)) == {"newham-leader", "everywhere", "member"}
    assert await reach(composer, "leaders", ("all",)) == {
        "newham-leader",
        "two-boroughs",
        "everywhere",
        "camden-leader",
    }


async def test_opted_out_and_blocked_people_get_no_alerts(
    alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    for user in ("stays", "sent-stop", "blocked-bot"):
        await add(alert_store, clock, user)
    await db.set_opted_out("telegram", "sent-stop", clock())
    await db.mark_blocked("telegram", "blocked-bot", clock())
    assert await reach(composer, "leaders", ("all",)) == {"stays"}
    await db.set_opted_out("telegram", "sent-stop", None)  # START again
    assert await reach(composer, "leaders", ("all",)) == {"stays", "sent-stop"}


async def test_recipients_past_a_page_of_subscribers_are_all_found(
    alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    """Recipients are read a page (5,000) at a time: everyone on either side of a page's end is found."""
    now = clock().isoformat()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscribers (channel, user_id, kind, status, boroughs, created_at, updated_at)"
            " VALUES ('telegram', ?, 'leader', ?, ?, ?, ?)",
            [(str(i), "pending" if i % 7 == 0 else "approved", "Camden" if i % 3 == 0 else "Newham;Barnet", now, now)
             for i in range(10_003)],
        )  # fmt: skip
    newham = await reach(composer, "leaders", ("Newham",))
    assert newham == {str(i) for i in range(10_003) if i % 7 and i % 3}
    assert len(await reach(composer, "leaders", ("all",))) == sum(1 for i in range(10_003) if i % 7)


async def test_only_channels_in_use_are_counted(alert_store: AlertStore, composer: Composer, clock: FakeClock) -> None:
    await add(alert_store, clock, "111", channel="telegram")
    await add(alert_store, clock, "+447911123456", channel="whatsapp")
    preview = await composer.preview("leaders", ("all",), ("telegram",))
    assert preview.by_channel == {"telegram": 1}


def test_areas_are_matched_to_the_borough_list(composer: Composer) -> None:
    assert parse_areas("newham; TOWER  hamlets", composer.boroughs) == ("Newham", "Tower Hamlets")
    assert parse_areas("Newham;all", composer.boroughs) == ("all",)
    assert len(composer.boroughs) == 33  # the 32 London boroughs and the City of London
    with pytest.raises(AlertError, match="Narnia"):
        parse_areas("Newham;Narnia", composer.boroughs)
    with pytest.raises(AlertError):
        parse_areas(" ; ", composer.boroughs)


# --- quiet hours ------------------------------------------------------------------------------------
def person(quiet_start: str = "22:00", quiet_end: str = "07:00") -> Subscriber:
    return Subscriber(1, "telegram", "1", "leader", "approved", "", "", "", ("all",), quiet_start, quiet_end)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 26, 12, 0, tzinfo=UTC), datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),  # daytime: now
        (datetime(2026, 11, 26, 23, 30, tzinfo=UTC), datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),  # night: 07:00
        (datetime(2026, 11, 27, 3, 0, tzinfo=UTC), datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),  # small hours
        (datetime(2026, 11, 26, 22, 0, tzinfo=UTC), datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),  # starts at 22:00
        (datetime(2026, 11, 27, 7, 0, tzinfo=UTC), datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),  # ends at 07:00
        # British Summer Time: 22:30 local is 21:30 UTC, and 07:00 local is 06:00 UTC.
        (datetime(2026, 6, 10, 21, 30, tzinfo=UTC), datetime(2026, 6, 11, 6, 0, tzinfo=UTC)),
        (datetime(2026, 6, 10, 20, 30, tzinfo=UTC), datetime(2026, 6, 10, 20, 30, tzinfo=UTC)),
    ],
)
def test_quiet_hours_are_local(utc: datetime, expected: datetime) -> None:
    assert quiet_until(utc, person(), LONDON) == expected


def test_quiet_hours_within_one_day() -> None:
    nap = person("13:00", "14:00")
    assert quiet_until(datetime(2026, 11, 26, 13, 30, tzinfo=UTC), nap, LONDON) == datetime(
        2026, 11, 26, 14, 0, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 11, 26, 15, 0, tzinfo=UTC), nap, LONDON).hour == 15


async def test_night_alerts_wait_for_the_morning_unless_urgent(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await add(alert_store, clock, "111")
    clock.now = datetime(2026, 11, 26, 23, 15, tzinfo=UTC)
    for kind in ("reassurance", "vigilance", "urgent"):
        alert = await composer.send(
            kind=kind, audience="leaders", areas=("Newham",), text="Text", created_by="console:coord", channels=CHANNELS
        )
        due = await alert_store.claim("telegram", clock(), 10, timedelta(seconds=30))
        assert [d.alert_id for d in due] == ([alert.id] if kind == "urgent" else [])
    clock.now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    waiting = await alert_store.claim("telegram", clock(), 10, timedelta(seconds=30))
    assert len(waiting) == 2  # the reassurance and vigilance alerts, at 07:00


async def test_an_alert_for_nobody_is_refused(alert_store: AlertStore, composer: Composer, clock: FakeClock) -> None:
    await add(alert_store, clock, "111", ("Camden",))
    with pytest.raises(AlertError, match="nobody"):
        await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="x", created_by="cli",
                            channels=CHANNELS)  # fmt: skip
    assert await alert_store.alerts() == []


async def test_a_scheduled_alert_waits_for_its_time(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await add(alert_store, clock, "111")
    later = clock() + timedelta(hours=2)
    await composer.send(kind="urgent", audience="leaders", areas=("all",), text="At two", created_by="cli",
                        channels=CHANNELS, send_at=later)  # fmt: skip
    assert await alert_store.claim("telegram", clock(), 10, timedelta(seconds=30)) == []
    clock.advance(hours=2)
    assert len(await alert_store.claim("telegram", clock(), 10, timedelta(seconds=30))) == 1
    with pytest.raises(AlertError, match="passed"):
        await composer.send(kind="urgent", audience="leaders", areas=("all",), text="Late", created_by="cli",
                            channels=CHANNELS, send_at=clock() - timedelta(hours=1))  # fmt: skip


# --- the outbox -------------------------------------------------------------------------------------
async def test_alert_and_deliveries_are_written_together(alert_store: AlertStore, clock: FakeClock) -> None:
    fields = {"reference": "A-TEST", "kind": "urgent", "audience": "leaders", "areas": ["all"], "text": "x",
              "created_by": "cli", "send_at": clock()}  # fmt: skip
    twice = [("telegram", "1", clock()), ("telegram", "1", clock())]  # the second breaks a unique rule
    with pytest.raises(Exception, match="UNIQUE"):
        await alert_store.create_alert(fields, twice, clock())
    assert await alert_store.alerts() == []  # nothing half-written
    assert await alert_store.db.query("SELECT count(*) FROM alert_deliveries") == [(0,)]


async def test_references_are_short_readable_and_unique(
    alert_store: AlertStore, clock: FakeClock, content: Content
) -> None:
    composer = Composer(alert_store, LONDON, clock, content.boroughs, rng=random.Random(1))
    await add(alert_store, clock, "111")
    seen = set()
    for _ in range(30):
        alert = await composer.send(kind="reassurance", audience="all", areas=("all",), text="Hello",
                                    created_by="cli", channels=CHANNELS)  # fmt: skip
        assert len(alert.reference) == 6 and alert.reference.startswith("A-")
        assert not set(alert.reference[2:]) & set("01OIL")
        seen.add(alert.reference)
    assert len(seen) == 30


async def test_a_claim_is_leased_and_freed_when_its_sender_dies(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    for user in ("1", "2", "3"):
        await add(alert_store, clock, user)
    await composer.send(
        kind="urgent", audience="leaders", areas=("all",), text="x", created_by="cli", channels=CHANNELS
    )
    lease = timedelta(seconds=30)
    first = await alert_store.claim("telegram", clock(), 2, lease)
    assert [d.user_id for d in first] == ["1", "2"] and all(d.attempts == 1 for d in first)
    second = await alert_store.claim("telegram", clock(), 10, lease)
    assert [d.user_id for d in second] == ["3"]  # claimed ones aren't handed out twice
    assert await alert_store.release_expired(clock() + timedelta(seconds=29)) == 0
    assert await alert_store.release_expired(clock() + lease) == 3  # the sender died: all go back
    again = await alert_store.claim("telegram", clock() + lease, 10, lease)
    assert sorted(d.user_id for d in again) == ["1", "2", "3"] and all(d.attempts == 2 for d in again)


# --- the dispatcher, with a scripted sender ----------------------------------------------------------
class Scripted:
    """A Sender whose answers the test sets per person: a list of outcomes, used in turn."""

    channel = "telegram"
    rate_limit = 1000.0

    def __init__(self) -> None:
        self.script: dict[str, list[Outcome | Exception]] = {}
        self.sent: list[tuple[str, AlertMessage]] = []

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        answers = self.script.get(user_id) or []
        answer = answers.pop(0) if answers else Outcome(Result.SENT, message_id=f"m-{user_id}")
        if isinstance(answer, Exception):
            raise answer
        if answer.result is Result.SENT:
            self.sent.append((user_id, message))
        return answer


def message_for(alert: Alert, delivery: Delivery) -> AlertMessage:
    return AlertMessage(f"{alert.reference}: {alert.text}", ((f"alr-ack:{delivery.id}", "Received"),))


@pytest.fixture
def sender() -> Scripted:
    return Scripted()


@pytest.fixture
def dispatcher(alert_store: AlertStore, sender: Scripted, clock: FakeClock) -> Dispatcher:
    return Dispatcher(alert_store, {"telegram": sender}, clock, message_for, max_attempts=3, base_delay=10,
                      rng=random.Random(3))  # fmt: skip


async def broadcast(alert_store: AlertStore, composer: Composer, clock: FakeClock, users: list[str]) -> Alert:
    for user in users:
        await add(alert_store, clock, user)
    return await composer.send(
        kind="urgent", audience="leaders", areas=("all",), text="Stay safe", created_by="cli", channels=CHANNELS
    )


async def drain(dispatcher: Dispatcher, clock: FakeClock, rounds: int = 20) -> None:
    """Send what is due, moving the clock on past every backoff, until nothing is left."""
    for _ in range(rounds):
        await dispatcher.send_due("telegram")
        clock.advance(seconds=700)


async def test_every_recipient_ends_sent_or_failed_with_a_reason(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, sender: Scripted, dispatcher: Dispatcher
) -> None:
    sender.script = {
        "flaky": [Outcome(Result.RETRY, "Telegram 500"), Outcome(Result.RETRY, "network (ConnectError)")],
        "raises": [RuntimeError("a bug in a sender")],
        "blocked": [Outcome(Result.FAILED, "blocked the bot")],
        "hopeless": [Outcome(Result.RETRY, "Telegram 502")] * 5,
    }
    alert = await broadcast(alert_store, composer, clock, ["ok", "flaky", "raises", "blocked", "hopeless"])
    await drain(dispatcher, clock)
    progress = await alert_store.progress(alert)
    assert progress.pending == 0 and progress.total == 5
    assert progress.sent == 3  # ok, flaky (third try), raises (second try)
    assert progress.failed_by_reason == {"blocked the bot": 1, "gave up after 3 attempts (Telegram 502)": 1}
    assert sorted(user for user, _ in sender.sent) == ["flaky", "ok", "raises"]  # each exactly once
    text = sender.sent[0][1].text
    assert text.startswith(alert.reference)


async def test_failures_back_off_with_jitter(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, sender: Scripted, dispatcher: Dispatcher
) -> None:
    sender.script = {"flaky": [Outcome(Result.RETRY, "Telegram 500")]}
    await broadcast(alert_store, composer, clock, ["flaky"])
    start = clock()
    await dispatcher.send_due("telegram")
    rows = await alert_store.db.query("SELECT status, not_before FROM alert_deliveries")
    assert rows[0][0] == "pending"
    wait = datetime.fromisoformat(rows[0][1]) - start
    assert timedelta(0) < wait <= timedelta(seconds=10)  # up to base_delay on the first failure
    assert await dispatcher.send_due("telegram") == 0  # not due yet
    clock.now = start + wait
    assert await dispatcher.send_due("telegram") == 1


async def test_flood_control_pauses_the_channel_for_as_long_as_told(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, sender: Scripted, dispatcher: Dispatcher
) -> None:
    sender.script = {"a": [Outcome(Result.RETRY, "flood control", retry_after=12)]}
    await broadcast(alert_store, composer, clock, ["a"])
    await dispatcher.send_due("telegram")
    rows = await alert_store.db.query("SELECT not_before FROM alert_deliveries")
    assert datetime.fromisoformat(rows[0][0]) == clock() + timedelta(seconds=12)
    assert dispatcher._paused_until["telegram"] == clock() + timedelta(seconds=12)
    clock.advance(seconds=12)
    assert await dispatcher.send_due("telegram") == 1
    assert [user for user, _ in sender.sent] == ["a"]


async def test_the_sender_is_told_of_the_final_report_once(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, sender: Scripted
) -> None:
    reports: list[Progress] = []
    shown: list[Progress] = []

    async def finished(_alert: Alert, progress: Progress) -> None:
        reports.append(progress)

    async def live(_alert: Alert, progress: Progress) -> None:
        shown.append(progress)

    dispatcher = Dispatcher(alert_store, {"telegram": sender}, clock, message_for, on_finished=finished,
                            on_progress=live)  # fmt: skip
    for user in ("1", "2"):
        await add(alert_store, clock, user)
    await composer.send(kind="urgent", audience="leaders", areas=("all",), text="x", created_by="console:coord",
                        channels=CHANNELS, report_to=("console", "coord"))  # fmt: skip
    await dispatcher.report()
    assert len(shown) == 1 and shown[0].pending == 2 and reports == []
    await dispatcher.report()
    assert len(shown) == 1  # nothing changed: not shown again
    await dispatcher.send_due("telegram")
    await dispatcher.report()
    await dispatcher.report()
    assert len(reports) == 1 and reports[0].sent == 2 and reports[0].done


async def test_delivery_reports_and_answers_are_counted(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, dispatcher: Dispatcher
) -> None:
    alert = await broadcast(alert_store, composer, clock, ["1", "2", "3"])
    await dispatcher.send_due("telegram")
    await alert_store.report_delivery("m-1", "delivered")
    await alert_store.report_delivery("m-2", "undelivered", 63024)
    await alert_store.report_delivery("m-unknown", "delivered")  # not an alert's message: ignored
    rows = await alert_store.db.query("SELECT id FROM alert_deliveries WHERE user_id = '3'")
    await alert_store.acknowledge(rows[0][0], "help", clock())
    progress = await alert_store.progress(alert)
    assert (progress.sent, progress.delivered, progress.failed) == (0, 2, 1)
    assert progress.failed_by_reason == {"undelivered (code 63024)": 1}
    assert (progress.acknowledged, progress.need_help) == (1, 1)


async def test_a_console_window_delivers_only_its_own_persons_alerts(
    alert_store: AlertStore, composer: Composer, clock: FakeClock, sender: Scripted
) -> None:
    alert = await broadcast(alert_store, composer, clock, ["bob", "carol"])
    bobs_window = Dispatcher(alert_store, {"telegram": sender}, clock, message_for, only_user="bob")
    await bobs_window.send_due("telegram")
    assert [user for user, _ in sender.sent] == ["bob"]
    assert (await alert_store.progress(alert)).pending == 1  # carol's waits for her own window
    carols_window = Dispatcher(alert_store, {"telegram": sender}, clock, message_for, only_user="carol")
    await carols_window.send_due("telegram")
    assert [user for user, _ in sender.sent] == ["bob", "carol"]


async def test_urgent_deliveries_are_claimed_before_an_earlier_broadcast(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    for i in range(30):
        await add(alert_store, clock, f"member-{i}", ("Newham",))
    await add(alert_store, clock, "camden", ("Camden",))
    calm = await composer.send(kind="reassurance", audience="leaders", areas=("Newham",), text="All calm",
                               created_by="cli", channels=CHANNELS)  # fmt: skip
    watch = await composer.send(kind="vigilance", audience="leaders", areas=("all",), text="Stay alert",
                                created_by="cli", channels=CHANNELS)  # fmt: skip
    urgent = await composer.send(kind="urgent", audience="leaders", areas=("Camden",), text="Doors shut",
                                 created_by="cli", channels=CHANNELS)  # fmt: skip
    claimed = await alert_store.claim("telegram", clock(), 40, timedelta(seconds=30))
    order = [d.alert_id for d in claimed]
    assert order[0] == urgent.id  # queued last, claimed first
    assert order[1 : 1 + watch.total] == [watch.id] * watch.total  # then vigilance, then reassurance
    assert order[1 + watch.total :] == [calm.id] * (len(order) - 1 - watch.total)


async def test_a_withdrawn_alert_sends_nothing_more_even_after_a_restart(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    for i in range(5):
        await add(alert_store, clock, f"leader-{i}", ("Newham",))
    alert = await composer.send(kind="vigilance", audience="leaders", areas=("Newham",), text="Stay alert",
                                created_by="cli", channels=CHANNELS)  # fmt: skip
    in_flight = await alert_store.claim("telegram", clock(), 2, timedelta(seconds=30))  # a batch being sent
    assert await alert_store.cancel(alert, "cli:amina", clock()) == 5
    assert await alert_store.cancel(alert, "cli:amina", clock()) == 0  # once
    # The batch in flight comes back: one went, one asks to be retried (it never will be).
    await alert_store.finish([(in_flight[0].id, "sent", {"sent_at": clock().isoformat()}),
                              (in_flight[1].id, "pending", {"not_before": clock().isoformat()})])  # fmt: skip
    clock.advance(minutes=5)
    assert await alert_store.release_expired(clock()) == 0  # a dead dispatcher's claims: none to free
    assert await alert_store.claim("telegram", clock(), 10, timedelta(seconds=30)) == []
    progress = await alert_store.progress(alert)
    assert (progress.sent, progress.cancelled, progress.pending, progress.done) == (1, 4, 0, True)
    withdrawn = await alert_store.alert(alert.id)
    assert (
        withdrawn is not None
        and withdrawn.cancelled_by == "cli:amina"
        and withdrawn.cancelled_at == clock.now - timedelta(minutes=5)
    )


# --- counts kept as deliveries change, and claims from the index -------------------------------------
async def recount(store: AlertStore, alert: Alert) -> Progress:
    """An alert's progress counted again from every delivery row (what the counts must equal)."""
    rows = await store.db.query(
        "SELECT status, channel, reason, acknowledged, count(*) FROM alert_deliveries WHERE alert_id = ?"
        " GROUP BY status, channel, reason, acknowledged",
        (alert.id,),
    )
    progress = Progress(alert.reference, alert.kind, alert.total)
    for status, channel, reason, acknowledged, count in rows:
        progress.by_channel[channel] = progress.by_channel.get(channel, 0) + count
        if status in ("pending", "sending"):
            progress.pending += count
        elif status in ("sent", "delivered", "cancelled"):
            setattr(progress, status, getattr(progress, status) + count)
        else:
            progress.failed += count
            key = reason or "unknown"
            progress.failed_by_reason[key] = progress.failed_by_reason.get(key, 0) + count
        progress.acknowledged += count if acknowledged else 0
        progress.need_help += count if acknowledged == "help" else 0
    return progress


async def test_progress_counts_are_kept_by_every_change_to_a_delivery(
    alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock, sender: Scripted,
    dispatcher: Dispatcher,
) -> None:  # fmt: skip
    sender.script = {"flaky": [Outcome(Result.RETRY, "Telegram 500")], "gone": [Outcome(Result.FAILED, "refused")],
                     "hopeless": [Outcome(Result.RETRY, "Telegram 502")] * 5}  # fmt: skip
    for user in ("+447911000001", "+447911000002"):
        await add(alert_store, clock, user, channel="whatsapp")
    alert = await broadcast(alert_store, composer, clock, ["ok", "flaky", "gone", "hopeless", "help", "forgets"])
    other = await composer.send(kind="vigilance", audience="leaders", areas=("all",), text="Later",
                                created_by="cli", channels=CHANNELS, send_at=clock() + timedelta(hours=1))  # fmt: skip

    async def counted(step: str) -> None:
        for each in (alert, other):
            assert await alert_store.progress(each) == await recount(alert_store, each), step

    await counted("queued")
    await dispatcher.send_due("telegram")
    await counted("sent, retried, failed")
    await alert_store.report_delivery("m-ok", "delivered")
    await alert_store.report_delivery("m-help", "undelivered", 63024)
    await counted("delivery reports")
    help_id = min(await alert_store.deliveries_of("telegram", "help"))  # the alert's, not the later one's
    await alert_store.acknowledge(help_id, "received", clock())
    await alert_store.acknowledge(help_id, "help", clock())
    await counted("answers")
    await db.forget_user("telegram", "forgets")
    await counted("/forget")
    await drain(dispatcher, clock)
    await counted("retries used up")
    assert await alert_store.resend_failed(alert, ["gave up"], clock()) == 1
    await counted("resent")
    assert await alert_store.cancel(alert, "cli", clock()) == 3  # the resent one and the two on WhatsApp
    await alert_store.cancel(other, "cli", clock())
    await counted("withdrawn")
    progress = await alert_store.progress(alert)
    assert progress.by_channel == {"telegram": 6, "whatsapp": 2}
    assert (progress.sent, progress.delivered, progress.failed, progress.cancelled) == (2, 1, 2, 3)
    assert progress.failed_by_reason == {"refused": 1, "undelivered (code 63024)": 1}
    assert (progress.acknowledged, progress.need_help) == (1, 1)


async def test_a_claim_and_its_recording_read_only_the_rows_they_take(alert_store: AlertStore) -> None:
    def plan(rows: list[tuple[object, ...]]) -> str:
        return "\n".join(str(row[-1]) for row in rows)

    claim = plan(await alert_store.db.query(
        "EXPLAIN QUERY PLAN SELECT d.id, d.alert_id, d.channel, d.user_id, d.attempts, c.language"
        " FROM alert_deliveries d LEFT JOIN contacts c ON c.channel = d.channel AND c.user_id = d.user_id"
        " WHERE d.channel = ? AND d.status = 'pending' AND d.priority = ? AND d.not_before <= ?"
        " ORDER BY d.not_before, d.id LIMIT ?", ("telegram", 0, "2026-01-01", 10),
    ))  # fmt: skip
    assert "SEARCH d USING INDEX alert_deliveries_due (channel=? AND status=? AND priority=? AND not_before<?)" in claim
    assert "SEARCH c USING INDEX sqlite_autoindex_contacts_1 (channel=? AND user_id=?)" in claim
    assert "TEMP B-TREE" not in claim and "SCAN" not in claim  # no sorting, nothing read past the batch
    finish = plan(await alert_store.db.query(
        "EXPLAIN QUERY PLAN UPDATE alert_deliveries SET status = 'sent' WHERE id = ?", (1,)
    ))  # fmt: skip
    assert "SEARCH alert_deliveries USING INTEGER PRIMARY KEY (rowid=?)" in finish
    page = plan(await alert_store.db.query(
        "EXPLAIN QUERY PLAN SELECT s.id FROM subscribers s LEFT JOIN contacts c ON c.channel = s.channel"
        " AND c.user_id = s.user_id WHERE s.status = 'approved' AND s.kind IN ('leader') AND +s.channel IN"
        " ('telegram', 'whatsapp') AND c.opted_out_at IS NULL AND s.id > 5000 ORDER BY s.id LIMIT 5000"
    ))  # fmt: skip
    assert (
        "SEARCH s USING INTEGER PRIMARY KEY (rowid>?)" in page and "TEMP B-TREE" not in page
    )  # a page, from its start
    for sql in (
        "SELECT * FROM alert_counts WHERE alert_id = 1",
        "SELECT reason, count(*) FROM alert_deliveries WHERE alert_id = 1 AND status = 'failed' GROUP BY 1",
        "UPDATE alert_deliveries SET status = 'pending' WHERE status = 'sending' AND lease_until <= '2026'",
    ):
        assert "SCAN" not in plan(await alert_store.db.query(f"EXPLAIN QUERY PLAN {sql}")), sql


async def test_two_follow_ups_written_at_once_take_different_numbers(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    alert = await broadcast(alert_store, composer, clock, ["a", "b"])
    sent = await alert_store.db.query("SELECT id FROM alert_deliveries WHERE alert_id = ?", (alert.id,))
    await alert_store.finish([(int(d), "sent", {"sent_at": clock().isoformat()}) for (d,) in sent])
    first, second = await asyncio.gather(  # two coordinators at the same moment
        composer.follow_up(alert, kind="correction", text="Use the side gate", created_by="cli:amina"),
        composer.follow_up(alert, kind="all-clear", text="All clear", created_by="cli:sam"),
    )
    assert {first.reference, second.reference} == {f"{alert.reference}-1", f"{alert.reference}-2"}
    assert first.shown_reference == second.shown_reference == alert.reference
