"""A full conversation through the engine, as a user sees it, with state kept in the database."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import pytest

from bot.channels.console import run_console
from bot.content import Category, Content
from bot.dialog import COMMANDS, Engine
from bot.messages import Reply
from bot.store import Database
from tests.conftest import FakeClock, make_incoming


def ids(reply: Reply) -> list[str]:
    return [c.id for c in reply.choices]


def labels(reply: Reply) -> list[str]:
    return [c.label for c in reply.choices]


async def test_start_shows_the_welcome_and_main_menu(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/start"))
    assert "999" in reply.text
    assert labels(reply) == [
        "Get help now",
        "Report a hate crime or incident",
        "Safety guidance by topic",
        "Training sessions",
        "Alerts",
        "Privacy",
        "🌐 Language",
    ]


async def test_numbered_reply_picks_the_offered_option(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming("3"))  # Safety guidance by topic
    assert "Reporting hate" in labels(reply)


async def test_option_words_pick_it_too(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming("safety guidance by topic"))
    assert "Reporting hate" in labels(reply)


async def test_browse_topics_to_an_answer_and_back(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    topics = await engine.handle(make_incoming(choice="menu:topics"))
    category = await engine.handle(make_incoming(choice="cat:premises"))
    assert "faq:martyns-law" in ids(category) and ids(category)[-2:] == ["menu:topics", "menu:main"]
    answer = await engine.handle(make_incoming(choice="faq:martyns-law"))
    assert answer.answer == "martyns-law" and "legislation.gov.uk" in answer.text
    back = await engine.handle(make_incoming(choice="menu:main"))
    assert ids(back) == ids(await engine.handle(make_incoming("/menu")))
    assert len(topics.choices) == len(engine.content.categories) + 1  # and the main menu


async def test_get_help_now_leads_with_999(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming(choice="menu:help-now"))
    assert reply.emergency and reply.text.index("999") < 60


async def test_free_text_in_any_state_is_answered(engine: Engine) -> None:
    await engine.handle(make_incoming(choice=None, text="/menu"))
    await engine.handle(make_incoming(choice="menu:topics"))
    reply = await engine.handle(make_incoming("how do i report graffiti on our mosque"))
    assert reply.answer == "graffiti-criminal-damage"


async def test_danger_now_comes_first_even_mid_menu(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming("there is a man with a knife at the gate"))
    assert reply.emergency and reply.text.startswith("**If you or anyone else is in danger now, call 999")


async def test_a_choice_never_offered_gets_the_expired_notice(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    forged = await engine.handle(make_incoming(choice="faq:martyns-law"))  # not on this menu
    assert forged.text.startswith("That menu has expired")
    assert "menu:report" in ids(forged)
    bogus = await engine.handle(make_incoming(choice="x" * 64))
    assert bogus.text.startswith("That menu has expired")


async def test_a_number_out_of_range_asks_again_and_stays(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("/menu"))
    topics = await engine.handle(make_incoming("3"))  # Safety guidance by topic
    last = len(topics.choices)
    for typed in ("0", "99", "-1", "1.5", "12.", "+13"):
        reply = await engine.handle(make_incoming(typed))
        assert f"Please choose a number from 1 to {last}." in reply.text, typed
        assert ids(reply) == ids(topics) and not reply.emergency
    assert await db.gaps() == []  # a mistyped number is not a question nobody answered
    picked = await engine.handle(make_incoming("1"))  # still choosing among the topics
    assert ids(picked) != ids(topics) and "menu:topics" in ids(picked)


async def test_the_emergency_numbers_typed_at_a_menu_are_not_menu_numbers(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming("999"))
    assert "Please choose" not in reply.text


async def test_help_and_cancel(engine: Engine) -> None:
    help_reply = await engine.handle(make_incoming("/help"))
    assert help_reply.answer == "bot-help" and "/cancel" in help_reply.text
    assert (await engine.handle(make_incoming("HELP"))).answer == "bot-help"
    await engine.handle(make_incoming("/menu"))
    await engine.handle(make_incoming(choice="menu:topics"))
    cancelled = await engine.handle(make_incoming("/cancel"))
    assert cancelled.text.startswith("OK, stopped")
    stale = await engine.handle(make_incoming(choice="cat:report"))
    assert stale.text.startswith("That menu has expired")


async def test_unknown_command_is_explained(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/launchmissiles"))
    assert "/help" in reply.text


async def test_state_survives_a_restart(make_engine: Callable[..., Engine]) -> None:
    first = make_engine()
    await first.handle(make_incoming("/menu"))
    await first.handle(make_incoming(choice="menu:topics"))
    restarted = make_engine()  # a new process on the same database
    reply = await restarted.handle(make_incoming("1"))
    assert reply.text.startswith("**Emergencies and police**")


async def test_users_never_share_a_menu(engine: Engine) -> None:
    await engine.handle(make_incoming("/menu", user_id="amina"))
    await engine.handle(make_incoming(choice="menu:topics", user_id="amina"))
    other = await engine.handle(make_incoming("1", user_id="yusuf"))  # yusuf was offered nothing
    assert other.answer is None and not other.text.startswith("**Emergencies")
    same_id_other_channel = await engine.handle(make_incoming("1", channel="telegram"))
    assert not same_id_other_channel.text.startswith("**Emergencies")


async def test_old_menus_expire_after_the_idle_limit(engine: Engine, clock: FakeClock) -> None:
    await engine.handle(make_incoming("/menu"))
    clock.advance(days=31)
    reply = await engine.handle(make_incoming(choice="menu:report"))
    assert reply.text.startswith("That menu has expired")


async def test_forget_asks_first_then_deletes_everything(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("/menu"))
    confirm = await engine.handle(make_incoming("/forget"))
    assert ids(confirm) == ["forget:yes", "forget:no"]
    done = await engine.handle(make_incoming("yes"))
    assert done.text.startswith("Done")
    assert "menu:report" in ids(done)  # and what they can do now
    rows = await db.scan()
    assert not any("amina" in str(row) for table in rows.values() for row in table)


async def test_forget_can_be_refused(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("/forget"))
    kept = await engine.handle(make_incoming(choice="forget:no"))
    assert kept.text.startswith("OK, nothing was deleted")
    assert await db.load_dialog("console", "amina") is not None


async def test_privacy_says_what_is_kept(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/privacy"))
    assert "console" in reply.text and "30 days" in reply.text and "/forget" in reply.text


async def test_unanswered_questions_are_kept_without_who_asked(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("what time is the bake sale on saturday"))
    gaps = await db.gaps()
    assert [g.text for g in gaps] == ["what time is the bake sale on saturday"]
    unanswered = (await db.scan())["unanswered"]
    assert not any("amina" in str(row) for row in unanswered)


async def test_non_text_and_empty_messages_get_a_kind_reply(engine: Engine) -> None:
    photo = await engine.handle(make_incoming(None))
    assert "text" in photo.text and photo.choices
    blank = await engine.handle(make_incoming("   \n\t "))
    assert blank.text.startswith("I didn't catch") and blank.choices


async def test_coordinators_are_recognised(make_engine: Callable[..., Engine], db: Database, clock: FakeClock) -> None:
    await db.bootstrap_coordinators({("console", "amina")}, clock())
    engine = make_engine()
    assert "coordinator" in (await engine.handle(make_incoming("/start"))).text
    assert "coordinator" not in (await engine.handle(make_incoming("/start", user_id="yusuf"))).text


async def test_retention_deletes_idle_conversations_and_old_questions(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    await engine.handle(make_incoming("what time is the bake sale on saturday"))
    clock.advance(days=31)
    await engine.handle(make_incoming("/menu", user_id="yusuf"))
    await engine.purge_expired()
    assert await db.load_dialog("console", "amina") is None
    assert await db.load_dialog("console", "yusuf") is not None
    assert len(await db.gaps()) == 1
    clock.advance(days=60)
    await engine.purge_expired()
    assert await db.gaps() == []


async def test_danger_words_are_never_taken_as_picking_an_option(
    content: Content, db: Database, make_engine: Callable[..., Engine]
) -> None:
    fire_menu = (Category("fire", "Fire safety", ("emergency-999",)), *content.categories)
    engine = make_engine(answerer=None, content=dataclasses.replace(content, categories=fire_menu))
    await engine.handle(make_incoming("/menu"))
    await engine.handle(make_incoming(choice="menu:topics"))  # offers "Fire safety"
    assert (await engine.handle(make_incoming("FIRE!!"))).emergency
    await engine.handle(make_incoming("/menu"))
    await engine.handle(make_incoming(choice="menu:topics"))
    picked = await engine.handle(make_incoming("1"))  # a number still picks
    assert picked.text.startswith("**Fire safety**")


async def test_a_greeting_gets_the_welcome(engine: Engine) -> None:
    for greeting in ("Assalamu alaikum", "hi, how are you?", "salam bro"):
        reply = await engine.handle(make_incoming(greeting))
        assert reply.text.startswith("Hello, and welcome")
        assert "menu:report" in ids(reply)


async def test_a_deep_link_opens_its_topic(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/start topic-report-hate-crime"))
    assert reply.answer == "report-hate-crime"
    assert (await engine.handle(make_incoming("/start topic-nonsense"))).text.startswith("Hello, and welcome")
    assert (await engine.handle(make_incoming("/start menu:privacy"))).text.startswith("Hello, and welcome")


async def test_stop_and_start_switch_proactive_messages(engine: Engine, db: Database) -> None:
    reply = await engine.handle(make_incoming("STOP"))
    assert "START" in reply.text
    assert (await db.contact("console", "amina")).opted_out_at is not None
    back = await engine.handle(make_incoming("Start"))
    assert back.text.startswith("Welcome back") and "menu:report" in ids(back)
    assert (await db.contact("console", "amina")).opted_out_at is None
    again = await engine.handle(make_incoming("start"))
    assert again.text.startswith("Hello, and welcome")


async def test_stop_in_the_middle_of_a_report_asks_what_to_stop(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("/menu"))
    asked = await engine.handle(make_incoming(choice="menu:report"))
    which = await engine.handle(make_incoming("stop"))
    assert which.text.startswith("Stop what you are doing now, or stop all messages")
    assert ids(which) == ["stop:this", "stop:all"]
    assert (await db.contact("console", "amina")).opted_out_at is None  # nothing stopped yet
    stopped = await engine.handle(make_incoming("1"))  # Stop this
    assert stopped.text.startswith("OK, stopped.") and (await db.contact("console", "amina")).opted_out_at is None
    await engine.handle(make_incoming(choice="menu:report"))
    await engine.handle(make_incoming("STOP"))
    everything = await engine.handle(make_incoming("Stop all messages"))
    assert "START" in everything.text and (await db.contact("console", "amina")).opted_out_at is not None
    assert ids(asked)  # the report's first question offered choices: a flow in progress


@pytest.mark.parametrize("thanks", ["thanks", "Thank you so much!", "jazakallah khair", "shukriya", "dziękuję bardzo"])
async def test_a_thank_you_gets_a_short_reply(engine: Engine, thanks: str) -> None:
    await engine.handle(make_incoming("/menu"))
    reply = await engine.handle(make_incoming(thanks))
    assert reply.text == "You're welcome. Ask me anything else whenever you need to."
    assert ids(reply) == ["menu:main"] and not reply.emergency


async def test_thanks_with_danger_in_it_is_danger(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("thanks, but a man with a knife is at the gate now"))
    assert reply.emergency


async def test_help_lists_every_command(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/help"))
    assert all(f"/{command}" in reply.text for command in (*COMMANDS, "quit")), reply.text


async def test_the_console_says_goodbye_on_quit(engine: Engine) -> None:
    out = io.StringIO()
    await run_console(engine, "amina", stdin=io.StringIO("what is true vision\n/quit\nnever read\n"), stdout=out)
    assert out.getvalue().rstrip().endswith("Goodbye. Stay safe: if anyone is in danger, call 999.")
    assert "never read" not in out.getvalue()
