"""/mydata on each platform: on Telegram in words and as a JSON document (sendDocument), on
WhatsApp in words with no file behind a link."""

from __future__ import annotations

import html
import re

from alerts import AlertStore, Composer
from bot.channels.telegram import TelegramChannel
from bot.dialog import Engine
from bot.training import Training
from tests.bot.channels.conftest import WhatsApp, plain
from tests.bot.test_my_data import assert_plain_words, assert_the_file_matches, live
from tests.fakes.telegram_api import FakeBotApi, private_message


async def test_on_telegram_mydata_is_sent_in_words_and_as_a_json_document(
    telegram: TelegramChannel,
    telegram_api: FakeBotApi,
    engine: Engine,
    training: Training,
    alert_store: AlertStore,
    composer: Composer,
) -> None:
    registration, reference = await live(engine, training, alert_store, composer, "telegram", "111")
    telegram_api.push(private_message("/mydata"))
    document = await telegram_api.called("sendDocument")
    assert document.params["chat_id"] == 111 and document.params["document_filename"] == "my-data.json"
    assert document.params["caption"].startswith("Everything stored about you, as a file")
    assert_the_file_matches(document.params["document"], registration, reference, "111")
    texts = [p["text"] for p in telegram_api.sent(111)]
    assert "<b>Training bookings:</b>" in texts[-1]  # HTML, as Telegram shows it
    assert_plain_words(html.unescape(re.sub(r"<[^>]+>", "", texts[-1])), registration)
    assert telegram_api.sent(111)[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "menu:forget"


async def test_on_whatsapp_mydata_says_when_they_last_wrote_and_puts_no_file_behind_a_link(
    whatsapp: WhatsApp,
) -> None:
    await whatsapp.say("hello")
    messages = await whatsapp.say("/mydata")
    said = plain("\n\n".join(messages))
    assert "Reaching you: you last wrote Thu 26 Nov 2026, 09:00; you have not sent STOP" in said
    assert "Your conversation: you were last at the main menu, Thu 26 Nov 2026, 09:00." in said
    assert "there is no file here: everything is in these messages" in said
    assert "http" not in said and "/calendar/" not in said
    await whatsapp.say("STOP")
    said = plain("\n\n".join(await whatsapp.say("/mydata")))
    assert "you sent STOP Thu 26 Nov 2026, 09:00, so the bot sends you nothing first until you send START" in said
