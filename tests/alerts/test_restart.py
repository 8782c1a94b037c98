"""`safetybot run` killed with SIGKILL in the middle of a broadcast, then started again: everybody
gets the alert, and only deliveries in flight at the moment of the kill may arrive twice."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from alerts import AlertStore
from bot.store import Database
from tests.bot.test_cli import free_port
from tests.conftest import safetybot
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotApi, private_message
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilioApi

PER_CHANNEL = 100


def number(i: int) -> str:
    return f"+44791112{i:04d}"


async def seed(path: Path) -> None:
    """Faith leaders on both channels; the WhatsApp ones wrote recently (no template needed)."""
    db = await Database.open(path)
    store = AlertStore(db)
    now = datetime.now(UTC)
    try:
        for i in range(PER_CHANNEL):
            for channel, user in (("telegram", str(9000 + i)), ("whatsapp", number(i))):
                await store.save_subscriber(channel, user, kind="leader", status="approved", name=f"Leader {i}",
                                            role="Imam", place="Masjid", boroughs=("Newham",), now=now)  # fmt: skip
            await db.record_inbound("whatsapp", number(i), now)
    finally:
        await db.close()


def count(path: Path, where: str) -> int:
    with sqlite3.connect(path, timeout=10) as conn:
        return int(conn.execute(f"SELECT count(*) FROM alert_deliveries WHERE {where}").fetchone()[0])


def wait_until(check: Callable[[], bool], timeout: float, bot: subprocess.Popen[str], logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert bot.poll() is None, logs.read_text()[-3000:]
        if time.monotonic() > deadline:
            with sqlite3.connect(logs.parent / "cli.db") as conn:
                states = conn.execute(
                    "SELECT channel, status, attempts, count(*) FROM alert_deliveries GROUP BY 1, 2, 3"
                ).fetchall()
            raise AssertionError(f"timed out; deliveries {states}; log: {logs.read_text()[-3000:]}")
        time.sleep(0.05)


def test_a_killed_broadcast_resumes_without_skipping_anyone(cli_env: dict[str, str]) -> None:
    path = Path(cli_env["DATABASE_PATH"])
    asyncio.run(seed(path))
    with FakeBotApi() as telegram, FakeTwilioApi() as twilio:
        env = {
            **cli_env,
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": SENDER,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "PUBLIC_BASE_URL": "https://bot.example.org",
            "TELEGRAM_RATE_LIMIT": "25",
            "WHATSAPP_RATE_LIMIT": "25",
            "ALERT_LEASE_SECONDS": "1",
        }

        logs = path.parent / "bot.log"

        def start() -> subprocess.Popen[str]:
            with logs.open("a") as log:  # the child keeps its own copy of the file
                bot = subprocess.Popen([*safetybot(), "run"], env={**env, "HTTP_PORT": str(free_port())},
                                       stdout=subprocess.DEVNULL, stderr=log, text=True)  # fmt: skip
            telegram.wait_for("setMyCommands", lambda _: True, timeout=30)
            return bot

        bot = start()
        try:
            # Queued from the command line while the bot runs: the running dispatcher picks it up.
            sent = subprocess.run(
                [*safetybot(), "alerts", "send", "--kind", "urgent", "--audience", "leaders", "--areas", "Newham",
                 "--text", "Lock the side doors", "--yes", "--json"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            reference = json.loads(sent.stdout)["reference"]
            queued = time.monotonic()
            wait_until(lambda: len(telegram.sent()) >= 1, 10, bot, logs)
            assert time.monotonic() - queued < 5  # picked up within a couple of seconds (plus start-up)
            wait_until(lambda: len(telegram.sent()) >= PER_CHANNEL // 3, 30, bot, logs)
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=10)
        finally:
            if bot.poll() is None:
                bot.kill()
        in_flight = count(path, "status = 'sending'")
        done_before = count(path, "status IN ('sent', 'failed')")
        assert 0 < done_before < 2 * PER_CHANNEL  # killed in the middle

        bot = start()
        try:
            wait_until(lambda: count(path, "status IN ('pending', 'sending')") == 0, 60, bot, logs)
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
        stderr = logs.read_text()
        assert bot.returncode == 0, stderr
        assert "Traceback" not in stderr

        got_telegram = Counter(p.get("chat_id") for p in telegram.sent() if reference in p.get("text", ""))
        got_whatsapp = Counter(m["To"] for m in twilio.messages if reference in m.get("Body", ""))
        assert set(got_telegram) == {9000 + i for i in range(PER_CHANNEL)}  # nobody skipped
        assert set(got_whatsapp) == {f"whatsapp:{number(i)}" for i in range(PER_CHANNEL)}
        duplicates = sum(n - 1 for n in got_telegram.values()) + sum(n - 1 for n in got_whatsapp.values())
        assert duplicates <= in_flight  # only what was in flight at the kill can go twice
        assert count(path, "status = 'sent'") == 2 * PER_CHANNEL


def test_an_update_answered_200_then_killed_is_handled_after_the_restart(cli_env: dict[str, str]) -> None:
    """Telegram can't send a webhook update again once it heard 200: the inbox keeps it."""
    path = Path(cli_env["DATABASE_PATH"])
    secret = "webhook-secret-for-the-kill-test"
    with FakeBotApi() as telegram:
        env = {**cli_env, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE_URL": telegram.base_url,
               "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
               "TELEGRAM_WEBHOOK_SECRET": secret}  # fmt: skip
        logs = path.parent / "bot.log"

        def start() -> tuple[subprocess.Popen[str], int]:
            port = free_port()
            with logs.open("a") as log:
                bot = subprocess.Popen([*safetybot(), "run"], env={**env, "HTTP_PORT": str(port)},
                                       stdout=subprocess.DEVNULL, stderr=log, text=True)  # fmt: skip
            telegram.wait_for("setMyCommands", lambda _: True, timeout=30)
            wait_until(lambda: serving(port), 15, bot, logs)  # the web app starts just after
            return bot, port

        bot, port = start()
        try:
            telegram.fail("sendMessage", "hang", times=50)  # the reply is on its way when the kill comes
            update = {"update_id": 4242, **private_message("what is true vision")}
            answered = httpx.post(f"http://127.0.0.1:{port}/telegram/webhook", json=update, timeout=10,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": secret})  # fmt: skip
            assert answered.status_code == 200
            wait_until(lambda: telegram.hanging > 0, 15, bot, logs)
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=10)
        finally:
            if bot.poll() is None:
                bot.kill()
            telegram.release()
        with sqlite3.connect(path, timeout=10) as conn:
            [(handled, kept)] = conn.execute("SELECT handled_at, payload IS NOT NULL FROM inbox").fetchall()
        assert handled is None and kept  # received, answered 200, never handled

        bot, _ = start()
        try:
            reply = telegram.wait_for("sendMessage", lambda p: "True Vision" in p.get("text", ""), timeout=30)
            assert reply.params["chat_id"] == 111
            with sqlite3.connect(path, timeout=10) as conn:
                wait_until(lambda: conn.execute("SELECT handled_at FROM inbox").fetchone()[0] is not None, 10, bot,
                           logs)  # fmt: skip
                assert conn.execute("SELECT payload FROM inbox").fetchone()[0] is None
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
        assert "handling 1 update(s) received before the last stop" in logs.read_text()


def serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
