"""The Telegram channel: updates in, `Incoming` to the engine, its `Reply` back as messages.

Built on python-telegram-bot's `Application`. Only translation lives here: who is writing (one
conversation per person, per group), what they wrote or pressed, and how a reply looks on
Telegram (HTML, inline keyboards, split under 4,096 characters). Flows live in `bot.dialog`.

Sending: `AIORateLimiter` keeps under Telegram's limits and waits out `RetryAfter`; network errors
are retried with backoff; `Forbidden` (the user blocked the bot) marks them unreachable.

Alerts go through the same rate limiter (after people's replies), but over their own aiohttp
connections rather than python-telegram-bot's httpx transport: a broadcast is thousands of the
same call, and there httpx cost about 5 ms of CPU a message against aiohttp's 0.6 (measured by
bench/broadcast.py). With TELEGRAM_PAID_BROADCAST they are sent as paid broadcasts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

import aiohttp
import httpx
from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from alerts import FLOOD_CONTROL, AlertMessage, Outcome, Result
from bot import metrics
from bot.channels import ChannelError
from bot.dialog import COMMANDS, Engine
from bot.languages import FALLBACK_NOTE
from bot.messages import Choice, Delivery, Incoming, Reply, notice_body
from bot.ratelimit import PriorityGate
from bot.render import Style, is_rtl, render_blocks, split_message
from bot.store import Contact, Database, is_call_for_help

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096  # characters in one Telegram message
MAX_CALLBACK_DATA = 64  # bytes of button data Telegram accepts
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
RETRY_AFTER_RETRIES = 3  # flood-control waits the rate limiter sits out before giving up
CONCURRENT_UPDATES = 64  # updates handled at once (the engine serialises each person's own)
READ_TIMEOUT = 5.0  # seconds for the Bot API's answer to a call (python-telegram-bot's default)
CONNECT_TIMEOUT = 5.0  # seconds to connect to the Bot API (python-telegram-bot's default)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_JSON = {"Content-Type": "application/json"}

Sleep = Callable[[float], Awaitable[None]]


BULK = -1  # rate_limit_args that marks a send as bulk (an alert), for PriorityRateLimiter
_CHAT_ID = re.compile(r"-?\d+")
_UNREACHABLE = {"opted out": Delivery.OPTED_OUT, "blocked the bot": Delivery.BLOCKED,
                "invalid recipient": Delivery.UNREACHABLE}  # fmt: skip


def _buttons(choices: tuple[Choice, ...]) -> list[Choice]:
    """The choices that fit on a button (Telegram's 64 bytes of data); the others are left out."""
    fitting = []
    for choice in choices:
        if len(choice.id.encode()) > MAX_CALLBACK_DATA:
            logger.warning("telegram: choice id %r is too long for a button; left out", choice.id)
            continue
        fitting.append(choice)
    return fitting


def _keyboard_json(choices: tuple[tuple[str, str], ...]) -> str | None:
    """An alert's answers (id, label) as the Bot API's inline keyboard in JSON, built directly
    (per person: the ids name their delivery); those too long for a button are left out, as in
    `TelegramChannel.keyboard`."""
    rows = [[{"text": label, "callback_data": choice_id}] for choice_id, label in choices
            if len(choice_id.encode()) <= MAX_CALLBACK_DATA]  # fmt: skip
    if len(rows) < len(choices):
        logger.warning("telegram: an alert's answer id is too long for a button; left out")
    return _encode({"inline_keyboard": rows}) if rows else None


_encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder (json.dumps with options makes one a call)


@lru_cache(maxsize=256)
def _alert_parts(text: str, language: str | None, paid: bool) -> tuple[str, ...]:
    """An alert's text as Telegram shows it, in as many messages as it needs, each as the JSON
    members of its sendMessage that are the same for everyone (all but chat_id and the buttons):
    rendered and encoded once for everyone who gets it in that language."""
    fields: dict[str, Any] = {"parse_mode": ParseMode.HTML.value, "link_preview_options": {"is_disabled": True}}
    if paid:
        fields["allow_paid_broadcast"] = True
    parts = split_message(render_blocks(text, Style.TELEGRAM_HTML, is_rtl(Reply(text, language=language))), MAX_TEXT)
    return tuple(_encode({"text": part} | fields)[1:-1] for part in parts)


class PriorityRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (30/s overall, 20/min per group, waits out RetryAfter), with replies
    first: a bulk send (`rate_limit_args=BULK`) waits while any reply is pending."""

    def __init__(self, overall_max_rate: float, max_retries: int) -> None:
        super().__init__(overall_max_rate=overall_max_rate, max_retries=max_retries)
        self.gate = PriorityGate()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if rate_limit_args == BULK:
            await self.gate.bulk()
            return await super().process_request(callback, args, kwargs, endpoint, data, None)
        if "chat_id" not in data:  # getUpdates, getMe...: nobody waits on these
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        async with self.gate.reply():
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def _may_have_arrived(exc: TimedOut) -> bool:
    """Whether a timed-out call reached the Bot API: it was sent in full and its answer was slow
    (a read timeout), as opposed to never connecting or waiting for a free connection."""
    return isinstance(exc.__cause__, httpx.ReadTimeout | aiohttp.SocketTimeoutError)


def _bot_api_error(status: int, body: bytes) -> TelegramError:
    """The exception python-telegram-bot raises for a Bot API answer that is not a success."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    description = str(answer.get("description") or f"HTTP {status}")
    parameters = answer.get("parameters") or {}
    if parameters.get("migrate_to_chat_id"):
        return ChatMigrated(int(parameters["migrate_to_chat_id"]))
    if parameters.get("retry_after"):
        return RetryAfter(int(parameters["retry_after"]))
    kinds: dict[int, type[TelegramError]] = {403: Forbidden, 401: InvalidToken, 404: InvalidToken, 400: BadRequest,
                                             409: Conflict}  # fmt: skip
    return kinds.get(status, NetworkError)(description)


def file_base_url(api_base_url: str) -> str:
    """The file download address that goes with a Bot API address (…/bot → …/file/bot)."""
    base = api_base_url.rstrip("/")
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file"


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramOptions:
    """How the Telegram channel reaches the Bot API and is reached (the app builds it from its settings)."""

    bot_token: str = field(repr=False)
    api_base_url: str
    rate_limit: float  # messages a second
    webhook_url: str | None = None  # updates arrive through the web app there, not by long polling
    webhook_secret: str | None = field(default=None, repr=False)  # Telegram sends it with each update
    community_channel: str | None = None  # community alerts are posted there too
    paid_broadcast: bool = False  # alerts as paid broadcasts (they cost Stars)


class TelegramChannel:
    """The bot on Telegram, by long polling or by webhook."""

    def __init__(
        self,
        options: TelegramOptions,
        engine: Engine,
        db: Database,
        *,
        send_attempts: int = 4,
        backoff: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.db = db
        self.api_base_url = options.api_base_url
        self.webhook_url = options.webhook_url
        self.webhook_secret = options.webhook_secret
        self.send_attempts = send_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.channel = CHANNEL  # as an alerts Sender
        self.rate_limit = options.rate_limit
        self.community_channel = options.community_channel  # community alerts are posted there too
        self.paid_broadcast = options.paid_broadcast  # alerts as paid broadcasts (they cost Stars)
        self.read_timeout = read_timeout
        self.limiter = PriorityRateLimiter(options.rate_limit, RETRY_AFTER_RETRIES)
        builder = (
            Application.builder()
            .token(options.bot_token)
            .base_url(options.api_base_url)
            .base_file_url(file_base_url(options.api_base_url))
            .rate_limiter(self.limiter)
            .concurrent_updates(CONCURRENT_UPDATES)
            .read_timeout(read_timeout)
        )
        if self.webhook_url:
            builder = builder.updater(None)  # updates arrive through the web app instead
        self.application = builder.build()
        self._accepted: set[int] = set()  # update ids recorded in the inbox as they arrived by webhook
        self._alerts_http: aiohttp.ClientSession | None = None  # alerts' own connections (start() opens them)
        self._send_message_url = ""  # the Bot API's sendMessage, for alerts (known once started)
        self._reach: dict[str, Contact] = {}  # how to reach the people of the batches being sent (prepare)
        self.application.add_handler(TypeHandler(Update, self._first_sight), group=-1)
        self.application.add_handler(TypeHandler(Update, self._handled), group=1)
        self.application.add_handler(CallbackQueryHandler(self._on_button))
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_error_handler(self._on_error)

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, list the commands in Telegram's menu, and start receiving updates."""
        app = self.application
        try:
            await app.initialize()  # getMe: a wrong token fails here
            copy = self.engine.copy
            await app.bot.set_my_commands([BotCommand(name, copy[f"command_{name}"]) for name in COMMANDS])
            for code in copy.translations:  # people whose Telegram is in a language see it in theirs
                with copy.speaking(code) as voice:
                    commands = [BotCommand(name, copy[f"command_{name}"]) for name in COMMANDS]
                if FALLBACK_NOTE not in voice.notes:  # only a whole list may be shown in it
                    await app.bot.set_my_commands(commands, language_code=code)
        except InvalidToken as exc:
            raise ChannelError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from @BotFather") from exc
        except NetworkError as exc:
            raise ChannelError(
                f"could not reach the Telegram Bot API at {self.api_base_url} ({type(exc).__name__}): "
                "check the network and TELEGRAM_API_BASE_URL"
            ) from exc
        if self.webhook_url:
            await app.bot.set_webhook(
                self.webhook_url, secret_token=self.webhook_secret, allowed_updates=list(ALLOWED_UPDATES)
            )
        elif app.updater is not None:
            await app.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
        await app.start()
        await self._recover()
        self._send_message_url = f"{app.bot.base_url}/sendMessage"
        self._alerts_http = aiohttp.ClientSession(  # the Bot API sets no cookies: none are looked for
            connector=aiohttp.TCPConnector(limit=max(16, int(self.rate_limit / 5))),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=self.read_timeout),
        )
        mode = "webhook" if self.webhook_url else "long polling"
        logger.info("telegram: @%s receiving updates by %s", app.bot.username, mode)

    async def stop(self) -> None:
        """Stop receiving, let updates already received finish, then disconnect."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()  # handles what is already queued before returning
        await app.shutdown()
        if self._alerts_http is not None:
            await self._alerts_http.close()
            self._alerts_http = None

    async def feed(self, data: dict[str, Any]) -> None:
        """Queue an update that arrived by webhook (raises ValueError if it is not an update)."""
        try:
            update = Update.de_json(data, self.application.bot)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("not a Telegram update") from exc
        if update is None or not isinstance(update.update_id, int):
            raise ValueError("not a Telegram update")
        # Written down before Telegram hears 200: a crash now loses nothing, and a copy is ignored.
        if not await self.db.receive(CHANNEL, str(update.update_id), json.dumps(data), datetime.now(UTC)):
            logger.info("telegram: update %d received again; ignored", update.update_id)
            return
        self._accepted.add(update.update_id)
        await self.application.update_queue.put(update)

    async def _recover(self) -> None:
        """Handle the updates received but not handled before the last stop (a crash, a kill)."""
        waiting = await self.db.unhandled(CHANNEL)
        for _key, payload in waiting:
            update = Update.de_json(json.loads(payload), self.application.bot)
            if update is not None:
                self._accepted.add(update.update_id)
                await self.application.update_queue.put(update)
        if waiting:
            logger.warning("telegram: handling %d update(s) received before the last stop", len(waiting))

    async def _first_sight(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Before any handler: an update by long polling goes in the inbox; a copy of one already
        there goes no further (webhook updates were recorded as they arrived)."""
        if update.update_id in self._accepted:
            self._accepted.discard(update.update_id)
            return
        payload = json.dumps(update.to_dict())
        if not await self.db.receive(CHANNEL, str(update.update_id), payload, datetime.now(UTC)):
            logger.info("telegram: update %d received again; ignored", update.update_id)
            raise ApplicationHandlerStop

    async def _handled(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """After the handlers (even a failed one, which has apologised): done, its text dropped."""
        await self.db.handled(CHANNEL, str(update.update_id), datetime.now(UTC))

    # --- incoming -----------------------------------------------------------------------------
    async def _on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Turn a message into an Incoming; in groups only commands and mentions count."""
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        chat = message.chat
        text: str | None = message.text
        if chat.type != ChatType.PRIVATE:
            text = self._addressed_to_us(message)
            if text is None:
                return
        user_id = self._user_key(chat, message.from_user)
        await self._reachable(user_id)
        private = chat.type == ChatType.PRIVATE
        sender = message.from_user
        incoming = Incoming(
            CHANNEL, user_id, text, None, sender.first_name, message.date, private, language_hint=sender.language_code
        )
        reply = await self.engine.handle(incoming)
        in_group = chat.type != ChatType.PRIVATE
        sent = await self.send(chat.id, reply, user_id=user_id, reply_to=message.message_id if in_group else None)
        await self._queue_if_failed(sent, update.update_id, user_id, reply)

    async def _on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Turn a button press into an Incoming choice; always stop the button's spinner."""
        query = update.callback_query
        if query is None:
            return
        await self._acknowledge(query)
        message = query.message if isinstance(query.message, Message) else None
        chat = message.chat if message is not None else None
        user_id = self._user_key(chat, query.from_user) if chat else str(query.from_user.id)
        # Button data is whatever the client sends: the engine accepts only choices it offered.
        choice = query.data if isinstance(query.data, str) else ""
        await self._reachable(user_id)
        private = chat is None or chat.type == ChatType.PRIVATE
        reply = await self.engine.handle(
            Incoming(CHANNEL, user_id, None, choice, query.from_user.first_name, datetime.now(UTC), private)
        )
        sent = await self.send(chat.id if chat else query.from_user.id, reply, user_id=user_id)
        await self._queue_if_failed(sent, update.update_id, user_id, reply)

    async def _queue_if_failed(self, sent: Delivery, update_id: int, user_id: str, reply: Reply) -> None:
        """A reply that could not go for now (the Bot API down) is queued, and retried like any
        notice, rather than lost: the person still gets their answer, late."""
        if sent is not Delivery.FAILED or reply.silent:
            return
        await self.db.notify(f"reply:{CHANNEL}:{update_id}", CHANNEL, user_id, notice_body(reply), datetime.now(UTC))
        logger.warning("telegram: a reply could not be sent; queued to try again")

    async def _acknowledge(self, query: CallbackQuery) -> None:
        try:
            await query.answer()
        except TelegramError as exc:  # too old to answer: the reply still goes out
            logger.info("telegram: could not answer a button press (%s)", type(exc).__name__)

    def _addressed_to_us(self, message: Message) -> str | None:
        """In a group: the text of a command, a mention of the bot or a reply to it, else None."""
        text = message.text
        if not text:
            return None
        username = (self.application.bot.username or "").lower()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            _, at, target = command.partition("@")
            return text if not at or target.lower() == username else None
        mention = f"@{username}"
        if username and mention in text.lower():
            start = text.lower().index(mention)
            return (text[:start] + text[start + len(mention) :]).strip()
        replied = message.reply_to_message
        author = replied.from_user if replied is not None else None
        return text if author is not None and author.id == self.application.bot.id else None

    @staticmethod
    def _user_key(chat: Chat, user: User) -> str:
        """One conversation per person, and in a group per person in that group."""
        return str(user.id) if chat.type == ChatType.PRIVATE else f"{chat.id}:{user.id}"

    async def _reachable(self, user_id: str) -> None:
        if await self.db.is_blocked(CHANNEL, user_id):  # a read first: most people never block
            await self.db.mark_reachable(CHANNEL, user_id)

    # --- outgoing -----------------------------------------------------------------------------
    def render(self, reply: Reply) -> list[tuple[str, InlineKeyboardMarkup | None]]:
        """A reply as Telegram messages: HTML text split under the limit, buttons on the last."""
        if reply.silent:
            return []
        parts = split_message(render_blocks(reply.text, Style.TELEGRAM_HTML, is_rtl(reply)), MAX_TEXT)
        keyboard = self.keyboard(reply.choices)
        return [(part, keyboard if i == len(parts) - 1 else None) for i, part in enumerate(parts)]

    @staticmethod
    def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
        """Choices as an inline keyboard, one button a row."""
        rows = [[InlineKeyboardButton(choice.label, callback_data=choice.id)] for choice in _buttons(choices)]
        return InlineKeyboardMarkup(rows) if rows else None

    async def send(
        self, chat_id: int, reply: Reply, *, user_id: str, reply_to: int | None = None, critical: bool = False
    ) -> Delivery:
        """Send a reply; say what happened (SENT, UNCONFIRMED, or why not: BLOCKED, REFUSED,
        FAILED for now). `critical` (the 999 advice, a call for help): sent again even after a
        timeout, since a second copy costs less than none."""
        send_message = self.application.bot.send_message
        critical = critical or reply.emergency
        result = Delivery.SENT
        for number, (text, keyboard) in enumerate(self.render(reply)):
            quote = None
            if reply_to is not None and number == 0:  # in a group, say whom we answer
                quote = ReplyParameters(reply_to, allow_sending_without_reply=True)
            options: dict[str, Any] = {
                "parse_mode": ParseMode.HTML,
                "reply_markup": keyboard,
                "link_preview_options": _NO_PREVIEW,
                "reply_parameters": quote,
            }
            outcome = await self._deliver(user_id, partial(send_message, chat_id, text, **options), critical)
            if outcome in (Delivery.SENT, Delivery.UNCONFIRMED):
                metrics.sent(CHANNEL, "message")
            if outcome is Delivery.UNCONFIRMED:
                result = outcome  # the rest still goes
            elif outcome is not Delivery.SENT:
                return outcome
        if reply.document is not None:
            document = InputFile(reply.document.content, filename=reply.document.filename)
            caption = reply.document.caption or None  # plain text: no parse mode, nothing in it formats
            send_document = partial(self.application.bot.send_document, chat_id, document, caption=caption)
            outcome = await self._deliver(user_id, send_document, critical)
            if outcome is not Delivery.SENT:
                return outcome
            metrics.sent(CHANNEL, "message")
        return result

    async def _first_contact(self, user_id: str) -> int | str:
        """The private chat to write to someone first in, or why there is none (opted out, blocked
        the bot, invalid recipient). In a group, user ids are chat:user; the person's own chat."""
        return self._chat_to_reach(user_id, await self.db.contact(CHANNEL, user_id))

    @staticmethod
    def _chat_to_reach(user_id: str, contact: Contact) -> int | str:
        """`_first_contact`, from what is known of the person."""
        if contact.opted_out_at is not None:
            return "opted out"
        if contact.blocked_at is not None:
            return "blocked the bot"
        private = user_id.rsplit(":", 1)[-1]
        return int(private) if _CHAT_ID.fullmatch(private) else "invalid recipient"

    async def send_proactive(self, user_id: str, reply: Reply, *, about: str | None = None) -> Delivery:
        """Write to someone first (a reminder, an offer): to them privately, unless they stopped it."""
        chat_id = await self._first_contact(user_id)
        if isinstance(chat_id, str):
            return _UNREACHABLE[chat_id]
        return await self.send(chat_id, reply, user_id=user_id, critical=is_call_for_help(about))

    async def _deliver(self, user_id: str, call: Callable[[], Awaitable[object]], critical: bool) -> Delivery:
        """Make one Bot API call, retrying network errors with backoff; say what happened.

        A call the Bot API read in full but did not answer in time most likely arrived: the Bot API
        has no way to ask, so unless it is `critical` it is recorded as unconfirmed, not sent again.
        """
        for attempt in range(1, self.send_attempts + 1):
            try:
                await call()
                return Delivery.SENT
            except Forbidden:
                await self.db.mark_blocked(CHANNEL, user_id, datetime.now(UTC))
                logger.info("telegram: a user has blocked the bot; marked unreachable")
                return Delivery.BLOCKED
            except RetryAfter:  # the rate limiter already waited and retried
                logger.warning("telegram: flood control persisted after %d retries", RETRY_AFTER_RETRIES)
                return Delivery.FAILED
            except BadRequest as exc:
                logger.error("telegram: message rejected: %s", exc.message)
                return Delivery.REFUSED
            except NetworkError as exc:
                if isinstance(exc, TimedOut) and _may_have_arrived(exc) and not critical:
                    await self.db.record_unconfirmed(CHANNEL, user_id, "reply", datetime.now(UTC))
                    logger.warning("telegram: the Bot API took a message but did not answer in time; not sent again")
                    return Delivery.UNCONFIRMED
                if attempt == self.send_attempts:
                    logger.error("telegram: giving up after %d attempts (%s)", attempt, type(exc).__name__)
                    return Delivery.FAILED
                await self.sleep(self.backoff * 2 ** (attempt - 1))
            except TelegramError as exc:  # e.g. a 200 whose body is not JSON: it may not have arrived
                logger.error("telegram: unexpected answer from the Bot API (%s)", type(exc).__name__)
                return Delivery.FAILED
        return Delivery.FAILED

    async def show_live(self, user_id: str, message_id: str | None, reply: Reply) -> str | None:
        """Show a message that changes (an alert's progress): edit it in place, or send it the first
        time; return its id (None if it couldn't be shown)."""
        text, keyboard = self.render(reply)[0]
        chat_id = int(user_id.rsplit(":", 1)[-1])
        try:
            if message_id is not None:
                try:
                    await self.application.bot.edit_message_text(
                        text, chat_id, int(message_id), parse_mode=ParseMode.HTML, reply_markup=keyboard,
                        link_preview_options=_NO_PREVIEW,
                    )  # fmt: skip
                    return message_id
                except BadRequest as exc:
                    if "not modified" in exc.message.lower():
                        return message_id
                    # deleted or too old to edit: send a fresh one
            sent = await self.application.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard, link_preview_options=_NO_PREVIEW
            )
            return str(sent.message_id)
        except TelegramError as exc:
            logger.warning("telegram: couldn't show live progress (%s)", type(exc).__name__)
            return None

    async def prepare(self, user_ids: Sequence[str]) -> None:
        """Read at once whether each person of a batch of alerts can be written to (alerts'
        `BatchSender`): their sends then need no query. Someone who stops the bot in the second
        or so before their turn may still get the alert; anyone who stopped it earlier does not."""
        self._reach.update(await self.db.contacts(CHANNEL, user_ids))

    async def flush(self) -> None:
        """Nothing of an alert is written here (a block is recorded as it is found)."""

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        """Send one alert (alerts' `Sender`): bulk, so people's replies go first; as a paid
        broadcast with TELEGRAM_PAID_BROADCAST; never raises. To the community channel, the
        limiter keeps to Telegram's 20 a minute for a channel (python-telegram-bot's group limit)."""
        chat_id: int | str
        if user_id == self.community_channel:
            chat_id = int(user_id) if _CHAT_ID.fullmatch(user_id) else user_id
        else:
            contact = self._reach.pop(user_id, None)
            found = self._chat_to_reach(
                user_id, contact if contact is not None else await self.db.contact(CHANNEL, user_id)
            )
            if isinstance(found, str):
                return Outcome(Result.FAILED, found)
            chat_id = found
        last_id: str | None = None
        try:
            parts = _alert_parts(message.text, message.language, self.paid_broadcast)
            for number, fields in enumerate(parts):
                last = number == len(parts) - 1
                sent = await self._send_bulk(chat_id, fields, _keyboard_json(message.choices) if last else None)
                last_id = str(sent["message_id"])
                metrics.sent(CHANNEL, "alert")
        except Forbidden:
            await self.db.mark_blocked(CHANNEL, user_id, datetime.now(UTC))
            return Outcome(Result.FAILED, "blocked the bot")
        except RetryAfter as exc:
            wait = exc._retry_after.total_seconds()  # the timedelta PTB keeps, without its warning
            return Outcome(Result.RETRY, FLOOD_CONTROL, retry_after=wait)
        except BadRequest as exc:
            return Outcome(Result.FAILED, "invalid recipient" if "not found" in exc.message.lower() else "refused")
        except TimedOut as exc:
            if _may_have_arrived(exc):  # not sent twice: counted as sent, its report never comes
                logger.warning("telegram: the Bot API took an alert but did not answer in time; not sent again")
                return Outcome(Result.SENT, "unconfirmed", message_id=last_id)
            return Outcome(Result.RETRY, "network (TimedOut)")
        except NetworkError as exc:
            return Outcome(Result.RETRY, f"network ({type(exc).__name__})")
        return Outcome(Result.SENT, message_id=last_id)

    async def _send_bulk(self, chat_id: int | str, fields: str, keyboard: str | None) -> dict[str, Any]:
        """One alert message through the rate limiter, as bulk (waits out flood control as any
        call does): the message sent, or python-telegram-bot's exception for the answer. `fields`
        and `keyboard` are JSON (`_alert_parts`, `_keyboard_json`): the Bot API takes the
        parameters as JSON as well as a form, and most of them are encoded once for everyone."""
        members = [f'"chat_id":{_encode(chat_id)}', fields]
        if keyboard is not None:
            members.append(f'"reply_markup":{keyboard}')
        body = ("{" + ",".join(members) + "}").encode()
        # What the limiter goes by: a group's or channel's limit, and paid broadcasts' own.
        data: dict[str, Any] = {"chat_id": chat_id, "allow_paid_broadcast": self.paid_broadcast}
        sent: dict[str, Any] = await self.limiter.process_request(self._post_message, (body,), {}, "sendMessage",
                                                                  data, BULK)  # fmt: skip
        return sent

    async def _post_message(self, body: bytes) -> dict[str, Any]:
        """sendMessage (its parameters as JSON) over the alerts' connections, answered as
        python-telegram-bot would: the message as a dict, or the exception it raises
        (`_bot_api_error`; TimedOut from a read timeout means the call may have arrived)."""
        assert self._alerts_http is not None, "start() the channel first"
        try:
            async with self._alerts_http.post(self._send_message_url, data=body, headers=_JSON) as response:
                status, answer = response.status, await response.read()
        except aiohttp.ServerTimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp: {type(exc).__name__}") from exc
        if not 200 <= status <= 299:
            raise _bot_api_error(status, answer)
        try:
            result: dict[str, Any] = json.loads(answer)["result"]
        except (ValueError, KeyError, TypeError) as exc:  # e.g. a proxy's HTML page: it may have gone
            raise TelegramError("Invalid server response") from exc
        return result

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log an unexpected failure (never the message itself) and apologise to the person."""
        logger.error("telegram: failed to handle an update", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None and update.effective_user:
            user_id = self._user_key(update.effective_chat, update.effective_user)
            await self.send(update.effective_chat.id, Reply(self.engine.copy["error"]), user_id=user_id)
