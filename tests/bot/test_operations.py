"""What an operator watches: /metrics (Prometheus's text format) and /readyz, over real HTTP,
with the real stores behind them; and the dispatcher's own counters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from alerts import AlertStore, Composer, Dispatcher, Outcome, Result
from bot import metrics
from bot.app import SENDER_STALE, readiness
from bot.dialog import Engine
from bot.store import Database, latest_version
from bot.web import create_web_app
from tests.alerts.test_outbox import Scripted, broadcast, message_for
from tests.conftest import FakeClock, eventually, make_incoming, serving


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, by name and labels (read with prometheus-client's parser)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_show_the_outboxes_as_the_database_has_them(
    db: Database, alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await broadcast(alert_store, composer, clock, ["a", "b", "c"])  # three urgent deliveries, due now
    await db.notify("notice:1", "whatsapp", "+447700900123", '{"text": "hello"}', clock())
    clock.advance(seconds=90)

    async def page() -> bytes:
        return await metrics.exposition({"alerts": alert_store.outbox, "notices": db.notices_waiting}, clock())

    async with serving(create_web_app(metrics=page)) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    seen = samples(response.text)
    assert seen[("safetybot_outbox_pending", (("channel", "telegram"), ("queue", "alerts")))] == 3
    assert seen[("safetybot_outbox_oldest_seconds", (("channel", "telegram"), ("queue", "alerts")))] == 90
    assert seen[("safetybot_outbox_pending", (("channel", "whatsapp"), ("queue", "notices")))] == 1
    assert seen[("safetybot_outbox_oldest_seconds", (("channel", "whatsapp"), ("queue", "notices")))] == 90
    assert "+447700900123" not in response.text and "hello" not in response.text  # counts, not people

    sender = Scripted()
    dispatcher = Dispatcher(alert_store, {"telegram": sender}, clock, message_for, rng=random.Random(1))
    await dispatcher.send_due("telegram")  # sent: the outbox is empty again, and the gauge says so
    async with serving(create_web_app(metrics=page)) as base, httpx.AsyncClient() as client:
        seen = samples((await client.get(f"{base}/metrics")).text)
    assert ("safetybot_outbox_pending", (("channel", "telegram"), ("queue", "alerts"))) not in seen


async def test_a_message_in_is_counted_with_the_time_its_reply_took(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    before = sample("safetybot_messages_in_total", channel="console")
    replies = sample("safetybot_reply_seconds_count", channel="console")
    await engine.handle(make_incoming("how do I report a hate crime?"))
    assert sample("safetybot_messages_in_total", channel="console") == before + 1
    assert sample("safetybot_reply_seconds_count", channel="console") == replies + 1


async def test_alert_sends_and_flood_control_are_counted_per_channel(
    alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    sender = Scripted()
    sender.script = {"a": [Outcome(Result.RETRY, "flood control", retry_after=3)]}
    await broadcast(alert_store, composer, clock, ["a", "b"])
    dispatcher = Dispatcher(alert_store, {"telegram": sender}, clock, message_for, rng=random.Random(1))
    sent, floods = (
        sample("safetybot_alert_sends_total", channel="telegram", result="sent"),
        sample("safetybot_rate_limited_total", channel="telegram"),
    )
    await dispatcher.send_due("telegram")
    assert sample("safetybot_alert_sends_total", channel="telegram", result="sent") == sent + 1
    assert sample("safetybot_rate_limited_total", channel="telegram") == floods + 1


async def test_ready_only_with_the_database_at_this_codes_schema_and_the_sender_going_round(
    db: Database, alert_store: AlertStore, clock: FakeClock
) -> None:
    dispatcher = Dispatcher(alert_store, {"telegram": Scripted()}, clock, message_for)

    async def going_round() -> None:  # the dispatcher runs (for real) until it has gone round once
        running = asyncio.create_task(dispatcher.run())
        assert await eventually(lambda: _true(dispatcher.heartbeat == clock()))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    async with serving(create_web_app(readiness=lambda: readiness(db, dispatcher))) as base:
        async with httpx.AsyncClient() as client:
            starting = await client.get(f"{base}/readyz")
            assert starting.status_code == 503 and starting.json()["status"] == "not ready"
            assert starting.json()["checks"] == {"database": "ok", "migrations": "ok", "sender": "not started yet"}

            await going_round()
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "sender": "ok"}}

            clock.advance(seconds=SENDER_STALE.total_seconds() + 1)  # stuck: it hasn't gone round since
            stuck = await client.get(f"{base}/readyz")
            assert stuck.status_code == 503 and stuck.json()["checks"]["sender"] == "last went round 31 s ago"

            await going_round()
            async with db.transaction() as conn:  # a database migrated by another version of the code
                await conn.execute(f"PRAGMA user_version = {latest_version() - 1}")
            behind = await client.get(f"{base}/readyz")
            assert behind.status_code == 503
            assert behind.json()["checks"]["migrations"] == (
                f"at {latest_version() - 1}, this code needs {latest_version()}: safetybot db migrate"
            )


async def _true(value: bool) -> bool:
    return value
