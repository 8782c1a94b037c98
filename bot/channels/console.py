"""The console channel: the whole bot in a terminal, for newcomers and content editors."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

from alerts import AlertMessage, Outcome, Result
from bot.channels import as_reply
from bot.content import Copy
from bot.dialog import Engine
from bot.languages import bidi
from bot.messages import Delivery, Incoming, Reply
from bot.render import Style, choices_text, is_rtl, render

CHANNEL = "console"
QUIT = {"/quit", "/exit", "quit", "exit"}


def save_file(folder: Path, name: str, content: bytes) -> Path:
    """Write a file only its owner can read (a booking's calendar entry names the person), in a
    folder only its owner can open."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / Path(name).name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # an older file keeps its mode through O_CREAT
        file.write(content)
    return path


def format_reply(reply: Reply, copy: Copy, files: Path | None = None) -> str:
    """A reply as plain text with its choices numbered; a document is saved in `files`."""
    if reply.silent:
        return ""
    text = render(reply.text, Style.PLAIN, is_rtl(reply))
    if reply.document is not None and files is not None:
        path = save_file(files, reply.document.filename, reply.document.content)
        caption = reply.document.caption
        with copy.speaking(reply.language):
            saved = copy.format("file_saved", caption=caption, path=path) if caption else None
            text += "\n\n" + bidi(saved or copy.format("calendar_file", path=path), is_rtl(reply))
    if reply.choices:
        text += "\n\n" + choices_text(reply, copy)
    return text


class ConsoleSender:
    """Messages the bot owes the person at the keyboard, printed between their turns."""

    channel = CHANNEL  # as an alerts Sender
    rate_limit = 20.0

    def __init__(
        self, copy: Copy, stdout: TextIO, files: Path | None, *, engine: Engine | None = None, user: str | None = None
    ) -> None:
        self.copy = copy
        self.stdout = stdout
        self.files = files
        self.engine = engine
        self.user = user  # the person at the keyboard

    async def send_proactive(self, user_id: str, reply: Reply, *, about: str | None = None) -> Delivery:
        """Print the message now."""
        self._print(reply)
        return Delivery.SENT

    def _print(self, reply: Reply, heading: str = "") -> None:
        self.stdout.write("\n" + heading + format_reply(reply, self.copy, self.files) + "\n\n")
        self.stdout.flush()

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        """Print an alert (the chat's dispatcher claims only those for the person at this keyboard:
        another console user's wait for their own window)."""
        reply = as_reply(message)
        self._print(reply)
        if self.engine is not None:  # "A" answers "Received"
            await self.engine.remember_choices(CHANNEL, user_id, reply)
        return Outcome(Result.SENT)


async def run_console(
    engine: Engine,
    user: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    files: Path | None = None,
) -> None:
    """Chat in the terminal until end of input or /quit."""
    interactive = stdin.isatty()

    def say(text: str) -> None:
        stdout.write(text + "\n\n")
        stdout.flush()

    say(format_reply(await engine.handle(Incoming(CHANNEL, user, "/start")), engine.copy, files))
    if interactive:
        say("(Type /quit to leave.)")
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        text = line.rstrip("\n")
        if text.strip().lower() in QUIT:
            say(engine.copy["console_goodbye"])
            break
        if not interactive:
            say(f"> {text}")
        reply = await engine.handle(Incoming(CHANNEL, user, text))
        if not reply.silent:
            say(format_reply(reply, engine.copy, files))
