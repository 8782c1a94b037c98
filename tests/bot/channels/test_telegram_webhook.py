"""Telegram's webhook over real HTTP: the secret is checked, bad bodies are refused, good updates
reach the bot."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.channels.telegram import TelegramChannel
from bot.web import MAX_BODY
from tests.bot.channels.conftest import WEBHOOK_SECRET as SECRET
from tests.bot.channels.conftest import WEBHOOK_URL
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
