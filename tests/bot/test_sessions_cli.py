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


def test_add_list_edit_attendees_checkin_cancel(cli: Callable[[list[str]], Ran]) -> None:
    session = add(cli, capacity=2)
    assert book(cli, session, "Amina Khan", "--seats", "2").stdout.strip() == "confirmed"
    assert book(cli, session, "Yusuf Ali").stdout.strip() == "waiting"
    [listed] = json.loads(cli(["sessions", "list", "--json"]).stdout)
    assert (listed["id"], listed["registered"], listed["waiting"], listed["seats_left"]) == (session, 2, 1, 0)
    assert listed["starts"].startswith(f"{DAY}T10:00")
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [(p["name"], p["status"], p["seats"]) for p in people] == [("Amina Khan", "confirmed", 2),
                                                                      ("Yusuf Ali", "waiting", 1)]  # fmt: skip
    assert {"name", "organisation", "role", "seats", "status", "channel", "user_id"} <= set(people[0])
    csv_lines = cli(["sessions", "attendees", str(session), "--csv"]).stdout.splitlines()
    assert csv_lines[0].startswith("registration,name,organisation") and "Amina Khan" in csv_lines[1]
    edited = cli(["sessions", "edit", str(session), "--capacity", "3"])
    assert edited.returncode == 0, edited.stderr
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [p["status"] for p in people] == ["confirmed", "confirmed"]  # booked by phone: confirmed at once
    early = cli(["sessions", "checkin", str(session), "--registration", str(people[0]["registration"])])
    assert early.returncode == 1 and "Traceback" not in early.stderr
    assert f"check-in is only on the day of the session ({day_of(DAY)})" in early.stderr
    cancelled = cli(["sessions", "cancel", str(session), "--json"])
    assert json.loads(cancelled.stdout) == {"id": session, "told": 2}
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
    assert "\tattended\t" in cli(["sessions", "attendees", str(session)]).stdout
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


def test_many_processes_at_once_never_overbook(cli_env: dict[str, str]) -> None:
    session = add(in_subprocess(cli_env), capacity=4)
    person = ["--organisation", "Masjid", "--role", "Volunteer", "--channel", "telegram"]
    commands = [
        [*safetybot(), "sessions", "register", str(session), "--name", f"Person {n}", *person, "--user-id", str(n)]
        for n in range(10)
    ]
    processes = [subprocess.Popen(c, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in commands]  # fmt: skip
    outcomes = [p.communicate(timeout=120)[0].strip() for p in processes]
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
            assert run(["sessions", "cancel", str(session)], env).returncode == 0
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
            assert run(["sessions", "cancel", str(session)], env).returncode == 0
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
    listed = cli(["sessions", "attendees", str(session)]).stdout.splitlines()
    assert all(line.split("\t")[3].startswith("'") for line in listed)
    people = json.loads(cli(["sessions", "attendees", str(session), "--json"]).stdout)
    assert [p["name"] for p in people] == typed  # JSON is data, not a spreadsheet: kept as typed


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
