"""`safetybot coordinators add|remove|list`: who may act as a coordinator.

Coordinators start as the COORDINATORS setting (each person once: someone removed here stays
removed, even while still listed there). Changes count at once, also for a running `safetybot run`:
the role is read from the database on every message. Each change is written to the audit log.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from bot import dates
from bot.app import App, cli_actor
from bot.phone import DEFAULT_REGION, e164

CHANNELS = ("telegram", "whatsapp", "console")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `coordinators` to the command line."""
    coordinators = commands.add_parser("coordinators", help="who may approve leaders, send alerts, run sessions")
    actions = coordinators.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, verb in (("add", "make someone a coordinator"), ("remove", "stop someone being a coordinator")):
        change = actions.add_parser(name, help=verb)
        change.add_argument("who", help="channel:user_id, e.g. telegram:123456 or whatsapp:+447700900123")
        change.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing = actions.add_parser("list", help="the coordinators now")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")


def parse_who(text: str) -> tuple[str, str]:
    """`channel:user_id` checked and normalised (WhatsApp numbers to E.164); ValueError if wrong."""
    channel, _, user_id = text.strip().partition(":")
    channel, user_id = channel.lower(), user_id.strip()
    if channel not in CHANNELS or not user_id:
        raise ValueError(f"{text!r} should be channel:user_id with channel one of {', '.join(CHANNELS)}")
    if channel == "telegram" and not re.fullmatch(r"\d+", user_id):
        raise ValueError(f"{user_id!r} is not a Telegram user id (a number; the person can get it from @userinfobot)")
    if channel == "whatsapp":
        number = e164(user_id, DEFAULT_REGION)  # as the WhatsApp channel reads numbers
        if number is None:
            raise ValueError(f"{user_id!r} is not a valid phone number (use +44…)")
        user_id = number
    return channel, user_id


async def run(args: argparse.Namespace, app: App) -> int:
    """Carry out one `coordinators` action; return the exit status."""
    now = app.training.clock()
    if args.action == "list":
        people = await app.db.coordinators()
        if args.json:
            print(json.dumps([{"channel": c, "user_id": u, "since": s.isoformat()} for c, u, s in people]))
        else:
            for channel, user_id, since in people:
                print(f"{channel}:{user_id}  since {dates.friendly(since, app.composer.tz)}")
            if not people:
                print("No coordinators. Add one with: safetybot coordinators add telegram:123456")
        return 0
    try:
        channel, user_id = parse_who(args.who)
    except ValueError as exc:
        print(f"safetybot coordinators {args.action}: {exc}", file=sys.stderr)
        return 1
    adding = args.action == "add"
    changed = await app.db.set_coordinator(channel, user_id, adding, now)
    who = f"{channel}:{user_id}"
    if changed:
        await app.db.audit(cli_actor(), f"coordinator {'added' if adding else 'removed'}", {"coordinator": who}, now)
    if args.json:
        print(json.dumps({"channel": channel, "user_id": user_id, "coordinator": adding, "changed": changed}))
    elif adding:
        print(f"{who} is {'now' if changed else 'already'} a coordinator")
    else:
        print(f"{who} {'is no longer' if changed else 'was not'} a coordinator")
        if changed and not await app.db.coordinators():
            print("warning: there are no coordinators left", file=sys.stderr)
    return 0
