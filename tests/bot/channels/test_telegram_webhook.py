"""Telegram's webhook over real HTTP: the secret is checked, bad bodies are refused, good updates
reach the bot."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.app import telegram_options
from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.store import Database
from bot.web import MAX_BODY
from tests.bot.channels.conftest import WEBHOOK_SECRET as SECRET
from tests.bot.channels.conftest import WEBHOOK_URL, telegram_settings
from tests.conftest import eventually
from tests.fakes.telegram_api import FakeBotApi, private_message


def update(text: str, user_id: int = 111, update_id: int = 1) -> dict[str, object]:
    return {"update_id": update_id, **private_message(text, user_id=user_id)}


async def post(base: str, body: bytes | dict[str, object], secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(f"{base}/telegram/webhook", content=content, headers=headers)


async def test_start_registers_the_webhook_with_its_secret(
    webhook: tuple[str, TelegramChannel], telegram_api: FakeBotApi
) -> None:
    call = await telegram_api.called("setWebhook")
    assert call.params["url"] == WEBHOOK_URL
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]


async def test_an_update_with_the_secret_is_handled(
    webhook: tuple[str, TelegramChannel], telegram_api: FakeBotApi
) -> None:
    base, _ = webhook
    response = await post(base, update("what is true vision"))
    assert response.status_code == 200
    reply = await telegram_api.called("sendMessage")
    assert "True Vision" in reply.params["text"]


async def test_wrong_or_missing_secret_is_refused_and_nothing_is_handled(
    webhook: tuple[str, TelegramChannel], telegram_api: FakeBotApi
) -> None:
    base, _ = webhook
    assert (await post(base, update("/start", user_id=1, update_id=1), secret="guess")).status_code == 403
    assert (await post(base, update("/start", user_id=2, update_id=2), secret=None)).status_code == 403
    assert (await post(base, update("/start", user_id=3, update_id=3))).status_code == 200
    await telegram_api.called("sendMessage", lambda p: p["chat_id"] == 3)
    assert [p["chat_id"] for p in telegram_api.sent()] == [3]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"hello": "world"}', b"\xff\xfe", b'{"update_id": "x"}'])
async def test_malformed_bodies_get_400_and_the_app_keeps_serving(
    webhook: tuple[str, TelegramChannel], telegram_api: FakeBotApi, body: bytes
) -> None:
    base, _ = webhook
    assert (await post(base, body)).status_code == 400
    assert (await post(base, update("/start", user_id=7, update_id=9))).status_code == 200
    await telegram_api.called("sendMessage", lambda p: p["chat_id"] == 7)


async def test_oversized_bodies_are_refused_before_reading_them(webhook: tuple[str, TelegramChannel]) -> None:
    base, _ = webhook
    assert (await post(base, b"x" * (MAX_BODY + 1))).status_code == 413


async def test_an_update_posted_five_times_is_answered_once(
    webhook: tuple[str, TelegramChannel], telegram_api: FakeBotApi, db: Database
) -> None:
    base, _ = webhook
    for _ in range(5):  # Telegram retrying, or a replay
        assert (await post(base, update("what is true vision", update_id=77))).status_code == 200
    await telegram_api.called("sendMessage")
    assert await eventually(lambda: _handled(db, "77"))
    await post(base, update("what is tell mama", update_id=78))  # a later update, handled after them
    await telegram_api.called("sendMessage", lambda p: "Tell MAMA" in p["text"])
    assert len(telegram_api.sent(111)) == 2


async def test_an_update_a_crash_interrupted_is_handled_on_start(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> None:
    # Written to the inbox and answered 200, then the process was killed before handling it.
    await db.receive("telegram", "90", json.dumps(update("what is true vision", update_id=90)), datetime.now(UTC))
    settings = telegram_settings(
        tmp_path, telegram_api, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET
    )
    channel = TelegramChannel(telegram_options(settings), engine, db)
    await channel.start()
    try:
        reply = await telegram_api.called("sendMessage")
        assert "True Vision" in reply.params["text"]
        assert await eventually(lambda: _handled(db, "90"))
    finally:
        await channel.stop()
    [(payload,)] = await db.query("SELECT payload FROM inbox")
    assert payload is None  # what they wrote is not kept once handled


async def _handled(db: Database, key: str) -> bool:
    rows = await db.query("SELECT handled_at FROM inbox WHERE channel = 'telegram' AND key = ?", (key,))
    return bool(rows) and rows[0][0] is not None


async def test_a_body_that_stops_arriving_is_refused_without_a_traceback(
    webhook: tuple[str, TelegramChannel], caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = webhook
    host, port = base.removeprefix("http://").split(":")
    caplog.set_level(logging.DEBUG, logger="bot.http_body")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /telegram/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: 500\r\n\r\n".encode()
        + b'{"update_id": 1, "mess'
    )
    await writer.drain()
    writer.close()  # the client goes away mid-body
    await writer.wait_closed()
    assert await eventually(lambda: _logged(caplog, "sent only part of a request body"))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_absurdly_deep_json_gets_400(webhook: tuple[str, TelegramChannel]) -> None:
    base, _ = webhook
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/telegram/webhook", content=deep, headers=headers)
        assert response.status_code == 400
        nested = b'{"update_id": 5, "message": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
        assert (await client.post(f"{base}/telegram/webhook", content=nested, headers=headers)).status_code == 400
        assert (await client.get(f"{base}/healthz")).status_code == 200


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text
