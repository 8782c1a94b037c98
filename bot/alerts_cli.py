"""`safetybot leaders …` and `safetybot alerts …`: coordinators' alerts work from the command line.

Works while `safetybot run` is running on the same database: an alert queued here is picked up by
the running dispatcher within a couple of seconds, and approvals reach people through it too.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from alerts import KINDS, Alert, AlertError, Progress, Subscriber, parse_areas, parse_duration, parse_quiet_hours
from bot import dates, languages
from bot.alerts_flow import MAX_REASON, AlertsFlow
from bot.app import App, cli_actor
from bot.dates import parse_local
from bot.phone import DEFAULT_REGION, e164
from bot.render import Style, render
from bot.text import clean, spreadsheet_safe

LEADER_COLUMNS = ("channel", "user_id", "name", "role", "place_of_worship", "boroughs")
# Optional: which kinds they get ("vigilance;urgent"; urgent always) and quiet hours ("22:00-07:00", "none").
OPTIONAL_COLUMNS = ("kinds", "quiet_hours")
LEADER_CHANNELS = ("telegram", "whatsapp", "console")


AUDIT_TEXT = 120  # characters of an alert's text shown in `alerts audit` (all of it in --json)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `leaders` and `alerts` to the command line."""
    leaders = commands.add_parser("leaders", help="verified faith leaders who get alerts (coordinators)")
    actions = leaders.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = actions.add_parser(
        "import",
        help=f"add or update leaders from a CSV file ({','.join(LEADER_COLUMNS)};"
        f" optional: {','.join(OPTIONAL_COLUMNS)})",
    )
    load.add_argument("file", type=Path, help="a CSV or YAML file of faith leaders")
    load.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing = actions.add_parser("list", help="subscribers: faith leaders and community members")
    listing.add_argument("--status", choices=("pending", "approved", "rejected"), help="only these")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    for name, verb in (("approve", "approve a faith leader's request"), ("reject", "reject a faith leader's request")):
        decide = actions.add_parser(name, help=verb)
        decide.add_argument("id", type=int, help="the subscriber id (see `leaders list`)")
        if name == "reject":
            decide.add_argument("--reason", default="", help=f"why, told to them (at most {MAX_REASON} characters)")
        decide.add_argument("--json", action="store_true", help="print JSON instead of text")

    alerts = commands.add_parser("alerts", help="send alerts and follow them (coordinators)")
    actions = alerts.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser("send", help="preview an alert, then queue it; prints its reference")
    send.add_argument(
        "--kind",
        required=True,
        choices=KINDS,
        help="how urgent (urgent ignores quiet hours)",
    )
    send.add_argument(
        "--audience",
        required=True,
        choices=("leaders", "community", "all"),
        help="verified faith leaders, community sign-ups, or both",
    )
    send.add_argument("--areas", required=True, help="all, or London boroughs separated by ;")
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--text", help="the alert's text (Markdown: **bold**, lists, links)")
    body.add_argument("--template", help="a template in content/alerts/ (its file name without .yaml)")
    send.add_argument(
        "--translation",
        action="append",
        default=[],
        metavar="CODE=TEXT",
        help="the alert in another language, for those who chose it (e.g. bn=…); repeat for each language."
        " A template brings its own translations that may be shown (TRANSLATION_MIN_STATUS)",
    )
    send.add_argument("--at", help="send later: local time in TIMEZONE, e.g. 2026-12-05T18:30")
    send.add_argument(
        "--escalate-after", metavar="DURATION",
        help="e.g. 15m or 1h: then leaders who haven't acknowledged it get one reminder, and coordinators the"
        " places of worship not yet reached",
    )  # fmt: skip
    send.add_argument("--yes", action="store_true", help="send without asking")
    send.add_argument("--json", action="store_true", help="print JSON instead of text")
    status = actions.add_parser("status", help="how an alert is going: sent, delivered, failed, acknowledged")
    status.add_argument("reference", help="e.g. A-7K3Q")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    cancel = actions.add_parser("cancel", help="withdraw an alert: what has not gone yet never goes (asks first)")
    cancel.add_argument("reference", help="e.g. A-7K3Q")
    cancel.add_argument("--yes", action="store_true", help="withdraw without asking")
    cancel.add_argument("--json", action="store_true", help="print JSON instead of text")
    for name, verb in (("approve", "approve an alert another coordinator composed (ALERT_APPROVALS=2)"),
                       ("refuse", "refuse an alert waiting for approval: it is never sent")):  # fmt: skip
        decide = actions.add_parser(name, help=verb)
        decide.add_argument("reference", help="e.g. A-7K3Q")
        if name == "refuse":
            decide.add_argument("--reason", default="", help="why (kept in the audit log)")
        decide.add_argument("--json", action="store_true", help="print JSON instead of text")
    follow = actions.add_parser(
        "follow-up", help="send a correction or the all clear to exactly those who received an alert (asks first)"
    )
    follow.add_argument("reference", help="e.g. A-7K3Q")
    follow.add_argument("--kind", required=True, choices=("correction", "all-clear"), help="what it is")
    follow.add_argument("--text", required=True, help="what it says (Markdown: **bold**, lists, links)")
    follow.add_argument(
        "--translation", action="append", default=[], metavar="CODE=TEXT",
        help="the text in another language, for those who chose it (e.g. bn=…); repeat for each language",
    )  # fmt: skip
    follow.add_argument("--yes", action="store_true", help="send without asking")
    follow.add_argument("--json", action="store_true", help="print JSON instead of text")
    recipients = actions.add_parser("recipients", help="who an alert went to, and what became of each (audited)")
    recipients.add_argument("reference", help="e.g. A-7K3Q")
    recipients.add_argument(
        "--status", choices=("failed", "pending", "unacknowledged"), help="only these (default: everyone)"
    )
    shape = recipients.add_mutually_exclusive_group()
    shape.add_argument("--csv", action="store_true", help="print CSV (a spreadsheet opens it)")
    shape.add_argument("--json", action="store_true", help="print JSON: a list of objects, one per recipient")
    resend = actions.add_parser("resend", help="send an alert again to those it failed to reach, once fixable")
    resend.add_argument("reference", help="e.g. A-7K3Q")
    resend.add_argument(
        "--failed", action="store_true", required=True, help="those whose failure can be fixed (e.g. no template then)"
    )
    resend.add_argument("--json", action="store_true", help="print JSON instead of text")
    recent = actions.add_parser("list", help="recent alerts")
    recent.add_argument("--limit", type=int, default=20, help="show at most this many (default: 20)")
    recent.add_argument("--json", action="store_true", help="print JSON instead of text")
    audit = actions.add_parser("audit", help="who composed, approved and sent what, and when")
    audit.add_argument("--limit", type=int, default=50, help="show at most this many (default: 50)")
    audit.add_argument("--json", action="store_true", help="print JSON instead of text")


class CommandError(Exception):
    """A command that can't be carried out; the message says why."""


async def run(args: argparse.Namespace, app: App, stdin: TextIO | None = None) -> int:
    """Carry out one `leaders` or `alerts` action; return the exit status."""
    try:
        if args.command == "leaders":
            return await _leaders(args, app)
        return await _alerts(args, app, stdin or sys.stdin)
    except (CommandError, AlertError) as exc:
        print(f"safetybot {args.command} {args.action}: {exc}", file=sys.stderr)
        return 1


# --- leaders --------------------------------------------------------------------------------------
def _subscriber_json(s: Subscriber) -> dict[str, Any]:
    return {
        "id": s.id,
        "channel": s.channel,
        "user_id": s.user_id,
        "kind": s.kind,
        "status": s.status,
        "name": s.name,
        "role": s.role,
        "place_of_worship": s.place,
        "boroughs": list(s.boroughs),
        "kinds": list(s.kinds),
        "quiet_hours": None if s.quiet_start == s.quiet_end else f"{s.quiet_start}-{s.quiet_end}",
    }


async def _leaders(args: argparse.Namespace, app: App) -> int:
    if args.action == "import":
        return await _import(args.file, app, args.json)
    if args.action == "list":
        people = await app.alerts.subscribers(status=args.status)
        if args.json:
            print(json.dumps([_subscriber_json(s) for s in people]))
            return 0
        if not people:
            print("Nobody has signed up for alerts yet.")
            return 0
        print("\t".join(("ID", "STATUS", "KIND", "NAME", "ROLE", "PLACE OF WORSHIP", "AREAS", "CONTACT")))
        for s in people:
            fields = (
                s.id,
                s.status,
                "faith leader" if s.kind == "leader" else "community member",
                spreadsheet_safe(s.name) or "-",  # typed by the person: shown as text in a spreadsheet
                spreadsheet_safe(s.role) or "-",
                spreadsheet_safe(s.place) or "-",
                ";".join(s.boroughs),
                f"{s.channel} {s.user_id}",  # who they are: reach them there
            )
            print("\t".join(map(str, fields)))
        return 0
    status = "approved" if args.action == "approve" else "rejected"
    subscriber = await app.alerts.subscriber_by_id(args.id)
    if subscriber is None or subscriber.kind != "leader":
        raise CommandError(f"no faith leader with id {args.id} (see `safetybot leaders list`)")
    reason = clean(getattr(args, "reason", "") or "").strip()
    if len(reason) > MAX_REASON:
        raise CommandError(f"--reason: keep it under {MAX_REASON} characters (it is {len(reason)})")
    await app.alerts_flow.decide(subscriber, status, cli_actor(), app.training.clock(), reason)
    print(json.dumps({"id": subscriber.id, "status": status}) if args.json else f"{subscriber.id}\t{status}")
    return 0


@dataclass
class _Row:
    number: int
    channel: str
    user_id: str
    name: str
    role: str
    place: str
    boroughs: tuple[str, ...]
    kinds: tuple[str, ...] | None = None  # None: as they are (all, for someone new)
    quiet: tuple[str, str] | None = None


def _check_row(number: int, row: dict[str, str | None], boroughs: tuple[str, ...]) -> tuple[_Row | None, list[str]]:
    values = {key: " ".join(str(row.get(key) or "").split()) for key in LEADER_COLUMNS}
    problems = [f"{key}: missing" for key in LEADER_COLUMNS if not values[key]]
    channel, user_id = values["channel"].lower(), values["user_id"]
    if values["channel"] and channel not in LEADER_CHANNELS:
        problems.append(f"channel: {values['channel']!r} is not one of {', '.join(LEADER_CHANNELS)}")
    if channel == "telegram" and user_id and not re.fullmatch(r"-?\d+", user_id):
        problems.append(f"user_id: {user_id!r} is not a Telegram chat id (a number)")
    if channel == "whatsapp" and user_id:
        number_ = e164(user_id, DEFAULT_REGION, valid=True)
        if number_ is None:
            problems.append(f"user_id: {user_id!r} is not a valid phone number (use +44…)")
        user_id = number_ or user_id
    for key, limit in (("name", 80), ("role", 60), ("place_of_worship", 120)):
        if len(values[key]) > limit:
            problems.append(f"{key}: longer than {limit} characters")
    areas: tuple[str, ...] = ()
    if values["boroughs"]:
        try:
            areas = parse_areas(values["boroughs"], boroughs)
        except AlertError as exc:
            problems.append(str(exc).replace("areas:", "boroughs:", 1))
    kinds: tuple[str, ...] | None = None
    wanted = " ".join(str(row.get("kinds") or "").split()).lower()
    if wanted:
        named = [k.strip() for k in wanted.split(";") if k.strip()]
        unknown = [k for k in named if k not in (*KINDS, "all")]
        if unknown:
            problems.append(f"kinds: {', '.join(unknown)} (use {';'.join(KINDS)} or all)")
        kinds = KINDS if "all" in named else tuple(k for k in KINDS if k in named or k == "urgent")
    quiet: tuple[str, str] | None = None
    if hours := str(row.get("quiet_hours") or "").strip():
        try:
            quiet = parse_quiet_hours(hours)
        except AlertError as exc:
            problems.append(str(exc).replace("quiet hours:", "quiet_hours:", 1))
    if problems:
        return None, problems
    return _Row(number, channel, user_id, values["name"], values["role"], values["place_of_worship"], areas,
                kinds, quiet), []  # fmt: skip


async def _import(path: Path, app: App, as_json: bool) -> int:
    """Every leader in the file, or none of them; running it again changes nothing."""
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [c for c in LEADER_COLUMNS if c not in header]
    if missing:
        raise CommandError(f"{path}: the first line must name the columns {','.join(LEADER_COLUMNS)}"
                           f" (missing: {', '.join(missing)})")  # fmt: skip
    reader.fieldnames = header
    rows: list[_Row] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for raw in reader:
        number = reader.line_num  # as an editor shows it (blank lines and quoted line breaks count)
        if not any((value or "").strip() for value in raw.values() if isinstance(value, str)):
            continue  # a blank line
        row, row_problems = _check_row(number, raw, app.composer.boroughs)
        if row is not None and (row.channel, row.user_id) in seen:
            row_problems = [f"the same person as line {seen[(row.channel, row.user_id)]}"]
        if row_problems:
            problems.append(f"line {number}: " + "; ".join(row_problems))
            continue
        assert row is not None
        seen[(row.channel, row.user_id)] = number
        rows.append(row)
    if problems:
        raise CommandError("nothing imported:\n  " + "\n  ".join(problems))
    if not rows:
        raise CommandError(f"{path}: no leaders in the file")
    now = app.training.clock()
    added = updated = unchanged = 0
    for row in rows:
        before = await app.alerts.subscriber(row.channel, row.user_id)
        subscriber, changed = await app.alerts.save_subscriber(
            row.channel, row.user_id, kind="leader", status="approved", name=row.name, role=row.role,
            place=row.place, boroughs=row.boroughs, now=now,
        )  # fmt: skip
        if (row.kinds is not None and row.kinds != subscriber.kinds) or (
            row.quiet is not None and row.quiet != (subscriber.quiet_start, subscriber.quiet_end)
        ):
            await app.alerts.set_preferences(row.channel, row.user_id, now, kinds=row.kinds, quiet=row.quiet)
            changed = True
        if before is None:
            added += 1
        elif changed:
            updated += 1
        else:
            unchanged += 1
        if before is not None and before.status == "pending":  # they asked in the chat: tell them
            await app.alerts_flow.tell_decision(subscriber, "approved")
    counts = {"added": added, "updated": updated, "unchanged": unchanged}
    await app.alerts.audit(cli_actor(), "leaders imported", {"file": path.name, **counts}, now)
    print(json.dumps(counts) if as_json else f"{path}: {added} added, {updated} updated, {unchanged} unchanged")
    return 0


# --- alerts ---------------------------------------------------------------------------------------
def progress_json(alert: Alert, progress: Progress, follow_ups: Sequence[Alert] = ()) -> dict[str, Any]:
    """`alerts status --json`. `sent` counts every message the platform took, delivered or not yet."""
    return {
        "reference": alert.reference,
        "follows": alert.follows_reference,
        "follow_up": alert.follow_up,
        "kind": alert.kind,
        "audience": alert.audience,
        "areas": list(alert.areas),
        "send_at": alert.send_at.isoformat(),
        "recipients": progress.total,
        "sent": progress.sent + progress.delivered,
        "delivered": progress.delivered,
        "failed": progress.failed,
        "failed_by_reason": progress.failed_by_reason,
        "cancelled": progress.cancelled,
        "withdrawn_at": alert.cancelled_at.isoformat() if alert.cancelled_at else None,
        "approval": alert.approval,
        "decided_by": alert.decided_by,
        "escalate_after": int(alert.escalate_after.total_seconds()) if alert.escalate_after else None,
        "escalated_at": alert.escalated_at.isoformat() if alert.escalated_at else None,
        "acknowledged": progress.acknowledged,
        "need_help": progress.need_help,
        "pending": progress.pending,
        "by_channel": progress.by_channel,
        "done": progress.done and not alert.awaiting,
        "follow_ups": [
            {"reference": a.reference, "kind": a.follow_up, "send_at": a.send_at.isoformat(), "recipients": a.total}
            for a in follow_ups
        ],
    }


async def _alerts(args: argparse.Namespace, app: App, stdin: TextIO) -> int:
    if args.action == "send":
        return await _send(args, app, stdin)
    if args.action == "status":
        alert = await app.alerts.alert_by_reference(args.reference.strip())
        if alert is None:
            raise CommandError(f"no alert {args.reference!r} (see `safetybot alerts list`)")
        progress = await app.alerts.progress(alert)
        follow_ups = await app.alerts.follow_ups(alert)
        if args.json:
            print(json.dumps(progress_json(alert, progress, follow_ups)))
        else:
            print(render(app.alerts_flow.progress_text(alert, progress, follow_ups), Style.PLAIN))
            if progress.by_channel:
                print("By channel: " + ", ".join(f"{c} {n}" for c, n in sorted(progress.by_channel.items())))
        return 0
    if args.action == "recipients":
        return await _recipients(args, app)
    if args.action == "cancel":
        return await _cancel(args, app, stdin)
    if args.action == "follow-up":
        return await _follow_up(args, app, stdin)
    if args.action in ("approve", "refuse"):
        return await _decide(args, app)
    if args.action == "resend":
        alert = await _alert(app, args.reference)
        count = await app.alerts.resend_failed(alert, RESENDABLE, app.training.clock())
        await app.alerts.audit(cli_actor(), "alert resent", {"reference": alert.reference, "recipients": count},
                               app.training.clock())  # fmt: skip
        if args.json:
            print(json.dumps({"reference": alert.reference, "queued": count}))
        else:
            print(f"{alert.reference}: queued again for {count} recipient{'' if count == 1 else 's'}"
                  f"{'' if count else ' (none failed for a reason that can be fixed)'}.")  # fmt: skip
        return 0
    if args.action == "list":
        recent = await app.alerts.alerts(args.limit)
        if args.json:
            print(json.dumps([{"reference": a.reference, "kind": a.kind, "audience": a.audience,
                               "areas": list(a.areas), "send_at": a.send_at.isoformat(), "recipients": a.total,
                               "created_by": a.created_by, "state": _state(a)} for a in recent]))  # fmt: skip
            return 0
        if not recent:
            print("No alerts yet.")
            return 0
        print("\t".join(("REFERENCE", "SENT AT", "KIND", "AUDIENCE", "AREAS", "RECIPIENTS", "STATE")))
        for a in recent:
            when = dates.friendly(a.send_at, app.composer.tz)
            print(f"{a.reference}\t{when}\t{a.kind}\t{a.audience}\t{';'.join(a.areas)}\t{a.total}\t{_state(a)}")
        return 0
    if args.action == "audit":
        entries = await app.alerts.audit_log(args.limit)
        if args.json:
            print(json.dumps([{"at": at, "actor": who, "action": what, "details": details}
                              for at, who, what, details in entries]))  # fmt: skip
            return 0
        if not entries:
            print("Nothing in the audit log yet.")
        for at, who, what, details in entries:
            when = dates.friendly(datetime.fromisoformat(at), app.composer.tz)
            print(f"{when}\t{who}\t{what}\t{audit_details(details, app.composer.tz)}")
        return 0
    return 2


async def _confirm(stdin: TextIO, question: str, declined: str) -> bool:
    """Ask on stderr ("Send it? [y/N] "); anything but y or yes declines (and says `declined`)."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = await asyncio.to_thread(stdin.readline)
    if answer.strip().lower() in ("y", "yes"):
        return True
    print(declined, file=sys.stderr)
    return False


def _state(alert: Alert) -> str:
    """ "sent", "awaiting approval", "refused", "withdrawn", or what a follow-up is ("correction of A-7K3Q")."""
    if alert.cancelled_at is not None:
        return "withdrawn"
    if alert.unapproved:
        return "awaiting approval" if alert.awaiting else "refused"
    if alert.follows_reference:
        return f"{(alert.follow_up or 'follow-up').replace('-', ' ')} of {alert.follows_reference}"
    return "sent"


# Failures a coordinator can fix, then send again: a WhatsApp template added, a passing fault that
# outlasted the retries. Not: blocked the bot, opted out, an invalid number or recipient.
RESENDABLE = ("window closed", "gave up after", "refused")


async def _alert(app: App, reference: str) -> Alert:
    alert = await app.alerts.alert_by_reference(reference.strip())
    if alert is None:
        raise CommandError(f"no alert {reference!r} (see `safetybot alerts list`)")
    return alert


async def _cancel(args: argparse.Namespace, app: App, stdin: TextIO) -> int:
    """Withdraw an alert (scheduled or sending): its deliveries not yet sent are cancelled, and
    CHECK says it was withdrawn. Asks first, unless --yes."""
    alert = await _alert(app, args.reference)
    if alert.cancelled_at is not None:
        raise CommandError(
            f"{alert.reference} was already withdrawn ({app.alerts_flow.local_time(alert.cancelled_at)})"
        )
    progress = await app.alerts.progress(alert)
    if not args.yes:
        gone = progress.sent + progress.delivered + progress.failed
        print(f"Withdraw alert {alert.reference} ({alert.kind}, {alert.total} recipients)? {progress.pending} not yet"
              f" sent will not be; {gone} already went or failed. CHECK {alert.reference} will say it was withdrawn.",
              file=sys.stderr)  # fmt: skip
        if not await _confirm(stdin, "Withdraw it?", "Not withdrawn."):
            return 1
    count = await app.alerts_flow.withdraw(alert, cli_actor(), app.training.clock())
    if args.json:
        print(json.dumps({"reference": alert.reference, "cancelled": count}))
    else:
        print(f"{alert.reference}: withdrawn; {count} not sent.")
    return 0


def _translations(given: Sequence[str]) -> dict[str, str]:
    """--translation CODE=TEXT, each given: code → text."""
    found = {}
    for item in given:
        code, equals, translated = item.partition("=")
        if not equals or not translated.strip():
            raise CommandError(f"translation: give CODE=TEXT, e.g. bn=…, not {item!r}")
        found[code.strip().lower()] = translated
    return found


async def _ask_approval(flow: AlertsFlow, alert: Alert) -> None:
    """Ask the other coordinators to approve an alert waiting for them, and say so."""
    await flow.ask_approval(alert)
    print(f"{alert.reference} is waiting for a second coordinator to approve it (ALERT_APPROVALS=2): they have"
          f" been asked in the chat, or run `safetybot alerts approve {alert.reference}` as another"
          " coordinator.", file=sys.stderr)  # fmt: skip


async def _follow_up(args: argparse.Namespace, app: App, stdin: TextIO) -> int:
    """A correction or the all clear to exactly those who received an alert, with its reference.
    Asks first, unless --yes."""
    flow, composer = app.alerts_flow, app.composer
    original = await composer.root(await _alert(app, args.reference))
    composer.check(original.kind, original.audience, args.text)
    translations = composer.check_translations(_translations(args.translation))
    for code, translated in translations.items():
        problems = flow.translation_problems(args.text, code, translated)
        if problems:
            raise CommandError(f"translation {code}: {'; '.join(problems)}")
    received = await app.alerts.received(original)
    if not received:
        raise CommandError(f"nobody has received {original.reference} yet: withdraw it instead (alerts cancel)")
    if not args.yes:
        print(render(flow.message_text(args.text.strip(), original.reference, original.kind, args.kind),
                     Style.PLAIN), file=sys.stderr)  # fmt: skip
        progress = await app.alerts.progress(original)
        still = f" {progress.pending} still queued for the original get it first." if progress.pending else ""
        what = "A correction" if args.kind == "correction" else "The all clear"
        print(f"\n{what} to the {len(received)} who received {original.reference}.{still}", file=sys.stderr)
        if not await _confirm(stdin, "Send it?", "Not sent."):
            return 1
    alert = await composer.follow_up(original, kind=args.kind, text=args.text, created_by=cli_actor(),
                                     translations=translations)  # fmt: skip
    if alert.awaiting:
        await _ask_approval(flow, alert)
    if args.json:
        print(json.dumps({"reference": alert.reference, "follows": original.reference, "recipients": alert.total,
                          "approval": alert.approval}))  # fmt: skip
    else:
        print(alert.reference)
    return 0


async def _decide(args: argparse.Namespace, app: App) -> int:
    """A second coordinator approves or refuses an alert (not whoever composed it); audited."""
    alert = await _alert(app, args.reference)
    if args.action == "approve":
        decided = await app.composer.approve(alert, cli_actor())
    else:
        decided = await app.composer.refuse(alert, cli_actor(), clean(args.reason).strip())
    await app.db.drop_notifications(f"alert-approval:{alert.id}:")
    await app.alerts_flow.tell_composer(decided)
    if args.json:
        print(json.dumps({"reference": decided.reference, "approval": decided.approval, "recipients": decided.total}))
    elif decided.approval == "approved":
        print(
            f"{decided.reference}: approved; queued for {decided.total} recipient{'' if decided.total == 1 else 's'}."
        )
    else:
        print(f"{decided.reference}: refused; it will not be sent.")
    return 0


async def _recipients(args: argparse.Namespace, app: App) -> int:
    """Each recipient of an alert with what became of it; listing them is audited (it names people)."""
    alert = await _alert(app, args.reference)
    rows = await app.alerts.recipients_of(alert, args.status)
    details = {"reference": alert.reference, "status": args.status or "all", "recipients": len(rows)}
    await app.alerts.audit(cli_actor(), "listed recipients", details, app.training.clock())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if args.csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["channel", "user_id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        print(out.getvalue(), end="")
        return 0
    if not rows:
        print(f"{alert.reference}: nobody{' ' + args.status if args.status else ''}.")
        return 0
    print("\t".join(("CHANNEL", "CONTACT", "NAME", "PLACE OF WORSHIP", "STATUS", "REASON", "SENT AT", "ANSWER")))
    for row in rows:
        sent = dates.friendly(datetime.fromisoformat(row["sent_at"]), app.composer.tz) if row["sent_at"] else "-"
        print("\t".join((row["channel"], row["user_id"], row["name"] or "-", row["place_of_worship"] or "-",
                         row["status"], row["reason"] or "-", sent, row["acknowledged"] or "-")))  # fmt: skip
    return 0


def audit_details(details: Mapping[str, Any], tz: ZoneInfo) -> str:
    """An audit entry's details as a person reads them: "reference A-7K3Q · areas Newham,
    Hackney · recipients console 2 · text "Keep doors shut"", times local."""
    parts = []
    for key, value in sorted(details.items(), key=lambda item: item[0] == "text"):  # the text last
        if key == "text":
            shown = " ".join(str(value).split())
            parts.append(f'text "{shown[:AUDIT_TEXT]}{"…" if len(shown) > AUDIT_TEXT else ""}"')
        elif isinstance(value, list):
            parts.append(f"{key} {', '.join(map(str, value)) or '-'}")
        elif isinstance(value, dict):
            parts.append(f"{key} {', '.join(f'{k} {v}' for k, v in sorted(value.items())) or '-'}")
        elif key.endswith("_at") and isinstance(value, str):
            try:
                parts.append(f"{key.replace('_', ' ')} {dates.friendly(datetime.fromisoformat(value), tz)}")
            except ValueError:
                parts.append(f"{key} {value}")
        else:
            parts.append(f"{key} {value}")
    return " · ".join(parts) or "-"


async def _left_out(app: App, audience: str, areas: tuple[str, ...], channels: tuple[str, ...], kind: str) -> str:
    """Subscribers an alert would reach on channels not configured where this command runs."""
    others = [c for c in ("telegram", "whatsapp") if c not in channels]
    if not others:
        return ""
    preview = await app.composer.preview(audience, areas, others, kind)
    counts = preview.by_channel
    return ", ".join(f"{n} on {c}" for c, n in sorted(counts.items()))


async def _send(args: argparse.Namespace, app: App, stdin: TextIO) -> int:
    flow, composer = app.alerts_flow, app.composer
    areas = parse_areas(args.areas, composer.boroughs)
    escalate_after = parse_duration(args.escalate_after) if args.escalate_after else None
    when: datetime | None = None
    if args.at:
        try:
            when = parse_local(args.at, composer.tz, "at")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if when <= app.training.clock():
            raise CommandError("at: that time has already passed")
    if args.template is not None:
        template = app.content.alert_templates.get(args.template)
        if template is None:
            names = ", ".join(sorted(app.content.alert_templates)) or "none"
            raise CommandError(f"template: no template {args.template!r} (there are: {names})")
        if template.kind != args.kind:
            raise CommandError(f"template: {args.template!r} is a {template.kind} template, not {args.kind}")
        body = template.text
        translations = flow.template_translations(template)
    else:
        body, translations = args.text, {}
    translations.update(_translations(args.translation))
    text = flow.fill(body, areas, when or app.training.clock())
    composer.check(args.kind, args.audience, text)
    translations = flow.fill_translations(translations, areas, when or app.training.clock())
    for code, translated in composer.check_translations(translations).items():
        problems = flow.translation_problems(text, code, translated)
        if problems:
            raise CommandError(f"translation {code}: {'; '.join(problems)}")
    channels = app.settings.alert_channels
    left_out = await _left_out(app, args.audience, areas, channels, args.kind)
    if left_out:
        print(f"Note: {left_out} left out: their channels are not configured here ({', '.join(channels)})."
              " Run this where the bot's .env is.", file=sys.stderr)  # fmt: skip
    if not args.yes:
        preview = await composer.preview(args.audience, areas, channels, args.kind)
        counts = ", ".join(f"{c} {n}" for c, n in sorted(preview.by_channel.items())) or "nobody"
        at = flow.local_time(when) if when else "now"
        total = len(preview.recipients)
        print(render(flow.message_text(text, "A-????", args.kind), Style.PLAIN), file=sys.stderr)
        for code, translated in sorted(translations.items()):
            with app.content.copy.speaking(code):
                shown = render(flow.message_text(translated, "A-????", args.kind), Style.PLAIN)
            print(f"\n--- {languages.language(code).english}:\n{shown}", file=sys.stderr)
        print(f"\n{args.kind} alert for {args.audience} in {';'.join(areas)}, {at}: {total}"
              f" recipient{'' if total == 1 else 's'} ({counts}). The reference is given when it is sent.",
              file=sys.stderr)  # fmt: skip
        by_language = ", ".join(
            f"{languages.language(code).english} {n}{' (translated)' if code in translations else ''}"
            for code, n in sorted(preview.by_language.items())
        )
        print(f"By language: {by_language or 'nobody'}; the others get the English.", file=sys.stderr)
        if not await _confirm(stdin, "Send it?", "Not sent."):
            return 1
    alert = await composer.send(
        kind=args.kind, audience=args.audience, areas=areas, text=text, created_by=cli_actor(), channels=channels,
        send_at=when, translations=translations, escalate_after=escalate_after,
    )  # fmt: skip
    if alert.awaiting:
        await _ask_approval(flow, alert)
    if args.json:
        print(json.dumps({"reference": alert.reference, "recipients": alert.total, "send_at": alert.send_at.isoformat(),
                          "approval": alert.approval}))  # fmt: skip
    else:
        print(alert.reference)
    return 0
