"""The `safetybot` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bot import alerts_cli, coordinators_cli, sessions_cli
from bot.app import App, alerts_dispatcher, missing_channels, open_app, purge_drafts, run_bot
from bot.channels import ChannelError
from bot.channels.console import ConsoleSender, format_reply, run_console
from bot.config import Settings
from bot.content import ContentError, inspect_content
from bot.languages import ENGLISH, LANGUAGES
from bot.logs import configure_logging
from bot.messages import Incoming
from bot.notify import Notifier
from bot.render import Style, render
from bot.store import Database, StoreError

logger = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetybot",
        description="Faith Safety Bot: sourced safety answers for faith communities.",
    )
    parser.add_argument("--version", action="version", version=f"safetybot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument(
        "--user", default="you", help="who you are (console:NAME in COORDINATORS makes you a coordinator)"
    )

    commands.add_parser("run", help="run every configured channel")

    ask = commands.add_parser("ask", help="answer questions as the bot would")
    ask.add_argument("question", nargs="?", help="one question (or use --json with stdin)")
    ask.add_argument(
        "--json",
        action="store_true",
        help="read one message per line on stdin, print one JSON object per line",
    )
    ask.add_argument(
        "--lang",
        choices=[lang.code for lang in LANGUAGES],
        metavar="CODE",
        help=f"answer as someone who chose this language ({', '.join(lang.code for lang in LANGUAGES)})",
    )

    content = commands.add_parser("content", help="check the curated content")
    content_commands = content.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = content_commands.add_parser("check", help="validate every content file")
    check.add_argument("--dir", type=Path, help="content directory (default: CONTENT_DIR)")
    gaps = content_commands.add_parser("gaps", help="questions the bot could not answer")
    gaps.add_argument("--limit", type=int, default=50, help="show at most this many (default: 50)")
    gaps.add_argument("--json", action="store_true", help="print JSON instead of a table")

    sessions_cli.add_parser(commands)
    alerts_cli.add_parsers(commands)
    coordinators_cli.add_parser(commands)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_commands.add_parser("migrate", help="bring the database schema up to date")
    backup = db_commands.add_parser("backup", help="copy the database safely, even while running")
    backup.add_argument("path", type=Path, help="the new file to write (it must not exist yet)")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("faith-safety-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def settings_advice(error: Mapping[str, Any]) -> str:
    """One settings error as advice: what to set, without pydantic's "Value error," framing."""
    message = str(error["msg"]).removeprefix("Value error, ")
    name = ".".join(str(part) for part in error.get("loc", ())).upper()
    if not name:  # a rule across settings ("WhatsApp needs …"): the message names them
        return message
    if error.get("type") == "value_error":
        return f"{name}: {message}"
    return f"{name} is not valid: {message.lower()} (see .env.example)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"safetybot: {settings_advice(error)}", file=sys.stderr)
        return 2
    quiet = args.command in ("chat", "ask", "sessions", "leaders", "alerts", "coordinators")
    configure_logging(logging.WARNING if quiet else settings.log_level.upper(), settings.log_format)
    try:
        return asyncio.run(_run(args, settings))
    except ContentError as exc:
        print(f"safetybot: {exc}", file=sys.stderr)
        return 2
    except (StoreError, ChannelError) as exc:
        print(f"safetybot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` or similar, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "chat":
        return await _chat(settings, args.user)
    if command == "run":
        return await _run_bot(settings)
    if command == "ask":
        return await _ask(settings, args.question, args.json, sys.stdin, sys.stdout, args.lang)
    if command == "sessions":
        async with open_app(settings) as app:
            return await sessions_cli.run(args, app)
    if command in ("leaders", "alerts"):
        async with open_app(settings) as app:
            return await alerts_cli.run(args, app)
    if command == "coordinators":
        async with open_app(settings) as app:
            return await coordinators_cli.run(args, app)
    if command == "content" and args.action == "check":
        return _content_check(args.dir or settings.content_dir)
    if command == "content" and args.action == "gaps":
        return await _gaps(settings, args.limit, args.json)
    if command == "db" and args.action == "migrate":
        db = await Database.open(settings.database_path, migrate=False)
        try:
            applied = await db.migrate()
            version = await db.version()
        finally:
            await db.close()
        done = ", ".join(applied) if applied else "nothing to do"
        print(f"{settings.database_path}: schema version {version} ({done})")
        return 0
    if command == "db" and args.action == "backup":
        db = await Database.open(settings.database_path)
        try:
            await db.backup(args.path)
        finally:
            await db.close()
        print(f"backed up {settings.database_path} to {args.path}")
        return 0
    return 2


async def _chat(settings: Settings, user: str) -> int:
    async with open_app(settings, limit_floods=False) as app:  # the person at this keyboard
        await app.engine.purge_expired()
        print(f"(Faith Safety Bot, local chat. Data is kept in {settings.database_path}.)")
        print("(Getting ready: the first start, and the first after the content changes, takes a minute.)\n")
        await asyncio.to_thread(lambda: app.engine.answerer.judgement)
        sender = ConsoleSender(app.content.copy, sys.stdout, settings.calendar_dir, engine=app.engine, user=user)
        notifier = Notifier(app.db, app.engine, {"console": sender}, app.training.clock, only_user=user,
                            calendars=app.training.calendar_document)  # fmt: skip
        scheduler = asyncio.create_task(_console_schedule(app, notifier))
        drafts = asyncio.create_task(purge_drafts(app))
        # Alerts for console users (signed up in this chat) while no platform is configured.
        senders = {"console": sender} if "console" in settings.alert_channels else {}
        dispatching = alerts_dispatcher(app, senders, only_user=user)  # another window's alerts are its own
        dispatcher = asyncio.create_task(dispatching.run()) if senders else None
        try:
            await run_console(app.engine, user, files=settings.calendar_dir)
        finally:
            scheduler.cancel()
            drafts.cancel()
            if dispatcher is not None:
                dispatcher.cancel()
    return 0


async def _console_schedule(app: App, notifier: Notifier) -> None:
    """While chatting: offers, reminders and other messages owed to this person, as they fall due."""
    while True:
        try:
            await app.training.run_due()
            await notifier.send_pending()
        except Exception:
            logger.exception("the scheduler failed")
        await asyncio.sleep(2.0)


async def _run_bot(settings: Settings) -> int:
    problem = missing_channels(settings)
    if problem is not None:
        print(f"safetybot run: {problem}", file=sys.stderr)
        return 2
    await run_bot(settings)
    return 0


async def _ask(
    settings: Settings, question: str | None, as_json: bool, stdin: TextIO, stdout: TextIO, lang: str | None = None
) -> int:
    if not as_json and question is None:
        print("safetybot ask: give a question, or --json to read questions from stdin", file=sys.stderr)
        return 2
    # A private in-memory database: asking never touches the bot's real data.
    async with open_app(settings, database=":memory:", record_gaps=False, limit_floods=False) as app:
        if not as_json:
            if lang is not None:
                await app.db.set_language("ask", "ask", lang)
            reply = await app.engine.handle(Incoming("ask", "ask", question))
            stdout.write(format_reply(reply, app.content.copy) + "\n")
            return 0
        if hasattr(stdin, "reconfigure"):
            # Split on "\n" only, so a stray "\r" in a message can't turn one line into two.
            stdin.reconfigure(errors="replace", newline="\n")
        number = 0
        for line in stdin:
            number += 1
            text = line[:-1] if line.endswith("\n") else line
            # Each line is its own conversation, so one question can't pick another's menu.
            if lang is not None:
                await app.db.set_language("ask", f"line-{number}", lang)
            reply = await app.engine.handle(Incoming("ask", f"line-{number}", text))
            record = {
                "text": text,
                "emergency": reply.emergency,
                "answer": reply.answer,
                "suggestions": list(reply.suggestions),
                "reply": render(reply.text, Style.PLAIN),
                "language": lang or ENGLISH,
            }
            stdout.write(json.dumps(record) + "\n")
            stdout.flush()
    return 0


def _content_check(directory: Path) -> int:
    content, problems = inspect_content(directory)
    errors = [p for p in problems if p.error]
    for problem in sorted(problems, key=lambda p: (not p.error, str(p.path), p.line)):
        print(problem)
    entries = len(content.faq) if content is not None else 0
    print(f"\n{directory}: {entries} FAQ entries, {len(errors)} errors, {len(problems) - len(errors)} warnings")
    if content is not None:
        print(
            f"{len(content.numbers)} known phone numbers: call-test each one before going live (content/numbers.yaml)."
        )
    return 1 if errors else 0


async def _gaps(settings: Settings, limit: int, as_json: bool) -> int:
    async with open_app(settings) as app:
        await app.engine.purge_expired()
        gaps = await app.db.gaps(limit)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "text": g.text,
                        "times": g.times,
                        "last_asked": g.last_asked,
                        "suggested": g.suggestions.split(),
                    }
                    for g in gaps
                ]
            )
        )
        return 0
    if not gaps:
        print("No unanswered questions recorded.")
        return 0
    for gap in gaps:
        hint = f"  (offered: {gap.suggestions})" if gap.suggestions else ""
        print(f"{gap.times:4}x  {gap.text}{hint}")
    return 0
