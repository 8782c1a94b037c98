"""The `safetybot` command as a user runs it: real subprocesses, a temporary database."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

from bot.cli import _parser
from bot.store import latest_version
from tests.conftest import safetybot
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotApi, private_message
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilioApi

BAD_INPUT = [
    "",
    "   \t  ",
    "x" * 20_000,
    "bell\x07 and\x1b[31m escape\x00 NUL",
    "🙏🙏🙏 😡",
    "مسجد میں کیا ہوا",  # Urdu
    "মসজিদে কি হয়েছে",  # Bengali
    "'; DROP TABLE dialog_state; --",
    "<b>bold</b> **stars** [link](javascript:alert(1)) <script>x</script>",
    "carriage\rreturn",
    "someone is attacking people outside the masjid right now",
]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*safetybot(), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_ask_json_answers_every_line_in_order_even_bad_input(cli_env: dict[str, str]) -> None:
    done = run(["ask", "--json"], cli_env, "\n".join(BAD_INPUT) + "\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == BAD_INPUT
    for row in rows:
        assert set(row) == {"text", "emergency", "answer", "suggestions", "reply", "language"}
        assert row["reply"].strip()
    assert rows[-1]["emergency"] and "999" in rows[-1]["reply"][:100]
    # Junk leans neither way for a learned judgement, which errs towards 999: at most one is taken for danger.
    assert sum(r["emergency"] for r in rows[:-1]) <= 1
    assert "read only the first part" in rows[2]["reply"]


def test_ask_one_question_prints_the_reply(cli_env: dict[str, str]) -> None:
    done = run(["ask", "what is true vision"], cli_env)
    assert done.returncode == 0
    assert "True Vision" in done.stdout and "report-it.org.uk" in done.stdout
    assert "Reply with a number" in done.stdout


def test_ask_does_not_touch_the_real_database(cli_env: dict[str, str]) -> None:
    run(["ask", "--json"], cli_env, "recipe for jollof rice\n")
    assert not Path(cli_env["DATABASE_PATH"]).exists()


def test_chat_is_a_whole_conversation(cli_env: dict[str, str]) -> None:
    done = run(["chat", "--user", "amina"], cli_env, "2\n/menu\n3\nwhat is the weather like in leeds\n/quit\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Faith Safety Bot" in out and "1. Get help now" in out
    assert "are you safe right now?" in out  # "Report a hate crime or incident", picked by number
    assert "Which area would you like guidance on?" in out
    assert "That isn't something I can help with" in out  # out of scope, kindly
    gaps = run(["content", "gaps", "--json"], cli_env)
    assert json.loads(gaps.stdout)[0]["text"] == "what is the weather like in leeds"


def test_chat_as_a_coordinator(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "COORDINATORS": "telegram:1234,console:amina"}
    done = run(["chat", "--user", "amina"], env, "")
    assert "signed in as a coordinator" in done.stdout


def test_run_without_tokens_explains_what_is_missing(cli_env: dict[str, str]) -> None:
    done = run(["run"], cli_env)
    assert done.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in done.stderr and "safetybot chat" in done.stderr


def test_db_migrate_and_backup(cli_env: dict[str, str], tmp_path: Path) -> None:
    migrated = run(["db", "migrate"], cli_env)
    assert migrated.returncode == 0 and f"schema version {latest_version()}" in migrated.stdout
    backup = tmp_path / "backup.db"
    done = run(["db", "backup", str(backup)], cli_env)
    assert done.returncode == 0 and backup.stat().st_size > 0


def test_bad_settings_get_a_clear_message(cli_env: dict[str, str]) -> None:
    done = run(["ask", "hello"], {**cli_env, "TIMEZONE": "Mars/Olympus"})
    assert done.returncode == 2
    assert "TIMEZONE" in done.stderr and "Traceback" not in done.stderr
    done = run(["ask", "hello"], {**cli_env, "COORDINATORS": "amina"})
    assert "COORDINATORS" in done.stderr and "channel:user_id" in done.stderr


def test_settings_errors_read_as_advice(cli_env: dict[str, str]) -> None:
    done = run(["ask", "hello"], {**cli_env, "TWILIO_ACCOUNT_SID": ACCOUNT_SID})
    assert done.stderr.strip() == (
        "safetybot: WhatsApp needs TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM too (or unset TWILIO_ACCOUNT_SID)"
    )
    done = run(["ask", "hello"], {**cli_env, "HTTP_PORT": "eighty"})
    assert done.stderr.startswith("safetybot: HTTP_PORT is not valid: input should be a valid integer")
    assert "Value error" not in done.stderr and "setting :" not in done.stderr


def test_version_and_help_for_every_option(cli_env: dict[str, str]) -> None:
    done = run(["--version"], cli_env)
    assert done.returncode == 0 and done.stdout.startswith("safetybot ") and done.stdout.split()[1][0].isdigit()
    undocumented = [f"{' '.join(path)} {action.option_strings or action.dest}" for path, action in _options(_parser())
                    if not action.help]  # fmt: skip
    assert undocumented == []


def _options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("safetybot",)
) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield path, action


def test_missing_content_directory_is_explained(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["chat"], {**cli_env, "CONTENT_DIR": str(tmp_path / "nowhere")}, "")
    assert done.returncode == 2 and "content directory not found" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_telegram_and_stops_cleanly_on_sigterm(cli_env: dict[str, str]) -> None:
    """Also what an operator watches: /readyz, /metrics, and logs as JSON lines (LOG_FORMAT)."""
    with FakeBotApi() as api:
        port = free_port()
        env = {
            **cli_env,
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "HTTP_PORT": str(port),
            "LOG_FORMAT": "json",
        }
        bot = subprocess.Popen(
            [*safetybot(), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            api.wait_for("setMyCommands", timeout=30)
            api.wait_for("deleteWebhook")  # long polling replaces any webhook
            api.push(private_message("/start"))
            api.wait_for("sendMessage")
            base = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
            ready = httpx.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "sender": "ok"}}
            page = httpx.get(f"{base}/metrics", timeout=10).text
            assert 'safetybot_messages_in_total{channel="telegram"} 1.0' in page
            assert 'safetybot_messages_out_total{channel="telegram",kind="message"} 1.0' in page
            assert 'safetybot_sender{channel="telegram"} 1.0' in page
            bot.send_signal(signal.SIGTERM)
            _, stderr = bot.communicate(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
        assert bot.returncode == 0, stderr
        assert "Traceback" not in stderr
        logged = [json.loads(line) for line in stderr.splitlines() if line.strip()]
        assert logged and all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
        assert any("stopping" in entry["message"] for entry in logged)


def test_run_refuses_a_webhook_without_a_secret(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
    }
    done = run(["run"], env)
    assert done.returncode == 2 and "TELEGRAM_WEBHOOK_SECRET" in done.stderr


def test_run_explains_a_wrong_token_or_an_unreachable_api(cli_env: dict[str, str]) -> None:
    with FakeBotApi() as api:
        env = {
            **cli_env,
            "TELEGRAM_BOT_TOKEN": "999:wrong",
            "TELEGRAM_API_BASE_URL": api.base_url,
            "HTTP_PORT": str(free_port()),
        }
        done = run(["run"], env)
    assert done.returncode == 2 and "refused TELEGRAM_BOT_TOKEN" in done.stderr, done.stderr
    unreachable = f"http://127.0.0.1:{free_port()}/bot"
    env = {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE_URL": unreachable,
        "HTTP_PORT": str(free_port()),
    }
    done = run(["run"], env)
    assert done.returncode == 2 and "could not reach the Telegram Bot API" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_run_serves_whatsapp_webhooks(cli_env: dict[str, str]) -> None:
    with FakeTwilioApi() as twilio:
        port = free_port()
        public = "https://bot.example.org"
        env = {
            **cli_env,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": SENDER,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "PUBLIC_BASE_URL": public,
            "HTTP_PORT": str(port),
        }
        bot = subprocess.Popen(
            [*safetybot(), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            params = {"From": "whatsapp:+447700900123", "Body": "what is true vision", "NumMedia": "0"}
            signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{public}/whatsapp/inbound", params)
            response = None
            for _ in range(300):  # until the server is up
                try:
                    response = httpx.post(
                        f"http://127.0.0.1:{port}/whatsapp/inbound",
                        data=params,
                        headers={"X-Twilio-Signature": signature},
                        timeout=10,
                    )
                    break
                except httpx.ConnectError:
                    if bot.poll() is not None:
                        break
                    time.sleep(0.1)
            assert response is not None and response.status_code == 200, bot.stderr
            assert "True Vision" in response.text
            bot.send_signal(signal.SIGINT)
            _, stderr = bot.communicate(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
        assert bot.returncode == 0, stderr


def test_incomplete_whatsapp_settings_are_explained(cli_env: dict[str, str]) -> None:
    done = run(["run"], {**cli_env, "TWILIO_ACCOUNT_SID": ACCOUNT_SID})
    assert done.returncode == 2 and "TWILIO_AUTH_TOKEN" in done.stderr
    env = {
        **cli_env,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": SENDER,
    }
    done = run(["run"], env)
    assert done.returncode == 2 and "PUBLIC_BASE_URL" in done.stderr


def test_the_local_chat_has_no_message_limit(cli_env: dict[str, str]) -> None:
    done = run(["chat", "--user", "amina"], cli_env, "/menu\n" * 25 + "/quit\n")
    assert done.returncode == 0, done.stderr
    assert "faster than I can answer" not in done.stdout
    assert done.stdout.count("What would you like to do?") == 25
