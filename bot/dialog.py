"""The conversation engine: takes an `Incoming`, returns a `Reply`, knows no platform.

Each user's place in the conversation lives in the database, keyed by (channel, user id), so a
restart or a second process carries on where the user was: the state, the choices last offered,
and the data a flow collects across turns (a half-filled registration).

What a message does is looked up in tables, the engine's own and each feature's `Flow`:

    choice prefix   menu:  cat:  faq:  forget:        (a pressed button or picked option)
                    + each flow's (trn: for training...)
    state           a flow's states expecting typed text (a name, a number of seats)
    main menu item  help-now report topics privacy    + each flow's (training)
    deep link       topic-<faq id>                     + each flow's (register-<session>)

A flow can also take typed words before the FAQ does (`Intent`: "I want to report…" starts the
guided report), and keep something only briefly (`Expiry`: a report's answers are dropped after a
pause, and the person told when they come back).

Commands (/start, /help, /menu, /cancel, /privacy, /forget, STOP) work in every state; danger
now is checked before anything typed is read as a form answer or an option. A reply's choices
are remembered so the next message can pick one by number or by its words, and a choice that was
never offered (a stale or forged button) gets "this menu has expired". A message the bot sends
first (an alert, a reminder) letters its choices (A, B…) and never replaces the numbered ones of
the flow the person is in; answering it carries that flow on where it was (`Place`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import languages, metrics
from bot.answers import MAIN_MENU, MAX_MESSAGE_CHARS, Answer, Answerer, Kind, faq_choice
from bot.content import Content, shown_label
from bot.languages import ENGLISH, LANGUAGES
from bot.messages import Choice, Incoming, Reply
from bot.my_data import MyData
from bot.ratelimit import FloodGuard, Verdict
from bot.render import LETTERS, in_language
from bot.store import Database, DialogRecord
from bot.text import clean, gap_text, number, words

logger = logging.getLogger(__name__)
INBOX_KEPT = timedelta(days=2)  # how long an update's key is kept to recognise it posted again

Clock = Callable[[], datetime]
MAX_INPUT_CHARS = 10_000  # a message is cut to this before anything reads it
EMERGENCY_REPEAT = 60.0  # seconds: the 999 advice to someone over the message limit, at most this often
DIALOG_IDLE_LIMIT = timedelta(days=30)  # default: conversations idle longer are deleted
GAPS_LIMIT = timedelta(days=90)  # default: unanswered questions older than this are deleted
TIMEZONE = ZoneInfo("Europe/London")  # default: where times shown to people are local (settings TIMEZONE)


IDLE = "idle"
CONFIRM_FORGET = "confirm_forget"
EXPIRED = "expired:"  # + an Expiry's prefix: what they wrote was deleted; tell them once


@dataclass(frozen=True, slots=True)
class Turn:
    """One message being handled: who sent it, when, and what the flow collected so far."""

    incoming: Incoming
    now: datetime
    coordinator: bool
    form: Mapping[str, Any]
    busy: bool = False  # in the middle of a flow (a form half filled), not at a menu


@dataclass(frozen=True, slots=True)
class Place:
    """Where someone is, as saved between messages: the state, the options their last reply
    offered (typed numbers pick them), what that reply said (to carry on after an interruption),
    and the lettered options of messages the bot sent first (typed letters pick the latest's)."""

    state: str = IDLE
    offered: tuple[Choice, ...] = ()
    prompt: str = ""
    typed: bool = False
    lettered: tuple[Choice, ...] = ()
    letters: int = 0  # how many of `lettered` the latest message from the bot showed

    @classmethod
    def saved(cls, state: str, data: Mapping[str, Any]) -> Place:
        def options(key: str) -> tuple[Choice, ...]:
            return tuple(Choice(str(i), str(label)) for i, label in data.get(key) or [])

        lettered = options("lettered")
        letters = min(int(data.get("letters") or 0), len(lettered))
        return cls(state, options("choices"), str(data.get("prompt") or ""), bool(data.get("typed")), lettered, letters)

    def data(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """What is saved (JSON)."""
        return {
            "choices": [[c.id, c.label] for c in self.offered],
            "form": dict(form),
            "prompt": self.prompt,
            "typed": self.typed,
            "lettered": [[c.id, c.label] for c in self.lettered],
            "letters": self.letters,
        }


@dataclass(frozen=True, slots=True)
class Step:
    """What a handler decides: the reply, the state to be in next, and the flow's data."""

    reply: Reply
    state: str = IDLE
    form: Mapping[str, Any] = field(default_factory=dict)
    save: bool = True  # False: keep nothing (after /forget, or the deleted data would come back)


Handler = Callable[[Turn, str], Awaitable[Step]]  # (turn, the choice's value or the text typed)


def coordinators_only(db: Database, refuse: Callable[[], Reply]) -> Callable[..., Handler]:
    """A wrapper for a flow's coordinator actions: each is checked when it arrives, whatever
    button, deep link or typed text asked for it (the sender's role is read from the database on
    every message). Refusals are written to the audit log, and so is each action that changes
    something (who, what, when), unless its handler audits it with what it did (`audited=False`;
    screens on the way, which change nothing, too).

        coordinator = coordinators_only(db, lambda: Reply("Only coordinators can do that."))
        choices = {"trn-admin-cancel-yes": coordinator(self._on_admin_cancel_yes),
                   "trn-admin": coordinator(self._on_admin, audited=False)}  # a screen
        texts = {"trn_new": coordinator(self._on_new_text, typed=True)}  # typed text isn't logged
    """

    def wrap(handler: Handler, *, typed: bool = False, audited: bool = True) -> Handler:
        action = handler.__name__.removeprefix("_").removeprefix("on_")

        async def checked(turn: Turn, value: str) -> Step:
            who = f"{turn.incoming.channel}:{turn.incoming.user_id}"
            if not turn.coordinator:
                await db.audit(who, "refused", {"tried": action}, turn.now)
                return Step(refuse())
            if audited:
                await db.audit(who, action, {} if typed else {"value": value[:64]}, turn.now)
            return await handler(turn, value)

        checked.__name__ = handler.__name__
        return checked

    return wrap


@dataclass(frozen=True, slots=True)
class Intent:
    """Typed words that start a flow instead of getting an FAQ answer ("I want to report…").

    The message must match `pattern` (lowercased, without punctuation) and be about one of
    `topics` (FAQ ids: the confident answer, or the first "did you mean"), so "I want to report
    a suspicious bag" still gets its own answer. Answers of those entries offer `offer` first."""

    pattern: re.Pattern[str] | None
    topics: frozenset[str]
    offer: Choice
    start: Handler


@dataclass(frozen=True, slots=True)
class Expiry:
    """States holding what should not outlive a short pause (someone's account of an attack):
    dropped `after` this long without a message; whoever comes back later is told `notice`."""

    prefix: str
    after: timedelta
    notice: str


@dataclass(frozen=True, slots=True)
class Flow:
    """A feature's part of the conversation (see the module docstring for the four tables)."""

    choices: Mapping[str, Handler] = field(default_factory=dict)
    texts: Mapping[str, Handler] = field(default_factory=dict)
    menu: Mapping[str, Handler] = field(default_factory=dict)
    links: Mapping[str, Handler] = field(default_factory=dict)
    commands: Mapping[str, Handler] = field(default_factory=dict)  # "/subscribe" → handler(turn, payload)
    # Choice prefixes a handler checks for itself (a button on a message the bot sent first, such
    # as an alert's "Received"): accepted without having been offered in the person's last menu.
    open_choices: frozenset[str] = frozenset()
    # Coordinators' typed states whose text is a message for others (an alert about danger nearby),
    # not their own emergency: the danger check doesn't read it when a coordinator types it.
    untriaged: frozenset[str] = frozenset()
    # Typed states whose handler reads danger itself (the report write-up: it keeps the answer).
    triaged: frozenset[str] = frozenset()
    # Of those, states where a keyword alone (STOP, menu) is still a command, not the answer.
    keywords_too: frozenset[str] = frozenset()
    # Typed states asking for a number ("How many seats?"): a typed number is the answer, never
    # the option of that number ("4. Main menu"); the options still work by button or by words.
    numeric: frozenset[str] = frozenset()
    # Before /forget deletes a person's data: undo what it holds for others (free booked seats).
    forget: Callable[[str, str], Awaitable[None]] | None = None
    intents: tuple[Intent, ...] = ()
    expiry: Expiry | None = None
    privacy: str = ""  # what the feature keeps: lines for the /privacy text (copy `privacy`)


COMMANDS = (
    "start", "help", "menu", "report", "alerts", "subscribe", "unsubscribe", "cancel", "privacy", "mydata", "forget",
    "language",
)  # fmt: skip
_LINK_WORD = re.compile(r"^\s*([a-z]+)\s+(\S+)\s*$", re.IGNORECASE)  # "REGISTER 12" on WhatsApp
# A message that is just one of these words acts like the command (as on SMS and WhatsApp);
# a greeting (content/lexicon.yaml) acts like /start.
KEYWORDS = {
    "help": "help",
    "menu": "menu",
    "cancel": "cancel",
    "start": "start",
    "privacy": "privacy",
    "report": "report",
    "stop": "stop",
    "unsubscribe": "unsubscribe",  # alerts: stop them and delete the sign-up
}
_COMMAND = re.compile(r"^/([a-z]+)(?:@\w+)?(?:\s+(\S.*))?$", re.IGNORECASE | re.DOTALL)
_KEYWORD = re.compile(r"^\W*([a-z]+)\W*$", re.IGNORECASE)
# What looks like an alert's reference (A- and four letters or digits): a fake one is checked too
_ALERT_REFERENCE = re.compile(r"\bA-[A-Z0-9]{4}\b", re.IGNORECASE)
REFERENCE_QUESTION_WORDS = 10  # a message this short that names a reference asks whether it is real
_LETTER = re.compile(r"\(?([a-z])[.)]?", re.IGNORECASE)  # "A", "b", "(A)", "a." picks a lettered option
# A typed number no menu has: 0, 99, -1, 1.5, +13 (up to two digits: 999 and 112 are read as words)
_MENU_NUMBER = re.compile(r"[+-]?\d{1,2}(?:[.,]\d+)?")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _first_word(label: str) -> str:
    return label.split(maxsplit=1)[0].strip(",.:;!?").casefold() if label.strip() else ""


class Engine:
    """Runs every conversation."""

    def __init__(
        self,
        content: Content,
        db: Database,
        *,
        answerer: Answerer | None = None,
        idle_limit: timedelta = DIALOG_IDLE_LIMIT,
        gaps_limit: timedelta = GAPS_LIMIT,
        clock: Clock = _utcnow,
        record_gaps: bool = True,
        flows: Iterable[Flow] = (),
        flood: FloodGuard | None = None,
        tz: ZoneInfo = TIMEZONE,
    ) -> None:
        self.content = content
        self.copy = content.copy
        self.db = db
        self.answerer = answerer or Answerer(content)
        self.idle_limit = idle_limit
        self.gaps_limit = gaps_limit
        self.clock = clock
        self.record_gaps = record_gaps
        self.flood = flood  # per-person message limit, None for no limit
        self.my_data = MyData(self.copy, tz, idle_limit, lambda: [c.id for c in self.answerer.main_menu_choices()])
        self._warned: dict[tuple[str, str], float] = {}  # throttled people given the 999 advice, when
        self._locks: dict[tuple[str, str], list[Any]] = {}
        own = Flow(
            choices={"menu": self._on_menu, "cat": self._on_category, "faq": self._on_faq, "forget": self._on_forget,
                     "stop": self._on_stop_choice, "lang": self._on_language},
            menu={"main": self._menu_main, "none": self._menu_none, "help-now": self._menu_help_now,
                  "report": self._menu_report, "topics": self._menu_topics, "privacy": self._menu_privacy,
                  "mydata": self._my_data, "forget": self._ask_forget, "language": self._language_menu},
            links={"topic": self._link_topic},
            commands={"report": self._menu_report, "mydata": self._my_data, "language": self._language_menu},
        )  # fmt: skip
        self._choices: dict[str, Handler] = {}
        self._texts: dict[str, Handler] = {}
        self._menu: dict[str, Handler] = {}
        self._links: dict[str, Handler] = {}
        self._commands: dict[str, Handler] = {}
        self._open: set[str] = set()
        self._untriaged: set[str] = set()
        self._triaged: set[str] = set()
        self._keywords_too: set[str] = set()
        self._numeric: set[str] = set()
        self._before_forget: list[Callable[[str, str], Awaitable[None]]] = []
        self._intents: list[Intent] = []
        self._expiries: list[Expiry] = []
        self._privacy_lines: list[str] = []
        for flow in (own, *flows):  # a feature's flow replaces what it covers ("training")
            self._choices.update(flow.choices)
            self._texts.update(flow.texts)
            self._menu.update(flow.menu)
            self._links.update(flow.links)
            self._commands.update(flow.commands)
            self._open.update(flow.open_choices)
            self._untriaged.update(flow.untriaged)
            self._triaged.update(flow.triaged)
            self._keywords_too.update(flow.keywords_too)
            self._numeric.update(flow.numeric)
            if flow.forget is not None:
                self._before_forget.append(flow.forget)
            self._intents.extend(flow.intents)
            if flow.expiry is not None:
                self._expiries.append(flow.expiry)
            if flow.privacy:
                self._privacy_lines.append(flow.privacy.strip())

    async def is_coordinator(self, incoming: Incoming) -> bool:
        """Whether the sender is a coordinator now (looked up on every message: coordinators
        added or removed from the command line count at once)."""
        return await self.db.is_coordinator(incoming.channel, incoming.user_id)

    async def handle(self, incoming: Incoming) -> Reply:
        """Answer one message. Never raises for bad input; a failure gets a kind apology. Counted
        for /metrics, with the time the reply took."""
        since = metrics.received(incoming.channel)
        try:
            return await self._answer(incoming)
        finally:
            metrics.replied(incoming.channel, since)

    async def _answer(self, incoming: Incoming) -> Reply:
        key = (incoming.channel, incoming.user_id)
        if incoming.text is not None and len(incoming.text) > MAX_INPUT_CHARS:  # bounds the work
            incoming = dataclasses.replace(incoming, text=incoming.text[:MAX_INPUT_CHARS])
        if self.flood is not None:
            verdict = self.flood.check(key)
            if verdict is not Verdict.ANSWER:
                return await self._throttled(incoming, verdict)
        # One message at a time per user, so two quick replies can't both act on the same menu.
        slot = self._locks.setdefault(key, [asyncio.Lock(), 0])
        slot[1] += 1
        try:
            async with slot[0]:
                code = await self.db.language_of(incoming.channel, incoming.user_id)
                with self.content.speaking(code) as voice:
                    return self.in_language(await self._handle(incoming), voice)
        except Exception:
            logger.exception("failed to handle a %s message", incoming.channel)
            return Reply(self.copy["error"], (Choice(MAIN_MENU, self.copy["main_menu"]),))
        finally:
            slot[1] -= 1
            if slot[1] == 0:
                del self._locks[key]

    async def _throttled(self, incoming: Incoming, verdict: Verdict) -> Reply:
        """Someone over the message limit: one notice, then nothing; but danger now still gets
        the 999 advice (at most once a minute, so a flood of "knife" can't turn it into spam)."""
        text = clean(incoming.text or "")
        if incoming.choice is None and text and self.answerer.triage.assess(text).emergency:
            key, now = (incoming.channel, incoming.user_id), self.clock().timestamp()
            if now - self._warned.get(key, -EMERGENCY_REPEAT) >= EMERGENCY_REPEAT:
                if len(self._warned) > 10_000:
                    self._warned.clear()
                self._warned[key] = now
                with self.content.speaking(await self.db.language_of(*key)) as voice:  # in their language too
                    return self.in_language(Reply(self.answerer.danger_lead(), emergency=True), voice)
        if verdict is Verdict.NOTICE:
            logger.info("a %s user is over the message limit; told once, then ignored", incoming.channel)
            return Reply(self.copy["slow_down"])
        return Reply("", silent=True)

    async def _handle(self, incoming: Incoming) -> Reply:
        record = await self.db.load_dialog(incoming.channel, incoming.user_id)
        place, form = Place(), dict[str, Any]()
        notice = None
        now = self.clock()
        expiry = self._expiry_of(record.state) if record is not None else None
        if record is not None and now - record.updated_at <= self.idle_limit:
            if expiry is not None and (record.state.startswith(EXPIRED) or now - record.updated_at > expiry.after):
                notice = expiry.notice  # what they were writing is gone: say so, then carry on
                kept = Place.saved(IDLE, record.data)
                place = Place(lettered=kept.lettered, letters=kept.letters)  # an alert's answers still work
            else:
                place = Place.saved(record.state, record.data)
                form = record.data.get("form") or {}
        turn = Turn(incoming, now, await self.is_coordinator(incoming), form, busy=place.state != IDLE)
        step = await self._dispatch(turn, place)
        if step.save:
            await self._save(incoming, step, place)
        if expiry is not None and not step.state.startswith(expiry.prefix):
            await self.db.scrub()  # what they wrote, now deleted, leaves the disk too
        if notice is None:
            return step.reply
        reply = step.reply  # 999 advice stays first
        text = f"{reply.text}\n\n{notice}" if reply.emergency else f"{notice}\n\n{reply.text}"
        return dataclasses.replace(reply, text=text)

    def _expiry_of(self, state: str) -> Expiry | None:
        state = state.removeprefix(EXPIRED)
        return next((e for e in self._expiries if state.startswith(e.prefix)), None)

    async def _save(self, incoming: Incoming, step: Step, before: Place) -> None:
        reply = step.reply
        place = Place(
            step.state,
            reply.choices,
            reply.text if step.state != IDLE else "",  # in a flow: to carry on after an alert's answer
            reply.typed,
            before.lettered,
            before.letters,
        )
        await self.db.save_dialog(incoming.channel, incoming.user_id, step.state, place.data(step.form), self.clock())

    async def remember_choices(self, channel: str, user_id: str, reply: Reply) -> None:
        """A message the bot sent first offered choices: let the person's next reply pick them,
        by button, by their words, or by letter (A, B…, as it shows them without buttons).

        Where they were (a half-filled form, the menu before) is kept whole: its numbers still
        pick its options, and after answering this message they carry on there."""
        record = self._with_choices(await self.db.load_dialog(channel, user_id), reply)
        await self.db.save_dialog(channel, user_id, record.state, record.data, record.updated_at)

    async def remember_choices_of(self, channel: str, replies: Sequence[tuple[str, Reply]]) -> None:
        """`remember_choices` for many messages at once (a batch of alerts): their people's places
        read in one query and saved in one transaction, each message in turn."""
        records = await self.db.load_dialogs(channel, {user_id for user_id, _ in replies})
        for user_id, reply in replies:  # someone sent two of them: the second keeps the first's choices
            records[user_id] = self._with_choices(records.get(user_id), reply)
        await self.db.save_dialogs(channel, records)

    def _with_choices(self, record: DialogRecord | None, reply: Reply) -> DialogRecord:
        """A person's place with the choices of a message the bot sent first added (lettered)."""
        place, form = Place(), dict[str, Any]()
        when = self.clock()
        if record is not None and self.clock() - record.updated_at <= self.idle_limit:
            place, form = Place.saved(record.state, record.data), record.data.get("form") or {}
            if self._expiry_of(place.state) is not None:
                when = record.updated_at  # a message from the bot doesn't keep someone's report answers longer
        new = tuple(reply.choices)
        kept = tuple(c for c in place.lettered if c.id not in {n.id for n in new})
        place = dataclasses.replace(place, lettered=new + kept, letters=len(new))
        return DialogRecord(place.state, place.data(form), when)

    async def _dispatch(self, turn: Turn, place: Place) -> Step:
        """Route a message to its handler."""
        incoming = turn.incoming
        state, offered = place.state, list(place.offered)
        choice = incoming.choice
        if choice is None and incoming.text is None:  # a photo, sticker or voice note
            return Step(Reply(self.copy["no_text"], self.main_menu().choices), state, turn.form)
        text = clean(incoming.text or "").strip()
        if choice is None and text:
            # Someone writing down what happened types the exact words: "hello there" or "stop" in
            # them are words, not commands (/commands and "cancel" still work).
            # A name typed into a form ("Dil") is a name, not the word for "language".
            words_too = state not in self._triaged or state in self._keywords_too
            command = self._command(text, words_too=words_too, languages_too=state not in self._texts)
            if command == ("stop", "") and state not in (IDLE, CONFIRM_FORGET) and (offered or state in self._texts):
                # In the middle of something, "stop" may mean stop this, not every message
                return Step(self._ask_stop(), state, turn.form)
            if command is not None:
                return await self._on_command(turn, *command)
            # Danger now outranks any menu or form: "fire" must never be read as an answer.
            read_elsewhere = state in self._triaged or (state in self._untriaged and turn.coordinator)
            answering = state in self._texts
            if number(text) is None and not read_elsewhere and self.answerer.triage.assess(text, answering).emergency:
                return await self._on_text(turn, text)
            asked_about = _ALERT_REFERENCE.search(text) if len(words(text)) <= REFERENCE_QUESTION_WORDS else None
            if asked_about is not None and "check" in self._links and state not in self._texts:
                # "is alert A-7K3Q real?" or the bare reference: as CHECK A-7K3Q
                return await self._links["check"](turn, asked_about.group(0))
            if state in self._numeric and number(text.rstrip(".)")) is not None:
                return await self._texts[state](turn, text)
            choice = self._pick(text, offered) or self._pick_lettered(text, place, words_too=not answering)
            if choice is None and answering:
                return await self._texts[state](turn, text)
            if choice is None and offered and _MENU_NUMBER.fullmatch(text.rstrip(".)")):
                # "0", "99", "1.5" at a menu: a slip of the keyboard, not a question to answer
                again = self.copy.format("choose_in_range", count=len(offered), first=1, last=len(offered))
                return Step(Reply(again, tuple(offered)), state, turn.form)
        if choice is not None:
            prefix, _, value = choice.partition(":")
            from_bot = choice not in {c.id for c in offered} and (
                prefix in self._open or choice in {c.id for c in place.lettered}
            )
            if choice not in {c.id for c in offered} and not from_bot:
                return Step(self.main_menu(self.copy["expired_menu"]))
            handler = self._choices.get(prefix)
            if handler is None:
                return Step(self.main_menu(self.copy["expired_menu"]))
            step = await handler(turn, value)
            if from_bot and state != IDLE:
                return self._carry_on(step, place, turn)
            return step
        if not text:  # keep a half-filled form going
            if state in self._texts:
                return Step(Reply(self.copy["empty_message"], tuple(offered)), state, turn.form)
            return Step(Reply(self.copy["empty_message"], self.main_menu().choices))
        return await self._on_text(turn, text)

    def _carry_on(self, step: Step, place: Place, turn: Turn) -> Step:
        """An answer to a message the bot sent (an alert's "Received") given in the middle of a
        flow: the answer, then the flow where it was, so a half-done booking is never lost to it."""
        if step.state != IDLE or not step.save:  # the answer opened something of its own
            return step
        text = f"{step.reply.text}\n\n{self.copy['carry_on']}"
        if place.prompt:
            text += f"\n\n{place.prompt}"
        reply = dataclasses.replace(step.reply, text=text, choices=place.offered, typed=place.typed)
        return Step(reply, place.state, turn.form)

    def _command(self, text: str, *, words_too: bool = True, languages_too: bool = True) -> tuple[str, str] | None:
        """The (command, payload) a message is, if any: "/start topic-x", "help", a greeting
        (`words_too`: also a keyword, a link word or a greeting; else only /commands and cancel)."""
        match = _COMMAND.match(text)
        if match:
            return match.group(1).lower(), (match.group(2) or "").strip()
        word = _KEYWORD.match(text)
        if not words_too:
            return ("cancel", "") if word and word.group(1).lower() == "cancel" else None
        if word and word.group(1).lower() in KEYWORDS:
            keyword = word.group(1).lower()
            # "help" typed alone may be a plea: it is answered like one (999 first), then the help.
            return KEYWORDS[keyword], "typed" if keyword == "help" else ""
        link = _LINK_WORD.match(text)
        if link and link.group(1).lower() in self._links:
            return link.group(1).lower(), link.group(2)
        if languages_too and languages.asks_for_menu(text):  # "language", "ভাষা", "زبان"… alone
            return "language", ""
        if languages_too and (code := languages.named(text)) is not None:  # "বাংলা", "Polski" alone: that one
            return "language", code
        if self.answerer.normaliser.is_thanks(text):  # before greetings: "thanks" is both
            return "thanks", ""
        if self.answerer.normaliser.is_greeting(text):
            return "start", ""
        return None

    @staticmethod
    def _pick(text: str, offered: list[Choice]) -> str | None:
        """The offered choice a typed reply picks: its number, or its words."""
        if not offered:
            return None
        stripped = text.strip().rstrip(".)").strip()
        picked = number(stripped)
        if picked is not None:
            return offered[picked - 1].id if 0 < picked <= len(offered) else None
        return Engine._by_words(stripped, offered)

    @staticmethod
    def _pick_lettered(text: str, place: Place, *, words_too: bool = True) -> str | None:
        """The option of a message the bot sent first that a typed reply picks: its letter (on
        the latest such message), or its words (`words_too`: not while a typed answer is awaited)."""
        letter = _LETTER.fullmatch(text.strip())
        if letter is not None:
            index = LETTERS.index(letter.group(1).upper())
            return place.lettered[index].id if index < place.letters else None
        return Engine._by_words(text.strip().rstrip(".)").strip(), list(place.lettered)) if words_too else None

    @staticmethod
    def _by_words(text: str, options: list[Choice]) -> str | None:
        """The option whose label a typed reply is, or whose first word it is (only one's)."""
        folded = text.casefold()
        for option in options:
            if option.label.casefold() == folded:
                return option.id
        # One word that starts exactly one option ("yes" for "Yes, delete it") picks it too.
        if folded.isalpha():
            starts = [o for o in options if _first_word(o.label) == folded]
            if len(starts) == 1:
                return starts[0].id
        return None

    # --- commands -----------------------------------------------------------------------------
    async def _on_command(self, turn: Turn, command: str, payload: str = "") -> Step:
        incoming = turn.incoming
        if command == "start" and payload:
            # A deep link (t.me/bot?start=topic-report-hate-crime): anyone can type one, so each
            # kind's handler checks it as it would a button.
            kind, _, value = payload.partition("-")
            if kind in self._links:
                return await self._links[kind](turn, value)
            if payload in self._menu:  # t.me/bot?start=report opens that part of the menu
                return await self._menu[payload](turn, payload)
        if command in self._links and payload:  # "REGISTER 12" where there are no deep links
            return await self._links[command](turn, payload)
        if command in self._commands:
            return await self._commands[command](turn, payload)
        if command == "stop":  # no messages from the bot first, until START
            await self.db.set_opted_out(incoming.channel, incoming.user_id, self.clock())
            return Step(self.main_menu(self.copy["opted_out"]))
        if command == "start":
            intro = self.copy["welcome"]
            if (await self.db.contact(incoming.channel, incoming.user_id)).opted_out_at is not None:
                await self.db.set_opted_out(incoming.channel, incoming.user_id, None)
                intro = f"{self.copy['opted_in']}\n\n{intro}"
            if turn.coordinator:
                intro += "\n\n" + self.copy["coordinator_hello"]
            step = Step(self.main_menu(intro))
            voice = languages.current()
            if voice is not None and not voice.chosen:
                # At first contact: the languages, each in its own name, then the choice of one
                # (Telegram's language_code offers that language first, with one tap).
                others = " · ".join(lang.name for lang in LANGUAGES if lang.code != ENGLISH)
                reply = step.reply
                reply = dataclasses.replace(reply, text=f"{reply.text}\n\n🌐 {others}: /language")
                hinted = languages.supported(incoming.language_hint) or languages.detect(incoming.text or "")
                if hinted is not None and hinted != ENGLISH:
                    reply = self._offer_language(reply, hinted, first=True)
                step = Step(reply)
            return step
        if command == "help":
            if payload == "typed":
                return Step(self.answerer.emergency_reply(self.content.faq["bot-help"]))
            return Step(self.answerer.entry_reply(self.content.faq["bot-help"]))
        if command == "menu":
            return Step(self.main_menu())
        if command == "thanks":  # a short answer to a short thank-you, not the whole welcome
            return Step(Reply(self.copy["thanks_reply"], (self.main_menu_choice(),)))
        if command == "cancel":
            return Step(self.main_menu(self.copy["cancelled"]))
        if command == "privacy":
            return Step(self._privacy(incoming))
        if command == "forget":
            return await self._ask_forget(turn, "")
        return Step(self.main_menu(self.copy["unknown_command"]))

    # --- languages ----------------------------------------------------------------------------
    async def _language_menu(self, turn: Turn, value: str = "") -> Step:
        """The languages, each in its own name and script; "/language bn" or "বাংলা" picks one."""
        if value:
            return await self._on_language(turn, value)
        text = self.copy["language_prompt"]
        english = self.copy.english("language_prompt")
        if text != english:
            text += "\n\n" + english
        return Step(Reply(text, tuple(Choice(f"lang:{lang.code}", lang.name) for lang in LANGUAGES)))

    async def _on_language(self, turn: Turn, code: str) -> Step:
        """Someone chose a language: remember it, and carry on in it."""
        incoming = turn.incoming
        code = languages.supported(code) or ""
        if not code:
            return await self._language_menu(turn)
        await self.db.set_language(incoming.channel, incoming.user_id, code)
        logger.info("a %s user chose a language: %s", incoming.channel, code)
        with self.content.speaking(code) as voice:
            return Step(self.in_language(self.main_menu(self.copy["language_chosen"]), voice))

    def _offer_language(self, reply: Reply, code: str, *, first: bool = False) -> Reply:
        """Offer a language with one tap, in that language (never switching to it unasked): after
        the reply (`first`: before it, at first contact). A reply leading with the 999 advice
        also gives that advice in the language, right under the English."""
        name = languages.language(code).name
        with self.content.speaking(code):
            offer = self.copy.always("language_offer")
            lead = self.copy.always("emergency_lead")
        choice = Choice(f"lang:{code}", name)
        text = reply.text
        english = self.copy.english("emergency_lead")
        if reply.emergency and text.startswith(english) and lead != english:
            text = f"{english}\n\n{lead}{text[len(english) :]}"
        text = f"🌐 {offer}\n\n{text}" if first else f"{text}\n\n🌐 {offer}"
        return dataclasses.replace(reply, text=text, choices=(choice, *reply.choices))

    def in_language(self, reply: Reply, voice: languages.Voice) -> Reply:
        return in_language(reply, voice, self.copy)

    async def _ask_forget(self, _turn: Turn, _value: str) -> Step:
        reply = Reply(
            self.copy["forget_confirm"],
            (Choice("forget:yes", self.copy["forget_yes"]), Choice("forget:no", self.copy["forget_no"])),
        )
        return Step(reply, CONFIRM_FORGET)

    async def _my_data(self, turn: Turn, _value: str) -> Step:
        """Show the sender everything stored about them, section by section in plain words, with
        the same data as a file (JSON) where the channel can send one; in their own chat only."""
        incoming = turn.incoming
        if not incoming.private:
            return Step(Reply(self.copy["mydata_private"], (self.main_menu_choice(),)))
        data = await self.db.data_of(incoming.channel, incoming.user_id)
        text = self.my_data.text(data, incoming.channel, incoming.user_id)
        document = self.my_data.document(data, incoming.channel, incoming.user_id, turn.now) if data else None
        choices = (Choice("menu:forget", self.copy["menu_forget"]), self.main_menu_choice())
        return Step(Reply(text, choices, document=document))

    def _privacy(self, incoming: Incoming) -> Reply:
        features = "\n".join(self._privacy_lines)
        text = self.copy.format("privacy", channel=incoming.channel, days=self.idle_limit.days, features=features)
        entry = self.content.faq.get("data-privacy")
        choices = (
            Choice("menu:mydata", self.copy["menu_mydata"]),
            Choice("menu:forget", self.copy["menu_forget"]),
            *((faq_choice(entry),) if entry else ()),
        )
        return Reply(text, (*choices, Choice(MAIN_MENU, self.copy["main_menu"])))

    # --- flows --------------------------------------------------------------------------------
    def _ask_stop(self) -> Reply:
        choices = (Choice("stop:this", self.copy["stop_this"]), Choice("stop:all", self.copy["stop_all"]))
        return Reply(self.copy["stop_which"], choices)

    async def _on_stop_choice(self, turn: Turn, value: str) -> Step:
        if value == "all":
            return await self._on_command(turn, "stop")
        return Step(self.main_menu(self.copy["cancelled"]))

    def main_menu(self, intro: str | None = None) -> Reply:
        """The main menu, after an optional line of introduction."""
        text = self.copy["main_menu_prompt"] if intro is None else intro
        return Reply(text, self.answerer.main_menu_choices())

    async def _on_menu(self, turn: Turn, item: str) -> Step:
        handler = self._menu.get(item)
        return await handler(turn, item) if handler else Step(self.main_menu(self.copy["expired_menu"]))

    async def _menu_main(self, _turn: Turn, _item: str) -> Step:
        return Step(self.main_menu())

    async def _menu_none(self, _turn: Turn, _item: str) -> Step:
        return Step(self.main_menu(self.copy["fallback"]))

    async def _menu_help_now(self, _turn: Turn, _item: str) -> Step:
        return Step(self.answerer.emergency_reply(self.content.faq.get("emergency-999")))

    async def _menu_report(self, _turn: Turn, _item: str) -> Step:
        return Step(self.answerer.entry_reply(self.content.faq["report-hate-crime"]))

    async def _menu_topics(self, _turn: Turn, _item: str) -> Step:
        choices = (*(Choice(f"cat:{c.id}", shown_label(c)) for c in self.content.categories), self.main_menu_choice())
        return Step(Reply(self.copy["topics_prompt"], choices))

    async def _menu_privacy(self, turn: Turn, _item: str) -> Step:
        return Step(self._privacy(turn.incoming))

    def main_menu_choice(self) -> Choice:
        """The option that goes back to the main menu."""
        return Choice(MAIN_MENU, self.copy["main_menu"])

    async def _link_topic(self, _turn: Turn, entry_id: str) -> Step:
        if entry_id in self.content.faq:
            return Step(self._offering(self.answerer.entry_reply(self.content.faq[entry_id])))
        return Step(self.main_menu(self.copy["welcome"]))

    async def _on_category(self, _turn: Turn, category_id: str) -> Step:
        for category in self.content.categories:
            if category.id == category_id:
                entries = [self.content.faq[i] for i in category.entries if i in self.content.faq]
                choices = (
                    *(faq_choice(e) for e in entries),
                    Choice("menu:topics", self.copy["back"]),
                    self.main_menu_choice(),
                )
                return Step(Reply(self.copy.format("category_prompt", label=shown_label(category)), choices))
        return Step(self.main_menu(self.copy["expired_menu"]))

    async def _on_faq(self, _turn: Turn, entry_id: str) -> Step:
        entry = self.content.faq.get(entry_id)
        if entry is None:
            return Step(self.main_menu(self.copy["expired_menu"]))
        return Step(self._offering(self.answerer.entry_reply(entry)))

    async def _on_forget(self, turn: Turn, answer: str) -> Step:
        incoming = turn.incoming
        if answer == "yes":
            for undo in self._before_forget:
                await undo(incoming.channel, incoming.user_id)
            await self.db.forget_user(incoming.channel, incoming.user_id)
            await self.db.scrub()
            logger.info("deleted a %s user's data on request", incoming.channel)
            return Step(self.main_menu(self.copy["forgotten"]), save=False)  # what they can do now
        return Step(self.main_menu(self.copy["forget_kept"]))

    async def _on_text(self, turn: Turn, text: str) -> Step:
        answer = self.answerer.answer(text)
        intent = self._intent(answer, text)
        if intent is not None:  # "I want to report…": the flow, not the page about it
            step = await intent.start(turn, "")
            named = answer.entry.id if answer.kind is Kind.ANSWER and answer.entry else None
            reply = dataclasses.replace(step.reply, answer=named, suggestions=tuple(e.id for e in answer.suggestions))
            return dataclasses.replace(step, reply=reply)
        if self.record_gaps and answer.kind in (Kind.SUGGEST, Kind.FALLBACK, Kind.DECLINED):
            await self.db.record_unanswered(
                gap_text(text), answer.kind.value, [e.id for e in answer.suggestions], self.clock()
            )
        reply = self._offering(self.answerer.reply(answer))
        voice = languages.current()
        detected = languages.detect(text) if voice is not None and not voice.chosen else None
        if detected is not None and detected != ENGLISH:
            reply = self._offer_language(reply, detected)
        return Step(reply)

    def _intent(self, answer: Answer, text: str) -> Intent | None:
        """The flow a typed message asks to start, if any."""
        if answer.kind is Kind.ANSWER and answer.entry is not None:
            topic = answer.entry.id
        elif answer.kind is Kind.SUGGEST and answer.suggestions:
            topic = answer.suggestions[0].id
        else:
            return None
        wanted = [i for i in self._intents if i.pattern is not None and topic in i.topics]
        if not wanted:
            return None
        plain = " ".join(self.answerer.normaliser.corrected_words(text[:MAX_MESSAGE_CHARS]))
        return next((i for i in wanted if i.pattern is not None and i.pattern.search(plain)), None)

    def _offering(self, reply: Reply) -> Reply:
        """An answer about something a flow does, with the way into the flow first."""
        if reply.answer is None or reply.emergency:
            return reply
        offers = [i.offer for i in self._intents if reply.answer in i.topics]
        if not offers:
            return reply
        return dataclasses.replace(reply, choices=(*offers, *(c for c in reply.choices if c not in offers)))

    async def purge_drafts(self) -> int:
        """Delete what flows keep only briefly (Expiry), once it is past its time; return how many."""
        now = self.clock()
        deleted = 0
        for expiry in self._expiries:
            deleted += await self.db.expire_dialogs(now - expiry.after, expiry.prefix, EXPIRED + expiry.prefix)
        if deleted:
            await self.db.scrub()
        return deleted

    async def purge_expired(self) -> None:
        """Delete conversations idle longer than the limit, and unanswered questions past theirs."""
        now = self.clock()
        await self.purge_drafts()
        dialogs = await self.db.purge_dialogs(now - self.idle_limit)
        await self.db.purge_notifications(now - self.idle_limit)  # sent ones: their text names people
        await self.db.purge_outgoing(now - self.idle_limit)  # what became of each message sent
        await self.db.purge_inbox(now - INBOX_KEPT)
        gaps = await self.db.purge_unanswered(now - self.gaps_limit)
        if dialogs or gaps:
            await self.db.scrub()
        logger.info("retention: deleted %d idle conversations, %d old unanswered questions", dialogs, gaps)
