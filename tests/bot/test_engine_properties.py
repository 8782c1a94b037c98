"""Properties of the dialog engine over random conversations between several people.

Each example builds a fresh bot (an in-memory database, the training, alerts and report flows as
in tests/conftest.py, three training sessions, "coord" on the console a coordinator) and plays a
random list of steps. A step is one person (of four, on the console, Telegram and WhatsApp) doing
one thing after the clock has moved on by a random amount (so report answers expire, sessions
start, idle conversations are forgotten): typing a phrase, arbitrary Unicode, nothing or a very
long text; picking one of the options the bot last gave them (a button on Telegram, its number
elsewhere); pressing a forged or stale button; typing their own marker; sending a photo; or a
scripted walk through a feature (booking a seat, the guided report, a faith leader's sign-up, a
coordinator's alert…) whose picks follow whatever the bot actually offers.

The properties: no message ends in the apology for an exception; every reply can be sent on every
channel; and nobody ever reads another person's words. The bugs these found are at the end,
as regression tests (numbers int() refuses or past 64 bits, HTML entities cut by a split, an alert's
length counted with its escapes).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts import AlertStore, Composer
from bot.alerts_flow import AlertsFlow
from bot.answers import Answerer
from bot.app import report_flow
from bot.channels import telegram, whatsapp
from bot.channels.console import format_reply
from bot.content import Content
from bot.dialog import Engine
from bot.messages import Incoming, Reply
from bot.render import Style, render
from bot.store import Database
from bot.training import Training
from bot.training_flow import TrainingFlow
from tests.conftest import ALERT_CHANNELS, COORDINATORS, REPORT_EXPIRY, FakeClock

# --- the people ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    channel: str
    user_id: str
    marker: str  # words only this person ever types (as a name, a report answer, an alert's text)


PEOPLE = (
    Person("console", "coord", "Mx7q0"),  # the coordinator (tests/conftest.py COORDINATORS)
    Person("console", "424242", "Mx7q1"),
    Person("telegram", "424242", "Mx7q2"),  # the same id on another channel is another person
    Person("whatsapp", "+447700900123", "Mx7q3"),
)
COORDINATOR = 0
assert (PEOPLE[COORDINATOR].channel, PEOPLE[COORDINATOR].user_id) in COORDINATORS

SESSIONS = (  # ids 1, 2 and 3; the clock starts on Thu 26 Nov 2026, 09:00 UTC
    {"title": "Keeping our mosque safe", "venue": "Al Manaar", "address": "244 Acklam Road, London W10 5YG",
     "borough": "Kensington and Chelsea", "starts": "2026-12-05T10:00", "ends": "2026-12-05T13:00", "capacity": 2},
    {"title": "Stewarding & first aid", "venue": "St Anne's", "address": "1 Church Lane, London E1 1AA",
     "borough": "Tower Hamlets", "starts": "2026-11-27T18:00", "ends": "2026-11-27T20:00", "capacity": 1},
    {"title": "Lockdown drills", "venue": "Shul hall", "address": "5 Brent Street, London NW4 2EU",
     "borough": "Barnet", "starts": "2027-03-01T18:00", "ends": "2027-03-01T21:00", "capacity": 3},
)  # fmt: skip
NEW_SESSION = (
    "title: Night patrols\nvenue: Gurdwara hall\naddress: 2 High Street, London UB1 1AA\nborough: Ealing\n"
    "starts: 2026-12-10T18:00\nends: 2026-12-10T20:00\ncapacity: 1"
)

# --- what people do --------------------------------------------------------------------------------

COMMANDS = [
    "/start", "/menu", "/report", "/alerts", "/subscribe", "/unsubscribe", "/cancel", "/privacy", "/mydata", "/forget",
    "/help", "/help@safetybot", "/nonsense", "/start topic-report-hate-crime", "/start topic-nope", "/start report",
    "/start register-1", "/start register-2", "/start register-x", "/start training",
]  # fmt: skip
PHRASES = [
    *COMMANDS,
    *(str(n) for n in range(10)),
    "10", "1.", "2)", "-1", "menu", "help", "Main menu", "Training sessions", "Alerts", "Privacy", "Get help now",
    "Report a hate crime or incident", "Safety guidance by topic", "yes", "no", "skip", "Yes", "STOP", "START",
    "stop", "unsubscribe", "CHECK A-XXXX", "CHECK A-7K3Q", "check a-", "REGISTER 1", "REGISTER 3", "register x",
    "a man with a knife is at the gate", "there is a fire in the prayer hall", "someone is following me home",
    "he is still outside", "someone sprayed grafitti on the masjid wall last night",
    "how do I report what happened after Friday prayers?", "I want to report a hate crime", "is this alert real",
    "how do I stop getting alerts", "what are you able to help me with", "salam", "hi", "thanks",
    "Hackney", "all", "tower hamlets, newham and hackney", "kensington and chelsea", "Narnia", "2026-12-01 10:00",
    "yesterday", "capacity: 0", "capacity: 5000", "title: \nvenue: x", NEW_SESSION,
    "**bold** _it_ [x](javascript:alert(1)) <b>&amp; `code` \\", "# heading", "---", "> quote", "1. list",
    "\u200b", " ", "\n\n", "\t", "١٢", "²",
]  # fmt: skip
PIECES = ["x", "word ", "knife ", "& ", "<b> ", "*", "_", "\\", "\n", "é "]
LONG = st.one_of(
    st.builds(lambda piece, count: piece * count, st.sampled_from(PIECES), st.integers(1000, 12_000)),
    # Unbroken runs of the characters Telegram's HTML escapes: split between entities, not inside one.
    st.builds(lambda piece, count: piece * count, st.sampled_from(["&", "<", ">"]), st.integers(500, 3000)),
)
texts = st.one_of(st.sampled_from(PHRASES), st.sampled_from(PHRASES), st.text(max_size=80), st.just(""), LONG)

PREFIXES = [
    "menu", "cat", "faq", "forget", "trn", "trn-reg", "trn-role", "trn-seats", "trn-access", "trn-consent",
    "trn-confirm", "trn-myreg", "trn-cancel", "trn-cancel-yes", "trn-accept", "trn-decline", "trn-admin",
    "trn-admin-new", "trn-admin-edit", "trn-admin-cancel", "trn-admin-cancel-yes", "trn-checkin", "trn-uncheckin",
    "alr", "alr-role", "alr-all", "alr-ok", "alr-review", "alr-approve", "alr-reject", "alr-kind", "alr-aud",
    "alr-areas", "alr-tpl", "alr-send", "alr-later", "alr-status", "alr-ack", "alr-help", "rep", "rep-safe",
    "rep-ans", "rep-write", "rep-skip", "rep-end", "nope",
]  # fmt: skip
VALUE_WORDS = ["", "x", "yes", "no", "all", "main", "list", "my", "manage", "go", "new", "kind=online", "safe=yes",
               "what", "training", "privacy", "mydata", "nonexistent", "1.5", " 1"]  # fmt: skip
VALUES = st.one_of(st.integers(-1, 6).map(str), st.sampled_from(VALUE_WORDS), st.text(max_size=8))
FORGED = st.one_of(
    st.builds(lambda prefix, value: f"{prefix}:{value}", st.sampled_from(PREFIXES), VALUES),
    st.sampled_from(["trn-admin:1", "alr-send:x", "rep-ans:kind=online", "faq:nonexistent", "menu:", ":", ""]),
    st.text(max_size=70),
)
MARKED = ["{m}", "{m} Trust", "Imam {m}", "{m} Masjid", "{m} shouted at us by the gate", "wheelchair access for {m}"]

# A scripted walk: ("say", text with {m} (the person's marker) and {t} (a random text), at most so many
# characters) or ("pick", one of the offered choices whose id matches, chosen by the walk's seed).
Directive = tuple[Any, ...]
MACROS: dict[str, list[Directive]] = {
    "book": [("say", "/menu"), ("pick", r"menu:training$"), ("pick", r"trn:\d+$"), ("pick", r"trn-reg:"),
             ("say", "{m}"), ("say", "{m} Trust"), ("pick", r"trn-role:"), ("pick", r"trn-seats:"),
             ("say", "wheelchair access for {m}"), ("pick", r"trn-consent:yes"), ("pick", r"trn-confirm:yes")],
    "book-typed": [("say", "REGISTER 2"), ("pick", r"trn-reg:"), ("say", "{t}"), ("say", "{m} {t}", 80),
                   ("say", "{t}"), ("say", "{t}")],
    "bookings": [("say", "/menu"), ("pick", r"menu:training$"), ("pick", r"trn:my$"), ("pick", r"trn-myreg:"),
                 ("pick", r"trn-(cancel|accept|decline):"), ("pick", r"trn-cancel-yes:")],
    "report": [("say", "/report"), ("pick", r"rep-safe:"), ("pick", r"rep-safe:yes"), *[("pick", r"rep-ans:")] * 6,
               ("pick", r"rep-write:yes")],  # left in the write-up: what follows answers it
    "report-notes": [("say", "{m} shouted at us by the gate"), ("say", "{t}", 3000), ("pick", r"rep-skip:"),
                     ("say", "{m}")],
    "report-full": [("say", "/report"), ("pick", r"rep-safe:yes"), *[("pick", r"rep-ans:")] * 6,
                    ("pick", r"rep-write:yes"), ("say", "last Friday"), ("say", "{m} Road"), ("say", "{t}", 3000),
                    ("pick", r"rep-skip:"), ("say", "{m} and two others"), ("pick", r"rep-end:")],
    "leader": [("say", "/alerts"), ("pick", r"alr:leader$"), ("say", "{m}"), ("pick", r"alr-role:"),
               ("say", "{m} Masjid"), ("say", "Hackney, Newham"), ("pick", r"alr-ok:")],
    "community": [("say", "/subscribe"), ("pick", r"alr:community$"), ("pick", r"alr-all:all"), ("pick", r"alr-ok:")],
    "areas": [("say", "/alerts"), ("pick", r"alr:change$"), ("say", "{t}")],
    "approve": [("say", "/alerts"), ("pick", r"alr:pending$"), ("pick", r"alr-review:"),
                ("pick", r"alr-(approve|reject):")],
    "alert": [("say", "/alerts"), ("pick", r"alr:compose$"), ("pick", r"alr-kind:"), ("pick", r"alr-aud:"),
              ("pick", r"alr-areas:all"), ("say", "Please stay alert {m} {t}", 1200), ("pick", r"alr-(send|later):"),
              ("say", "2026-12-01 10:00"), ("pick", r"alr-send:go")],
    "recent": [("say", "/alerts"), ("pick", r"alr:recent$"), ("pick", r"alr-status:")],
    "manage": [("say", "/menu"), ("pick", r"menu:training$"), ("pick", r"trn:manage$"), ("pick", r"trn-admin:\d"),
               ("pick", r"trn-(checkin|admin-edit|admin-cancel):"), ("say", "capacity: 3"),
               ("pick", r"trn-admin-cancel-yes:")],
    "new-session": [("say", "/menu"), ("pick", r"menu:training$"), ("pick", r"trn:manage$"),
                    ("pick", r"trn-admin-new:"), ("say", NEW_SESSION)],
    "forget": [("say", "/forget"), ("pick", r"forget:")],
    "mydata": [("say", "/mydata")],
}  # fmt: skip
FREE = st.one_of(st.sampled_from(PHRASES), st.text(max_size=40), LONG.map(lambda text: text[:3000]))

# Mostly no wait; sometimes long enough for a report's answers to expire, a session to start, or a whole
# conversation to be forgotten as idle.
WAITS = st.sampled_from([timedelta(0)] * 6 + [timedelta(seconds=20), timedelta(minutes=10), timedelta(minutes=61),
                         timedelta(hours=5), timedelta(days=1), timedelta(days=31)])  # fmt: skip
COORDINATOR_MACROS = ["alert", "approve", "manage", "new-session", "recent", "book", "report-full", "mydata"]
EVERYONE_MACROS = ["book", "book-typed", "bookings", "report", "report-notes", "report-full", "leader", "community",
                   "areas", "forget", "mydata"]  # fmt: skip
# For the isolation property: walks that keep someone's words, and walks that show someone what is kept.
PRIVATE_MACROS = ["book", "book-typed", "leader", "report", "report-notes", "report-full", "areas",
                  *["mydata", "bookings"] * 3]  # fmt: skip


def actions(who: int, walks: int, everyone: list[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    """What one person does: `walks` times in `walks` + 7 a walk through the features they use (the
    coordinator's own, or `everyone`'s), now and then any walk (a coordinator's, by someone who is not one)."""
    usual = COORDINATOR_MACROS if who == COORDINATOR else everyone
    kinds: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
        "text": texts.map(lambda text: ("text", text)),
        "offered": st.integers(0, 12).map(lambda index: ("offered", index)),
        "choice": FORGED.map(lambda choice: ("choice", choice)),
        "mark": st.sampled_from(MARKED).map(lambda template: ("mark", template)),
        "walk": st.tuples(st.just("macro"), st.sampled_from(usual), st.integers(0, 999), FREE),
        "any walk": st.tuples(st.just("macro"), st.sampled_from(sorted(MACROS)), st.integers(0, 999), FREE),
        "photo": st.just(("photo",)),
    }
    # one_of would favour its first few strategies; an evenly sampled kind keeps the weights as written
    weights = ["text", "text", "offered", "offered", "choice", "mark", "any walk", "photo", *["walk"] * walks]
    return st.sampled_from(weights).flatmap(kinds.__getitem__)


@dataclass(frozen=True)
class Step:
    who: int  # index into PEOPLE
    action: tuple[Any, ...]
    wait: timedelta  # how far the clock moves first


def conversations(walks: int = 3, everyone: list[str] = EVERYONE_MACROS) -> st.SearchStrategy[list[Step]]:
    return st.lists(
        st.integers(0, len(PEOPLE) - 1).flatmap(
            lambda who: st.builds(Step, who=st.just(who), action=actions(who, walks, everyone), wait=WAITS)
        ),
        min_size=5,
        max_size=30,
    )


# --- playing a conversation ----------------------------------------------------------------------------

Check = Callable[[Engine, int, Incoming, Reply], None]


async def build_engine(content: Content, answerer: Answerer, db: Database, clock: FakeClock) -> Engine:
    """The engine as the `engine` fixture builds it, on the given database."""
    tz = ZoneInfo("Europe/London")
    training = Training(db, content.copy, tz, clock=clock, offer_for=timedelta(hours=24))
    store = AlertStore(db)
    composer = Composer(store, tz, clock, content.boroughs, rng=random.Random(7))
    alerts_flow = AlertsFlow(store, composer, db, content.copy, templates=content.alert_templates,
                             channels=lambda: ALERT_CHANNELS, clock=clock)  # fmt: skip
    flows = (
        TrainingFlow(training, content.copy, retention=timedelta(days=30)).flow(),
        alerts_flow.flow(),
        report_flow(content, answerer, REPORT_EXPIRY).flow(),
    )
    await db.bootstrap_coordinators(COORDINATORS, clock())
    for fields in SESSIONS:
        await training.add(fields)
    return Engine(content, db, answerer=answerer, clock=clock, flows=flows)


class Conversation:
    """Plays steps against one engine, remembering what each person was last offered."""

    def __init__(self, engine: Engine, clock: FakeClock, check: Check) -> None:
        self.engine = engine
        self.clock = clock
        self.check = check
        self.last: dict[int, Reply] = {}

    async def send(self, who: int, *, text: str | None = None, choice: str | None = None) -> None:
        person = PEOPLE[who]
        incoming = Incoming(person.channel, person.user_id, text, choice, received_at=self.clock())
        reply = await self.engine.handle(incoming)
        self.check(self.engine, who, incoming, reply)
        if not reply.silent:
            self.last[who] = reply

    async def pick(self, who: int, index: int) -> None:
        """Option `index` (wrapping) of the last reply: its button on Telegram, its number elsewhere."""
        offered = self.last[who].choices if who in self.last else ()
        if not offered:
            await self.send(who, text=str(index + 1))
        elif PEOPLE[who].channel == "telegram":
            await self.send(who, choice=offered[index % len(offered)].id)
        else:
            await self.send(who, text=str(index % len(offered) + 1))

    async def play(self, step: Step) -> None:
        self.clock.advance(seconds=step.wait.total_seconds())
        kind, *args = step.action
        marker = PEOPLE[step.who].marker
        if kind == "text":
            await self.send(step.who, text=args[0])
        elif kind == "mark":
            await self.send(step.who, text=args[0].replace("{m}", marker))
        elif kind == "offered":
            await self.pick(step.who, args[0])
        elif kind == "choice":
            await self.send(step.who, choice=args[0])
        elif kind == "photo":
            await self.send(step.who)
        elif kind == "pick":
            await self.pick_matching(step.who, args[0])
        else:
            name, seed, free = args
            rng = random.Random(seed)
            for directive in MACROS[name]:
                if directive[0] == "say":
                    text = directive[1].replace("{m}", marker).replace("{t}", free)
                    await self.send(step.who, text=text[: directive[2]] if len(directive) > 2 else text)
                else:  # if nothing matches, the walk has gone elsewhere: carry on from there
                    await self.pick_matching(step.who, directive[1], rng)

    async def pick_matching(self, who: int, pattern: str, rng: random.Random | None = None) -> None:
        """One of the offered options whose id matches (the first, or one `rng` picks); nothing if none does."""
        offered = self.last[who].choices if who in self.last else ()
        matching = [i for i, c in enumerate(offered) if re.match(pattern, c.id)]
        if matching:
            await self.pick(who, rng.choice(matching) if rng else matching[0])


def converse(content: Content, answerer: Answerer, steps: list[Step], check: Check) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        db = await Database.open(":memory:")
        try:
            conversation = Conversation(await build_engine(content, answerer, db, clock), clock, check)
            for step in steps:
                await conversation.play(step)
        finally:
            await db.close()

    asyncio.run(scenario())


# --- the properties ----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def no_exception(engine: Engine, _who: int, incoming: Incoming, reply: Reply) -> None:
    assert reply.text != engine.copy["error"], f"an exception answering {incoming!r}"


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@PROPERTY
@given(steps=conversations())
def test_no_message_ends_in_an_exception(
    content: Content, answerer: Answerer, caplog: pytest.LogCaptureFixture, steps: list[Step]
) -> None:
    caplog.clear()  # one fixture for every example
    converse(content, answerer, steps, no_exception)
    assert not failures(caplog)


TELEGRAM_TAGS = {"b", "i", "a"}  # what bot/render.py writes; Telegram accepts a few more


class TelegramHtml(HTMLParser):
    """Whether a text is HTML Telegram accepts: known tags, properly nested and closed, and every
    <, > and & in the text written as an entity."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS or (tag == "a") != bool(attrs) or any(name != "href" for name, _ in attrs):
            self.problems.append(f"tag <{tag} {attrs}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"</{tag}> closes nothing open")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"<{tag}/>")

    def handle_data(self, data: str) -> None:
        if any(c in data for c in "<>&"):
            self.problems.append(f"unescaped text {data[:40]!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.problems.append(f"&{name};")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declaration")


def html_problems(text: str) -> list[str]:
    parser = TelegramHtml()
    parser.feed(text)
    parser.close()
    return parser.problems + [f"<{tag}> never closed" for tag in parser.open]


_TELEGRAM = SimpleNamespace(keyboard=telegram.TelegramChannel.keyboard)  # all TelegramChannel.render uses


def renders_everywhere(engine: Engine, _who: int, _incoming: Incoming, reply: Reply) -> None:
    if reply.silent:
        return  # nothing is sent
    for style in Style:
        assert render(reply.text, style).strip(), f"nothing to show in {style}: {reply.text!r}"
    for choice in reply.choices:
        assert len(choice.id.encode()) <= telegram.MAX_CALLBACK_DATA, choice
        assert choice.label.strip(), choice
    messages = telegram.TelegramChannel.render(_TELEGRAM, reply)  # type: ignore[arg-type]
    for number, (text, keyboard) in enumerate(messages):
        assert 0 < len(text.strip()) and len(text) <= telegram.MAX_TEXT, (number, len(text))
        assert not html_problems(text), (number, html_problems(text), text[:200], text[-200:])
        if number == len(messages) - 1:
            assert len(keyboard.inline_keyboard if keyboard else ()) == len(reply.choices)  # no button left out
    stand_in = SimpleNamespace(copy=engine.copy, public_base_url="https://bot.example.org")
    for text in whatsapp.WhatsAppChannel.render(stand_in, reply):  # type: ignore[arg-type]
        assert 0 < len(text.strip()) and len(text) <= whatsapp.MAX_TEXT, len(text)
    assert format_reply(reply, engine.copy).strip()


@PROPERTY
@given(steps=conversations())
def test_every_reply_can_be_sent_on_every_channel(content: Content, answerer: Answerer, steps: list[Step]) -> None:
    converse(content, answerer, steps, renders_everywhere)


def nobody_reads_another(engine: Engine, who: int, _incoming: Incoming, reply: Reply) -> None:
    # The coordinator is left out as a reader: coordinators rightly see other people's words (the
    # leaders waiting for approval and their requests, who is booked on a session with the
    # check-in buttons naming them). They are still a writer: their bookings, report answers and
    # alert texts must reach nobody else through the chat (an alert goes out through the
    # dispatcher, never as a reply to a message, and CHECK shows only its reference and kind).
    if who == COORDINATOR:
        return
    shown = [reply.text, *(f"{c.id} {c.label}" for c in reply.choices)]
    if reply.document is not None:
        shown.append(reply.document.content.decode("utf-8", "replace"))
    seen = "\n".join(shown).casefold()
    for other, person in enumerate(PEOPLE):
        if other != who:
            assert person.marker.casefold() not in seen, f"{PEOPLE[who]} was shown {person.marker}"


@PROPERTY
@given(steps=conversations(walks=12, everyone=PRIVATE_MACROS))
def test_nobody_sees_another_persons_words(content: Content, answerer: Answerer, steps: list[Step]) -> None:
    converse(content, answerer, steps, nobody_reads_another)


# --- bugs these properties found, fixed: each case failed a check above ---------------------------------

NOW = timedelta(0)


def say(who: int, text: str) -> Step:
    return Step(who, ("text", text), NOW)


def press(who: int, choice: str) -> Step:
    return Step(who, ("choice", choice), NOW)


def pick(who: int, pattern: str) -> Step:
    return Step(who, ("pick", pattern), NOW)


def walk(who: int, macro: str, free: str = "", seed: int = 0) -> Step:
    return Step(who, ("macro", macro, seed, free), NOW)


def _number_cases(bad: str) -> list[Any]:
    """Where a number from someone reaches int() or the database (person 0 is the coordinator)."""
    return [
        pytest.param([say(3, f"REGISTER {bad}")], id="register-word"),  # TrainingFlow._session
        pytest.param([say(2, f"/start register-{bad}")], id="deep-link"),
        pytest.param([press(2, f"alr-ack:{bad}")], id="alert-received-button"),  # AlertsFlow._delivery
        pytest.param([press(2, f"alr-help:{bad}")], id="alert-need-help-button"),
        pytest.param([press(0, f"alr-review:{bad}")], id="leader-review-button"),  # AlertsFlow._on_review
        pytest.param([press(0, f"alr-status:{bad}")], id="alert-status-button"),  # AlertsFlow._on_status
    ]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([say(1, "/menu"), say(1, "፩")], id="typed-option"),  # Engine._pick
        *_number_cases("፩"),
        pytest.param([press(2, "alr-ack:²")], id="alert-received-button-superscript"),
    ],
)
def test_digits_int_refuses_get_an_answer(content: Content, answerer: Answerer, steps: list[Step]) -> None:
    converse(content, answerer, steps, no_exception)


@pytest.mark.parametrize("steps", _number_cases("99999999999999999999"))
def test_huge_ids_get_an_answer(content: Content, answerer: Answerer, steps: list[Step]) -> None:
    converse(content, answerer, steps, no_exception)


def report_notes(what: str) -> list[Step]:
    """The guided report on WhatsApp, up to the write-up's third answer: what was said or done."""
    return [walk(3, "report"), say(3, "Friday evening"), say(3, "Acklam Road"), say(3, what)]


@pytest.mark.parametrize(
    "steps",
    [
        # Where the cut falls depends on what comes before the run: these cut inside an entity.
        pytest.param([*report_notes("&" * 1000), pick(3, "rep-end:")], id="report-summary"),
        pytest.param([*report_notes("<" * 1100), say(3, "/mydata")], id="mydata-during-report"),
        pytest.param([walk(0, "alert", "&" * 1000)], id="alert-preview"),
    ],
)
def test_a_long_unbroken_run_is_split_between_html_entities(
    content: Content, answerer: Answerer, steps: list[Step]
) -> None:
    converse(content, answerer, steps, renders_everywhere)


def test_an_alert_the_preview_accepted_is_sent(content: Content, answerer: Answerer) -> None:
    text = "Please stay alert near the mosque after evening prayers - tell the stewards about anything odd. " * 13
    replies: list[Reply] = []

    def keep(engine: Engine, who: int, incoming: Incoming, reply: Reply) -> None:
        no_exception(engine, who, incoming, reply)
        if who == COORDINATOR:
            replies.append(reply)

    compose = [say(0, "/alerts"), pick(0, r"alr:compose$"), pick(0, "alr-kind:vigilance"),
               pick(0, "alr-aud:community"), pick(0, "alr-areas:all")]  # fmt: skip
    steps = [walk(1, "community"), *compose, say(0, text[:1190]), pick(0, "alr-send:go")]
    converse(content, answerer, steps, keep)
    preview, sent = replies[-2:]
    assert "alr-send:go" in [c.id for c in preview.choices]  # 1,190 characters: accepted
    assert any(c.id.startswith("alr-status:") for c in sent.choices), sent.text  # and sent
