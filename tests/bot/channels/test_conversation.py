"""One conversation suite, run over every channel: what the console chat can do, Telegram and
WhatsApp do too."""

from __future__ import annotations

from tests.bot.channels.conftest import ConsoleDriver, TelegramDriver, WhatsAppDriver

Driver = ConsoleDriver | TelegramDriver | WhatsAppDriver
MAIN_MENU = [
    "Get help now",
    "Report a hate crime or incident",
    "Safety guidance by topic",
    "Training sessions",
    "Alerts",
    "Privacy",
    "🌐 Language",
]


async def test_start_shows_the_main_menu(driver: Driver) -> None:
    said = await driver.say("/start")
    assert "If anyone is in danger right now, call 999." in said.text
    assert said.options == MAIN_MENU


async def test_picking_an_option_gives_its_answer(driver: Driver) -> None:
    menu = await driver.say("/menu")
    topics = await driver.pick(menu, 3)
    category = await driver.pick(topics, 2)
    said = await driver.pick(category, 1)
    assert said.text.startswith(category.options[0])
    assert "Main menu" in said.options


async def test_a_question_in_own_words_gets_the_answer(driver: Driver) -> None:
    said = await driver.say("someone sprayed grafitti on our masjid wall last week")
    assert said.text.startswith("Graffiti, vandalism or damage to your building")


async def test_danger_now_leads_with_999(driver: Driver) -> None:
    said = await driver.say("a man with a knife is at the gate")
    assert said.text.startswith("If you or anyone else is in danger now, call 999")


async def test_did_you_mean_then_pick_one(driver: Driver) -> None:
    offer = await driver.say("police")
    assert offer.text.startswith("I'm not sure I understood") and offer.options[-1] == "None of these"
    said = await driver.pick(offer, 1)
    assert said.text.startswith(offer.options[0])


async def test_browse_topics(driver: Driver) -> None:
    menu = await driver.say("/menu")
    topics = await driver.pick(menu, 3)
    assert topics.options[:2] == ["Emergencies and police", "Reporting hate"]
    category = await driver.pick(topics, 2)
    assert "Tell MAMA and the British Muslim Trust (anti-Muslim hate)" in category.options


async def test_cancel_returns_to_the_menu(driver: Driver) -> None:
    menu = await driver.say("/menu")
    await driver.pick(menu, 3)
    said = await driver.say("/cancel")
    assert said.text.startswith("OK, stopped") and said.options == MAIN_MENU


async def test_out_of_scope_is_a_kind_no_with_the_menu(driver: Driver) -> None:
    said = await driver.say("what time is maghrib today")
    assert said.text.startswith("That isn't something I can help with") and said.options == MAIN_MENU
    assert "In danger now? Call 999." in said.text


async def test_report_step_by_step_with_a_write_up(driver: Driver) -> None:
    menu = await driver.say("/menu")
    safe = await driver.pick(menu, 2)
    assert "are you safe right now?" in safe.text
    kinds = await driver.pick(safe, 1)
    assert kinds.options[3] == "Online abuse"
    targets = await driver.pick(kinds, 4)
    hatreds = await driver.pick(targets, 1)
    routes = await driver.pick(hatreds, 1)
    assert "Report Harmful Content" in routes.text and "Tell MAMA" in routes.text
    assert routes.options[0] == "Yes, help me write it down"
    first = await driver.pick(routes, 1)
    assert first.text.startswith("Question 1 of 7.") and first.options == ["Skip", "Finish and show my notes"]
    second = await driver.say("Monday 3pm 🙂 & صباح الخير")
    assert second.text.startswith("Question 2 of 7.")
    summary = await driver.pick(second, 2)
    assert "1. When: Monday 3pm 🙂 & صباح الخير" in summary.text
    assert "I've deleted your answers from the bot" in summary.text


async def test_someone_in_crisis_gets_999_first_then_the_crisis_lines(driver: Driver) -> None:
    said = await driver.say("i want to kill myself")
    assert "999" in said.text[:300]
    assert "116 123" in said.text and "SHOUT" in said.text and "85258" in said.text and "0800 1111" in said.text
    assert "Sorry, I don't have guidance" not in said.text


async def test_not_sure_and_cannot_help_replies_say_call_999(driver: Driver) -> None:
    for message in ("what's a good biryani recipe", "police"):
        said = await driver.say(message)
        assert "In danger now? Call 999." in said.text, message


async def test_a_language_it_cannot_read_gets_the_999_line_first(driver: Driver) -> None:
    said = await driver.say("我的朋友今天在寺庙外面")
    assert said.text.startswith("In danger now? Call 999")
