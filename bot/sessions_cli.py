"""`safetybot sessions …`: coordinators manage training sessions from the command line.

Works while `safetybot run` is running on the same database: what is written here shows in the
chat at once, and the messages it causes (a session moved or cancelled) are sent by the running
bot. Every change is written to the audit log, as the chat's coordinator actions are.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.app import App, cli_actor
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
IMPORT_HELP = (
    "add a term's sessions from a YAML file (all or nothing); a session already there (the same"
    " title and venue, ignoring case, at the same start time) is left as it is, so importing a"
    " file again adds nothing"
)


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
    cancel.add_argument("--yes", action="store_true", help="cancel without asking first")
    cancel.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing = actions.add_parser("list", help="sessions with their counts")
    listing.add_argument("--all", action="store_true", help="include past and cancelled sessions")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    load = actions.add_parser("import", help=IMPORT_HELP, description=IMPORT_HELP[0].upper() + IMPORT_HELP[1:] + ".")
    load.add_argument("file", type=Path, help="a YAML file of sessions")
    load.add_argument("--json", action="store_true", help="print JSON instead of text")
    attendees = actions.add_parser("attendees", help="who is booked on a session")
    attendees.add_argument("id", type=int, help="the session's id (sessions list)")
    output = attendees.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="print CSV for a spreadsheet (with accessibility needs)")
    output.add_argument("--json", action="store_true", help="print JSON instead of text (without accessibility needs)")
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


def _attendee(registration: Registration, *, accessibility: bool = False) -> dict[str, Any]:
    """A registration as data; accessibility needs only for the organisers' spreadsheet (--csv)."""
    found = {
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
    if not accessibility:
        del found["accessibility"]
    return found


async def run(args: argparse.Namespace, app: App, stdin: TextIO | None = None) -> int:
    """Carry out one `sessions` action; return the exit status."""
    try:
        return await _run(args, app, stdin or sys.stdin)
    except TrainingError as exc:
        print(f"safetybot sessions {args.action}: {exc}", file=sys.stderr)
        return 1


async def _audit(app: App, action: str, **details: Any) -> None:
    """Write a change to the audit log the chat's coordinator actions use (who: `cli:<user>`)."""
    await app.db.audit(cli_actor(), action, details, app.training.clock())


async def _run(args: argparse.Namespace, app: App, stdin: TextIO) -> int:
    training = app.training
    action = args.action
    as_json = getattr(args, "json", False)
    if action == "add":
        session_id = await training.add(_fields(args))
        session = await training.get(session_id)
        await _audit(app, "session added", session=session_id)
        print(json.dumps({"id": session_id}) if as_json else f"{session_id}\tadded: {session.title}, "
              f"{when(session, training.tz)}")  # fmt: skip
        return 0
    if action == "edit":
        fields = _fields(args)
        session, told = await training.edit(args.id, fields)
        await _audit(app, "session edited", session=session.id, fields=sorted(fields), told=told)
        if as_json:
            print(json.dumps({**_session_json(session, app), "told": told}))
        else:
            people = app.content.copy.count("people_count", told)
            print(f"{session.id}\tchanged" + (f"; {people} booked or waiting will be told" if told else ""))
        return 0
    if action == "cancel":
        return await _cancel(args, app, stdin, as_json)
    if action == "list":
        sessions = await (app.db.sessions() if args.all else training.upcoming())
        if as_json:
            print(json.dumps([_session_json(s, app) for s in sessions]))
            return 0
        if not sessions:
            print("No sessions." if args.all else "No upcoming sessions (--all shows past and cancelled ones).")
        for s in sessions:
            print(_list_line(s, app))
        return 0
    if action == "import":
        return await _import(args.file, app, as_json)
    if action == "attendees":
        await training.get(args.id)
        registrations = await app.db.attendees(args.id)
        if args.json:
            print(json.dumps([_attendee(r) for r in registrations]))
        elif args.csv:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(_FIELDS))
            writer.writeheader()
            rows = (_attendee(r, accessibility=True) for r in registrations)
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        else:
            _print_attendees(args.id, registrations, app)
        return 0
    if action == "register":
        return await _register(args, app, as_json)
    if action == "checkin":
        registration = await app.db.registration(args.registration)
        if registration is None or registration.session_id != args.id:
            raise TrainingError(f"session {args.id} has no registration {args.registration}")
        changed = await training.check_in(registration.id, undo=args.undo)
        await _audit(app, "check-in undone" if args.undo else "checked in", session=args.id,
                     registration=registration.id)  # fmt: skip
        if as_json:
            print(json.dumps({"registration": changed.id, "status": changed.status}))
        else:
            print("confirmed (check-in undone)" if args.undo else "attended")
        return 0
    if action == "unregister":
        registration = await training.cancel_registration(args.registration)
        await _audit(app, "unregistered", session=registration.session_id, registration=registration.id)
        print(json.dumps({"registration": registration.id, "status": "cancelled"}) if as_json else "cancelled")
        return 0
    return 2


_FIELDS = ("registration", "name", "organisation", "role", "seats", "status", "accessibility", "channel", "user_id")


def _list_line(session: TrainingSession, app: App) -> str:
    """One session as a coordinator reads it: "#1 · Sat 5 Dec 2026, 10:00–13:00 · Keeping our
    mosque safe · Al Manaar · 12 of 30 seats left · 2 waiting"."""
    copy = app.content.copy
    seats = (
        copy.format("training_seats_left", left=session.seats_left, capacity=session.capacity)
        if session.seats_left
        else f"full ({copy.count('seats_count', session.capacity)})"
    )
    parts = [f"#{session.id}", when(session, app.training.tz), session.title, session.venue, seats]
    if session.waiting:
        parts.append(f"{session.waiting} waiting")
    if session.attended:
        parts.append(f"{session.attended} checked in")
    if session.status == "cancelled":
        parts.append("CANCELLED")
    return " · ".join(parts)


def _print_attendees(session_id: int, registrations: Sequence[Registration], app: App) -> None:
    """Who is booked, in aligned columns a person can read (accessibility needs only in --csv)."""
    if not registrations:
        print(f"Nobody has registered for session {session_id} yet.")
        return
    copy = app.content.copy
    rows: list[tuple[str, ...]] = [("Booking", "Seats", "Name", "Organisation", "Role", "Status")]
    waiting = 0
    for r in registrations:
        waiting += r.status == "waiting"
        status = copy.format(f"training_admin_status_{r.status}", position=waiting)
        safe = [str(spreadsheet_safe(value)) for value in (r.name, r.organisation, r.role)]
        rows.append((f"#{r.id}", copy.count("seats_count", r.seats), *safe, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])


async def _cancel(args: argparse.Namespace, app: App, stdin: TextIO, as_json: bool) -> int:
    """Cancel a session, after asking (unless --yes): everyone booked or waiting is told."""
    training = app.training
    session = await training.get(args.id)
    if session.status == "cancelled":
        raise TrainingError(f"session {args.id} is already cancelled")
    if not args.yes:
        people = app.content.copy.count("people_count", await training.to_tell(args.id))
        print(f"Cancel session {session.id}, {session.title} ({when(session, training.tz)})? {people} booked,"
              " waiting or checked in will be told. [y/N] ", end="", file=sys.stderr, flush=True)  # fmt: skip
        answer = await _answer(stdin)
        if answer.strip().lower() not in ("y", "yes"):
            print(("" if answer.endswith("\n") else "\n") + "Not cancelled: answer y to cancel, or pass --yes to"
                  " cancel without asking.", file=sys.stderr)  # fmt: skip
            return 1
    told = await training.cancel(args.id)
    await _audit(app, "session cancelled", session=args.id, told=told)
    print(json.dumps({"id": args.id, "told": told}) if as_json else f"{args.id}\tcancelled; {told} to tell")
    return 0


async def _answer(stdin: TextIO) -> str:
    """A line typed in answer, or "" when there is nobody to answer (no terminal, input closed)."""
    try:
        return await asyncio.to_thread(stdin.readline)
    except (OSError, ValueError):
        return ""


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
    position = await app.training.waiting_position(registration) if registration.status == "waiting" else None
    if new:
        await _audit(app, "registered", session=args.id, registration=registration.id, status=registration.status)
    if as_json:
        print(json.dumps({"registration": registration.id, "status": registration.status, "new": new,
                          "position": position}))  # fmt: skip
        return 0
    outcome = registration.status if new else f"{registration.status} (already registered)"
    detail = (
        f"number {position} on the waiting list"
        if position is not None
        else app.content.copy.count("seats_count", registration.seats)
    )
    print(outcome)  # the first line is the outcome alone (`confirmed`, `waiting`), as scripts read it
    print(f"registration {registration.id}, {detail}")
    return 0


async def _import(path: Path, app: App, as_json: bool) -> int:
    """All the sessions in a file, or none of them; those already there are not added again."""
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise TrainingError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    items = data.get("sessions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise TrainingError(f"{path}: expected a list of sessions (or `sessions:` with a list)")
    added, there = await app.training.import_sessions(items)
    await _audit(app, "sessions imported", file=path.name, added=added, already_there=there)
    if as_json:
        print(json.dumps({"ids": added, "added": len(added), "already_there": len(there), "existing": there}))
        return 0
    new = f"{len(added)} added" + (f" (ids {', '.join(map(str, added))})" if added else "")
    old = f"{len(there)} already there" + (f" (ids {', '.join(map(str, there))})" if there else "")
    print(f"{new}, {old}")
    return 0
