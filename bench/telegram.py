"""Benchmark the Telegram webhook path against a bare python-telegram-bot echo bot.

Run by hand from the repository root (not in CI):  python bench/telegram.py [--updates N]

Both bots sit behind the same harness: updates are POSTed over loopback HTTP to the same
Starlette webhook route under uvicorn, queued into a PTB Application, and answered through the
real PTB client to the fake Bot API server the tests use. The Faith Safety Bot does its full work
per update (database state, triage, FAQ match, HTML rendering); the echo bot only echoes.
TELEGRAM_RATE_LIMIT is lifted for the run, so it measures the software, not Telegram's 30/s cap.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# This file is named like the `telegram` package: run as a script, its own folder comes first on
# sys.path and would shadow it. Look in the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.answers import Answerer  # noqa: E402
from bot.app import WebServer, telegram_options  # noqa: E402
from bot.channels.telegram import CONCURRENT_UPDATES, TelegramChannel  # noqa: E402
from bot.config import Settings, default_content_dir, default_model_cache_dir  # noqa: E402
from bot.content import load_content  # noqa: E402
from bot.dialog import Engine  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.web import create_web_app  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeBotApi  # noqa: E402

SECRET = "bench-secret"
CLIENTS = 32  # concurrent HTTP senders, like Telegram's parallel webhook connections


class EchoSink:
    """Feeds webhook updates to a bare PTB application."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.application = application

    async def feed(self, data: dict[str, Any]) -> None:
        await self.application.update_queue.put(Update.de_json(data, self.application.bot))


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


def updates(texts: list[str]) -> list[dict[str, Any]]:
    """One message from each of len(texts) people."""
    now = int(time.time())
    return [
        {
            "update_id": i + 1,
            "message": {
                "message_id": 1,
                "date": now,
                "chat": {"id": 10_000 + i, "type": "private", "first_name": "A"},
                "from": {"id": 10_000 + i, "is_bot": False, "first_name": "A"},
                "text": text,
            },
        }
        for i, text in enumerate(texts)
    ]


async def until(check: Callable[[], bool]) -> None:
    """Wait for a condition the servers bring about."""
    while True:
        if check():
            return
        await asyncio.sleep(0.01)


async def drive(api: FakeBotApi, web: Any, batch: list[dict[str, Any]]) -> dict[str, float]:
    """POST every update to the webhook; time until each one's reply reaches the Bot API."""
    server = WebServer(uvicorn.Config(web, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/telegram/webhook"
    posted: dict[int, float] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for item in batch:
        queue.put_nowait(item)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            posted[item["message"]["chat"]["id"]] = time.monotonic()
            response = await client.post(url, json=item, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            response.raise_for_status()

    started = time.monotonic()
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(CLIENTS)))
    await until(lambda: len({p["chat_id"] for p in api.sent()}) >= len(batch))
    first_reply: dict[int, float] = {}
    for call in api.calls:
        if call.method == "sendMessage":
            first_reply.setdefault(call.params["chat_id"], call.at)
    elapsed = max(first_reply.values()) - started
    latencies = sorted(1000 * (first_reply[chat] - posted[chat]) for chat in posted)
    server.should_exit = True
    await serving
    return {
        "per_s": len(batch) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


async def safety_bot(api: FakeBotApi, batch: list[dict[str, Any]], folder: Path) -> dict[str, float]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=api.base_url,
        telegram_webhook_url="https://bench.example.org/telegram/webhook",
        telegram_webhook_secret=SECRET,
        telegram_rate_limit=1_000_000,
        database_path=folder / "bench.db",
    )
    content = load_content(default_content_dir())
    db = await Database.open(settings.database_path)
    channel = TelegramChannel(
        telegram_options(settings), Engine(content, db, answerer=Answerer(content, default_model_cache_dir())), db
    )
    await channel.start()
    try:
        return await drive(api, create_web_app(telegram=channel, telegram_secret=SECRET), batch)
    finally:
        await channel.stop()
        await db.close()


async def echo_bot(api: FakeBotApi, batch: list[dict[str, Any]], _folder: Path) -> dict[str, float]:
    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(api.base_url)
        .updater(None)
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        try:
            return await drive(api, create_web_app(telegram=EchoSink(application), telegram_secret=SECRET), batch)
        finally:
            await application.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=1000)
    args = parser.parse_args()
    content = load_content(default_content_dir())
    rng = random.Random(20261126)
    questions = [q for entry in content.faq.values() for q in entry.questions]
    texts = [rng.choice(questions) for _ in range(args.updates)]
    results: dict[str, dict[str, float]] = {}
    cases: list[tuple[str, Callable[..., Awaitable[dict[str, float]]]]] = [
        ("echo bot (bare PTB)", echo_bot),
        ("faith safety bot", safety_bot),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name, case in cases:
            with FakeBotApi() as api:
                results[name] = await case(api, updates(texts), Path(folder))
            r = results[name]
            print(f"{name:22} {r['per_s']:7.0f} updates/s   p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms")
    ratio = results["faith safety bot"]["per_s"] / results["echo bot (bare PTB)"]["per_s"]
    print(f"throughput ratio (safety bot / echo bot): {ratio:.2f}  (target: at least 0.5)")


if __name__ == "__main__":
    asyncio.run(main())
