"""The bot on Telegram, end to end: the real python-telegram-bot client against a fake Bot API
server on 127.0.0.1, long polling."""

from __future__ import annotations

from typing import Any

from bot.channels.telegram import MAX_TEXT, TelegramChannel
from bot.messages import Choice, Reply
from bot.store import Database
from tests.conftest import eventually
from tests.fakes.telegram_api import FakeBotApi, button_press, group_message, private_message


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [row[0]["callback_data"] for row in markup.get("inline_keyboard", [])]


def to(chat_id: int, starts: str = "") -> Any:
    return lambda p: p.get("chat_id") == chat_id and p.get("text", "").startswith(starts)


async def test_start_lists_commands_and_shows_the_menu_keyboard(
    telegram: TelegramChannel, telegram_api: FakeBotApi
) -> None:
    commands = await telegram_api.called("setMyCommands")
    assert [c["command"] for c in commands.params["commands"]] == [
        "start",
        "help",
        "menu",
        "report",
        "alerts",
        "subscribe",
        "unsubscribe",
        "cancel",
        "privacy",
        "mydata",
        "forget",
        "language",
    ]
    assert "language_code" not in commands.params  # the default list; a language's own only once approved
    telegram_api.push(private_message("/start"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["parse_mode"] == "HTML"
    assert "<b>If anyone is in danger right now, call 999.</b>" in reply.params["text"]
    assert buttons(reply.params) == [
        "menu:help-now",
        "menu:report",
        "menu:topics",
        "menu:training",
        "menu:alerts",
        "menu:privacy",
        "menu:language",
    ]


async def test_a_question_gets_its_answer(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(private_message("how do i report graffiti on our masjid"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["text"].startswith("<b>Graffiti, vandalism or damage to your building</b>")
    assert '<a href="https://www.report-it.org.uk/">' in reply.params["text"]
    assert "menu:main" in buttons(reply.params)


async def test_danger_now_leads_with_999(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(private_message("a man with a knife is at the gate"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["text"].startswith("<b>If you or anyone else is in danger now, call 999</b>")


async def test_did_you_mean_buttons_lead_to_the_answer(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(private_message("police"))
    offer = await telegram_api.called("sendMessage", to(111, "I'm not sure"))
    choice = buttons(offer.params)[0]
    assert choice.startswith("faq:") and buttons(offer.params)[-1] == "menu:none"
    telegram_api.push(button_press(choice))
    await telegram_api.called("answerCallbackQuery")  # the button stops spinning
    entry = choice.removeprefix("faq:")
    answer = await telegram_api.called(
        "sendMessage",
        lambda p: f"faq:{entry}" not in buttons(p) and p.get("text", "").startswith("<b>") and p is not offer.params,
    )
    title = telegram.engine.content.faq[entry].title
    assert answer.params["text"].startswith(f"<b>{title}</b>")


async def test_a_forged_button_gets_menu_expired(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(button_press("menu:privacy-admin-override"))
    await telegram_api.called("answerCallbackQuery")
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["text"].startswith("That menu has expired")
    assert "menu:report" in buttons(reply.params)


async def test_a_sticker_gets_a_kind_reply(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(private_message(None))
    reply = await telegram_api.called("sendMessage", to(111))
    assert "text" in reply.params["text"]


async def test_deep_link_opens_the_topic(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(private_message("/start topic-tell-mama"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["text"].startswith("<b>Tell MAMA")


async def test_in_groups_only_commands_and_mentions_are_answered(
    telegram: TelegramChannel, telegram_api: FakeBotApi
) -> None:
    telegram_api.push(group_message("anyone bringing samosas on friday?", user_id=1, message_id=10))
    telegram_api.push(group_message("/help@some_other_bot", user_id=1, message_id=11))
    telegram_api.push(group_message("/help@safety_test_bot", user_id=1, message_id=12))
    help_reply = await telegram_api.called("sendMessage", to(-100777))
    assert help_reply.params["reply_parameters"]["message_id"] == 12
    telegram_api.push(group_message("@safety_test_bot what is tell mama", user_id=2, message_id=13))
    mention = await telegram_api.called("sendMessage", to(-100777, "<b>Tell MAMA"))
    assert mention.params["reply_parameters"]["message_id"] == 13
    assert len(telegram_api.sent(-100777)) == 2


async def test_group_members_never_share_a_menu(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(group_message("/menu@safety_test_bot", user_id=1))
    await telegram_api.called("sendMessage", to(-100777))
    telegram_api.push(button_press("menu:report", user_id=2, chat_id=-100777))  # someone else's menu
    reply = await telegram_api.called("sendMessage", to(-100777, "That menu has expired"))
    assert reply.params["chat_id"] == -100777
    telegram_api.push(button_press("menu:topics", user_id=1, chat_id=-100777))  # the owner's press
    await telegram_api.called("sendMessage", to(-100777, "Which area would you like guidance on?"))


async def test_reporting_is_only_done_in_a_private_chat(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.push(group_message("/report@safety_test_bot", user_id=1))
    reply = await telegram_api.called("sendMessage", to(-100777))
    assert reply.params["text"].startswith("For your privacy, I only go through reporting in a private chat")
    telegram_api.push(private_message("/report"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert "are you safe right now?" in reply.params["text"]


async def test_flood_control_waits_then_delivers(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.fail("sendMessage", "retry_after", 1)
    telegram_api.push(private_message("what is true vision"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert "True Vision" in reply.params["text"]


async def test_dropped_connections_are_retried(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.fail("sendMessage", "drop", times=2)
    telegram_api.push(private_message("what is true vision"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert "True Vision" in reply.params["text"]


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(
    telegram: TelegramChannel, telegram_api: FakeBotApi, db: Database
) -> None:
    telegram_api.fail("sendMessage", "forbidden")
    telegram_api.push(private_message("/start", user_id=555))
    assert await eventually(lambda: db.is_blocked("telegram", "555"))
    telegram_api.push(private_message("/menu", user_id=555))  # they unblocked and wrote again
    await telegram_api.called("sendMessage", to(555))
    assert not await db.is_blocked("telegram", "555")


def test_long_replies_are_split_with_buttons_on_the_last_part(telegram: TelegramChannel) -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 150 for i in range(12))
    parts = telegram.render(Reply(text, (Choice("menu:main", "Main menu"),)))
    assert len(parts) > 1 and all(len(part) <= MAX_TEXT for part, _ in parts)
    assert all(keyboard is None for _, keyboard in parts[:-1]) and parts[-1][1] is not None


def test_content_and_user_words_are_escaped(telegram: TelegramChannel) -> None:
    [(text, _)] = telegram.render(Reply("**Hi** <script>alert('x')</script> & co"))
    assert text == "<b>Hi</b> &lt;script&gt;alert('x')&lt;/script&gt; &amp; co"


def test_choice_ids_too_long_for_a_button_are_left_out() -> None:
    keyboard = TelegramChannel.keyboard((Choice("faq:" + "x" * 70, "Too long"), Choice("menu:main", "Menu")))
    assert keyboard is not None
    assert [row[0].callback_data for row in keyboard.inline_keyboard] == ["menu:main"]


async def test_polling_survives_dropped_connections(telegram: TelegramChannel, telegram_api: FakeBotApi) -> None:
    telegram_api.fail("getUpdates", "drop", times=2)
    telegram_api.push(private_message("what is true vision"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert "True Vision" in reply.params["text"]


async def test_an_unexpected_failure_gets_a_kind_apology(
    telegram: TelegramChannel, telegram_api: FakeBotApi, db: Database
) -> None:
    await db.close()  # the database is gone: handling the update fails outside the engine
    telegram_api.push(private_message("hello"))
    reply = await telegram_api.called("sendMessage", to(111))
    assert reply.params["text"].startswith("Sorry, something went wrong on our side")
    telegram_api.push(private_message("hello again", user_id=222))  # and the bot keeps going
    await telegram_api.called("sendMessage", to(222))
