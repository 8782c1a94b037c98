"""Who may do what: every coordinator action × every role × every channel.

The actions are the choice prefixes, `trn:`/`alr:` values and typed-text states that the training
and alerts flows wrap with `_coordinator` (`coordinators_only` in bot/dialog.py); the guard test
below fails when a new wrapped handler appears that `ACTIONS` does not list.

Non-coordinators (a member, a faith leader still waiting for checks, an approved leader, a removed
coordinator) try each action the ways someone can: a forged button never offered (the engine says
the menu has expired, except for the open choices the flow checks itself), and a button or typed
answer the person *was* offered (dialog state written as if the bot had sent that menu or asked that
question: the flow's own check must refuse it and log "refused"). Nothing they do changes stored
data. A coordinator doing the same gets through, and the audit log names them and the action.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import AlertStore, Composer
from bot.alerts_flow import AlertsFlow
from bot.app import telegram_options
from bot.channels.telegram import TelegramChannel
from bot.content import Content
from bot.dialog import Engine
from bot.messages import Choice, Incoming, Reply
from bot.notify import Notifier
from bot.store import Database
from bot.training import Person, Training
from bot.training_flow import TrainingFlow
from tests.bot.channels.conftest import NUMBER, Said, TelegramDriver, WhatsApp, _whatsapp, telegram_settings
from tests.conftest import ALERT_CHANNELS, SESSION, FakeClock, Outbox, Ran
from tests.fakes.telegram_api import FakeBotApi
from tests.fakes.twilio_api import FakeTwilioApi

NOT_ALLOWED = "Only coordinators can do that."
EXPIRED = "That menu has expired."
CHANNELS = ("console", "telegram", "whatsapp")
USER = {"console": "amina", "telegram": "111", "whatsapp": NUMBER}  # as each channel names the person
OTHERS = ("member", "pending leader", "leader", "removed coordinator")
ROLES = (*OTHERS, "coordinator")
BOT = Path(__file__).resolve().parent.parent / "bot"
IGNORED = frozenset({"dialog_state", "audit_log", "contacts", "inbox"})  # what merely talking to the bot writes

NEW_SESSION = "\n".join(f"{k}: {v}" for k, v in {**SESSION, "title": "Online safety"}.items())
EDITING = {"session": "{session}"}
KIND = {"kind": "urgent"}
AUDIENCE = {**KIND, "audience": "all"}
AREAS = {**AUDIENCE, "areas": ["all"]}
READY = {**AREAS, "text": "Stay inside"}  # a whole alert, ready to send


@dataclass(frozen=True)
class Action:
    """One coordinator action, and where a coordinator is when it arrives."""

    name: str
    handler: str  # the wrapped handler's __name__
    choice: str = ""  # "prefix:value" ({session} {registration} {subscriber} {alert} filled in), or
    text: str = ""  # what is typed in `state`
    state: str = "idle"
    form: Mapping[str, Any] = field(default_factory=dict)
    changes: bool = False  # done by a coordinator, it changes stored data
    # What the audit log gets: "" for the action itself (as `coordinators_only` names it, with
    # the value pressed), None for a screen on the way (nothing), or what its handler records.
    logs: str | None = ""

    @property
    def typed(self) -> bool:
        return not self.choice

    @property
    def key(self) -> str:
        """The flow table entry: a choice prefix or a typed-text state."""
        return self.state if self.typed else self.choice.partition(":")[0]

    @property
    def audited(self) -> str:
        """The action's name in the audit log (as `coordinators_only` derives it)."""
        return self.handler.removeprefix("_").removeprefix("on_")

    def resolve(self, ids: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        form = {k: v.format(**ids) if isinstance(v, str) else v for k, v in self.form.items()}
        return self.choice.format(**ids), form


ACTIONS = [
    # training (bot/training_flow.py)
    Action("manage sessions", "_on_manage", choice="trn:manage", logs=None),
    Action("open a session", "_on_admin", choice="trn-admin:{session}", logs=None),
    Action("add a session", "_on_admin_new", choice="trn-admin-new:new", logs=None),
    Action("edit a session", "_on_admin_edit", choice="trn-admin-edit:{session}", logs=None),
    Action("cancel a session", "_on_admin_cancel", choice="trn-admin-cancel:{session}", logs=None),
    Action("confirm cancelling", "_on_admin_cancel_yes", choice="trn-admin-cancel-yes:{session}", changes=True),
    Action("check someone in", "_on_checkin", choice="trn-checkin:{registration}", changes=True),
    Action("undo a check-in", "_on_uncheckin", choice="trn-uncheckin:{registration}"),  # nobody checked in yet
    Action("type a new session", "_on_new_text", text=NEW_SESSION, state="trn_new", changes=True),
    Action(
        "skip a new session's provider",
        "_on_new_skip",
        choice="trn-new-skip:provider",
        state="trn_new",
        form={"field": "provider", "fields": {}},
        logs=None,
    ),
    Action("type an edit", "_on_edit_text", text="capacity: 10", state="trn_edit", form=EDITING, changes=True),
    # alerts (bot/alerts_flow.py)
    Action("compose an alert", "_compose", choice="alr:compose", logs=None),
    Action("leaders waiting", "_pending", choice="alr:pending", logs=None),
    Action("recent alerts", "_recent", choice="alr:recent", logs=None),
    Action("check a request", "_on_review", choice="alr-review:{subscriber}", logs=None),
    Action("approve a leader", "_on_approve", choice="alr-approve:{subscriber}", changes=True, logs="leader approved"),
    Action("reject a leader", "_on_reject", choice="alr-reject:{subscriber}", logs=None),  # asks why first
    Action(
        "reject without a reason",
        "_on_reject_now",
        choice="alr-reject-now:{subscriber}",
        changes=True,
        logs="leader rejected",
    ),
    Action(
        "type why it is rejected",
        "_on_reject_reason",
        text="We couldn't confirm your role",
        changes=True,
        state="alr_reject_reason",
        form={"subscriber": "{subscriber}"},
        logs="leader rejected",
    ),
    Action("pick a kind", "_on_kind", choice="alr-kind:urgent", state="alr_compose", logs=None),
    Action("pick an audience", "_on_audience", choice="alr-aud:all", state="alr_compose", form=KIND, logs=None),
    Action(
        "all of London",
        "_on_compose_all_areas",
        choice="alr-areas:all",
        state="alr_compose_areas",
        form=AUDIENCE,
        logs=None,
    ),
    Action("use a template", "_on_template", choice="alr-tpl:urgent", state="alr_text", form=AREAS, logs=None),
    Action(
        "send now", "_on_send", choice="alr-send:go", state="alr_preview", form=READY, changes=True, logs="alert sent"
    ),
    Action("send later", "_on_later", choice="alr-later:at", state="alr_preview", form=READY, logs=None),
    Action("see progress", "_on_status", choice="alr-status:{alert}", logs=None),
    Action(
        "type the areas", "_on_compose_areas_text", text="Newham", state="alr_compose_areas", form=AUDIENCE, logs=None
    ),
    Action("type the alert", "_on_text", text="Extra patrols this weekend", state="alr_text", form=AREAS, logs=None),
    Action("type a time", "_on_at_text", text="2026-11-26 18:30", state="alr_at", form=READY, logs=None),
    Action("add a translation", "_on_add_translation", choice="alr-tr:add", state="alr_preview", form=READY, logs=None),
    Action(
        "pick its language",
        "_on_translation_language",
        choice="alr-tr-lang:bn",
        state="alr_preview",
        form=READY,
        logs=None,
    ),
    Action(
        "type the translation",
        "_on_translation_text",
        text="আজ রাতে টহল",
        state="alr_tr_text",
        form={**READY, "translating": "bn"},
        logs=None,
    ),
    Action("withdraw an alert", "_on_withdraw", choice="alr-wd:{alert}", logs=None),  # asks first
    Action(
        "confirm withdrawing", "_on_withdraw_yes", choice="alr-wd-yes:{alert}", changes=True, logs="alert withdrawn"
    ),
    Action("start a correction", "_on_correction", choice="alr-fix:{alert}", logs=None),
    Action("start the all clear", "_on_all_clear", choice="alr-clear:{alert}", logs=None),
    Action(
        "type the follow-up",
        "_on_follow_up_text",
        text="It is Upton Lane, not Green Street",
        state="alr_fu_text",
        form={"alert": "{alert}", "follow_up": "correction"},
        logs=None,
    ),
    Action(
        "send the follow-up",
        "_on_follow_up_send",
        choice="alr-fu-send:go",
        state="alr_fu_preview",
        form={"alert": "{alert}", "follow_up": "correction", "text": "It is Upton Lane"},
        changes=True,
        logs="correction sent",
    ),
    Action("approve an alert", "_on_approve_alert", choice="alr-appr:{waiting}", changes=True, logs="alert approved"),
    Action("refuse an alert", "_on_refuse_alert", choice="alr-refuse:{waiting}", changes=True, logs="alert refused"),
    Action("set it to escalate", "_on_escalate", choice="alr-esc:on", state="alr_preview", form=READY, logs=None),
    Action(
        "take on a call for help",
        "_on_im_on_it",
        choice="alr-onit:{delivery}",
        changes=True,
        logs="took on a call for help",
    ),
]
CHOICES = [a for a in ACTIONS if not a.typed]
NUMBER_ANSWERS = frozenset({"trn_new"})  # the flows' `numeric` states among these
OPEN = frozenset(
    {"alr-review", "alr-status", "alr-appr", "alr-refuse", "alr-onit"}
)  # on messages sent first: accepted unoffered
# Every choice id only coordinators are shown (the "Manage sessions" entry and the alerts home's three).
COORDINATOR_IDS = re.compile(r"^(trn:manage|trn-admin|trn-(un)?checkin|trn-new-skip|alr:(compose|pending|recent)|alr-("
                             r"review|approve|reject|reject-now|kind|aud|areas|tpl|send|later|status|tr|tr-lang|wd|fix|clear|fu-send|appr|refuse|esc|onit"
                             r"))")  # fmt: skip


# --- the world each test starts from ----------------------------------------------------------------------------


@dataclass
class World:
    engine: Engine
    db: Database
    clock: FakeClock
    store: AlertStore
    training: Training
    ids: dict[str, Any]
    composer: Composer


@pytest.fixture
async def world(
    engine: Engine, db: Database, clock: FakeClock, training: Training, alert_store: AlertStore, composer: Composer
) -> World:
    """A session today (so people can be checked in) with someone booked, a leader waiting for
    checks, an approved leader, an alert they received, an alert waiting for a second coordinator."""
    session = await training.add({**SESSION, "starts": "2026-11-26T18:00", "ends": "2026-11-26T20:00"})
    booked, _ = await training.register(session, Person("telegram", "9", "Yusuf Ali", "Masjid", "Chair", 1))
    waiting, _ = await alert_store.save_subscriber(
        "telegram", "101", kind="leader", status="pending", name="Ruth", place="St Mary's", boroughs=["Newham"],
        now=clock(),
    )  # fmt: skip
    await alert_store.save_subscriber(
        "whatsapp", "+447700900001", kind="leader", status="approved", name="Sam", boroughs=["all"], now=clock()
    )
    alert = await composer.send(
        kind="vigilance", audience="leaders", areas=["all"], text="Be alert", created_by="console:coord",
        channels=ALERT_CHANNELS,
    )  # fmt: skip
    [(delivery,)] = await db.query("SELECT id FROM alert_deliveries WHERE alert_id = ?", (alert.id,))
    await alert_store.finish([(int(delivery), "sent", {"sent_at": clock().isoformat()})])  # Sam has it
    await alert_store.acknowledge(int(delivery), "help", clock())  # and asked for help
    composer.approvals = 2  # and one waiting for a second coordinator (ALERT_APPROVALS=2)
    awaiting = await composer.send(kind="urgent", audience="leaders", areas=["all"], text="Doors shut",
                                   created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    composer.approvals = 1
    ids = {"session": session, "registration": booked.id, "subscriber": waiting.id, "alert": alert.id,
           "waiting": awaiting.id, "delivery": int(delivery)}  # fmt: skip
    return World(engine, db, clock, alert_store, training, {**ids, "reference": alert.reference}, composer)


async def send(world: World, channel: str, text: str | None = None, choice: str | None = None) -> Reply:
    return await world.engine.handle(Incoming(channel, USER[channel], text, choice))


async def sign_up_as_leader(world: World, channel: str) -> int:
    """A faith leader's sign-up in the chat; the subscriber id (the request waits for checks)."""
    assert "alr:leader" in ids(await send(world, channel, "/subscribe"))
    await send(world, channel, choice="alr:leader")
    await send(world, channel, "Amina Khan")
    await send(world, channel, choice="alr-role:0")
    await send(world, channel, "Masjid an-Noor")
    await send(world, channel, "Newham")
    assert "A coordinator will check your request" in (await send(world, channel, choice="alr-ok:yes")).text
    me = await world.store.subscriber(channel, USER[channel])
    assert me is not None and me.status == "pending"
    return me.id


async def become(world: World, role: str, channel: str) -> None:
    """Make the person on `channel` have `role`. A pending leader's attempts target their own request."""
    user, now = USER[channel], world.clock()
    if role in ("pending leader", "leader"):
        mine = await sign_up_as_leader(world, channel)
        if role == "leader":
            await world.store.set_status(mine, "approved", now)
        else:
            world.ids["subscriber"] = mine  # approving themselves is the attack that matters
    elif role == "coordinator":
        assert await world.db.set_coordinator(channel, user, True, now)
    elif role == "removed coordinator":
        assert await world.db.set_coordinator(channel, user, True, now)
        world.clock.advance(minutes=5)
        assert await world.db.set_coordinator(channel, user, False, world.clock())
    await send(world, channel, "/cancel")  # wherever the set-up left them, they start from the menu
    assert await world.db.is_coordinator(channel, user) is (role == "coordinator")


def ids(reply: Reply) -> list[str]:
    return [c.id for c in reply.choices]


def coordinator_ids(reply: Reply) -> list[str]:
    return [c for c in ids(reply) if COORDINATOR_IDS.match(c)]


async def stored(db: Database, also: frozenset[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters, without what merely talking to the bot writes."""
    return {t: rows for t, rows in (await db.scan()).items() if t not in IGNORED | also}


async def audit(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    rows = await db.query("SELECT actor, action, details FROM audit_log ORDER BY id")
    return [(actor, action, json.loads(details)) for actor, action, details in rows]


async def offer(world: World, channel: str, action: Action) -> Reply:
    """The action as if the bot had offered it: dialog state written with that menu or question,
    then the button pressed (Telegram) or its number / the answer typed (console, WhatsApp)."""
    choice, form = action.resolve(world.ids)
    offered = [] if action.typed else [[choice, "Go on"]]
    await world.db.save_dialog(channel, USER[channel], action.state, {"choices": offered, "form": form}, world.clock())
    if action.typed:
        return await send(world, channel, action.text)
    if channel == "telegram":
        return await send(world, channel, choice=choice)
    # Where a number is the answer (a new session's capacity), the option is picked by its words
    return await send(world, channel, "Go on" if action.state in NUMBER_ANSWERS else "1")


@pytest.mark.parametrize("channel", CHANNELS)
async def test_whoever_composed_an_alert_cannot_approve_it_themselves(world: World, channel: str) -> None:
    await become(world, "coordinator", channel)
    world.composer.approvals = 2
    own = await world.composer.send(kind="urgent", audience="leaders", areas=["all"], text="Stay inside",
                                    created_by=f"{channel}:{USER[channel]}", channels=ALERT_CHANNELS)  # fmt: skip
    reply = await send(world, channel, choice=f"alr-appr:{own.id}")
    assert "another coordinator must approve it" in reply.text
    assert await world.db.query("SELECT count(*) FROM alert_deliveries WHERE alert_id = ?", (own.id,)) == [(0,)]
    reply = await send(world, channel, choice=f"alr-appr:{world.ids['waiting']}")  # composed by console:coord
    assert "**Approved:** alert" in reply.text
    assert [(who, what) for who, what, _ in await audit(world.db) if what == "alert approved"] == [
        (f"{channel}:{USER[channel]}", "alert approved")
    ]


def refused(reply: Reply) -> bool:
    return reply.text == NOT_ALLOWED and ids(reply) == ["menu:main"]  # and nothing else offered


# --- the matrix ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("role", OTHERS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
async def test_only_coordinators_get_past_a_coordinator_action(
    world: World, action: Action, role: str, channel: str
) -> None:
    await become(world, role, channel)
    before, logged = await stored(world.db), len(await audit(world.db))
    who = f"{channel}:{USER[channel]}"
    expected: list[tuple[str, str, dict[str, Any]]] = []

    if not action.typed:  # a forged button, never offered
        choice, _ = action.resolve(world.ids)
        forged = await send(world, channel, choice=choice)
        if action.key in OPEN:  # the engine lets it through; the flow refuses
            assert refused(forged), forged.text
            expected.append((who, "refused", {"tried": action.audited}))
        else:
            assert forged.text.startswith(EXPIRED) and not coordinator_ids(forged), forged.text
        assert (await audit(world.db))[logged:] == expected

    reply = await offer(world, channel, action)  # offered (a stale menu, a state left over): the flow refuses
    assert refused(reply), reply.text
    expected.append((who, "refused", {"tried": action.audited}))
    assert (await audit(world.db))[logged:] == expected
    assert await stored(world.db) == before
    dialog = await world.db.load_dialog(channel, USER[channel])
    assert dialog is not None and dialog.state == "idle" and dialog.data["form"] == {}  # nothing of it kept


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
async def test_a_coordinator_gets_through_and_is_audited(world: World, action: Action, channel: str) -> None:
    await become(world, "coordinator", channel)
    before, logged = await stored(world.db), len(await audit(world.db))
    reply = await offer(world, channel, action)
    assert not reply.text.startswith((NOT_ALLOWED, EXPIRED)), reply.text
    value = action.resolve(world.ids)[0].partition(":")[2]
    details = {} if action.typed else {"value": value}  # typed text isn't logged
    entries = (await audit(world.db))[logged:]
    who = f"{channel}:{USER[channel]}"
    if action.logs is None:  # a screen on the way: checked, not logged
        assert entries == []
    elif action.logs:  # what it did, once, as its handler records it
        assert [(a, b) for a, b, _ in entries] == [(who, action.logs)]
    else:
        assert entries == [(who, action.audited, details)]
    assert (await stored(world.db) != before) is action.changes  # the refusals above did hold something back


LINKS = (
    "/start training", "/start alerts", "/start manage", "/start compose", "/start pending",
    "/start trn-admin-{session}", "/start trn-admin-cancel-yes-{session}", "/start trn-checkin-{registration}",
    "/start trn-uncheckin-{registration}",
    "/start alr-approve-{subscriber}", "/start alr-send-go", "/start alr-status-{alert}",
    "/start register-{session}", "REGISTER {session}", "/start check-{reference}", "CHECK {reference}",
    "/alerts", "/subscribe", "/menu",
)  # fmt: skip


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("role", OTHERS)
async def test_deep_links_and_link_words_never_reach_a_coordinator_action(
    world: World, role: str, channel: str
) -> None:
    await become(world, role, channel)
    before, logged = await stored(world.db), len(await audit(world.db))
    for link in LINKS:
        reply = await send(world, channel, link.format(**world.ids))
        assert not coordinator_ids(reply), (link, ids(reply))
        assert NOT_ALLOWED not in reply.text, link
    assert (await audit(world.db))[logged:] == []  # no coordinator action was even reached
    assert await stored(world.db) == before


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("role", ROLES)
async def test_manage_sessions_and_alert_tools_are_shown_to_coordinators_only(
    world: World, role: str, channel: str
) -> None:
    await become(world, role, channel)
    coordinator = role == "coordinator"
    hello = await send(world, channel, "/start")
    assert ("You are signed in as a **coordinator**" in hello.text) is coordinator
    await send(world, channel, "/menu")
    for training in (await send(world, channel, choice="menu:training"), await send(world, channel, "/start training")):
        assert (Choice("trn:manage", "Manage sessions") in training.choices) is coordinator
        assert coordinator_ids(training) == (["trn:manage"] if coordinator else [])
    if coordinator:  # the entry leads somewhere: the sessions, with "add"
        manage = await send(world, channel, choice="trn:manage")
        assert ids(manage)[:2] == ["trn-admin-new:new", f"trn-admin:{world.ids['session']}"]
    home = await send(world, channel, "/alerts")
    assert coordinator_ids(home) == (["alr:compose", "alr:pending", "alr:recent"] if coordinator else [])


async def transcript(world: World, channel: str) -> list[tuple[str, list[str]]]:
    """What someone sees trying every coordinator action, deep link and menu in turn."""
    replies = []
    for action in ACTIONS:
        if not action.typed:
            replies.append(await send(world, channel, choice=action.resolve(world.ids)[0]))
        replies.append(await offer(world, channel, action))
    for text in (*LINKS, "/start", "/menu"):
        replies.append(await send(world, channel, text.format(**world.ids)))
    replies.append(await send(world, channel, choice="menu:training"))
    return [(reply.text, ids(reply)) for reply in replies]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_removed_coordinator_sees_exactly_what_a_member_sees(world: World, channel: str) -> None:
    as_member = await transcript(world, channel)
    await become(world, "removed coordinator", channel)
    assert await transcript(world, channel) == as_member


# --- the role changes while the bot runs --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_coordinator_added_or_removed_while_running_counts_at_once(world: World, channel: str) -> None:
    send_now = next(a for a in ACTIONS if a.name == "send now")
    assert refused(await offer(world, channel, send_now))
    assert len(await world.store.alerts()) == 2  # the world's: one received, one waiting for approval

    assert await world.db.set_coordinator(channel, USER[channel], True, world.clock())  # no restart
    sent = await offer(world, channel, send_now)
    assert not sent.text.startswith((NOT_ALLOWED, EXPIRED)), sent.text
    assert len(await world.store.alerts()) == 3

    world.clock.advance(minutes=1)
    assert await world.db.set_coordinator(channel, USER[channel], False, world.clock())
    assert refused(await offer(world, channel, send_now))
    assert len(await world.store.alerts()) == 3
    assert not coordinator_ids(await send(world, channel, "/alerts"))


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_bootstrapped_coordinator_who_is_removed_stays_removed_after_a_restart(
    world: World, channel: str
) -> None:
    person = (channel, USER[channel])
    await world.db.bootstrap_coordinators([person], world.clock())  # COORDINATORS at start-up
    assert "trn:manage" in ids(await send(world, channel, "/start training"))
    await world.db.set_coordinator(*person, False, world.clock())
    await world.db.bootstrap_coordinators([person], world.clock())  # restarted, still listed
    assert "trn:manage" not in ids(await send(world, channel, "/start training"))
    assert refused(await offer(world, channel, ACTIONS[0]))


# --- the real channels ---------------------------------------------------------------------------------------------


@pytest.fixture
async def telegram(tmp_path: Path, world: World) -> AsyncIterator[FakeBotApi]:
    """The real python-telegram-bot client, long polling the fake Bot API."""
    with FakeBotApi() as api:
        channel = TelegramChannel(
            telegram_options(telegram_settings(tmp_path, api)), world.engine, world.db, backoff=0.01
        )
        await channel.start()
        yield api
        await channel.stop()


@pytest.fixture
async def whatsapp(tmp_path: Path, world: World) -> AsyncIterator[WhatsApp]:
    """The WhatsApp channel behind the web app, every request signed as Twilio signs it."""
    with FakeTwilioApi() as twilio:
        async for channel in _whatsapp(tmp_path, twilio, world.engine, world.db, world.clock):
            yield channel


async def press(api: FakeBotApi, choice: str) -> Said:
    """A button press (callback_query) from Telegram user 111 with this data; what the bot answered."""
    return await TelegramDriver(api).pick(Said("", [], [choice]), 1)


async def test_forged_telegram_buttons_from_a_member_are_refused(telegram: FakeBotApi, world: World) -> None:
    before, logged = await stored(world.db), len(await audit(world.db))
    expected = []
    for action in CHOICES:  # callback data a client can send, for menus the member never got
        choice, _ = action.resolve(world.ids)
        said = await press(telegram, choice)
        if action.key in OPEN:
            assert said.text == NOT_ALLOWED and said.ids == ["menu:main"], (choice, said.text)
            expected.append(("telegram:111", "refused", {"tried": action.audited}))
        else:
            assert said.text.startswith(EXPIRED) and not any(COORDINATOR_IDS.match(i) for i in said.ids), choice
    for action in CHOICES:  # and as if each had been offered to them
        choice, form = action.resolve(world.ids)
        await world.db.save_dialog("telegram", "111", action.state, {"choices": [[choice, "Go"]], "form": form},
                                   world.clock())  # fmt: skip
        said = await press(telegram, choice)
        assert said.text == NOT_ALLOWED and said.ids == ["menu:main"], (choice, said.text)
        expected.append(("telegram:111", "refused", {"tried": action.audited}))
    assert (await audit(world.db))[logged:] == expected
    assert await stored(world.db) == before


async def test_a_telegram_member_made_coordinator_while_the_bot_runs_can_press_at_once(
    telegram: FakeBotApi, world: World
) -> None:
    progress = f"alr-status:{world.ids['alert']}"  # the button on a coordinator's progress report
    assert (await press(telegram, progress)).text == NOT_ALLOWED
    await world.db.set_coordinator("telegram", "111", True, world.clock())
    logged = len(await audit(world.db))
    said = await press(telegram, progress)
    assert world.ids["reference"] in said.text and f"alr-status:{world.ids['alert']}" in said.ids
    assert (await audit(world.db))[logged:] == []  # let through: a screen, not refused and not logged
    await world.db.set_coordinator("telegram", "111", False, world.clock())
    assert (await press(telegram, progress)).text == NOT_ALLOWED


COORDINATOR_LABELS = ("Manage sessions", "Send an alert", "Leaders waiting", "Recent alerts", "Send it", "Send later")


async def test_a_whatsapp_member_cannot_type_their_way_to_a_coordinator_action(
    whatsapp: WhatsApp, world: World
) -> None:
    before = await stored(world.db, also=frozenset({"unanswered"}))  # typed questions may be kept as gaps
    logged = len(await audit(world.db))
    words = [
        "1", "2", "3",  # numbers of a coordinator menu they never got
        "Manage sessions", "Send an alert", "Send it", "Leaders waiting for checks", "Recent alerts",
        "/start training", "/alerts", "/start trn-admin-{session}", "/start alr-send-go",
        f"REGISTER {world.ids['session']}", f"CHECK {world.ids['reference']}",
        "MENU", "4", "Training sessions", "Manage sessions", "5",
    ]  # fmt: skip
    for text in words:
        messages = await whatsapp.say(text.format(**world.ids))
        said = "\n".join(messages)
        assert NOT_ALLOWED not in said, text
        assert not any(label in said for label in COORDINATOR_LABELS), (text, said)
    assert (await audit(world.db))[logged:] == []
    assert await stored(world.db, also=frozenset({"unanswered"})) == before


async def test_a_whatsapp_member_left_in_a_coordinator_menu_is_refused(whatsapp: WhatsApp, world: World) -> None:
    before, logged, who = await stored(world.db), len(await audit(world.db)), f"whatsapp:{NUMBER}"
    for action in ACTIONS:
        choice, form = action.resolve(world.ids)
        offered = [] if action.typed else [[choice, "Send it"]]
        await world.db.save_dialog("whatsapp", NUMBER, action.state, {"choices": offered, "form": form}, world.clock())
        by_number = len(action.name) % 2 and action.state not in NUMBER_ANSWERS
        answer = action.text if action.typed else ("1" if by_number else "Send it")  # a number or words
        assert refused_on_whatsapp(await whatsapp.say(answer)), action
    assert (await audit(world.db))[logged:] == [(who, "refused", {"tried": a.audited}) for a in ACTIONS]
    assert await stored(world.db) == before


def refused_on_whatsapp(messages: list[str]) -> bool:
    """The refusal, with only the main menu to go back to."""
    return len(messages) == 1 and messages[0].split("\n\n")[:2] == [NOT_ALLOWED, "1. Main menu"]


def option(messages: list[str], label: str) -> str:
    """The number a WhatsApp user types for the option starting with `label`."""
    found = re.findall(rf"^(\d+)\. {re.escape(label)}", "\n".join(messages), re.MULTILINE)
    assert found, (label, messages)
    return str(found[0])


async def test_a_whatsapp_coordinator_removed_with_the_cli_mid_alert_cannot_send_it(
    whatsapp: WhatsApp, world: World, cli: Callable[[list[str]], Ran], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    number, who = "+447911123456", "whatsapp:+447911123456"
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.db"))  # the running bot's database
    monkeypatch.setenv("COORDINATORS", who)

    async def safetybot(*args: str) -> Ran:
        ran = await asyncio.to_thread(cli, list(args))  # the CLI runs its own event loop
        assert ran.returncode == 0, ran.stderr
        return ran

    listed = json.loads((await safetybot("coordinators", "list", "--json")).stdout)  # bootstraps COORDINATORS
    assert {"channel": "whatsapp", "user_id": number} in [{k: p[k] for k in ("channel", "user_id")} for p in listed]

    async def say(text: str) -> list[str]:
        return await whatsapp.say(text, number=number)

    home = await say("/alerts")
    kinds = await say(option(home, "Send an alert"))
    audiences = await say(option(kinds, "Urgent"))
    await say(option(audiences, "Faith leaders and community members"))
    await say("Newham")
    preview = await say("Extra patrols this weekend")
    assert "Extra patrols this weekend" in "\n".join(preview)

    removed = await safetybot("coordinators", "remove", "whatsapp:07911 123456")  # as people write numbers
    assert f"{who} is no longer a coordinator" in removed.stdout
    assert refused_on_whatsapp(await say(option(preview, "Send it")))
    assert len(await world.store.alerts()) == 2  # only the two from before
    assert (who, "refused", {"tried": "send"}) in await audit(world.db)

    await safetybot("coordinators", "list")  # started again, still listed in COORDINATORS: stays removed
    assert "Send an alert" not in "\n".join(await say("/alerts"))
    await safetybot("coordinators", "add", who)
    assert "Send an alert" in "\n".join(await say("/alerts"))  # counts at once, no restart


# --- the list of actions is complete ------------------------------------------------------------------------------


def wrapped(handler: Callable[..., Any]) -> bool:
    return handler.__qualname__.startswith("coordinators_only.")


def test_every_coordinator_action_in_the_flows_is_in_the_matrix(
    training: Training, alerts_flow: AlertsFlow, content: Content
) -> None:
    flows = [TrainingFlow(training, content.copy, retention=timedelta(days=30)).flow(), alerts_flow.flow()]
    in_tables = {
        (key, handler.__name__)
        for flow in flows
        for table in (flow.choices, flow.texts)
        for key, handler in table.items()
        if wrapped(handler)
    }
    inline = {"trn", "alr"}  # prefixes whose handler wraps some values itself (trn:manage, alr:compose…)
    assert in_tables == {(a.key, a.handler) for a in ACTIONS if a.key not in inline}
    # Handlers wrapped anywhere in the flows' code, also those wrapped on the way (`_on_trn`, `_on_alr`).
    source = inspect.getsource(TrainingFlow) + inspect.getsource(AlertsFlow)
    assert set(re.findall(r"coordinator\(self\.(_\w+)", source)) == {a.handler for a in ACTIONS}
    assert len({a.handler for a in ACTIONS}) == len(ACTIONS)
    # The coordinator buttons the engine accepts unoffered, as this file expects.
    assert {p for f in flows for p in f.open_choices if p in {a.key for a in ACTIONS}} == OPEN
    # No other module wraps handlers for coordinators.
    users = [p.name for p in BOT.rglob("*.py") if "coordinators_only(" in p.read_text(encoding="utf-8")]
    assert sorted(users) == ["alerts_flow.py", "dialog.py", "training_flow.py"]


# --- found by this matrix, fixed: danger from a removed coordinator, notices after removal -----------------


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_removed_coordinator_mid_alert_who_reports_danger_gets_the_999_advice(
    world: World, channel: str
) -> None:
    await become(world, "removed coordinator", channel)
    await world.db.save_dialog(channel, USER[channel], "alr_text", {"choices": [], "form": AREAS}, world.clock())
    reply = await send(world, channel, "a man with a knife is at the gate")
    assert reply.emergency and "999" in reply.text  # as a member typing it anywhere gets


async def test_a_coordinator_removed_before_a_request_notice_goes_out_does_not_get_it(world: World) -> None:
    await world.db.set_coordinator("telegram", "111", True, world.clock())
    await sign_up_as_leader(world, "console")  # queues the request for every coordinator
    world.clock.advance(seconds=1)
    await world.db.set_coordinator("telegram", "111", False, world.clock())
    outboxes = {channel: Outbox() for channel in CHANNELS}
    await Notifier(world.db, world.engine, outboxes, world.clock).send_pending()
    assert [user for user, _ in outboxes["console"].sent] == ["coord"]  # still a coordinator
    assert outboxes["telegram"].sent == []
