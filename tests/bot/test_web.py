"""The web app over real HTTP: Telegram's webhook (secret checked, bad bodies refused) and health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.store import Database
from bot.web import MAX_BODY, create_web_app
from tests.conftest import serving, telegram_settings
from tests.fakes.telegram_api import FakeBotApi, private_message

SECRET = "webhook-Secret_42"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"


@pytest.fixture
async def webhook(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> AsyncIterator[tuple[str, TelegramChannel]]:
    settings = telegram_settings(
        tmp_path, telegram_api, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET
    )
    channel = TelegramChannel(settings, engine, db)
    await channel.start()
    async with serving(create_web_app(telegram=channel, telegram_secret=SECRET)) as base:
        yield base, channel
    await channel.stop()


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


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'{"hello": "world"}', b"\xff\xfe", b'{"update_id": "x"}']
)
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


async def test_health_check() -> None:
    async with serving(create_web_app()) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert (await client.post(f"{base}/telegram/webhook", content=b"{}")).status_code == 404
