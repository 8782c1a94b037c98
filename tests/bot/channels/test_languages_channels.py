"""A whole conversation in Bengali and in Arabic on each channel (the console, Telegram and
WhatsApp, against their fake APIs): choosing the language, asking, danger, reporting step by step,
booking a session, and an alert arriving in the language. The deployment shows drafts
(TRANSLATION_MIN_STATUS=draft), so every text comes from content/translations/."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts import AlertStore, Composer, Sender
from bot.alerts_flow import AlertsFlow
from bot.app import telegram_options, whatsapp_options
from bot.channels.console import ConsoleSender, format_reply
from bot.channels.telegram import TelegramChannel
from bot.content import Content
from bot.dialog import Engine, Place
from bot.languages import LANGUAGES, LRI, PDI, RLM
from bot.messages import Incoming, Reply
from bot.render import Style, render
from bot.store import Database
from bot.training import Training
from tests.bot.channels.conftest import (
    NUMBER,
    ConsoleDriver,
    Said,
    TelegramDriver,
    WhatsApp,
    WhatsAppDriver,
    _whatsapp,
    plain,
    telegram_settings,
)
from tests.bot.channels.test_alert_delivery import dispatcher_for, run_until_done
from tests.conftest import SESSION, FakeClock
from tests.fakes.telegram_api import FakeBotApi, private_message
from tests.fakes.twilio_api import FakeTwilioApi


def as_shown(markdown: str) -> str:
    """A text of the bot's as a channel shows it, for comparing."""
    return plain(render(markdown, Style.PLAIN))


# --- a deployment that shows drafts --------------------------------------------------------------
@pytest.fixture
def drafts(content: Content) -> Content:
    return content.with_min_status("draft")


@pytest.fixture
def shown(drafts: Content) -> Content:
    """Every fixture here (the engine, its flows, the channels) shows the drafts."""
    return drafts


# --- one driver per channel, keeping the ids of the options offered -----------------------------
class Chooses:
    """Picks an option by its id (the number it has there; on Telegram, its button)."""

    async def choose(self, said: Said, choice_id: str) -> Said:
        return await self.pick(said, said.ids.index(choice_id) + 1)  # type: ignore[attr-defined]


class Console(Chooses, ConsoleDriver):
    user = "amina"


class Telegram(Chooses, TelegramDriver):
    user = "111"


class WhatsAppPerson(Chooses, WhatsAppDriver):
    """WhatsApp, with the ids of the options offered (from where the person is, as stored)."""

    user = NUMBER

    def __init__(self, whatsapp: WhatsApp, db: Database) -> None:
        super().__init__(whatsapp)
        self.db = db

    async def say(self, text: str) -> Said:
        said = await super().say(text)
        record = await self.db.load_dialog("whatsapp", NUMBER)
        said.ids = [c.id for c in Place.saved(record.state, record.data).offered] if record else []
        return said


Person = Console | Telegram | WhatsAppPerson


@pytest.fixture(params=["console", "telegram", "whatsapp"])
async def person(
    request: pytest.FixtureRequest, tmp_path: Path, engine: Engine, db: Database, clock: FakeClock
) -> AsyncIterator[Person]:
    if request.param == "console":
        yield Console(engine)
    elif request.param == "telegram":
        with FakeBotApi() as api:
            channel = TelegramChannel(telegram_options(telegram_settings(tmp_path, api)), engine, db)
            await channel.start()
            yield Telegram(api)
            await channel.stop()
    else:
        with FakeTwilioApi() as twilio:
            async for whatsapp in _whatsapp(tmp_path, twilio, engine, db, clock):
                yield WhatsAppPerson(whatsapp, db)


def words(drafts: Content, code: str, key: str) -> str:
    """A translated text as shown: its longest line of words between placeholders."""
    value = drafts.translations[code].texts[key].value
    assert isinstance(value, str)
    runs = [as_shown(run).strip() for run in re.split(r"\{[a-z_]+\}|\n", value)]
    return max(runs, key=len)


# --- the conversation ----------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["bn", "ar"])
async def test_a_whole_conversation_in_the_language(
    person: Person, code: str, drafts: Content, training: Training, db: Database
) -> None:
    names = [lang.name for lang in LANGUAGES]
    menu = await person.say("/language")
    assert menu.options == names
    chosen = await person.choose(menu, f"lang:{code}")
    assert chosen.text.startswith(words(drafts, code, "language_chosen"))
    assert all(len(words(drafts, code, key)) >= 10 for key in ("training_ask_name", "training_confirmed"))
    assert words(drafts, code, "translation_draft_note") in chosen.text
    assert chosen.options[0] == words(drafts, code, "menu_help_now")
    assert await db.language_of(person.name, person.user) == code

    # A question in English still gets its answer in the language chosen.
    answer = await person.say("how do I report a hate crime to the police?")
    title = drafts.translations[code].faq["report-hate-crime"].value.title
    assert answer.text.startswith(title)

    # Danger: the 999 advice in the language first, then in English.
    danger = await person.say("there is a man with a knife at the gate right now")
    theirs = drafts.translations[code].texts["emergency_lead"].value
    assert danger.text.startswith(as_shown(theirs)[:40])
    assert "If you or anyone else is in danger now, call 999" in danger.text

    # Reporting, step by step, in the language.
    guide = drafts.translations[code].report.value  # type: ignore[union-attr]
    safe = await person.say("/report")
    assert words(drafts, code, "report_start")[:30] in safe.text
    first = await person.choose(safe, "rep-safe:yes")
    assert as_shown(guide.questions[0].text)[:30] in first.text
    assert first.options[0] == guide.questions[0].options[0].label

    # Booking a session, in the language.
    session_id = await training.add(SESSION)
    link = f"/start register-{session_id}" if person.name == "telegram" else f"REGISTER {session_id}"
    details = await person.say(link)
    asked = await person.choose(details, f"trn-reg:{session_id}")
    assert words(drafts, code, "training_ask_name")[:20] in asked.text
    org = await person.say("Amina")
    role = await person.say("Al Manaar")
    roles = drafts.translations[code].texts["roles"].value
    assert role.options[: len(roles)] == list(roles)  # shown in the language
    seats = await person.choose(role, "trn-role:0")
    access = await person.say("1")
    consent = await person.choose(access, "trn-access:none")
    summary = await person.choose(consent, "trn-consent:yes")
    done = await person.choose(summary, "trn-confirm:yes")
    assert words(drafts, code, "training_confirmed")[:15] in done.text
    assert org.text and seats.text  # each step answered in the language
    [booking] = await db.attendees(session_id)
    assert booking.role == drafts.roles[0]  # stored in English, for the coordinators


@pytest.mark.parametrize("code", ["bn", "ar"])
async def test_an_alert_arrives_in_the_language(
    tmp_path: Path,
    code: str,
    drafts: Content,
    db: Database,
    clock: FakeClock,
    engine: Engine,
    alert_store: AlertStore,
    composer: Composer,
    alerts_flow: AlertsFlow,
    telegram_api: FakeBotApi,
    twilio_api: FakeTwilioApi,
) -> None:
    clock.now = datetime.now(UTC)
    for channel, user in (("telegram", "111"), ("whatsapp", NUMBER), ("console", "amina")):
        await alert_store.save_subscriber(channel, user, kind="leader", status="approved", name="N", role="Imam",
                                          place="Masjid", boroughs=("Newham",), now=clock())  # fmt: skip
        await db.set_language(channel, user, code)
    await db.record_inbound("whatsapp", NUMBER, clock())
    telegram = TelegramChannel(telegram_options(telegram_settings(tmp_path, telegram_api)), engine, db)
    await telegram.start()
    try:
        async for whatsapp in _whatsapp(tmp_path, twilio_api, engine, db, clock):
            alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Doors shut",
                                        created_by="cli", channels=("telegram", "whatsapp", "console"))  # fmt: skip
            console = io.StringIO()
            printer = ConsoleSender(drafts.copy, console, None, engine=engine)
            senders: dict[str, Sender] = {"telegram": telegram, "whatsapp": whatsapp.channel, "console": printer}
            await run_until_done(dispatcher_for(alert_store, alerts_flow, senders), alert_store, alert)
            received = words(drafts, code, "alerts_received")
            [sent] = telegram_api.sent(111)
            assert alert.reference in sent["text"] and words(drafts, code, "alerts_kind_urgent") in plain(sent["text"])
            assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == received
            [message] = [m["Body"] for m in whatsapp.api.messages if m.get("To") == f"whatsapp:{NUMBER}"]
            assert f"A. {received}" in plain(message)
            assert (RLM in message) is (code == "ar")  # right to left in Arabic only
            printed = plain(console.getvalue())
            assert alert.reference in printed and f"A. {received}" in printed
    finally:
        await telegram.stop()


async def test_a_reply_in_arabic_reads_right_to_left_on_each_channel(person: Person, db: Database) -> None:
    await db.set_language(person.name, person.user, "ar")
    if isinstance(person, Telegram):
        before = len(person.api.sent(111))
        person.api.push(private_message("how do I call Stop Hate UK?"))
        last = await person.api.called("sendMessage", lambda p: person._index(p) >= before)
        raw = last.params["text"]
    elif isinstance(person, WhatsAppPerson):
        raw = "\n\n".join(await person.whatsapp.say("how do I call Stop Hate UK?"))
    else:
        raw = format_reply(await person.engine.handle(Incoming("console", "amina", "how do I call Stop Hate UK?")),
                           person.engine.copy)  # fmt: skip
    lines = [line for line in raw.split("\n") if line.strip()]
    assert lines and all(line.startswith(RLM) for line in lines), lines[:3]
    assert f"{LRI}0800 138 1625{PDI}" in raw


def test_reply_language_survives_a_queued_notice() -> None:
    from bot.messages import notice_body, notice_reply

    assert notice_reply(notice_body(Reply("نص", language="ar"))).language == "ar"
    assert notice_reply(notice_body(Reply("text"))).language is None


async def test_outside_the_window_whatsapp_uses_the_template_of_their_language(
    tmp_path: Path, twilio_api: FakeTwilioApi, engine: Engine, db: Database, clock: FakeClock
) -> None:
    from bot.channels.whatsapp import WhatsAppChannel
    from tests.bot.channels.conftest import PUBLIC, TEMPLATE
    from tests.conftest import settings_for
    from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER

    bengali = "HX" + "b" * 32
    settings = settings_for(
        tmp_path, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_whatsapp_from=SENDER,
        twilio_api_base_url=twilio_api.base_url, public_base_url=PUBLIC, whatsapp_template_sid=TEMPLATE,
        whatsapp_template_sids=f"bn:{bengali}",
    )  # fmt: skip
    channel = WhatsAppChannel(whatsapp_options(settings), engine, db, clock=clock, backoff=0.01)
    await channel.start()
    try:
        await db.set_language("whatsapp", "+447700900111", "bn")
        await channel.send_proactive("+447700900111", Reply("reminder"))
        await channel.send_proactive("+447700900222", Reply("reminder"))  # chose nothing: English
        await db.set_language("whatsapp", "+447700900333", "ar")  # no Arabic template: English
        await channel.send_proactive("+447700900333", Reply("reminder"))
    finally:
        await channel.stop()
    sids = {m["To"]: m.get("ContentSid") for m in twilio_api.messages}
    assert sids == {"whatsapp:+447700900111": bengali, "whatsapp:+447700900222": TEMPLATE,
                    "whatsapp:+447700900333": TEMPLATE}  # fmt: skip


async def test_telegram_lists_the_commands_in_each_language_shown(
    tmp_path: Path, telegram_api: FakeBotApi, engine: Engine, db: Database, drafts: Content
) -> None:
    channel = TelegramChannel(telegram_options(telegram_settings(tmp_path, telegram_api)), engine, db)
    await channel.start()
    try:
        bengali = await telegram_api.called("setMyCommands", lambda p: p.get("language_code") == "bn")
    finally:
        await channel.stop()
    described = {c["command"]: c["description"] for c in bengali.params["commands"]}
    assert described["language"] == drafts.translations["bn"].texts["command_language"].value
    assert len(described) == 12
