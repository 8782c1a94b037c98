"""`safetybot sessions …`: coordinators manage training sessions from the command line.

Works while `safetybot run` is running on the same database: what is written here shows in the
chat at once, and the messages it causes (a session moved or cancelled) are sent by the running
bot.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from bot.app import App
from bot.store import Registration, TrainingSession
from bot.text import spreadsheet_safe
from bot.training import OPTIONAL, REQUIRED, Person, TrainingError, parse_seats, when

SESSION_OPTIONS = (*REQUIRED, *OPTIONAL)
FIELD_HELP = {
    "starts": "local time in TIMEZONE, e.g. 2026-12-05T10:00",
    "ends": "local time in TIMEZONE, e.g. 2026-12-05T13:00",
    "topics": "separated by ;",
    "borough": "a London borough, e.g. Newham (as in content/boroughs.yaml)",
    "capacity": "seats in all",
    "provider": "who runs it",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sessions` and its actions to the command line."""
    sessions = commands.add_parser("sessions", help="manage training sessions (coordinators)")
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")

    def with_fields(parser: argparse.ArgumentParser, required: bool) -> None:
        for name in SESSION_OPTIONS:
            hint = FIELD_HELP.get(name, f"the session's {name}")
            parser.add_argument(f"--{name}", required=required and name in REQUIRED, help=hint)
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    with_fields(actions.add_parser("add", help="add a session; prints its id"), required=True)
    edit = actions.add_parser(
        "edit", help="change some fields of a session; a new time, venue or address is told to everyone booked"
        " or waiting, and the booked get an updated calendar entry"
    )  # fmt: skip
    edit.add_argument("id", type=int, help="the session's id (sessions list)")
    with_fields(edit, required=False)
    cancel = actions.add_parser("cancel", help="cancel a session and tell everyone booked or waiting")
    cancel.add_argument("id", type=int, help="the session's id (sessions list)")
    cancel.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing = actions.add_parser("list", help="sessions with their counts")
    listing.add_argument("--all", action="store_true", help="include past and cancelled sessions")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    load = actions.add_parser("import", help="add a term's sessions from a YAML file (all or nothing)")
    load.add_argument("file", type=Path, help="a YAML file of sessions")
    load.add_argument("--json", action="store_true", help="print JSON instead of text")
    attendees = actions.add_parser("attendees", help="who is booked on a session")
    attendees.add_argument("id", type=int, help="the session's id (sessions list)")
    output = attendees.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="print CSV for a spreadsheet (with accessibility needs)")
    output.add_argument("--json", action="store_true", help="print JSON instead of text")
    register = actions.add_parser("register", help="book someone in (after a phone call)")
    register.add_argument("id", type=int, help="the session's id (sessions list)")
    register.add_argument("--name", required=True, help="the person's name")
    register.add_argument("--organisation", required=True, help="their place of worship or organisation")
    register.add_argument("--role", required=True, help="their role there, e.g. Trustee")
    register.add_argument("--seats", default="1", help="seats to book (default: 1)")
    register.add_argument("--accessibility", default="", help="access needs to tell the venue")
    register.add_argument("--channel", help="telegram, whatsapp or console, to reach them in the bot")
    register.add_argument("--user-id", help="their id on that channel (telegram chat id, whatsapp number)")
    register.add_argument("--json", action="store_true", help="print JSON instead of text")
    checkin = actions.add_parser("checkin", help="mark a booking as attended, on the session's day only")
    checkin.add_argument("id", type=int, help="the session")
    checkin.add_argument("--registration", type=int, required=True, help="the booking (see attendees)")
    checkin.add_argument("--undo", action="store_true", help="undo a check-in made by mistake (back to booked)")
    checkin.add_argument("--json", action="store_true", help="print JSON instead of text")
    unbook = actions.add_parser("unregister", help="cancel a booking (its seats go to the waiting list)")
    unbook.add_argument("registration", type=int, help="the registration's id (sessions attendees)")
    unbook.add_argument("--json", action="store_true", help="print JSON instead of text")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in SESSION_OPTIONS if getattr(args, name, None) is not None}


def _session_json(session: TrainingSession, app: App) -> dict[str, Any]:
    tz = app.training.tz
    return {
        "id": session.id,
        "title": session.title,
        "provider": session.provider,
        "venue": session.venue,
        "address": session.address,
        "borough": session.borough,
        "starts": session.starts_at.astimezone(tz).isoformat(),
        "ends": session.ends_at.astimezone(tz).isoformat(),
        "capacity": session.capacity,
        "status": session.status,
        "topics": list(session.topics),
        "registered": session.taken,
        "waiting": session.waiting,
        "attended": session.attended,
        "seats_left": session.seats_left,
    }


def _attendee(registration: Registration) -> dict[str, Any]:
    return {
        "registration": registration.id,
        "name": registration.name,
        "organisation": registration.organisation,
        "role": registration.role,
        "seats": registration.seats,
        "status": registration.status,
        "accessibility": registration.accessibility,
        "channel": registration.channel,
        "user_id": registration.user_id,
    }


async def run(args: argparse.Namespace, app: App) -> int:
    """Carry out one `sessions` action; return the exit status."""
    try:
        return await _run(args, app)
    except TrainingError as exc:
        print(f"safetybot sessions {args.action}: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, app: App) -> int:
    training = app.training
    action = args.action
    as_json = getattr(args, "json", False)
    if action == "add":
        session_id = await training.add(_fields(args))
        session = await training.get(session_id)
        print(json.dumps({"id": session_id}) if as_json else f"{session_id}\tadded: {session.title}, "
              f"{when(session, training.tz)}")  # fmt: skip
        return 0
    if action == "edit":
        session, told = await training.edit(args.id, _fields(args))
        if as_json:
            print(json.dumps({**_session_json(session, app), "told": told}))
        else:
            who = app.content.copy.count("people_count", told)
            print(f"{session.id}\tchanged" + (f"; {who} booked or waiting will be told" if told else ""))
        return 0
    if action == "cancel":
        told = await training.cancel(args.id)
        print(json.dumps({"id": args.id, "told": told}) if as_json else f"{args.id}\tcancelled; {told} to tell")
        return 0
    if action == "list":
        sessions = await (app.db.sessions() if args.all else training.upcoming())
        if as_json:
            print(json.dumps([_session_json(s, app) for s in sessions]))
            return 0
        if not sessions:
            print("No sessions." if args.all else "No upcoming sessions (--all shows past and cancelled ones).")
        for s in sessions:
            counts = f"{s.taken}/{s.capacity} seats, {s.waiting} waiting, {s.attended} attended"
            print(f"{s.id}\t{when(s, training.tz)}\t{s.title} ({s.venue})\t{counts}\t{s.status}")
        return 0
    if action == "import":
        return await _import(args.file, app, as_json)
    if action == "attendees":
        await training.get(args.id)
        people = [_attendee(r) for r in await app.db.attendees(args.id)]
        if args.json:
            print(json.dumps(people))
        elif args.csv:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(people[0]) if people else list(_FIELDS))
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in p.items()} for p in people)
        else:
            for p in people:
                safe = {k: spreadsheet_safe(v) for k, v in p.items()}
                print(
                    f"{p['registration']}\t{p['status']}\t{p['seats']}\t{safe['name']}\t{safe['organisation']}\t{safe['role']}"
                )
        return 0
    if action == "register":
        return await _register(args, app, as_json)
    if action == "checkin":
        registration = await app.db.registration(args.registration)
        if registration is None or registration.session_id != args.id:
            raise TrainingError(f"session {args.id} has no registration {args.registration}")
        changed = await training.check_in(registration.id, undo=args.undo)
        if as_json:
            print(json.dumps({"registration": changed.id, "status": changed.status}))
        else:
            print("confirmed (check-in undone)" if args.undo else "attended")
        return 0
    if action == "unregister":
        registration = await training.cancel_registration(args.registration)
        print(json.dumps({"registration": registration.id, "status": "cancelled"}) if as_json else "cancelled")
        return 0
    return 2


_FIELDS = ("registration", "name", "organisation", "role", "seats", "status", "accessibility", "channel", "user_id")


async def _register(args: argparse.Namespace, app: App, as_json: bool) -> int:
    if (args.channel is None) != (args.user_id is None):
        raise TrainingError("give both --channel and --user-id, or neither")
    problems = [f"{name}: missing" for name in ("name", "organisation", "role") if not str(getattr(args, name)).strip()]
    if problems:
        raise TrainingError("; ".join(problems))
    person = Person(
        channel=args.channel or "phone",
        user_id=args.user_id or f"phone-{uuid.uuid4().hex[:12]}",
        name=" ".join(args.name.split()),
        organisation=" ".join(args.organisation.split()),
        role=" ".join(args.role.split()),
        seats=parse_seats(args.seats),
        accessibility=" ".join(args.accessibility.split()),
    )
    registration, new = await app.training.register(args.id, person)
    if as_json:
        print(json.dumps({"registration": registration.id, "status": registration.status, "new": new}))
    else:
        print(registration.status if new else f"{registration.status} (already registered)")
    return 0


async def _import(path: Path, app: App, as_json: bool) -> int:
    """All the sessions in a file, or none of them."""
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise TrainingError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    items = data.get("sessions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise TrainingError(f"{path}: expected a list of sessions (or `sessions:` with a list)")
    problems, ready = [], []
    now = app.training.clock()
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            problems.append(f"session {number}: expected fields like title, venue, starts")
            continue
        try:
            ready.append(app.training.check({k: v for k, v in item.items() if v is not None}))
        except TrainingError as exc:
            problems.append(f"session {number} ({item.get('title', 'no title')}): {exc}")
    if problems:
        raise TrainingError("nothing imported:\n  " + "\n  ".join(problems))
    ids = await app.db.add_sessions(ready, now)
    print(json.dumps({"ids": ids}) if as_json else f"imported {len(ids)} sessions: {', '.join(map(str, ids))}")
    return 0
