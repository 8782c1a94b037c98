"""The conversation engine: takes an `Incoming`, returns a `Reply`, knows no platform.

Each user's place in the conversation lives in the database, keyed by (channel, user id), so a
restart or a second process carries on where the user was. A flow is a state plus the table of
what each kind of choice does in that state:

    State.IDLE            menu:*  cat:*  faq:*         (free text is answered)
    State.CONFIRM_FORGET  forget:yes  forget:no        (anything else cancels the question)

Commands (/start, /help, /menu, /cancel, /privacy, /forget) work in every state. A reply's
choices are remembered so the next message can pick one by number or by its words, and so a
choice that was never offered (a stale or forged button) gets "this menu has expired".
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.answers import MAIN_MENU, Answerer, Kind, faq_choice
from bot.content import Content
from bot.messages import Choice, Incoming, Reply
from bot.store import Database
from bot.text import clean

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DIALOG_IDLE_LIMIT = timedelta(days=30)  # default: conversations idle longer are deleted
GAPS_LIMIT = timedelta(days=90)  # default: unanswered questions older than this are deleted


class State(StrEnum):
    """Where a user is in a conversation."""

    IDLE = "idle"
    CONFIRM_FORGET = "confirm_forget"


COMMANDS = ("start", "help", "menu", "cancel", "privacy", "forget")
# A message that is just one of these words acts like the command (as on SMS and WhatsApp);
# a greeting (content/lexicon.yaml) acts like /start.
KEYWORDS = {
    "help": "help",
    "menu": "menu",
    "cancel": "cancel",
    "start": "start",
    "privacy": "privacy",
    "stop": "stop",
    "unsubscribe": "stop",
}
_COMMAND = re.compile(r"^/([a-z]+)(?:@\w+)?(?:\s+(\S.*))?$", re.IGNORECASE | re.DOTALL)
_KEYWORD = re.compile(r"^\W*([a-z]+)\W*$", re.IGNORECASE)


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
        coordinators: frozenset[tuple[str, str]] = frozenset(),
        idle_limit: timedelta = DIALOG_IDLE_LIMIT,
        gaps_limit: timedelta = GAPS_LIMIT,
        clock: Clock = _utcnow,
        record_gaps: bool = True,
    ) -> None:
        self.content = content
        self.copy = content.copy
        self.db = db
        self.answerer = answerer or Answerer(content)
        self.coordinators = coordinators
        self.idle_limit = idle_limit
        self.gaps_limit = gaps_limit
        self.clock = clock
        self.record_gaps = record_gaps
        self._locks: dict[tuple[str, str], list[Any]] = {}
        Handler = Callable[[Incoming, str, str], Awaitable[Reply]]
        self._flows: dict[State, dict[str, Handler]] = {
            State.IDLE: {"menu": self._on_menu, "cat": self._on_category, "faq": self._on_faq},
            State.CONFIRM_FORGET: {"forget": self._on_forget},
        }

    def is_coordinator(self, incoming: Incoming) -> bool:
        """Whether the sender is a coordinator."""
        return (incoming.channel, incoming.user_id) in self.coordinators

    async def handle(self, incoming: Incoming) -> Reply:
        """Answer one message. Never raises for bad input; a failure gets a kind apology."""
        key = (incoming.channel, incoming.user_id)
        # One message at a time per user, so two quick replies can't both act on the same menu.
        slot = self._locks.setdefault(key, [asyncio.Lock(), 0])
        slot[1] += 1
        try:
            async with slot[0]:
                return await self._handle(incoming)
        except Exception:
            logger.exception("failed to handle a %s message", incoming.channel)
            return Reply(self.copy["error"], (Choice(MAIN_MENU, self.copy["main_menu"]),))
        finally:
            slot[1] -= 1
            if slot[1] == 0:
                del self._locks[key]

    async def _handle(self, incoming: Incoming) -> Reply:
        record = await self.db.load_dialog(incoming.channel, incoming.user_id)
        state = State.IDLE
        offered: list[Choice] = []
        if record is not None and self.clock() - record.updated_at <= self.idle_limit:
            state = State(record.state) if record.state in State.__members__.values() else State.IDLE
            offered = [Choice(str(i), str(label)) for i, label in record.data.get("choices", [])]
        reply, next_state = await self._dispatch(incoming, state, offered)
        if next_state is not None:
            await self._save(incoming, next_state, reply)
        return reply

    async def _save(self, incoming: Incoming, state: State, reply: Reply) -> None:
        data = {"choices": [[c.id, c.label] for c in reply.choices]}
        await self.db.save_dialog(incoming.channel, incoming.user_id, state, data, self.clock())

    async def _dispatch(
        self, incoming: Incoming, state: State, offered: list[Choice]
    ) -> tuple[Reply, State | None]:
        """Route a message; return the reply and the state to save (None: save nothing)."""
        choice = incoming.choice
        if choice is None and incoming.text is None:  # a photo, sticker or voice note
            return Reply(self.copy["no_text"], self.main_menu().choices), State.IDLE
        text = clean(incoming.text or "").strip()
        if choice is None and text:
            command = self._command(text)
            if command is not None:
                return await self._on_command(incoming, *command)
            # Danger now outranks any menu: "fire" must never be read as picking an option.
            if text.isdigit() or not self.answerer.triage.assess(text).emergency:
                choice = self._pick(text, offered)
        if choice is not None:
            if choice not in {c.id for c in offered}:
                menu = self.main_menu(self.copy["expired_menu"])
                return menu, State.IDLE
            prefix, _, value = choice.partition(":")
            handler = self._flows[state].get(prefix)
            if handler is None:  # a choice from another flow: leave this one
                handler = self._flows[State.IDLE].get(prefix)
                state = State.IDLE
            if handler is None:
                return self.main_menu(self.copy["expired_menu"]), State.IDLE
            reply = await handler(incoming, prefix, value)
            # After "forget: yes" nothing is saved, or the deleted data would come straight back.
            return reply, (None if choice == "forget:yes" else State.IDLE)
        if not text:
            return Reply(self.copy["empty_message"], self.main_menu().choices), State.IDLE
        return await self._on_text(incoming, text), State.IDLE

    def _command(self, text: str) -> tuple[str, str] | None:
        """The (command, payload) a message is, if any: "/start topic-x", "help", a greeting."""
        match = _COMMAND.match(text)
        if match:
            return match.group(1).lower(), (match.group(2) or "").strip()
        word = _KEYWORD.match(text)
        if word and word.group(1).lower() in KEYWORDS:
            return KEYWORDS[word.group(1).lower()], ""
        if self.answerer.normaliser.is_greeting(text):
            return "start", ""
        return None

    @staticmethod
    def _pick(text: str, offered: list[Choice]) -> str | None:
        """The offered choice a typed reply picks: its number, or its words."""
        if not offered:
            return None
        stripped = text.strip().rstrip(".)").strip()
        if stripped.isdigit():
            index = int(stripped) - 1
            return offered[index].id if 0 <= index < len(offered) else None
        folded = stripped.casefold()
        for option in offered:
            if option.label.casefold() == folded:
                return option.id
        # One word that starts exactly one option ("yes" for "Yes, delete it") picks it too.
        if folded.isalpha():
            starts = [o for o in offered if _first_word(o.label) == folded]
            if len(starts) == 1:
                return starts[0].id
        return None

    # --- commands -----------------------------------------------------------------------------
    async def _on_command(
        self, incoming: Incoming, command: str, payload: str = ""
    ) -> tuple[Reply, State | None]:
        if command == "start" and payload:
            # A deep link (t.me/bot?start=topic-report-hate-crime) opens that topic. Only topics:
            # a payload is typed by anyone, so it never reaches anything but public guidance.
            kind, _, value = payload.partition("-")
            if kind == "topic" and value in self.content.faq:
                return self.answerer.entry_reply(self.content.faq[value]), State.IDLE
        if command == "stop":  # no messages from the bot first, until START
            await self.db.set_opted_out(incoming.channel, incoming.user_id, self.clock())
            return self.main_menu(self.copy["opted_out"]), State.IDLE
        if command == "start":
            intro = self.copy["welcome"]
            if (await self.db.contact(incoming.channel, incoming.user_id)).opted_out_at is not None:
                await self.db.set_opted_out(incoming.channel, incoming.user_id, None)
                intro = f"{self.copy['opted_in']}\n\n{intro}"
            if self.is_coordinator(incoming):
                intro += "\n\n" + self.copy["coordinator_hello"]
            return self.main_menu(intro), State.IDLE
        if command == "help":
            return self.answerer.entry_reply(self.content.faq["bot-help"]), State.IDLE
        if command == "menu":
            return self.main_menu(), State.IDLE
        if command == "cancel":
            return self.main_menu(self.copy["cancelled"]), State.IDLE
        if command == "privacy":
            return self._privacy(incoming), State.IDLE
        if command == "forget":
            return Reply(
                self.copy["forget_confirm"],
                (
                    Choice("forget:yes", self.copy["forget_yes"]),
                    Choice("forget:no", self.copy["forget_no"]),
                ),
            ), State.CONFIRM_FORGET
        return self.main_menu(self.copy["unknown_command"]), State.IDLE

    def _privacy(self, incoming: Incoming) -> Reply:
        text = self.copy.format("privacy", channel=incoming.channel, days=self.idle_limit.days)
        entry = self.content.faq.get("data-privacy")
        choices = (faq_choice(entry),) if entry else ()
        return Reply(text, (*choices, Choice(MAIN_MENU, self.copy["main_menu"])))

    # --- flows --------------------------------------------------------------------------------
    def main_menu(self, intro: str | None = None) -> Reply:
        """The main menu, after an optional line of introduction."""
        text = self.copy["main_menu_prompt"] if intro is None else intro
        return Reply(text, self.answerer.main_menu_choices())

    async def _on_menu(self, incoming: Incoming, _prefix: str, item: str) -> Reply:
        faq = self.content.faq
        if item == "main":
            return self.main_menu()
        if item == "none":
            return self.main_menu(self.copy["fallback"])
        if item == "help-now":
            return self.answerer.emergency_reply(faq.get("emergency-999"))
        if item == "report":
            return self.answerer.entry_reply(faq["report-hate-crime"])
        if item == "topics":
            return Reply(
                self.copy["topics_prompt"],
                (
                    *(Choice(f"cat:{c.id}", c.label) for c in self.content.categories),
                    Choice(MAIN_MENU, self.copy["main_menu"]),
                ),
            )
        if item == "training":
            return self._soon("training_soon", "security-training-sessions")
        if item == "alerts":
            return self._soon("alerts_soon", "alerts-subscribe")
        if item == "privacy":
            return self._privacy(incoming)
        return self.main_menu(self.copy["expired_menu"])

    def _soon(self, key: str, entry_id: str) -> Reply:
        entry = self.answerer.entry_reply(self.content.faq[entry_id])
        return Reply(f"{self.copy[key]}\n\n{entry.text}", entry.choices, answer=entry.answer)

    async def _on_category(self, _incoming: Incoming, _prefix: str, category_id: str) -> Reply:
        for category in self.content.categories:
            if category.id == category_id:
                entries = [self.content.faq[i] for i in category.entries if i in self.content.faq]
                return Reply(
                    self.copy.format("category_prompt", label=category.label),
                    (
                        *(faq_choice(e) for e in entries),
                        Choice("menu:topics", self.copy["back"]),
                        Choice(MAIN_MENU, self.copy["main_menu"]),
                    ),
                )
        return self.main_menu(self.copy["expired_menu"])

    async def _on_faq(self, _incoming: Incoming, _prefix: str, entry_id: str) -> Reply:
        entry = self.content.faq.get(entry_id)
        if entry is None:
            return self.main_menu(self.copy["expired_menu"])
        return self.answerer.entry_reply(entry)

    async def _on_forget(self, incoming: Incoming, _prefix: str, answer: str) -> Reply:
        if answer == "yes":
            await self.db.forget_user(incoming.channel, incoming.user_id)
            logger.info("deleted a %s user's data on request", incoming.channel)
            return Reply(self.copy["forgotten"])
        return self.main_menu(self.copy["forget_kept"])

    async def _on_text(self, incoming: Incoming, text: str) -> Reply:
        answer = self.answerer.answer(text)
        if self.record_gaps and answer.kind in (Kind.SUGGEST, Kind.FALLBACK):
            await self.db.record_unanswered(
                text[:500], answer.kind.value, [e.id for e in answer.suggestions], self.clock()
            )
        return self.answerer.reply(answer)

    async def purge_expired(self) -> None:
        """Delete conversations idle longer than the limit, and unanswered questions past theirs."""
        now = self.clock()
        dialogs = await self.db.purge_dialogs(now - self.idle_limit)
        gaps = await self.db.purge_unanswered(now - self.gaps_limit)
        logger.info("retention: deleted %d idle conversations, %d old unanswered questions", dialogs, gaps)
