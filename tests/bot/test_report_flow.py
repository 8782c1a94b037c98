"""Guided reporting, as a person goes through it: safety first, the routes that fit what happened,
and a write-up that is theirs to copy and is gone from the database once shown or expired."""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Callable
from itertools import product
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import Content
from bot.dialog import Engine
from bot.messages import Choice, Reply
from bot.render import Style, render
from bot.report_flow import ReportFlow, tidy
from bot.store import Database
from tests.conftest import REPORT_EXPIRY, FakeClock, make_incoming

KINDS = ["violence", "damage", "verbal", "online", "worry"]
TARGETS = ["me", "family", "place", "someone-else"]
HATREDS = ["anti-muslim", "antisemitic", "other-faith", "race", "lgbt", "disability", "unsure"]
MARKER = "Zq7-unique-marker"


async def say(engine: Engine, text: str | None = None, *, choice: str | None = None, user: str = "amina") -> Reply:
    return await engine.handle(make_incoming(text, choice=choice, user_id=user))


def ids(reply: Reply) -> list[str]:
    return [c.id for c in reply.choices]


async def routes_for(engine: Engine, kind: str, target: str, hatred: str, user: str = "amina") -> Reply:
    await say(engine, "/report", user=user)
    await say(engine, choice="rep-safe:yes", user=user)
    await say(engine, choice=f"rep-ans:kind={kind}", user=user)
    await say(engine, choice=f"rep-ans:target={target}", user=user)
    return await say(engine, choice=f"rep-ans:hatred={hatred}", user=user)


def dump(path: Path) -> str:
    """Every value in every table, read with a separate connection, as one string."""
    with sqlite3.connect(path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f"SELECT * FROM {table}"))


def on_disk(path: Path) -> bytes:
    """The raw bytes of the database file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# --- starting -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    ["/report", "report", "/start report", "REPORT", "I want to report a hate crime", "we need to report abuse"],
)
async def test_the_guide_starts_with_are_you_safe(engine: Engine, message: str) -> None:
    reply = await say(engine, message)
    assert "are you safe right now?" in reply.text
    assert ids(reply)[:2] == ["rep-safe:yes", "rep-safe:no"]


async def test_in_a_group_the_guide_asks_for_a_private_chat(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/report", user_id="-100:7", private=False))
    assert reply.text.startswith("For your privacy, I only go through reporting in a private chat")
    assert ids(reply) == ["menu:main"]


async def test_the_menu_item_starts_the_guide(engine: Engine) -> None:
    menu = await say(engine, "/menu")
    assert "menu:report" in ids(menu)
    reply = await say(engine, choice="menu:report")
    assert "are you safe right now?" in reply.text


async def test_reporting_something_else_still_gets_its_own_answer(engine: Engine) -> None:
    reply = await say(engine, "I want to report a suspicious bag left by the gate yesterday")
    assert reply.answer == "suspicious-item"
    assert "rep:start" not in ids(reply)


async def test_answers_about_reporting_offer_the_guide_first(engine: Engine) -> None:
    reply = await say(engine, "how do I report what happened after Friday prayers?")
    assert reply.answer == "report-hate-crime"
    assert ids(reply)[0] == "rep:start"
    started = await say(engine, choice="rep:start")
    assert "are you safe right now?" in started.text
    other = await say(engine, "what is the number for the samaritans")
    assert "rep:start" not in ids(other)


async def test_the_intent_keeps_naming_the_topic_for_batch_answers(engine: Engine) -> None:
    reply = await say(engine, "i need to report racist abuse")
    assert reply.answer == "report-hate-crime" and "are you safe right now?" in reply.text
    reply = await say(engine, "I want to report a hate crime against my family")  # read as Victim Support
    assert "are you safe right now?" in reply.text


# --- safety first -------------------------------------------------------------------------------
async def test_not_safe_gets_the_999_advice_first_then_carries_on(engine: Engine) -> None:
    await say(engine, "/report")
    reply = await say(engine, choice="rep-safe:no")
    assert reply.emergency
    assert reply.text.startswith("**If you or anyone else is in danger now, call 999**")
    assert ids(reply)[0] == "rep-safe:yes"
    assert reply.choices[0].label == "I'm safe now, carry on"
    carry_on = await say(engine, "1")
    assert "What happened?" in carry_on.text


async def test_typing_no_means_not_safe(engine: Engine) -> None:
    await say(engine, "/report")
    assert (await say(engine, "no")).emergency


async def test_danger_typed_during_the_questions_leads_with_999(engine: Engine) -> None:
    await say(engine, "/report")
    await say(engine, "yes")
    reply = await say(engine, "there is a man with a knife outside right now")
    assert reply.emergency and reply.text.startswith("**If you or anyone else is in danger now, call 999**")


# --- the routes -----------------------------------------------------------------------------------
async def test_online_abuse_goes_to_the_platform_then_report_harmful_content_and_true_vision(engine: Engine) -> None:
    reply = await routes_for(engine, "online", "me", "unsure")
    text = reply.text
    platform = text.index("report option on the post")
    harmful = text.index("[Report Harmful Content](https://reportharmfulcontent.com/)")
    vision = text.index("True Vision")
    assert platform < harmful < vision
    assert "Would you like help writing down what happened?" in text


async def test_anti_muslim_hatred_includes_tell_mama(engine: Engine) -> None:
    text = (await routes_for(engine, "verbal", "me", "anti-muslim")).text
    assert "Tell MAMA" in text and "tellmamauk.org" in text
    assert "CST" not in text


async def test_antisemitism_includes_cst(engine: Engine) -> None:
    text = (await routes_for(engine, "verbal", "family", "antisemitic")).text
    assert "CST" in text and "**0800 032 3263**" in text
    assert "Tell MAMA" not in text


async def test_damage_to_a_place_of_worship_keeps_evidence_before_cleaning_then_police(engine: Engine) -> None:
    text = (await routes_for(engine, "damage", "place", "other-faith")).text
    first = text.index("- **Photograph it before anyone cleans it:**")
    police = text.index("Call **101**, or report online")
    assert first < police
    assert "protective security funding" in text


async def test_violence_puts_999_first(engine: Engine) -> None:
    text = (await routes_for(engine, "violence", "me", "race")).text
    assert (
        "From what you've told me, in this order:\n\n- **If they come back or you feel in danger:** Call **999**"
        in text
    )


async def test_something_worrying_points_to_the_anti_terrorist_hotline(engine: Engine) -> None:
    text = (await routes_for(engine, "worry", "place", "unsure")).text
    assert "**0800 789 321**" in text and "hate incidents as well as crimes" in text


async def test_every_branch_gets_police_true_vision_anonymous_and_support_in_that_order(
    engine: Engine, content: Content
) -> None:
    for number, (kind, target, hatred) in enumerate(product(KINDS, TARGETS, HATREDS)):
        text = (await routes_for(engine, kind, target, hatred, user=f"u{number}")).text
        order = [text.index(t) for t in ("**Police:**", "True Vision", "Crimestoppers", "**08 08 16 89 111**")]
        assert order == sorted(order), (kind, target, hatred)
        assert ("Galop" in text) == (hatred == "lgbt")
        assert "Sources:" in text and "[report-it.org.uk](https://www.report-it.org.uk/)" in text
        for route in content.report.routes if content.report else ():
            assert route.text in text or route.when, route.id  # routes without conditions always show


# --- the write-up ---------------------------------------------------------------------------------
async def start_writeup(engine: Engine, kind: str = "verbal", user: str = "amina") -> Reply:
    await routes_for(engine, kind, "me", "anti-muslim", user=user)
    return await say(engine, choice="rep-write:yes", user=user)


async def test_the_write_up_says_up_front_that_nothing_is_kept(engine: Engine) -> None:
    offer = await routes_for(engine, "verbal", "me", "unsure")
    assert "kept only until I show you the summary" in offer.text and "60 minutes" in offer.text


async def test_the_summary_holds_exactly_what_was_given_numbered_with_the_tips(engine: Engine) -> None:
    first = await start_writeup(engine)
    assert first.text.startswith("Question 1 of 8. **When did it happen?**")
    await say(engine, "Friday 14 November, about 1.30pm")
    await say(engine, "Outside the gate on *Green Lane* [near the bus stop](http://evil.example)")
    blank = await say(engine, "  ")
    assert [c.id for c in blank.choices] == ["rep-skip:what", "rep-end:"]  # a blank message keeps the question
    skipped = await say(engine, choice="rep-skip:what")
    assert skipped.text.startswith("Question 4 of 8. **Who did it?**")
    await say(engine, "Two men, 30s.\nOne had a red cap & a <b>tattoo</b>")
    for _ in range(2):
        await say(engine, "skip")
    await say(engine, "1. My coat was torn\n\n\n- # not a heading")
    summary = await say(engine, "Phone video 😡 and CCTV, كاميرا, 摄像头")
    plain = render(summary.text, Style.PLAIN)
    assert plain.startswith("What happened: your notes")
    assert "1. When: Friday 14 November, about 1.30pm" in plain
    assert "2. Where: Outside the gate on *Green Lane* [near the bus stop](http://evil.example)" in plain
    assert "3. The people involved: Two men, 30s.\nOne had a red cap & a <b>tattoo</b>" in plain
    assert "4. Injuries or damage: 1. My coat was torn\n- # not a heading" in plain
    assert "5. Evidence kept: Phone video 😡 and CCTV, كاميرا, 摄像头" in plain
    assert "What was said or done" not in plain  # skipped questions are left out
    assert "Photograph damage or graffiti before it is cleaned." in plain
    assert "I've deleted your answers from the bot" in plain
    assert ids(summary) == ["faq:evidence-preservation", "menu:main"]
    telegram = render(summary.text, Style.TELEGRAM_HTML)
    assert "a red cap &amp; a &lt;b&gt;tattoo&lt;/b&gt;" in telegram and "<b>tattoo</b>" not in telegram
    assert "<a href" not in telegram.split("Sources:")[0]  # their link is text, not a link
    assert "1. <b>When:</b> Friday 14 November, about 1.30pm\n" in telegram
    whatsapp = render(summary.text, Style.WHATSAPP)
    assert "Outside the gate on *Green Lane* [near the bus stop](http://evil.example)" in whatsapp


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=400))
def test_any_answer_is_shown_exactly_on_every_channel(content: Content, text: str) -> None:
    assert content.report is not None
    flow = ReportFlow(content.report, content.copy, expiry=REPORT_EXPIRY, emergency=lambda: Reply(""), danger=bool)
    note = tidy(text)
    if not note:
        return
    summary = flow._summary({"what": note}).reply.text  # the summary's wording alone
    item = "1. What was said or done: "
    plain = render(summary, Style.PLAIN)
    assert f"{item}{note}\n\n" in plain
    telegram = html.unescape(render(summary, Style.TELEGRAM_HTML).replace("<b>", "").replace("</b>", ""))
    assert f"{item}{note}\n\n" in telegram


async def test_the_write_up_is_gone_from_the_database_once_shown(engine: Engine, db: Database, tmp_path: Path) -> None:
    await start_writeup(engine)
    await say(engine, f"yesterday {MARKER}")
    await say(engine, f"the high street {MARKER}")
    assert MARKER in dump(tmp_path / "bot.db")  # kept while the flow runs, so a pause can resume
    summary = await say(engine, choice="rep-end:")
    assert MARKER in render(summary.text, Style.PLAIN)
    assert MARKER not in dump(tmp_path / "bot.db")
    assert MARKER.encode() not in on_disk(tmp_path / "bot.db")  # zeroed, and the log emptied


async def test_a_pause_resumes_where_they_were_until_the_expiry(
    engine: Engine, db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await start_writeup(engine)
    await say(engine, f"Tuesday {MARKER}")
    clock.advance(minutes=59)
    resumed = await say(engine, "Outside the station")
    assert resumed.text.startswith("Question 3 of 8.")
    clock.advance(minutes=61)
    assert await engine.purge_drafts() == 1
    assert MARKER not in dump(tmp_path / "bot.db")
    assert MARKER.encode() not in on_disk(tmp_path / "bot.db")
    late = await say(engine, "A man shouted at us")
    # Told once (after the 999 advice, should the words read as danger now).
    assert "For your privacy, the answers you were giving me were deleted after 60 minutes" in late.text


async def test_coming_back_late_before_the_purge_ran_is_told_and_nothing_is_used(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    await start_writeup(engine)
    await say(engine, f"Tuesday {MARKER}")
    clock.advance(minutes=61)
    late = await say(engine, choice="rep-end:")
    assert "deleted after 60 minutes" in late.text and MARKER not in render(late.text, Style.PLAIN)
    assert "That menu has expired" in late.text
    assert MARKER not in dump(tmp_path / "bot.db")


async def test_idle_conversations_elsewhere_are_not_touched_by_the_draft_purge(
    engine: Engine, clock: FakeClock
) -> None:
    await say(engine, "/menu", user="other")
    await start_writeup(engine)
    clock.advance(minutes=61)
    assert await engine.purge_drafts() == 1
    assert (await engine.db.load_dialog("console", "other")) is not None


@pytest.mark.parametrize("step", range(7))
async def test_cancel_leaves_at_any_step_and_keeps_nothing(engine: Engine, step: int, tmp_path: Path) -> None:
    moves: list[Callable[[], object]] = [
        lambda: say(engine, "/report"),
        lambda: say(engine, choice="rep-safe:yes"),
        lambda: say(engine, choice="rep-ans:kind=verbal"),
        lambda: say(engine, choice="rep-ans:target=me"),
        lambda: say(engine, choice="rep-ans:hatred=race"),
        lambda: say(engine, choice="rep-write:yes"),
        lambda: say(engine, f"yesterday {MARKER}"),
    ]
    for move in moves[: step + 1]:
        await move()  # type: ignore[misc]
    cancelled = await say(engine, "/cancel")
    assert cancelled.text.startswith("OK, stopped")
    record = await engine.db.load_dialog("console", "amina")
    assert record is not None and record.state == "idle" and record.data["form"] == {}
    assert MARKER not in dump(tmp_path / "bot.db")


async def test_an_answer_that_is_too_long_is_refused_kindly_and_asked_again(engine: Engine) -> None:
    await start_writeup(engine)
    reply = await say(engine, "x" * 301)
    assert reply.text.startswith("That's longer than I can keep for one answer (300 characters, yours is 301)")
    assert "Question 1 of 8" in reply.text
    assert (await say(engine, "x" * 300)).text.startswith("Question 2 of 8")


async def test_danger_in_an_answer_leads_with_999_and_the_answer_is_kept(engine: Engine) -> None:
    await start_writeup(engine, kind="violence")
    await say(engine, "just now")
    reply = await say(engine, "he is still outside the door with a knife")
    assert reply.emergency and reply.text.startswith("**If you or anyone else is in danger now, call 999**")
    assert "Question 3 of 8" in reply.text
    summary = await say(engine, choice="rep-end:")
    assert "he is still outside the door with a knife" in render(summary.text, Style.PLAIN)


async def test_a_past_attack_described_in_the_write_up_is_just_noted(engine: Engine) -> None:
    await start_writeup(engine, kind="violence")
    await say(engine, "last Friday")
    await say(engine, "by the bus stop")
    reply = await say(engine, "he punched my brother and ran off towards the park")
    assert not reply.emergency and reply.text.startswith("Question 4 of 8")


async def test_every_answer_skipped_gives_no_summary_but_the_tips(engine: Engine) -> None:
    await start_writeup(engine)
    reply = await say(engine, choice="rep-end:")
    assert reply.text.startswith("You skipped every question") and "Keep the evidence safe" in reply.text


async def test_declining_the_write_up_keeps_nothing(engine: Engine) -> None:
    await routes_for(engine, "online", "me", "unsure")
    reply = await say(engine, choice="rep-write:no")
    assert reply.text.startswith("OK. You can come back to this any time")
    record = await engine.db.load_dialog("console", "amina")
    assert record is not None and record.state == "idle" and record.data["form"] == {}


# --- bad input ------------------------------------------------------------------------------------
BAD = [
    "",
    "   ",
    "\x00\x07\u202e",
    "🙂🙂🙂",
    "ما حدث بعد صلاة الجمعة",
    "我不知道",
    "<script>alert(1)</script>",
    "x" * 20000,
]


@pytest.mark.parametrize("bad", BAD, ids=["empty", "blank", "control", "emoji", "arabic", "chinese", "html", "huge"])
async def test_bad_input_at_every_step_keeps_the_guide_on_its_feet(engine: Engine, bad: str) -> None:
    steps = [
        ("/report", None),
        (None, "rep-safe:yes"),
        (None, "rep-ans:kind=verbal"),
        (None, "rep-ans:target=me"),
        (None, "rep-ans:hatred=unsure"),
        (None, "rep-write:yes"),
        ("yesterday", None),
    ]
    for text, choice in steps:
        await say(engine, text, choice=choice)
        before = await engine.db.load_dialog("console", "amina")
        reply = await say(engine, bad)
        assert "something went wrong" not in reply.text
        for style in Style:
            render(reply.text, style)
        after = await engine.db.load_dialog("console", "amina")
        assert before is not None and after is not None
        if before.state in ("report_safe", "report_ask", "report_offer"):
            assert after.state == before.state  # asked again, not thrown out
        if before.state == "report_write":
            assert after.state == "report_write"
            if bad == "x" * 20000:
                assert after.data["form"] == before.data["form"]  # refused, nothing stored
    summary = await say(engine, choice="rep-end:")
    assert "something went wrong" not in summary.text


async def test_forged_or_stale_buttons_do_nothing(engine: Engine) -> None:
    await say(engine, "/report")
    assert (await say(engine, choice="rep-ans:kind=online")).text.startswith("That menu has expired")
    await say(engine, "/report")
    await say(engine, choice="rep-safe:yes")
    for forged in ("rep-ans:kind=nonsense", "rep-ans:target=me", "rep-skip:when", "rep-end:"):
        assert (await say(engine, choice=forged)).text.startswith("That menu has expired"), forged


async def test_people_never_see_each_others_answers(engine: Engine) -> None:
    await start_writeup(engine, user="amina")
    await say(engine, f"amina {MARKER}", user="amina")
    await start_writeup(engine, user="bilal")
    summary = await say(engine, choice="rep-end:", user="bilal")
    assert MARKER not in render(summary.text, Style.PLAIN)
    mine = await say(engine, choice="rep-end:", user="amina")
    assert MARKER in render(mine.text, Style.PLAIN)


async def test_privacy_says_how_long_report_answers_are_kept(engine: Engine) -> None:
    text = (await say(engine, "/privacy")).text
    assert "Report a hate crime or incident: your answers are kept only while you give them" in text
    assert "after 60 minutes without a reply" in text
    assert "wiped 30 days after the session" in text


def test_the_guide_offer_is_a_choice(content: Content) -> None:
    assert content.report is not None and "report-hate-crime" in content.report.topics
    assert Choice("rep:start", content.copy["report_offer"]).label == "Help me report it, step by step"


async def test_words_that_are_commands_elsewhere_are_just_words_in_the_write_up(engine: Engine) -> None:
    await start_writeup(engine)
    assert (await say(engine, "hello there")).text.startswith("Question 2 of 8")  # not a greeting: kept
    assert (await say(engine, "STOP")).text.startswith("Question 3 of 8")  # what was shouted, not an opt-out
    assert (await engine.db.contact("console", "amina")).opted_out_at is None
    summary = render((await say(engine, choice="rep-end:")).text, Style.PLAIN)
    assert "1. When: hello there" in summary and "2. Where: STOP" in summary
    await start_writeup(engine)
    assert (await say(engine, "cancel")).text.startswith("OK, stopped")  # cancel and /commands still work


async def test_a_reminder_arriving_mid_write_up_does_not_keep_the_answers_longer(
    engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    await start_writeup(engine)
    await say(engine, f"Tuesday {MARKER}")
    clock.advance(minutes=50)
    await engine.remember_choices("console", "amina", Reply("A reminder", (Choice("menu:main", "Main menu"),)))
    clock.advance(minutes=11)
    assert await engine.purge_drafts() == 1
    assert MARKER not in dump(tmp_path / "bot.db")
