"""`safetybot leaders …` and `safetybot alerts …` as a coordinator runs them, against a temporary database.

No TELEGRAM_/TWILIO_ variables are set, so alerts go out on the "console" channel only: the leaders
these tests want to reach are console leaders, and telegram/whatsapp ones are counted out.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts import Alert, AlertStore
from bot.app import cli_actor
from bot.store import Database, Notification
from tests.conftest import Ran

Cli = Callable[[list[str]], Ran]
LONDON = ZoneInfo("Europe/London")
REFERENCE = re.compile(r"^A-[A-Z2-9]{4}$")
HEADER = "channel,user_id,name,role,place_of_worship,boroughs"
TEXT = "**Stay alert** in {areas}: keep side doors shut tonight."


# --- helpers ----------------------------------------------------------------------------------------
def write_csv(path: Path, *lines: str, bom: bool = False, newline: str = "\n") -> Path:
    path.write_bytes((("\ufeff" if bom else "") + newline.join(lines) + newline).encode("utf-8"))
    return path


def leaders(cli: Cli, *extra: str) -> list[dict[str, Any]]:
    done = cli(["leaders", "list", "--json", *extra])
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def alerts_list(cli: Cli) -> list[dict[str, Any]]:
    done = cli(["alerts", "list", "--json"])
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def audit(cli: Cli) -> list[dict[str, Any]]:
    done = cli(["alerts", "audit", "--json"])
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def status(cli: Cli, reference: str) -> dict[str, Any]:
    done = cli(["alerts", "status", reference, "--json"])
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def send(cli: Cli, *args: str) -> Ran:
    return cli(["alerts", "send", *args])


def sent(cli: Cli, *args: str) -> str:
    """Send with --yes --json; return the reference."""
    done = send(cli, *args, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    reference = json.loads(done.stdout)["reference"]
    assert REFERENCE.match(reference), reference
    return str(reference)


def nothing_sent(cli: Cli) -> None:
    assert alerts_list(cli) == []
    assert [e for e in audit(cli) if e["action"] == "alert sent"] == []


def import_console_leaders(cli: Cli, tmp_path: Path) -> None:
    people = write_csv(
        tmp_path / "console.csv",
        HEADER,
        "console,imam-newham,Imam Newham,Imam,Newham Mosque,Newham",
        "console,rabbi-all,Rabbi Everywhere,Rabbi,Central Shul,all",
        "console,vicar-hackney,Vicar Hackney,Vicar,St John's,Hackney",
        "telegram,111,Telegram Newham,Imam,Forest Gate Mosque,Newham",  # no Telegram in the CLI's settings
    )
    done = cli(["leaders", "import", str(people)])
    assert done.returncode == 0, done.stderr


async def _seed(path: Path, people: list[dict[str, Any]]) -> list[int]:
    db = await Database.open(path)
    try:
        store = AlertStore(db)
        ids = []
        for person in people:
            saved, _ = await store.save_subscriber(now=datetime.now(UTC), **person)
            ids.append(saved.id)
        return ids
    finally:
        await db.close()


def seed(env: dict[str, str], *people: dict[str, Any]) -> list[int]:
    """Subscribers written straight to the database (as the chat flow would), their ids."""
    return asyncio.run(_seed(Path(env["DATABASE_PATH"]), list(people)))


async def _notifications(path: Path, channels: list[str]) -> list[Notification]:
    db = await Database.open(path)
    try:
        return await db.pending_notifications(channels)
    finally:
        await db.close()


def notifications(env: dict[str, str], *channels: str) -> list[Notification]:
    return asyncio.run(_notifications(Path(env["DATABASE_PATH"]), list(channels)))


async def _stored_alert(path: Path, reference: str) -> Alert | None:
    db = await Database.open(path)
    try:
        return await AlertStore(db).alert_by_reference(reference)
    finally:
        await db.close()


def stored_alert(env: dict[str, str], reference: str) -> Alert:
    alert = asyncio.run(_stored_alert(Path(env["DATABASE_PATH"]), reference))
    assert alert is not None
    return alert


def pending_leader(channel: str, user_id: str, boroughs: tuple[str, ...] = ("Newham",)) -> dict[str, Any]:
    return {"channel": channel, "user_id": user_id, "kind": "leader", "status": "pending", "name": "Pastor Grace",
            "role": "Pastor", "place": "Grace Chapel", "boroughs": boroughs}  # fmt: skip


def community(user_id: str, boroughs: tuple[str, ...] = ("Newham",)) -> dict[str, Any]:
    return {"channel": "console", "user_id": user_id, "kind": "community", "status": "approved", "boroughs": boroughs}


def local_iso(day: date, hour: int, minute: int) -> str:
    return f"{day.isoformat()}T{hour:02}:{minute:02}"


# --- leaders import -------------------------------------------------------------------------------
def test_import_normalises_people_and_is_idempotent(cli: Cli, tmp_path: Path) -> None:
    people = write_csv(
        tmp_path / "leaders.csv",
        "Channel, User_ID ,Name,Role,Place_of_Worship,Boroughs",  # as a spreadsheet might label them
        "telegram,123456789,Imam Ali,Imam,East London Mosque,tower hamlets; NEWHAM",
        "",
        "WhatsApp,07911 123456,Rabbi Sarah  Cohen,Rabbi,Finchley Synagogue,All",
        bom=True,
        newline="\r\n",
    )
    done = cli(["leaders", "import", str(people)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{people}: 2 added, 0 updated, 0 unchanged"
    listed = leaders(cli)
    assert all(
        (p["kinds"], p["quiet_hours"]) == (["reassurance", "vigilance", "urgent"], "22:00-07:00") for p in listed
    )  # fmt: skip
    assert [{k: v for k, v in p.items() if k not in ("id", "kinds", "quiet_hours")} for p in listed] == [
        {"channel": "telegram", "user_id": "123456789", "kind": "leader", "status": "approved", "name": "Imam Ali",
         "role": "Imam", "place_of_worship": "East London Mosque", "boroughs": ["Tower Hamlets", "Newham"]},
        {"channel": "whatsapp", "user_id": "+447911123456", "kind": "leader", "status": "approved",
         "name": "Rabbi Sarah Cohen", "role": "Rabbi", "place_of_worship": "Finchley Synagogue", "boroughs": ["all"]},
    ]  # fmt: skip
    assert leaders(cli, "--status", "approved") == listed and leaders(cli, "--status", "pending") == []

    again = cli(["leaders", "import", str(people), "--json"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"added": 0, "updated": 0, "unchanged": 2}
    assert leaders(cli) == listed

    write_csv(
        people,
        HEADER,
        "telegram,123456789,Imam Ali,Imam,East London Mosque,Tower Hamlets;Newham;Redbridge",
        "whatsapp,+44 7911 123456,Rabbi Sarah Cohen,Rabbi,Finchley Synagogue,all",  # the same number, written otherwise
    )
    changed = cli(["leaders", "import", str(people)])
    assert changed.stdout.strip() == f"{people}: 0 added, 1 updated, 1 unchanged"
    after = leaders(cli)
    assert [p["id"] for p in after] == [p["id"] for p in listed]
    assert after[0]["boroughs"] == ["Tower Hamlets", "Newham", "Redbridge"] and after[1] == listed[1]
    imports = [e for e in audit(cli) if e["action"] == "leaders imported"]
    assert [e["details"] for e in imports] == [
        {"file": "leaders.csv", "added": 0, "updated": 1, "unchanged": 1},
        {"file": "leaders.csv", "added": 0, "updated": 0, "unchanged": 2},
        {"file": "leaders.csv", "added": 2, "updated": 0, "unchanged": 0},
    ]
    assert {e["actor"] for e in imports} == {cli_actor()}


def test_import_with_bad_rows_names_each_line_and_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "first.csv", HEADER, "telegram,42,Imam Ali,Imam,East London Mosque,Newham")
    assert cli(["leaders", "import", str(first)]).returncode == 0
    before = leaders(cli)
    bad = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        "sms,5551234,Father Tom,Priest,St Mary's,Camden",
        "telegram,12ab,Imam Yusuf,Imam,Brick Lane Mosque,Tower Hamlets",
        "whatsapp,07700 900123,Rev Jones,Vicar,St Paul's,Hackney",  # an Ofcom drama number: not a real one
        "console,amina,Amina Khan,Trustee,Masjid,Narnia",
        "console,bilal,,Trustee,Masjid,Newham",
        "whatsapp,07911 123456,Rabbi Sarah,Rabbi,Shul,all",
        "whatsapp,+447911123456,Sarah C,Rabbi,Shul,Barnet",
        "telegram,42,Imam Ali,Imam,East London Mosque,Brent",  # a good change, but the file is refused
    )
    done = cli(["leaders", "import", str(bad)])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert "nothing imported" in done.stderr
    expected = {
        2: "channel: 'sms' is not one of telegram, whatsapp, console",
        3: "user_id: '12ab' is not a Telegram chat id",
        4: "user_id: '07700 900123' is not a valid phone number",
        5: "boroughs: not London boroughs: Narnia",
        6: "name: missing",
        8: "the same person as line 7",
    }
    problems = {int(m[1]): m[2] for m in re.finditer(r"line (\d+): (.*)", done.stderr)}
    assert sorted(problems) == sorted(expected), done.stderr
    for line, message in expected.items():
        assert message in problems[line], (line, problems[line])
    assert leaders(cli) == before
    assert [e["details"]["file"] for e in audit(cli) if e["action"] == "leaders imported"] == ["first.csv"]


def test_import_refuses_a_file_without_the_columns_or_that_is_missing(cli: Cli, tmp_path: Path) -> None:
    no_boroughs = write_csv(tmp_path / "short.csv", "channel,user_id,name,role,place_of_worship",
                            "telegram,42,Imam Ali,Imam,East London Mosque")  # fmt: skip
    done = cli(["leaders", "import", str(no_boroughs)])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"the first line must name the columns {HEADER}" in done.stderr and "(missing: boroughs)" in done.stderr

    empty = write_csv(tmp_path / "empty.csv", HEADER, "")
    done = cli(["leaders", "import", str(empty)])
    assert done.returncode == 1 and "no leaders in the file" in done.stderr

    done = cli(["leaders", "import", str(tmp_path / "nope.csv")])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("safetybot leaders import: cannot read") and "nope.csv" in done.stderr
    assert leaders(cli) == []
    assert audit(cli) == []


def test_problems_after_a_blank_line_name_the_line_a_spreadsheet_shows(cli: Cli, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", HEADER, "telegram,42,Imam Ali,Imam,Mosque,Newham", "",
                    "fax,43,Imam Yusuf,Imam,Mosque,Newham")  # fmt: skip
    done = cli(["leaders", "import", str(bad)])
    assert done.returncode == 1
    assert "line 4: channel: 'fax'" in done.stderr, done.stderr


def test_a_telegram_id_with_two_minus_signs_is_refused(cli: Cli, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", HEADER, "telegram,--123,Imam Ali,Imam,Mosque,Newham")
    done = cli(["leaders", "import", str(bad)])
    assert done.returncode == 1 and "is not a Telegram chat id" in done.stderr
    assert leaders(cli) == []


def test_importing_someone_who_asked_in_the_chat_approves_and_tells_them(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    [asked] = seed(cli_env, pending_leader("telegram", "777"))
    people = write_csv(tmp_path / "people.csv", HEADER, "telegram,777,Pastor Grace,Pastor,Grace Chapel,Newham")
    done = cli(["leaders", "import", str(people)])
    assert done.stdout.strip().endswith("0 added, 1 updated, 0 unchanged")
    [person] = leaders(cli)
    assert (person["id"], person["status"]) == (asked, "approved")
    [told] = notifications(cli_env, "telegram")
    assert (told.channel, told.user_id) == ("telegram", "777")
    assert "approved for safety alerts" in told.body["text"]


# --- leaders approve / reject ---------------------------------------------------------------------
def test_approve_and_reject_change_status_audit_and_tell_the_person(cli: Cli, cli_env: dict[str, str]) -> None:
    grace, yusuf = seed(cli_env, pending_leader("telegram", "777"), pending_leader("whatsapp", "+447911123456"))
    assert [p["id"] for p in leaders(cli, "--status", "pending")] == [grace, yusuf]

    done = cli(["leaders", "approve", str(grace)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{grace}\tapproved"
    done = cli(["leaders", "reject", str(yusuf), "--reason", "We couldn't confirm your role.", "--json"])
    assert json.loads(done.stdout) == {"id": yusuf, "status": "rejected"}

    assert {p["id"]: p["status"] for p in leaders(cli)} == {grace: "approved", yusuf: "rejected"}
    assert [p["id"] for p in leaders(cli, "--status", "rejected")] == [yusuf]
    decisions = [(e["actor"], e["action"], e["details"]) for e in audit(cli)]
    grace_name = {"name": "Pastor Grace"}
    assert decisions == [
        (cli_actor(), "leader rejected", {"subscriber": yusuf, **grace_name, "reason given": True}),
        (cli_actor(), "leader approved", {"subscriber": grace, **grace_name, "reason given": False}),
    ]
    told = notifications(cli_env, "telegram", "whatsapp")
    assert [(n.channel, n.user_id) for n in told] == [("telegram", "777"), ("whatsapp", "+447911123456")]
    assert "approved for safety alerts" in told[0].body["text"]
    assert "was not approved" in told[1].body["text"] and "We couldn't confirm your role" in told[1].body["text"]
    assert told[1].body["choices"] == [[f"alr-ask:{yusuf}", "Ask the team about this"]]  # a way to reach the team
    assert "We couldn't confirm your role" not in cli(["alerts", "audit"]).stdout  # the reason stays between them
    listed = cli(["leaders", "list"]).stdout.splitlines()
    assert listed[0].split("\t") == ["ID", "STATUS", "KIND", "NAME", "ROLE", "PLACE OF WORSHIP", "AREAS", "CONTACT"]
    assert listed[1].endswith("\ttelegram 777") and listed[2].endswith("\twhatsapp +447911123456")  # #14: who each is

    again = cli(["leaders", "approve", str(grace)])  # already approved: nothing new to tell them
    assert again.returncode == 0
    assert len(notifications(cli_env, "telegram", "whatsapp")) == 2


def test_approving_somebody_who_is_not_a_faith_leader_is_refused(cli: Cli, cli_env: dict[str, str]) -> None:
    [member] = seed(cli_env, community("zara"))
    for action, who in (("approve", "4242"), ("reject", "4242"), ("approve", str(member))):
        done = cli(["leaders", action, who])
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"no faith leader with id {who}" in done.stderr
    assert [p["status"] for p in leaders(cli)] == ["approved"]
    assert audit(cli) == []
    assert notifications(cli_env, "console") == []


# --- alerts send / status / list / audit ----------------------------------------------------------
def test_send_reaches_the_right_people_and_is_reported(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    seed(cli_env, community("zara"), pending_leader("console", "pending-newham"))
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "newham", "--text", TEXT)
    progress = status(cli, reference)
    assert {k: progress[k] for k in ("reference", "kind", "audience", "areas")} == {
        "reference": reference, "kind": "urgent", "audience": "leaders", "areas": ["Newham"]}  # fmt: skip
    counts = ("recipients", "sent", "delivered", "failed", "acknowledged", "need_help", "pending")
    assert {k: progress[k] for k in counts} == {"recipients": 2, "sent": 0, "delivered": 0, "failed": 0,
                                                "acknowledged": 0, "need_help": 0, "pending": 2}  # fmt: skip
    assert progress["failed_by_reason"] == {} and progress["by_channel"] == {"console": 2}
    assert progress["done"] is False
    assert stored_alert(cli_env, reference).text == "**Stay alert** in Newham: keep side doors shut tonight."
    assert status(cli, reference.lower())["reference"] == reference

    community_ref = sent(cli, "--kind", "reassurance", "--audience", "community", "--areas", "all", "--text", "Hi")
    assert status(cli, community_ref)["recipients"] == 1
    everyone = sent(cli, "--kind", "reassurance", "--audience", "all", "--areas", "Hackney; newham", "--text", "Hi")
    assert status(cli, everyone)["recipients"] == 4  # three leaders (one of them `all`) and Zara

    plain = cli(["alerts", "status", reference])
    assert plain.returncode == 0
    assert f"Alert {reference}" in plain.stdout and "of 2" in plain.stdout and "Still to send: 2" in plain.stdout
    assert "By channel: console 2" in plain.stdout

    assert [(a["reference"], a["recipients"]) for a in alerts_list(cli)] == [(everyone, 4), (community_ref, 1),
                                                                             (reference, 2)]  # fmt: skip
    listed = cli(["alerts", "list"]).stdout.splitlines()
    assert listed[0].split("\t") == ["REFERENCE", "SENT AT", "KIND", "AUDIENCE", "AREAS", "RECIPIENTS", "STATE"]
    assert listed[-1].startswith(f"{reference}\t") and listed[-1].endswith("\turgent\tleaders\tNewham\t2\tsent")
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d", listed[-1].split("\t")[1])  # local

    # The audit log in words: local times, the alert's text, what was done
    [line] = [row for row in cli(["alerts", "audit"]).stdout.splitlines() if reference in row]
    when, actor, what, details = line.split("\t")
    assert actor == cli_actor()
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d", when) and what == "alert sent"
    assert "areas Newham" in details and "recipients console 2" in details
    assert details.endswith('text "**Stay alert** in Newham: keep side doors shut tonight."')

    entry = next(e for e in audit(cli) if e["action"] == "alert sent" and e["details"]["reference"] == reference)
    assert entry["actor"] == cli_actor() and cli_actor().startswith("cli")
    assert {k: entry["details"][k] for k in ("kind", "audience", "areas", "recipients")} == {
        "kind": "urgent", "audience": "leaders", "areas": ["Newham"], "recipients": {"console": 2}}  # fmt: skip


def test_a_template_fills_in_the_areas(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "tower hamlets;Newham",
                     "--template", "vigilance")  # fmt: skip
    text = stored_alert(cli_env, reference).text
    assert text.startswith("**Please be vigilant in Tower Hamlets, Newham**") and "{areas}" not in text
    assert status(cli, reference)["recipients"] == 2
    everywhere = sent(cli, "--kind", "urgent", "--audience", "all", "--areas", "all", "--template", "urgent")
    assert "{areas}" not in stored_alert(cli_env, everywhere).text
    assert status(cli, everywhere)["recipients"] == 3


def test_send_refuses_bad_requests_clearly_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    yesterday = (datetime.now(LONDON) - timedelta(days=1)).date()
    base = ["--audience", "leaders", "--areas", "Newham"]
    cases = [
        (["--kind", "urgent", *base, "--template", "vigilance"], "'vigilance' is a vigilance template, not urgent"),
        (["--kind", "urgent", *base, "--template", "riot"], "no template 'riot' (there are: reassurance, urgent,"),
        (["--kind", "urgent", "--audience", "leaders", "--areas", "Newham;Narnia", "--text", "Hi"],
         "not London boroughs: Narnia"),
        (["--kind", "urgent", "--audience", "leaders", "--areas", " ; ", "--text", "Hi"], "give `all` or"),
        (["--kind", "urgent", *base, "--text", "   "], "the alert has no text"),
        (["--kind", "urgent", *base, "--text", "x" * 1300], "under 1200 characters"),
        (["--kind", "vigilance", *base, "--text", "Hi", "--at", local_iso(yesterday, 18, 30)], "already passed"),
        (["--kind", "vigilance", *base, "--text", "Hi", "--at", "tomorrow 6pm"], "is not a date and time"),
        (["--kind", "vigilance", *base, "--text", "Hi", "--at", "2026-13-01T10:00"], "is not a date and time"),
    ]  # fmt: skip
    for args, message in cases:
        done = send(cli, *args, "--yes", "--json")
        assert done.returncode == 1, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
        assert done.stderr.startswith("safetybot alerts send: ") and "Traceback" not in done.stderr
        assert done.stdout == ""
    nothing_sent(cli)


def test_send_later_is_local_london_time(cli: Cli, tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    winter = date(datetime.now(LONDON).year + 1, 1, 15)
    summer = date(datetime.now(LONDON).year + 1, 7, 15)
    for day, utc_hour in ((winter, 18), (summer, 17)):  # 18:30 GMT, then 18:30 BST
        reference = sent(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "Newham", "--text", TEXT,
                         "--at", local_iso(day, 18, 30))  # fmt: skip
        send_at = datetime.fromisoformat(status(cli, reference)["send_at"])
        assert send_at == datetime(day.year, day.month, day.day, utc_hour, 30, tzinfo=UTC)
        assert send_at.astimezone(LONDON).strftime("%H:%M") == "18:30"
        listed = next(a for a in alerts_list(cli) if a["reference"] == reference)
        assert datetime.fromisoformat(listed["send_at"]) == send_at
    assert [status(cli, a["reference"])["pending"] for a in alerts_list(cli)] == [2, 2]


def test_a_time_that_does_not_exist_in_london_is_refused(cli: Cli, tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    march_end = date(datetime.now(LONDON).year + 1, 3, 31)
    clocks_go_forward = march_end - timedelta(days=(march_end.weekday() + 1) % 7)  # the last Sunday of March
    done = send(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "Newham", "--text", "Hi",
                "--at", local_iso(clocks_go_forward, 1, 30), "--yes")  # fmt: skip
    assert done.returncode == 1 and "does not exist in Europe/London" in done.stderr
    nothing_sent(cli)


# --- alerts send without --yes: the preview and the question --------------------------------------
def test_preview_shows_the_text_and_recipients_then_sends_on_yes(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_console_leaders(cli, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    done = send(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "NEWHAM", "--text", TEXT)
    assert done.returncode == 0, done.stderr
    preview = done.stderr
    assert "Vigilance alert (A-????)" in preview
    assert "Stay alert in Newham: keep side doors shut tonight." in preview  # Markdown as plain text
    assert "To check this alert is genuine, send CHECK A-???? to this bot." in preview
    assert "vigilance alert for leaders in Newham, now: 2 recipients (console 2)." in preview
    assert preview.rstrip().endswith("Send it? [y/N]")
    reference = done.stdout.strip()
    assert REFERENCE.match(reference)
    assert status(cli, reference)["recipients"] == 2
    assert stored_alert(cli_env, reference).text == "**Stay alert** in Newham: keep side doors shut tonight."


@pytest.mark.parametrize("answer", ["n\n", "", "maybe\n"])
def test_anything_but_yes_sends_nothing(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    import_console_leaders(cli, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    done = send(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--template", "urgent",
                "--json")  # fmt: skip
    assert done.returncode == 1
    assert "Urgent: disorder reported in Newham" in done.stderr and "2 recipients (console 2)" in done.stderr
    assert done.stderr.rstrip().endswith("Not sent.")
    assert done.stdout == ""
    nothing_sent(cli)


def test_the_preview_says_when_a_later_alert_goes(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_console_leaders(cli, tmp_path)
    day = date(datetime.now(LONDON).year + 1, 7, 15)
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    done = send(cli, "--kind", "reassurance", "--audience", "all", "--areas", "all", "--text", "Hello",
                "--at", local_iso(day, 18, 30))  # fmt: skip
    assert done.returncode == 1
    assert f"{day:%a} {day.day} {day:%b %Y}, 18:30: 3 recipients (console 3)" in done.stderr


# --- alerts status ---------------------------------------------------------------------------------
async def _record(
    path: Path, outcomes: list[tuple[str, dict[str, str]]], answers: dict[int, str], delivered: tuple[str, ...] = ()
) -> None:
    """What the running dispatcher and the platforms would record for the first deliveries: each
    outcome (status, fields), the message ids reported `delivered`, and answers by position."""
    db = await Database.open(path)
    try:
        store = AlertStore(db)
        claimed = await store.claim("console", datetime.now(UTC) + timedelta(seconds=5), 10, timedelta(minutes=1))
        await store.finish([(d.id, status, fields) for d, (status, fields) in zip(claimed, outcomes, strict=False)])
        for message_id in delivered:
            await store.report_delivery(message_id, "delivered")
        for position, answer in answers.items():
            await store.acknowledge(claimed[position].id, answer, datetime.now(UTC))
    finally:
        await db.close()


async def _deliver(path: Path) -> None:
    """Delivered (reported), failed (blocked), sent and help asked."""
    now = datetime.now(UTC).isoformat()
    await _record(path, [("sent", {"message_id": "m1", "sent_at": now}), ("failed", {"reason": "blocked"}),
                         ("sent", {"message_id": "m3", "sent_at": now})], {2: "help"}, delivered=("m1",))  # fmt: skip


def test_status_counts_sent_delivered_failed_by_reason_and_acknowledged(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham;Hackney", "--text", "Go")
    asyncio.run(_deliver(Path(cli_env["DATABASE_PATH"])))
    progress = status(cli, reference)
    counts = ("recipients", "sent", "delivered", "failed", "acknowledged", "need_help", "pending", "done")
    expected = {"recipients": 3, "sent": 2, "delivered": 2, "failed": 1, "acknowledged": 1, "need_help": 1,
                "pending": 0, "done": True}  # fmt: skip
    assert {k: progress[k] for k in counts} == expected
    assert progress["failed_by_reason"] == {"blocked": 1}
    plain = cli(["alerts", "status", reference]).stdout
    assert f"Alert {reference}: finished" in plain
    assert "Sent 2 · delivered 2 · failed 1 · acknowledged 1 (need help 1) of 3." in plain
    assert "Failed: blocked 1" in plain


def test_status_shows_failures_by_reason_while_still_sending(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "all", "--areas", "all", "--text", "Go")

    async def fail_one(path: Path) -> None:
        db = await Database.open(path)
        try:
            store = AlertStore(db)
            [first] = await store.claim("console", datetime.now(UTC) + timedelta(seconds=5), 1, timedelta(minutes=1))
            await store.finish([(first.id, "failed", {"reason": "blocked"})])
        finally:
            await db.close()

    asyncio.run(fail_one(Path(cli_env["DATABASE_PATH"])))
    assert status(cli, reference)["failed_by_reason"] == {"blocked": 1}
    plain = cli(["alerts", "status", reference]).stdout
    assert "Still to send: 2" in plain
    assert "blocked 1" in plain, plain


def test_status_of_an_unknown_alert_is_an_error(cli: Cli) -> None:
    for reference in ("A-ZZZZ", "nonsense"):
        done = cli(["alerts", "status", reference, "--json"])
        assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
        assert f"no alert {reference!r} (see `safetybot alerts list`)" in done.stderr
    assert cli(["alerts", "list"]).stdout.strip() == "No alerts yet."


def test_braces_in_a_coordinators_text_never_crash_send(cli: Cli, tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    done = send(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--text",
                "Meet at {areas.north} gate", "--yes")  # fmt: skip
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr


def test_leaders_list_shows_typed_formulas_as_text(cli: Cli, tmp_path: Path) -> None:
    people = write_csv(tmp_path / "formulas.csv", HEADER,
                       "console,f1,=HYPERLINK(\"http://evil.example\"),@Imam,-Masjid,Newham")  # fmt: skip
    assert cli(["leaders", "import", str(people)]).returncode == 0
    [line] = [row for row in cli(["leaders", "list"]).stdout.splitlines() if "HYPERLINK" in row]
    fields = line.split("\t")
    assert fields[3:6] == ['\'=HYPERLINK("http://evil.example")', "'@Imam", "'-Masjid"]


async def _outcomes(path: Path) -> None:
    """First recipient reached and answered, second failed for want of a WhatsApp template, third blocked the bot."""
    now = datetime.now(UTC).isoformat()
    await _record(path, [("sent", {"sent_at": now}), ("failed", {"reason": "window closed, no template"}),
                         ("failed", {"reason": "blocked the bot"})], {0: "received"})  # fmt: skip


def test_recipients_lists_who_and_what_became_of_each_and_is_audited(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham;Hackney", "--text", "Go")
    asyncio.run(_outcomes(Path(cli_env["DATABASE_PATH"])))
    everyone = json.loads(cli(["alerts", "recipients", reference, "--json"]).stdout)
    assert [r["status"] for r in everyone] == ["delivered", "failed", "failed"]  # the console delivers as it sends
    assert {"channel", "user_id", "name", "place_of_worship", "status", "reason", "sent_at", "acknowledged",
            "acknowledged_at"} <= set(everyone[0])  # fmt: skip
    assert everyone[0]["acknowledged"] == "received" and everyone[0]["name"]
    failed = json.loads(cli(["alerts", "recipients", reference, "--status", "failed", "--json"]).stdout)
    assert [r["reason"] for r in failed] == ["window closed, no template", "blocked the bot"]
    assert json.loads(cli(["alerts", "recipients", reference, "--status", "unacknowledged", "--json"]).stdout) == []
    table = cli(["alerts", "recipients", reference, "--csv"]).stdout.splitlines()
    assert table[0].startswith("channel,user_id,name") and len(table) == 4
    text = cli(["alerts", "recipients", reference, "--status", "pending"]).stdout
    assert "nobody pending" in text
    listed = [e for e in audit(cli) if e["action"] == "listed recipients"]
    assert len(listed) == 5 and listed[0]["details"]["reference"] == reference
    assert cli(["alerts", "recipients", "A-ZZZZ"]).returncode == 1


def test_resend_failed_queues_only_the_fixable_failures_again(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham;Hackney", "--text", "Go")
    asyncio.run(_outcomes(Path(cli_env["DATABASE_PATH"])))
    done = cli(["alerts", "resend", reference, "--failed", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"reference": reference, "queued": 1}  # not the one who blocked the bot
    pending = json.loads(cli(["alerts", "recipients", reference, "--status", "pending", "--json"]).stdout)
    assert [(r["status"], r["reason"], r["attempts"]) for r in pending] == [("pending", None, 0)]
    assert status(cli, reference)["pending"] == 1
    again = cli(["alerts", "resend", reference, "--failed"])
    assert "queued again for 0 recipients" in again.stdout
    assert [e for e in audit(cli) if e["action"] == "alert resent"]


def test_follow_up_asks_first_and_goes_to_exactly_those_who_received_the_alert(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham;Hackney", "--text", "Go")
    nobody = cli(["alerts", "follow-up", reference, "--kind", "correction", "--text", "Not Go", "--yes"])
    assert nobody.returncode == 1 and "nobody has received" in nobody.stderr
    asyncio.run(_outcomes(Path(cli_env["DATABASE_PATH"])))  # one reached, one no template, one blocked
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    kept = cli(["alerts", "follow-up", reference, "--kind", "correction", "--text", "Stay in, do **not** go"])
    assert kept.returncode == 1 and "Send it? [y/N]" in kept.stderr
    assert f"Correction to alert {reference}" in kept.stderr and "A correction to the 1 who received" in kept.stderr
    assert status(cli, reference)["follow_ups"] == []
    done = cli(["alerts", "follow-up", reference, "--kind", "correction", "--text", "Stay in", "--yes", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"reference": f"{reference}-1", "follows": reference, "recipients": 1,
                                       "approval": None}  # fmt: skip
    [first] = json.loads(cli(["alerts", "recipients", f"{reference}-1", "--json"]).stdout)
    everyone = json.loads(cli(["alerts", "recipients", reference, "--json"]).stdout)
    assert (first["channel"], first["user_id"]) == (everyone[0]["channel"], everyone[0]["user_id"])
    clear = cli(["alerts", "follow-up", f"{reference}-1", "--kind", "all-clear", "--text", "Over", "--yes"])
    assert clear.stdout.strip() == f"{reference}-2"  # about the original, numbered on
    progress = status(cli, reference)
    assert [(f["reference"], f["kind"]) for f in progress["follow_ups"]] == [
        (f"{reference}-1", "correction"), (f"{reference}-2", "all-clear")
    ]  # fmt: skip
    assert status(cli, f"{reference}-2")["follows"] == reference
    states = {a["reference"]: a["state"] for a in alerts_list(cli)}
    assert states[f"{reference}-1"] == f"correction of {reference}" and states[f"{reference}-2"] == (
        f"all clear of {reference}"
    )
    assert f"Correction {reference}-1 sent" in cli(["alerts", "status", reference]).stdout
    actions = [e["action"] for e in audit(cli)]
    assert actions.count("correction sent") == 1 and actions.count("all clear sent") == 1
    with pytest.raises(SystemExit):  # argparse: "invalid choice: 'retraction' (choose from ...)"
        cli(["alerts", "follow-up", reference, "--kind", "retraction", "--text", "x"])
    bad = cli(["alerts", "follow-up", reference, "--kind", "correction", "--text", "x", "--translation", "zz=y"])
    assert bad.returncode == 1 and "translation" in bad.stderr
    # With ALERT_APPROVALS=2 a correction waits for a second coordinator, as an alert does.
    monkeypatch.setenv("ALERT_APPROVALS", "2")
    monkeypatch.setenv("LOGNAME", "amina")
    waiting = cli(["alerts", "follow-up", reference, "--kind", "correction", "--text", "Later", "--yes", "--json"])
    assert waiting.returncode == 0 and json.loads(waiting.stdout)["approval"] == "awaiting"
    assert "waiting for a second coordinator" in waiting.stderr and status(cli, f"{reference}-3")["pending"] == 0
    monkeypatch.setenv("LOGNAME", "sam")
    assert cli(["alerts", "approve", f"{reference}-3"]).returncode == 0
    assert status(cli, f"{reference}-3")["pending"] == 1  # to the one who received the original


def test_with_two_approvals_a_second_coordinator_approves_or_refuses(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_console_leaders(cli, tmp_path)
    monkeypatch.setenv("ALERT_APPROVALS", "2")
    monkeypatch.setenv("LOGNAME", "amina")
    done = send(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "Newham", "--text", "Go", "--yes",
                "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["approval"] == "awaiting" and "waiting for a second coordinator" in done.stderr
    reference = json.loads(done.stdout)["reference"]
    assert (status(cli, reference)["approval"], status(cli, reference)["recipients"]) == ("awaiting", 2)
    own = cli(["alerts", "approve", reference])
    assert own.returncode == 1 and "another coordinator must approve it" in own.stderr
    monkeypatch.setenv("LOGNAME", "sam")
    approved = cli(["alerts", "approve", reference, "--json"])
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout) == {"reference": reference, "approval": "approved", "recipients": 2}
    progress = status(cli, reference)
    assert (progress["decided_by"], progress["pending"]) == ("cli:sam", 2)
    assert cli(["alerts", "refuse", reference]).returncode == 1  # decided already
    monkeypatch.setenv("LOGNAME", "amina")
    other = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--text", "Doors shut")
    monkeypatch.setenv("LOGNAME", "sam")
    refused = cli(["alerts", "refuse", other, "--reason", "Wrong borough"])
    assert refused.returncode == 0 and "refused; it will not be sent" in refused.stdout
    assert status(cli, other)["pending"] == 0 and status(cli, other)["approval"] == "refused"
    entries = {e["action"]: e for e in audit(cli)}
    assert entries["alert refused"]["actor"] == "cli:sam" and entries["alert refused"]["details"]["reason"] == (
        "Wrong borough"
    )
    assert entries["alert approved"]["details"]["composed_by"] == "cli:amina"
    monkeypatch.setenv("ALERT_URGENT_ONE_COORDINATOR", "true")
    alone = send(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--text", "Go", "--yes",
                 "--json")  # fmt: skip
    assert (
        json.loads(alone.stdout)["approval"] is None
        and status(cli, json.loads(alone.stdout)["reference"])["pending"] == 2
    )


def test_an_alert_can_be_set_to_escalate(cli: Cli, tmp_path: Path) -> None:
    import_console_leaders(cli, tmp_path)
    reference = sent(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--text", "Go",
                     "--escalate-after", "15m")  # fmt: skip
    assert (status(cli, reference)["escalate_after"], status(cli, reference)["escalated_at"]) == (900, None)
    for wrong in ("soon", "0m", "3d", "25h"):
        done = send(cli, "--kind", "urgent", "--audience", "leaders", "--areas", "Newham", "--text", "Go",
                    "--escalate-after", wrong, "--yes")  # fmt: skip
        assert done.returncode == 1 and "escalate after" in done.stderr, wrong


def test_import_takes_the_kinds_each_leader_gets_and_their_quiet_hours(cli: Cli, tmp_path: Path) -> None:
    people = write_csv(
        tmp_path / "prefs.csv",
        HEADER + ",kinds,quiet_hours",
        "console,imam-newham,Imam Newham,Imam,Newham Mosque,Newham,vigilance,23:00-06:00",
        "console,rabbi-all,Rabbi Everywhere,Rabbi,Central Shul,all,,",
        "console,vicar-hackney,Vicar Hackney,Vicar,St John's,Hackney,all,none",
    )
    done = cli(["leaders", "import", str(people), "--json"])
    assert done.returncode == 0, done.stderr
    by_id = {p["user_id"]: p for p in leaders(cli)}
    assert (by_id["imam-newham"]["kinds"], by_id["imam-newham"]["quiet_hours"]) == (["vigilance", "urgent"],
                                                                                    "23:00-06:00")  # fmt: skip
    assert (by_id["rabbi-all"]["kinds"], by_id["rabbi-all"]["quiet_hours"]) == (
        ["reassurance", "vigilance", "urgent"], "22:00-07:00"
    )  # fmt: skip
    assert by_id["vicar-hackney"]["quiet_hours"] is None
    again = cli(["leaders", "import", str(people), "--json"])
    assert json.loads(again.stdout) == {"added": 0, "updated": 0, "unchanged": 3}
    calm = send(cli, "--kind", "reassurance", "--audience", "leaders", "--areas", "Newham", "--text", "Calm",
                "--yes", "--json")  # fmt: skip
    assert json.loads(calm.stdout)["recipients"] == 1  # the rabbi; the imam gets vigilance and urgent only
    wrong = write_csv(tmp_path / "wrong.csv", HEADER + ",kinds,quiet_hours",
                      "console,x,X,Imam,Mosque,Newham,everything,late")  # fmt: skip
    bad = cli(["leaders", "import", str(wrong)])
    assert bad.returncode == 1 and "kinds: everything" in bad.stderr and "quiet_hours:" in bad.stderr


def test_cancel_asks_first_then_withdraws_and_check_says_so(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_console_leaders(cli, tmp_path)
    later = (datetime.now(LONDON) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    reference = sent(cli, "--kind", "vigilance", "--audience", "leaders", "--areas", "Newham;Hackney", "--text", "Go",
                     "--at", later)  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    kept = cli(["alerts", "cancel", reference])
    assert kept.returncode == 1 and "Withdraw it? [y/N]" in kept.stderr and "3 not yet sent" in kept.stderr
    assert status(cli, reference)["withdrawn_at"] is None
    done = cli(["alerts", "cancel", reference, "--yes", "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"reference": reference, "cancelled": 3}
    progress = status(cli, reference)
    assert (progress["cancelled"], progress["pending"], progress["done"]) == (3, 0, True)
    assert progress["withdrawn_at"] is not None
    assert "Withdrawn" in cli(["alerts", "status", reference]).stdout
    again = cli(["alerts", "cancel", reference, "--yes"])
    assert again.returncode == 1 and "already withdrawn" in again.stderr
    assert next(e for e in audit(cli) if e["action"] == "alert withdrawn")["details"]["not sent"] == 3
