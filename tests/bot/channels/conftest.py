"""Fixtures for the channels: each platform's fake API server, the channel started against it,
and a driver per channel so one conversation suite can run over every channel."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.app import telegram_options, whatsapp_options
from bot.channels.console import format_reply
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.config import Settings
from bot.dialog import Engine
from bot.store import Database
from bot.web import create_web_app
from tests.conftest import FakeClock, make_incoming, serving, settings_for
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotApi, button_press, private_message
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilioApi

WEBHOOK_SECRET = "webhook-Secret_42"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
PUBLIC = "https://bot.example.org"
NUMBER = "+447700900123"
TEMPLATE = "HX" + "a" * 32


# --- Telegram --------------------------------------------------------------------------------
@pytest.fixture
def telegram_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


def telegram_settings(tmp_path: Path, fake: FakeBotApi, **values: Any) -> Settings:
    """Settings for a bot whose Telegram client talks to the fake Bot API."""
    return settings_for(tmp_path, telegram_bot_token=TELEGRAM_TOKEN, telegram_api_base_url=fake.base_url, **values)


@pytest.fixture
async def telegram(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel, long polling the fake Bot API, started and stopped around the test."""
    channel = TelegramChannel(telegram_options(telegram_settings(tmp_path, telegram_api)), engine, db, backoff=0.01)
    await channel.start()
    yield channel
    await channel.stop()


@pytest.fixture
async def webhook(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database
) -> AsyncIterator[tuple[str, TelegramChannel]]:
    settings = telegram_settings(
        tmp_path, telegram_api, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=WEBHOOK_SECRET
    )
    channel = TelegramChannel(telegram_options(settings), engine, db)
    await channel.start()
    async with serving(create_web_app(telegram=channel, telegram_secret=WEBHOOK_SECRET)) as base:
        yield base, channel
    await channel.stop()


# --- WhatsApp --------------------------------------------------------------------------------
@dataclass
class WhatsApp:
    channel: WhatsAppChannel
    base: str
    api: FakeTwilioApi

    async def post(self, path: str, params: dict[str, str], signature: str | None = "sign") -> httpx.Response:
        headers = {}
        if signature == "sign":
            signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with httpx.AsyncClient() as client:
            return await client.post(self.base + path, data=params, headers=headers)

    async def say(self, text: str, number: str = NUMBER, **extra: str) -> list[str]:
        """Send a message as a person; return the messages of the TwiML answer."""
        params = {
            "From": f"whatsapp:{number}",
            "To": SENDER,
            "Body": text,
            "ProfileName": "Amina",
            "WaId": number.lstrip("+"),
            "NumMedia": "0",
            "MessageSid": f"SM{uuid.uuid4().hex}",  # each message its own, as Twilio gives
            **extra,
        }
        response = await self.post("/whatsapp/inbound", params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return [m.text or "" for m in ET.fromstring(response.text).iter("Message")]


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilioApi]:
    with FakeTwilioApi() as fake:
        yield fake


async def _whatsapp(
    tmp_path: Path, twilio_api: FakeTwilioApi, engine: Engine, db: Database, clock: FakeClock
) -> AsyncIterator[WhatsApp]:
    settings = settings_for(
        tmp_path,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=SENDER,
        twilio_api_base_url=twilio_api.base_url,
        public_base_url=PUBLIC,
        whatsapp_template_sid=TEMPLATE,
    )
    channel = WhatsAppChannel(whatsapp_options(settings), engine, db, clock=clock, backoff=0.01)
    await channel.start()
    async with serving(create_web_app(routes=channel.routes())) as base:
        yield WhatsApp(channel, base, twilio_api)
    await channel.stop()


@pytest.fixture
async def whatsapp(
    tmp_path: Path, twilio_api: FakeTwilioApi, engine: Engine, db: Database, clock: FakeClock
) -> AsyncIterator[WhatsApp]:
    """The WhatsApp channel behind the web app, sending through the fake Twilio API."""
    async for channel in _whatsapp(tmp_path, twilio_api, engine, db, clock):
        yield channel


# --- one driver per channel, for the shared conversation suite --------------------------------
_TAGS = re.compile(r"<[^>]+>")
_DIRECTION = re.compile("[\u200f\u2066\u2069]")  # right-to-left text's marks (RLM, LRI, PDI)
_NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


def plain(text: str) -> str:
    """Text without Telegram HTML, WhatsApp marks or direction marks, for comparing across channels."""
    return _DIRECTION.sub("", _TAGS.sub("", text).replace("*", "").replace("&amp;", "&"))


@dataclass
class Said:
    """What the bot said back: its text (all parts) and the options it offered."""

    text: str
    options: list[str]
    ids: list[str]


class ConsoleDriver:
    name = "console"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def say(self, text: str) -> Said:
        reply = await self.engine.handle(make_incoming(text))
        return Said(plain(format_reply(reply, self.engine.copy)), [c.label for c in reply.choices],
                    [c.id for c in reply.choices])  # fmt: skip

    async def pick(self, said: Said, number: int) -> Said:
        return await self.say(str(number))


class TelegramDriver:
    name = "telegram"

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    async def _next_reply(self, before: int) -> Said:
        last = await self.api.called(
            "sendMessage", lambda p: p.get("reply_markup") is not None and self._index(p) >= before
        )
        parts = self.api.sent(111)[before : self._index(last.params) + 1]
        rows = last.params["reply_markup"]["inline_keyboard"]
        return Said(
            "\n\n".join(plain(p["text"]) for p in parts),
            [row[0]["text"] for row in rows],
            [row[0]["callback_data"] for row in rows],
        )

    def _index(self, params: dict[str, object]) -> int:
        return next(i for i, sent in enumerate(self.api.sent(111)) if sent is params)

    async def say(self, text: str) -> Said:
        before = len(self.api.sent(111))
        self.api.push(private_message(text))
        return await self._next_reply(before)

    async def pick(self, said: Said, number: int) -> Said:
        before = len(self.api.sent(111))
        self.api.push(button_press(said.ids[number - 1]))
        return await self._next_reply(before)


class WhatsAppDriver:
    name = "whatsapp"

    def __init__(self, whatsapp: WhatsApp) -> None:
        self.whatsapp = whatsapp

    async def say(self, text: str) -> Said:
        messages = await self.whatsapp.say(text)
        options = [label for _, label in _NUMBERED.findall(plain(messages[-1]))] if messages else []
        return Said(plain("\n\n".join(messages)), options, [])

    async def pick(self, said: Said, number: int) -> Said:
        return await self.say(str(number))


@pytest.fixture(params=["console", "telegram", "whatsapp"])
async def driver(
    request: pytest.FixtureRequest, tmp_path: Path, engine: Engine, db: Database, clock: FakeClock
) -> AsyncIterator[ConsoleDriver | TelegramDriver | WhatsAppDriver]:
    """The same conversation, on each channel in turn."""
    if request.param == "console":
        yield ConsoleDriver(engine)
    elif request.param == "telegram":
        with FakeBotApi() as api:
            channel = TelegramChannel(telegram_options(telegram_settings(tmp_path, api)), engine, db)
            await channel.start()
            yield TelegramDriver(api)
            await channel.stop()
    else:
        with FakeTwilioApi() as twilio:
            async for whatsapp in _whatsapp(tmp_path, twilio, engine, db, clock):
                yield WhatsAppDriver(whatsapp)
