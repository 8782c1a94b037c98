"""The console channel: the whole bot in a terminal, for newcomers and content editors."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.content import Copy
from bot.dialog import Engine
from bot.messages import Incoming, Reply
from bot.render import Style, numbered_choices, render

CHANNEL = "console"
QUIT = {"/quit", "/exit", "quit", "exit"}


def format_reply(reply: Reply, copy: Copy) -> str:
    """A reply as plain text with its choices numbered."""
    text = render(reply.text, Style.PLAIN)
    if reply.choices:
        prompt = copy.format("choose_number", first=1, last=len(reply.choices))
        text += "\n\n" + numbered_choices([c.label for c in reply.choices], prompt)
    return text


async def run_console(
    engine: Engine, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Chat in the terminal until end of input or /quit."""
    interactive = stdin.isatty()

    def say(text: str) -> None:
        stdout.write(text + "\n\n")
        stdout.flush()

    say(format_reply(await engine.handle(Incoming(CHANNEL, user, "/start")), engine.copy))
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
            break
        if not interactive:
            say(f"> {text}")
        reply = await engine.handle(Incoming(CHANNEL, user, text))
        say(format_reply(reply, engine.copy))
