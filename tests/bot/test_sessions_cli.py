"""`safetybot sessions …` as coordinators run it: real subprocesses on one database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from icalendar import Calendar

from bot.store import Database, latest_version
from tests.bot.test_cli import free_port, run
from tests.conftest import Ran, safetybot
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotApi

LONDON = ZoneInfo("Europe/London")  # TIMEZONE's default
DAY = (datetime.now(LONDON) + timedelta(days=30)).strftime("%Y-%m-%d")
SESSION = ["--title", "Keeping our mosque safe", "--venue", "Al Manaar", "--address", "244 Acklam Road, London",
           "--borough", "Kensington and Chelsea", "--starts", f"{DAY}T10:00", "--ends", f"{DAY}T13:00"]  # fmt: skip


CLI_SESSION = {"title": "Keeping our mosque safe", "venue": "Al Manaar", "address": "244 Acklam Road, London",
               "borough": "Kensington and Chelsea", "capacity": 30}  # fmt: skip


def add(cli: Callable[[list[str]], Any], capacity: int = 30) -> int:
    done = cli(["sessions", "add", *SESSION, "--capacity", str(capacity), "--json"])
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["id"])


def book(cli: Callable[[list[str]], Any], session: int, name: str, *extra: str) -> Any:
    return cli(["sessions", "register", str(session), "--name", name, "--organisation", "Masjid", "--role",
                "Trustee", *extra])  # fmt: skip


def in_subprocess(env: dict[str, str]) -> Callable[[list[str]], subprocess.CompletedProcess[str]]:
    return lambda args: run(args, env)


def outcome(done: Any) -> str:
    """What `sessions register` said became of the booking: its first word."""
    return str(done.stdout).split(":", 1)[0].strip()


def test_add_list_edit_attendees_checkin_cancel(cli: Callable[[list[str]], Ran]) -> None:
    session = add(cli, capacity=2)
    confirmed = book(cli, session, "Amina Khan", "--seats", "2", "--accessibility", "Wheelchair user")
    assert confirmed.stdout.splitlines() == ["confirmed", "registration 1, 2 seats"]
    waiting = book(cli, session, "Yusuf Ali")
    assert waiting.stdout.splitlines() == ["waiting", "registration 2, number 1 on the waiting list"]
    also = json.loads(book(cli, session, "Bob Ahmed", "--json").stdout)
    assert also == {"registration": 3, "status": "waiting", "new": True, "position": 2}
    [listed] = json.loads(cli(["sessions", "list", "--json"]).stdout)
    assert (listed["id"], listed["registered"], listed["waiting"], listed["seats_left"]) == (session, 2, 2, 0)
    assert listed["starts"].startswith(f"{DAY}T10:00")
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [(p["name"], p["status"], p["seats"]) for p in people] == [("Amina Khan", "confirmed", 2),
                                                                      ("Yusuf Ali", "waiting", 1),
                                                                      ("Bob Ahmed", "waiting", 1)]  # fmt: skip
    assert {"name", "organisation", "role", "seats", "status", "channel", "user_id"} <= set(people[0])
    assert "accessibility" not in people[0]  # only the organisers' spreadsheet has it
    csv_lines = cli(["sessions", "attendees", str(session), "--csv"]).stdout.splitlines()
    assert csv_lines[0].startswith("registration,name,organisation") and "Amina Khan" in csv_lines[1]
    assert "Wheelchair user" in csv_lines[1]
    edited = cli(["sessions", "edit", str(session), "--capacity", "4"])
    assert edited.returncode == 0, edited.stderr
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [p["status"] for p in people] == ["confirmed"] * 3  # booked by phone: confirmed at once
    early = cli(["sessions", "checkin", str(session), "--registration", str(people[0]["registration"])])
    assert early.returncode == 1 and "Traceback" not in early.stderr
    assert f"check-in is only on the day of the session ({day_of(DAY)})" in early.stderr
    cancelled = cli(["sessions", "cancel", str(session), "--yes", "--json"])
    assert json.loads(cancelled.stdout) == {"id": session, "told": 3}
    assert cli(["sessions", "list"]).stdout.startswith("No upcoming sessions")


def day_of(iso_date: str) -> str:
    """ "Sat 5 Dec 2026" for "2026-12-05", as the bot writes a day."""
    return datetime.strptime(iso_date, "%Y-%m-%d").strftime("%a %-d %b %Y")


def session_today(path: Path) -> tuple[int, int]:
    """A session running all of today (local time), begun already, with one person booked: the
    CLI can't add one in the past, so it is written straight to the database."""
    today = datetime.now(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    fields = {**CLI_SESSION, "starts_at": today, "ends_at": today.replace(hour=23, minute=59)}

    async def write() -> tuple[int, int]:
        db = await Database.open(path)
        try:
            session = await db.add_session(fields, datetime.now(UTC) - timedelta(days=7))
            person = {"channel": "phone", "user_id": "phone-1", "name": "Amina Khan", "organisation": "Masjid",
                      "role": "Trustee", "seats": 2, "calendar_token": "t" * 24}  # fmt: skip
            registration, _ = await db.register(session, person, today - timedelta(days=7))
            return session, registration.id
        finally:
            await db.close()

    return asyncio.run(write())


def test_check_in_on_the_day_and_undo_it(cli: Callable[[list[str]], Ran], cli_env: dict[str, str]) -> None:
    session, registration = session_today(Path(cli_env["DATABASE_PATH"]))
    checkin = ["sessions", "checkin", str(session), "--registration", str(registration)]
    done = cli(checkin)
    assert (done.returncode, done.stdout.strip()) == (0, "attended")
    assert "checked in" in cli(["sessions", "attendees", str(session)]).stdout
    again = cli(checkin)
    assert again.returncode == 1 and "only a booked (confirmed) registration can be checked in" in again.stderr
    undone = cli([*checkin, "--undo", "--json"])
    assert json.loads(undone.stdout) == {"registration": registration, "status": "confirmed"}
    assert json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)[0]["status"] == "confirmed"
    twice = cli([*checkin, "--undo"])
    assert twice.returncode == 1 and "only someone checked in can have it undone" in twice.stderr
    wrong = cli(["sessions", "checkin", str(session), "--registration", "4242"])
    assert wrong.returncode == 1 and f"session {session} has no registration 4242" in wrong.stderr


def test_bad_input_gets_clear_messages_and_writes_nothing(cli: Callable[[list[str]], Ran]) -> None:
    past = (datetime.now() - timedelta(days=3)).strftime("%Y-%m-%d")
    cases = [
        (["--starts", f"{past}T10:00", "--ends", f"{past}T12:00", "--capacity", "5"], "in the past"),
        (["--starts", f"{DAY}T10:00", "--ends", f"{DAY}T09:00", "--capacity", "5"], "must be after the start"),
        (["--starts", f"{DAY}T10:00", "--ends", f"{DAY}T12:00", "--capacity", "0"], "between 1 and 5000"),
        (["--starts", f"{DAY}T10:00", "--ends", f"{DAY}T12:00", "--capacity", "10000000"], "between 1 and 5000"),
    ]
    base = SESSION[:8]  # title, venue, address, borough
    for extra, message in cases:
        done = cli(["sessions", "add", *base, *extra])
        assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert json.loads(cli(["sessions", "list", "--all", "--json"]).stdout) == []
    session = add(cli)
    for seats, message in (("abc", "not a number"), ("99", "between 1 and 5")):
        done = book(cli, session, "Amina", "--seats", seats)
        assert done.returncode == 1 and message in done.stderr
    done = book(cli, 4242, "Amina")
    assert done.returncode == 1 and "there is no session 4242" in done.stderr
    assert json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout) == []
    assert cli(["sessions", "attendees", "4242"]).returncode == 1


def test_import_is_all_or_nothing(cli: Callable[[list[str]], Ran], tmp_path: Path) -> None:
    good = {"title": "Online safety", "venue": "Hall", "address": "1 Road", "borough": "Brent",
            "starts": f"{DAY} 18:00", "ends": f"{DAY} 20:00", "capacity": 20, "topics": ["online safety"]}  # fmt: skip
    bad = {k: v for k, v in good.items() if k != "venue"}
    programme = tmp_path / "term.yaml"
    programme.write_text(json.dumps({"sessions": [good, bad]}))  # JSON is YAML too
    done = cli(["sessions", "import", str(programme)])
    assert done.returncode == 1 and "session 2 (Online safety): venue: missing" in done.stderr
    assert json.loads(cli(["sessions", "list", "--all", "--json"]).stdout) == []
    programme.write_text(json.dumps([good, {**good, "title": "Hate crime"}]))
    done = cli(["sessions", "import", str(programme), "--json"])
    assert len(json.loads(done.stdout)["ids"]) == 2
    assert cli(["sessions", "import", str(tmp_path / "nope.yaml")]).returncode == 1
    typo = tmp_path / "typo.yaml"
    typo.write_text(json.dumps([{**good, "title": "Other", "borough": "Newhm"}]))
    done = cli(["sessions", "import", str(typo)])
    assert done.returncode == 1 and "'Newhm' is not a London borough; did you mean Newham?" in done.stderr


def test_importing_the_same_programme_twice_adds_nothing_the_second_time(
    cli: Callable[[list[str]], Ran], cli_env: dict[str, str], tmp_path: Path
) -> None:
    first = {"title": "Online safety", "venue": "Hall", "address": "1 Road", "borough": "Brent",
             "starts": f"{DAY} 18:00", "ends": f"{DAY} 20:00", "capacity": 20}  # fmt: skip
    term = [first, {**first, "title": "Hate crime"}, {**first, "starts": f"{DAY} 10:00", "ends": f"{DAY} 12:00"}]
    programme = tmp_path / "term.yaml"
    programme.write_text(yaml.safe_dump({"sessions": term}))
    done = cli(["sessions", "import", str(programme)])
    assert (done.returncode, done.stdout.strip()) == (0, "3 added (ids 1, 2, 3), 0 already there")
    again = cli(["sessions", "import", str(programme)])
    assert (again.returncode, again.stdout.strip()) == (0, "0 added, 3 already there (ids 1, 2, 3)")
    cli(["sessions", "cancel", "2", "--yes"])  # a cancelled session is not brought back by the file
    programme.write_text(yaml.safe_dump({"sessions": [*term, {**first, "title": "First aid"}]}))
    counted = json.loads(cli(["sessions", "import", str(programme), "--json"]).stdout)
    assert counted == {"ids": [4], "added": 1, "already_there": 3, "existing": [1, 2, 3]}
    retyped = tmp_path / "retyped.yaml"  # the same session, typed with other capitals and spacing
    retyped.write_text(yaml.safe_dump([{**first, "title": "ONLINE  safety", "venue": "hall", "capacity": 5}]))
    assert cli(["sessions", "import", str(retyped)]).stdout.strip() == "0 added, 1 already there (ids 1)"
    assert len(json.loads(cli(["sessions", "list", "--all", "--json"]).stdout)) == 4
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump([{**first, "title": "New"}, {**first, "title": "new"}]))
    done = cli(["sessions", "import", str(twice)])
    assert done.returncode == 1 and "session 2 (new): the same as session 1 (title, venue and start)" in done.stderr
    helped = run(["sessions", "import", "--help"], cli_env).stdout
    assert "the same title and venue, ignoring case, at the same start time" in " ".join(helped.split())


def test_many_processes_at_once_never_overbook(cli_env: dict[str, str]) -> None:
    session = add(in_subprocess(cli_env), capacity=4)
    person = ["--organisation", "Masjid", "--role", "Volunteer", "--channel", "telegram"]
    commands = [
        [*safetybot(), "sessions", "register", str(session), "--name", f"Person {n}", *person, "--user-id", str(n)]
        for n in range(10)
    ]
    processes = [subprocess.Popen(c, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in commands]  # fmt: skip
    outcomes = [p.communicate(timeout=120)[0].splitlines()[0] for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert outcomes.count("confirmed") == 4 and outcomes.count("waiting") == 6
    people = json.loads(run(["sessions", "attendees", str(session), "--json"], cli_env).stdout)
    assert sum(p["seats"] for p in people if p["status"] == "confirmed") == 4
    assert latest_version() >= 3


def test_a_session_moved_then_cancelled_from_the_cli_is_told_by_the_running_bot(cli_env: dict[str, str]) -> None:
    with FakeBotApi() as api:
        env = {**cli_env, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
               "HTTP_PORT": str(free_port())}  # fmt: skip
        bot = subprocess.Popen([*safetybot(), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
        try:
            api.wait_for("setMyCommands", timeout=30)
            session = add(in_subprocess(env))
            assert (
                book(in_subprocess(env), session, "Amina", "--channel", "telegram", "--user-id", "111").returncode == 0
            )
            later = (datetime.strptime(DAY, "%Y-%m-%d") + timedelta(days=7)).strftime("%Y-%m-%d")
            moved = run(
                ["sessions", "edit", str(session), "--starts", f"{later}T18:00", "--ends", f"{later}T20:00"], env
            )
            assert (
                moved.returncode == 0
                and moved.stdout.strip() == f"{session}\tchanged; 1 person booked or waiting will be told"
            )
            changed = api.wait_for("sendMessage", lambda p: p["chat_id"] == 111, timeout=15)
            assert "has changed" in changed.params["text"]
            assert f"now <b>{day_of(later)}, 18:00–20:00</b> (was {day_of(DAY)}, 10:00–13:00)" in changed.params["text"]
            [event] = Calendar.from_ical(api.wait_for("sendDocument", timeout=15).params["document"]).walk("VEVENT")
            assert event["sequence"] == 1 and event["uid"].startswith(f"training-{session}-registration-")
            assert run(["sessions", "cancel", str(session), "--yes"], env).returncode == 0
            told = api.wait_for("sendMessage", lambda p: "will not go ahead" in p["text"], timeout=15)
            assert told.params["chat_id"] == 111
            bot.send_signal(signal.SIGTERM)
            bot.communicate(timeout=30)
        finally:
            if bot.poll() is None:
                bot.kill()
        assert bot.returncode == 0


BOOKED = 30


async def book_many(path: Path, session: int) -> None:
    db = await Database.open(path)
    try:
        for n in range(BOOKED):
            person = {"channel": "telegram", "user_id": str(2000 + n), "name": f"Person {n}",
                      "organisation": "Masjid", "role": "Volunteer", "seats": 1, "calendar_token": f"t{n}"}  # fmt: skip
            await db.register(session, person, datetime.now(UTC))
    finally:
        await db.close()


def test_two_running_bots_on_one_database_tell_each_person_once(cli_env: dict[str, str]) -> None:
    """Two `safetybot run` processes share the database: a cancellation with 30 booked sends 30
    messages, one each, whichever process claims them."""
    path = Path(cli_env["DATABASE_PATH"])
    session = add(in_subprocess(cli_env), capacity=BOOKED)
    asyncio.run(book_many(path, session))
    with FakeBotApi() as api:
        env = {**cli_env, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE_URL": api.base_url}
        bots = [subprocess.Popen([*safetybot(), "run"], env={**env, "HTTP_PORT": str(free_port())},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
        try:
            bounded_wait(lambda: len(api.calls_of("setMyCommands")) == 2, 60, bots)
            assert run(["sessions", "cancel", str(session), "--yes"], env).returncode == 0
            bounded_wait(lambda: unsent_notices(path) == 0, 60, bots)
            for bot in bots:
                bot.send_signal(signal.SIGTERM)
            errors = [bot.communicate(timeout=30)[1] for bot in bots]
        finally:
            for bot in bots:
                if bot.poll() is None:
                    bot.kill()
        assert [bot.returncode for bot in bots] == [0, 0], errors
        told = Counter(p["chat_id"] for p in api.sent() if "will not go ahead" in p["text"])
    assert told == Counter({2000 + n: 1 for n in range(BOOKED)})


def unsent_notices(path: Path) -> int:
    with sqlite3.connect(path, timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')").fetchone()
        total = conn.execute("SELECT count(*) FROM notifications").fetchone()
    return int(row[0]) if int(total[0]) else -1  # -1: none queued yet


def bounded_wait(check: Callable[[], bool], timeout: float, bots: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert all(bot.poll() is None for bot in bots), "a bot stopped"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_attendee_exports_cannot_run_formulas_in_a_spreadsheet(cli: Callable[[list[str]], Ran]) -> None:
    session = add(cli)
    typed = ['=HYPERLINK("http://evil.example","Click")', "=cmd|' /C calc'!A0", "+44 7700 900123", "@SUM(A1)"]
    for name in typed:
        assert book(cli, session, name).returncode == 0
    rows = list(csv.DictReader(io.StringIO(cli(["sessions", "attendees", str(session), "--csv"]).stdout)))
    assert [row["name"] for row in rows] == ["'" + name for name in typed]
    listed = cli(["sessions", "attendees", str(session)]).stdout.splitlines()[1:]  # under the headings
    assert all(f"  '{name}" in line for line, name in zip(listed, typed, strict=True))
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [p["name"] for p in people] == typed  # JSON is data, not a spreadsheet: kept as typed


def test_session_screens_read_as_a_person_reads(cli: Callable[[list[str]], Ran]) -> None:
    session = add(cli, capacity=3)
    book(cli, session, "Amina Khan", "--organisation", "Masjid an-Noor", "--seats", "2", "--accessibility",
         "Hearing loop")  # fmt: skip
    book(cli, session, "Bob Ahmed", "--seats", "2")
    book(cli, session, "Yusuf Ali")
    [line] = cli(["sessions", "list"]).stdout.splitlines()
    assert line == (f"#{session} · {day_of(DAY)}, 10:00–13:00 · Keeping our mosque safe · Al Manaar"
                    " · 1 of 3 seats left · 2 waiting")  # fmt: skip
    heading, *rows = cli(["sessions", "attendees", str(session)]).stdout.splitlines()
    assert heading.split() == ["Booking", "Seats", "Name", "Organisation", "Role", "Status"]
    assert [row.split("  ")[0].strip() for row in rows] == ["#1", "#2", "#3"]
    assert "2 seats" in rows[0] and "Amina Khan" in rows[0] and rows[0].rstrip().endswith("booked")
    assert rows[1].rstrip().endswith("number 1 on the waiting list")  # 2 seats: more than the 1 left
    assert "1 seat " in rows[2] and rows[2].rstrip().endswith("number 2 on the waiting list")
    assert len({row.index("Trustee") for row in rows}) == 1  # the columns line up
    assert all("Hearing loop" not in row for row in (heading, *rows))
    cli(["sessions", "cancel", str(session), "--yes"])
    [cancelled] = cli(["sessions", "list", "--all"]).stdout.splitlines()
    assert cancelled.startswith(f"#{session} · ") and cancelled.endswith(" · CANCELLED")


def test_a_borough_typo_is_caught_with_a_suggestion(cli: Callable[[list[str]], Ran]) -> None:
    fields = [*SESSION[:6], "--borough", "Newhm", *SESSION[8:], "--capacity", "5"]
    done = cli(["sessions", "add", *fields])
    assert done.returncode == 1 and "'Newhm' is not a London borough; did you mean Newham?" in done.stderr
    assert json.loads(cli(["sessions", "list", "--all", "--json"]).stdout) == []
    session = add(cli)
    done = cli(["sessions", "edit", str(session), "--borough", "Hackny"])
    assert done.returncode == 1 and "did you mean Hackney?" in done.stderr and "Traceback" not in done.stderr
    assert cli(["sessions", "edit", str(session), "--borough", "hackney"]).returncode == 0
    assert json.loads(cli(["sessions", "list", "--json"]).stdout)[0]["borough"] == "Hackney"


@pytest.mark.parametrize("answer", ["", "n\n", "maybe\n"])
def test_cancel_asks_first_and_anything_but_yes_cancels_nothing(
    cli: Callable[[list[str]], Ran], monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    session = add(cli)
    book(cli, session, "Amina Khan", "--channel", "telegram", "--user-id", "111")
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    done = cli(["sessions", "cancel", str(session)])
    assert done.returncode == 1 and done.stdout == ""
    assert f"Cancel session {session}, Keeping our mosque safe ({day_of(DAY)}, 10:00–13:00)?" in done.stderr
    assert "1 person booked, waiting or checked in will be told. [y/N]" in done.stderr
    assert done.stderr.rstrip().endswith("Not cancelled: answer y to cancel, or pass --yes to cancel without asking.")
    assert json.loads(cli(["sessions", "list", "--json"]).stdout)[0]["status"] == "scheduled"


def test_cancel_goes_ahead_on_yes(cli: Callable[[list[str]], Ran], monkeypatch: pytest.MonkeyPatch) -> None:
    session = add(cli)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    done = cli(["sessions", "cancel", str(session)])
    assert (done.returncode, done.stdout.strip()) == (0, f"{session}\tcancelled; 0 to tell")
    again = cli(["sessions", "cancel", str(session), "--yes"])
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_cancel_without_a_terminal_cancels_nothing(cli_env: dict[str, str]) -> None:
    session = add(in_subprocess(cli_env))
    done = run(["sessions", "cancel", str(session)], cli_env, stdin="")  # a script, nobody to answer
    assert done.returncode == 1 and "Not cancelled" in done.stderr and "Traceback" not in done.stderr
    assert json.loads(run(["sessions", "list", "--json"], cli_env).stdout)[0]["status"] == "scheduled"


def test_every_change_from_the_cli_is_audited(
    cli: Callable[[list[str]], Ran], cli_env: dict[str, str], tmp_path: Path
) -> None:
    session = add(cli)
    cli(["sessions", "edit", str(session), "--capacity", "40"])
    booked = json.loads(book(cli, session, "Amina Khan", "--json").stdout)["registration"]
    cli(["sessions", "unregister", str(booked)])
    today, registration = session_today(Path(cli_env["DATABASE_PATH"]))
    cli(["sessions", "checkin", str(today), "--registration", str(registration)])
    cli(["sessions", "checkin", str(today), "--registration", str(registration), "--undo"])
    programme = tmp_path / "term.yaml"
    programme.write_text(yaml.safe_dump([{**CLI_SESSION, "title": "Hate crime", "starts": f"{DAY} 18:00",
                                          "ends": f"{DAY} 20:00"}]))  # fmt: skip
    cli(["sessions", "import", str(programme)])
    cli(["sessions", "cancel", str(session), "--yes"])
    log = json.loads(cli(["alerts", "audit", "--json"]).stdout)[::-1]  # oldest first
    assert [entry["action"] for entry in log] == [
        "session added", "session edited", "registered", "unregistered", "checked in", "check-in undone",
        "sessions imported", "session cancelled",
    ]  # fmt: skip
    assert all(entry["actor"].startswith("cli") for entry in log)
    assert log[1]["details"] == {"session": session, "fields": ["capacity"], "told": 0}
    assert log[2]["details"] == {"session": session, "registration": booked, "status": "confirmed"}
    assert log[6]["details"] == {"file": "term.yaml", "added": [today + 1], "already_there": []}
    assert "Amina" not in json.dumps(log)  # ids, never names
