"""The WhatsApp channel through Twilio: signed webhooks in, TwiML or REST messages out.

    POST /whatsapp/inbound   a person's message (Twilio's form post, X-Twilio-Signature checked)
    POST /whatsapp/status    delivery reports for messages the bot sent (signature checked)

Replies to a message go back in the webhook's response as TwiML: no extra API call, nothing to
retry, and atomic with Twilio's request. If answering takes longer than `REPLY_DEADLINE` (Twilio
gives up after 15 s), the webhook answers empty and the reply follows through the REST API.

Messages the bot sends first (`send_proactive`: reminders, alerts) use the REST API, honour STOP,
and respect WhatsApp's 24-hour window: free-form text within 24 hours of the person's last
message, otherwise the approved template; the full text is held and delivered when they reply.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

import aiohttp
from aiolimiter import AsyncLimiter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.version import Version
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from alerts import FLOOD_CONTROL, AlertMessage, Outcome, Result
from bot import metrics
from bot.channels import as_reply
from bot.content import Copy
from bot.dialog import Engine
from bot.http_body import BodyIncomplete, BodyTooLarge, read_body
from bot.languages import bidi
from bot.messages import Delivery, Incoming, Reply
from bot.phone import e164
from bot.ratelimit import PriorityGate
from bot.render import Style, choices_text, is_rtl, render_blocks, split_message
from bot.store import Contact, Database, is_call_for_help

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
MAX_TEXT = 1600  # characters in one WhatsApp message through Twilio
WINDOW = timedelta(hours=24)  # free-form messages only this long after the person's last message
REPLY_DEADLINE = 10.0  # seconds to answer in the webhook response; Twilio waits 15
MAX_BODY = 64 * 1024  # Twilio's form posts are small
WINDOW_CLOSED = 63016  # Twilio error: outside the 24-hour window, only templates
SIGNATURE_HEADER = "X-Twilio-Signature"
_TWIML = "application/xml"
LOOKUP_LATEST = 20  # of Twilio's latest messages to a person, looked through for one whose answer was lost

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class SendFailed(Exception):
    """Twilio refused a message for good, or could not be reached after retries."""

    def __init__(self, code: int | None, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent  # refused for good (a 4xx other than 429): retrying won't help


class SendUnconfirmed(Exception):
    """Twilio may have taken a message: its answer was lost, and its list of messages could not be
    read to see. It is not sent again (it would most likely arrive twice)."""


class BaseUrlHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """Twilio's async HTTP client, sending to another address (a proxy, or a test fake).

    It also sends the credentials as an Authorization header itself: aiohttp 3.14 deprecates
    the `auth` argument the stock client passes. (Alerts don't come this way: `_create_alert`.)
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = urlsplit(base_url.rstrip("/"))

    async def request(self, method: str, url: str, **kwargs: Any) -> TwilioResponse:
        """Make the request against the configured base URL instead of api.twilio.com."""
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))
        auth = kwargs.pop("auth", None)
        if auth is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": _basic_auth(*auth)}
        return await super().request(method, url, **kwargs)


def _basic_auth(user: str, password: str) -> str:
    """An Authorization header's value for HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_ALERT_TIMEOUT = aiohttp.ClientTimeout(total=30)  # seconds for one request to Twilio
_FORM_NAMES = {"body": "Body", "content_sid": "ContentSid", "content_variables": "ContentVariables"}


@dataclass(frozen=True, slots=True)
class _Created:
    """What Twilio answered for a message it took: its sid and status."""

    sid: str
    status: str


@lru_cache(maxsize=256)
def _quoted(value: str) -> str:
    """A form value as it is sent (application/x-www-form-urlencoded)."""
    return quote_plus(value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppOptions:
    """How the WhatsApp channel reaches Twilio and is reached (the app builds it from its settings)."""

    account_sid: str
    auth_token: str = field(repr=False)
    whatsapp_from: str  # the bot's WhatsApp number
    public_base_url: str  # the https address Twilio calls: its signatures are checked against it
    api_base_url: str
    rate_limit: float  # messages a second
    template_sids: Mapping[str, str] = field(default_factory=dict)  # per language; "en" for everyone else


class WhatsAppChannel:
    """The bot on WhatsApp through Twilio."""

    def __init__(
        self,
        options: WhatsAppOptions,
        engine: Engine,
        db: Database,
        *,
        clock: Clock = _utcnow,
        send_attempts: int = 4,
        backoff: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        reply_deadline: float = REPLY_DEADLINE,
    ) -> None:
        self.engine = engine
        self.copy: Copy = engine.copy
        self.db = db
        self.clock = clock
        self.account_sid = options.account_sid
        self.auth_token = options.auth_token
        self.api_base_url = options.api_base_url
        self.sender = "whatsapp:" + (e164(options.whatsapp_from) or options.whatsapp_from)
        self.public_base_url = options.public_base_url.rstrip("/")
        self.template_sids = options.template_sids  # per language; "en" is the one for everyone else
        self.validator = RequestValidator(self.auth_token)
        self.limiter = AsyncLimiter(options.rate_limit, 1)
        self.gate = PriorityGate()
        self.channel = CHANNEL  # as an alerts Sender
        self.rate_limit = options.rate_limit
        self.send_attempts = send_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.reply_deadline = reply_deadline
        self._http: BaseUrlHttpClient | None = None
        self._alerts_http: aiohttp.ClientSession | None = None  # alerts' own connections (start() opens them)
        # An alert's message goes straight to the Messages resource (`_create`), with these.
        self._messages_url = f"{self.api_base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self._status_url = f"{self.public_base_url}/whatsapp/status"
        self._alert_headers = {"Authorization": _basic_auth(self.account_sid, self.auth_token),
                               "Accept": "application/json",
                               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        self._client: Client | None = None
        self._late_replies: set[asyncio.Task[None]] = set()
        # Told of every delivery report (sid, status, error code): alerts count deliveries with it.
        self.on_status: Callable[[str, str, int | None], Awaitable[None]] | None = None
        # Alerts in batches (alerts' BatchSender): how to reach each person, read before the batch,
        # and what its sends recorded, written after it (see `prepare` and `flush`).
        self._reach: dict[str, Contact] = {}
        self._unwritten: list[tuple[str, str, str, str, str, datetime]] = []  # outgoing messages
        self._unwritten_held: list[tuple[str, str, str, datetime, str | None]] = []
        self._unwritten_choices: list[tuple[str, Reply]] = []
        self._rendered: dict[tuple[str, str | None, tuple[str, ...]], list[str]] = {}  # alerts, as WhatsApp shows them

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the Twilio client (inside the running loop, as aiohttp requires)."""
        self._http = BaseUrlHttpClient(self.api_base_url, timeout=_ALERT_TIMEOUT.total)
        self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
        self._alerts_http = aiohttp.ClientSession(  # Twilio's API sets no cookies: none are looked for
            connector=aiohttp.TCPConnector(limit=max(16, int(self.rate_limit / 4))),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=_ALERT_TIMEOUT,
        )
        await self._recover()
        logger.info("whatsapp: webhooks at %s/whatsapp/inbound and /whatsapp/status", self.public_base_url)

    async def stop(self) -> None:
        """Let late replies finish, then close the HTTP session."""
        if self._late_replies:
            await asyncio.gather(*self._late_replies, return_exceptions=True)
        if self._http is not None and self._http.session is not None:
            await self._http.session.close()
        if self._alerts_http is not None:
            await self._alerts_http.close()
            self._alerts_http = None

    def routes(self) -> list[Route]:
        """The web app routes for Twilio's webhooks."""
        return [
            Route("/whatsapp/inbound", self.inbound, methods=["POST"]),
            Route("/whatsapp/status", self.status, methods=["POST"]),
        ]

    # --- webhooks -----------------------------------------------------------------------------
    async def _signed_form(self, request: Request) -> dict[str, str] | Response:
        """The posted form if Twilio signed it for our public URL, else the error response."""
        try:
            body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return Response(status_code=413)
        except BodyIncomplete:
            return Response(status_code=400)
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return Response(status_code=400)
        # The URL Twilio signed is the public one, never what a proxy passed on to us.
        url = self.public_base_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not self.validator.validate(url, params, signature):
            logger.warning("whatsapp: refused a request with a missing or wrong signature")
            return Response(status_code=403)
        return params

    async def inbound(self, request: Request) -> Response:
        """A person's message: answer it in the response as TwiML."""
        params = await self._signed_form(request)
        if isinstance(params, Response):
            return params
        user_id = e164(params.get("From", ""))
        if user_id is None:
            return Response("not a WhatsApp number", status_code=400)
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        now = self.clock()
        # Written down before Twilio hears back: a copy (Twilio retrying, a replayed request) is
        # ignored, and one a crash interrupted is handled when the bot starts again.
        if sid and not await self.db.receive(CHANNEL, sid, json.dumps(params), now):
            logger.info("whatsapp: a message was received again; ignored")
            return self._twiml([])
        await self.db.record_inbound(CHANNEL, user_id, now)
        text = _text_of(params)
        held = await self.db.held_messages(CHANNEL, user_id)
        if held and text is not None and text.strip().casefold() == self.copy["view_word"].casefold():
            await self._send_held(user_id, held)  # "reply VIEW to read it"
            await self.db.handled(CHANNEL, sid, self.clock())
            return self._twiml([])
        answering = asyncio.ensure_future(self._handle(sid, user_id, text, params.get("ProfileName"), now))
        done, _ = await asyncio.wait({answering}, timeout=self.reply_deadline)
        if not done:  # too slow for Twilio's timeout: answer now, send the reply when it is ready
            late = asyncio.create_task(self._send_late(user_id, held, answering))
            self._late_replies.add(late)
            late.add_done_callback(self._late_replies.discard)
            return self._twiml([])
        await self._send_held(user_id, held)
        return self._twiml(self.render(answering.result()))

    async def _handle(self, sid: str, user_id: str, text: str | None, name: str | None, now: datetime) -> Reply:
        reply = await self.engine.handle(Incoming(CHANNEL, user_id, text, None, name, now))
        if sid:
            await self.db.handled(CHANNEL, sid, self.clock())
        return reply

    async def _send_held(self, user_id: str, held: list[tuple[int, str]]) -> None:
        """Deliver held text (what waited behind a template) by REST, each deleted only once Twilio
        accepted it: a reply Twilio never read loses nothing, it goes with their next message."""
        for held_id, text in held:
            try:
                await self._create(user_id, "held", body=text)
            except SendUnconfirmed:
                pass  # it most likely went: dropped like one confirmed, not sent twice
            except SendFailed:
                logger.error("whatsapp: held text not delivered yet; kept for their next message")
                return
            await self.db.drop_held_message(held_id)

    async def _recover(self) -> None:
        """Handle the messages received but not handled before the last stop (a crash, a kill),
        replying by REST: Twilio's request is long gone."""
        waiting = await self.db.unhandled(CHANNEL)
        for sid, payload in waiting:
            params = json.loads(payload)
            user_id = e164(str(params.get("From", "")))
            if user_id is None:
                await self.db.handled(CHANNEL, sid, self.clock())
                continue
            reply = await self._handle(sid, user_id, _text_of(params), params.get("ProfileName"), self.clock())
            await self._send_by_rest(user_id, await self.db.held_messages(CHANNEL, user_id), reply)
        if waiting:
            logger.warning("whatsapp: handled %d message(s) received before the last stop", len(waiting))

    async def status(self, request: Request) -> Response:
        """A delivery report: record it; 63016 means the 24-hour window has closed."""
        params = await self._signed_form(request)
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        state = params.get("MessageStatus") or params.get("SmsStatus") or "unknown"
        code = params.get("ErrorCode") or ""
        # Twilio's codes have five digits; anything else is kept out of the integer column.
        error = int(code) if code.isascii() and code.isdigit() and len(code) <= 9 else None
        if code and error is None:
            logger.warning("whatsapp: a delivery report had an unrecognised error code; not stored")
        now = self.clock()
        owner = await self.db.update_outgoing(sid, state, error, now)
        if owner is not None and error == WINDOW_CLOSED:
            await self.db.mark_window_closed(*owner, now)
        if self.on_status is not None and sid:
            await self.on_status(sid, state, error)
        return Response(status_code=204)

    @staticmethod
    def _twiml(messages: list[str]) -> Response:
        if messages:
            metrics.sent(CHANNEL, "message", len(messages))
        response = MessagingResponse()
        for text in messages:
            response.message(text)
        return Response(str(response), media_type=_TWIML)

    async def _send_late(self, user_id: str, held: list[tuple[int, str]], answering: Awaitable[Reply]) -> None:
        await self._send_by_rest(user_id, held, await answering)

    async def _send_by_rest(self, user_id: str, held: list[tuple[int, str]], reply: Reply) -> None:
        await self._send_held(user_id, held)
        try:
            for text in self.render(reply):
                await self._create(user_id, "reply", body=text)
        except SendUnconfirmed:
            pass  # logged; the rest is not sent after a part that may not have arrived
        except SendFailed as exc:
            logger.error("whatsapp: a late reply could not be sent (error %s)", exc.code)

    # --- rendering ----------------------------------------------------------------------------
    def render(self, reply: Reply) -> list[str]:
        """A reply as WhatsApp messages: *bold*, _italic_, choices numbered, under 1,600 each."""
        if reply.silent:
            return []
        rtl = is_rtl(reply)
        blocks = render_blocks(reply.text, Style.WHATSAPP, rtl)
        document = reply.document
        if document is not None and document.token:  # WhatsApp through Twilio can't send a file here: a link
            url = f"{self.public_base_url}/calendar/{document.token}.ics"
            with self.copy.speaking(reply.language):
                blocks.append(bidi(self.copy.format("calendar_link", url=url), rtl))
        elif document is not None and document.unlinked:  # nor put this one behind a link
            blocks.extend(render_blocks(document.unlinked, Style.WHATSAPP, rtl))
        if reply.choices:
            blocks.append(choices_text(reply, self.copy))
        return split_message(blocks, MAX_TEXT)

    # --- messages the bot sends first -----------------------------------------------------------
    async def send_proactive(self, user_id: str, reply: Reply, *, about: str | None = None) -> Delivery:
        """Send a message nobody asked for just now (an alert, a reminder), within WhatsApp's rules."""
        contact = await self.db.contact(CHANNEL, user_id)
        if contact.opted_out_at is not None:
            return Delivery.OPTED_OUT
        texts = self.render(reply)
        now = self.clock()
        critical = is_call_for_help(about)
        try:
            if _window_open(contact, now):
                try:
                    for text in texts:
                        await self._create(user_id, "message", body=text, critical=critical)
                    return Delivery.SENT
                except SendFailed as exc:
                    if exc.code != WINDOW_CLOSED:
                        raise
                    await self.db.mark_window_closed(CHANNEL, user_id, now)
            if not self.template_sids:
                logger.warning("whatsapp: outside the 24-hour window and no WHATSAPP_TEMPLATE_SID set")
                return Delivery.NO_TEMPLATE
            try:
                await self._create(user_id, "template", critical=critical, **self._template(contact.language))
            except SendUnconfirmed:
                pass  # the template most likely went: the text is held as if it had
            for text in texts:  # held once the template went, so a failed try holds nothing twice
                await self.db.hold_message(CHANNEL, user_id, text, now, about=about)
            return Delivery.TEMPLATE
        except SendUnconfirmed:
            return Delivery.UNCONFIRMED
        except SendFailed as exc:
            if not exc.permanent:
                return Delivery.FAILED
            reason = _refusal(exc.code)
            return {"invalid number": Delivery.UNREACHABLE, "opted out": Delivery.OPTED_OUT}.get(
                reason, Delivery.REFUSED
            )

    def _template(self, language: str | None = None) -> dict[str, str]:
        """The approved template ("You have a new message from the {{1}}…") in the person's
        language where one is set (WHATSAPP_TEMPLATE_SIDS), else the English, as message fields."""
        code = language if language in self.template_sids else "en" if "en" in self.template_sids else None
        sid = self.template_sids[code] if code else next(iter(self.template_sids.values()))
        with self.copy.speaking(code):  # its variable in the template's language
            sender = self.copy["template_sender"]
        return {"content_sid": sid, "content_variables": json.dumps({"1": sender}, ensure_ascii=False)}

    async def _post(
        self, user_id: str, kind: str, fields: dict[str, str], *, bulk: bool = False, later: bool = False
    ) -> str:
        """One REST call, no retry (raises TwilioRestException or a network error); record the sid
        (`later`: at the next `flush`, with the rest of a batch of alerts).

        When the request may have reached Twilio but its answer did not come back (a timeout, a
        connection dropped mid-answer), Twilio's own record of messages says whether it took it:
        if so that message is recorded, not sent again; if not, the error is raised (safe to retry);
        if the record can't be read, SendUnconfirmed."""
        assert self._client is not None, "start() the channel first"
        message: Any  # the twilio library's MessageInstance, or what `_create_alert` read of it
        try:
            if bulk:
                await self.gate.bulk()  # people's replies go first
                async with self.limiter:
                    message = await self._create_alert(user_id, fields)
            else:
                async with self.gate.reply(), self.limiter:
                    message = await self._message(user_id, fields)
        except aiohttp.ClientConnectorError:
            raise  # never reached Twilio
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = await self._taken(user_id, fields, exc)
            if message is None:
                raise
            logger.info("whatsapp: Twilio took a message whose answer was lost; not sent again")
        sid = str(message.sid)
        metrics.sent(CHANNEL, kind if kind in ("alert", "template") else "message")
        if later:
            self._unwritten.append((sid, CHANNEL, user_id, kind, str(message.status), self.clock()))
        else:
            await self.db.record_outgoing(sid, CHANNEL, user_id, kind, str(message.status), self.clock())
        return sid

    async def _message(self, user_id: str, fields: dict[str, str]) -> Any:
        assert self._client is not None
        return await self._client.messages.create_async(
            to=f"whatsapp:{user_id}",
            from_=self.sender,
            status_callback=self._status_url,
            **fields,
        )

    async def _create_alert(self, user_id: str, fields: dict[str, str]) -> _Created:
        """An alert's message created with one POST to Twilio's Messages resource, as `_message`
        does through the twilio library, whose resource objects cost a third of an alert's CPU;
        a refusal raises the TwilioRestException the library would (`Version.exception`)."""
        assert self._alerts_http is not None, "start() the channel first"
        form = {"To": f"whatsapp:{user_id}", "From": self.sender, "StatusCallback": self._status_url}
        form |= {_FORM_NAMES[name]: value for name, value in fields.items()}
        body = "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in form.items()).encode()
        async with self._alerts_http.post(self._messages_url, data=body, headers=self._alert_headers) as response:
            status, text = response.status, await response.text()
        if not 200 <= status <= 299:
            raise Version.exception("POST", self._messages_url, TwilioResponse(status, text), "Unable to create record")
        created = json.loads(text)
        return _Created(str(created["sid"]), str(created["status"]))

    async def _taken(self, user_id: str, fields: dict[str, str], error: Exception) -> Any | None:
        """The message Twilio took from a request whose answer was lost, or None if it took none:
        among the latest to this person, one we have no record of, with this text."""
        assert self._client is not None
        try:
            latest = await self._client.messages.list_async(
                to=f"whatsapp:{user_id}", from_=self.sender, limit=LOOKUP_LATEST
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError) as exc:  # a page it can't read, too
            raise SendUnconfirmed(
                f"answer lost ({type(error).__name__}), lookup failed ({type(exc).__name__})"
            ) from exc
        for message in latest:
            if "body" in fields and message.body != fields["body"]:
                continue
            sid = str(message.sid)
            if await self.db.outgoing(sid) is None and all(row[0] != sid for row in self._unwritten):
                return message
        return None

    async def _create(self, user_id: str, kind: str, *, critical: bool = False, **fields: str) -> str:
        """Send one message through the REST API, retrying 429, 5xx and network errors (raises
        SendFailed). One that may have arrived raises SendUnconfirmed, unless it is `critical`
        (a call for help): that is tried again, as a second copy costs less than none."""
        error: SendFailed | None = None
        attempt = 0
        for attempt in range(1, self.send_attempts + 1):
            try:
                return await self._post(user_id, kind, fields)
            except SendUnconfirmed as exc:
                if not critical:
                    await self.db.record_unconfirmed(CHANNEL, user_id, kind, self.clock())
                    logger.warning("whatsapp: a message may have gone (%s); not sent again", exc)
                    raise
                error = SendFailed(None, str(exc))
            except TwilioRestException as exc:
                permanent = exc.status != 429 and exc.status < 500
                error = SendFailed(exc.code, f"Twilio refused the message ({exc.status}, code {exc.code})",
                                   permanent=permanent)  # fmt: skip
                if permanent:
                    break
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = SendFailed(None, f"Twilio unreachable ({type(exc).__name__})")
            if attempt < self.send_attempts:
                await self.sleep(self.backoff * 2 ** (attempt - 1))
        assert error is not None
        # Never lost silently: the failure is recorded against the person, with its code.
        failed_id = f"failed-{uuid.uuid4().hex}"
        await self.db.record_outgoing(failed_id, CHANNEL, user_id, kind, "failed", self.clock())
        await self.db.update_outgoing(failed_id, "failed", error.code, self.clock())
        logger.error("whatsapp: message not sent after %d attempts (code %s)", attempt, error.code)
        raise error

    # --- alerts ---------------------------------------------------------------------------------
    async def prepare(self, user_ids: Sequence[str]) -> None:
        """Read at once how to reach each person of a batch of alerts (alerts' `BatchSender`): their
        window, STOP, language. Someone who sends STOP in the second or so before their turn may
        still get the alert; anyone who sent it earlier does not."""
        self._reach.update(await self.db.contacts(CHANNEL, user_ids))

    async def flush(self) -> None:
        """Write what the alerts sent since the last flush recorded, at once: the messages (to
        match delivery reports), the texts held behind a template, and the answers offered (so
        "A" or "B" picks them). Until then a delivery report or an answer finds none of them, as
        it finds no outcome of the batch until the dispatcher records it just after."""
        outgoing, self._unwritten = self._unwritten, []
        held, self._unwritten_held = self._unwritten_held, []
        choices, self._unwritten_choices = self._unwritten_choices, []
        if outgoing:
            await self.db.record_outgoing_many(outgoing)
        if held:
            await self.db.hold_messages(held)
        if choices:
            await self.engine.remember_choices_of(CHANNEL, choices)

    async def send_alert(self, user_id: str, message: AlertMessage) -> Outcome:
        """Send one alert (alerts' `Sender`): once, classified; the dispatcher retries and paces.
        In a prepared batch, what it records waits for `flush`; otherwise it is written at once."""
        contact = self._reach.pop(user_id, None)
        batched = contact is not None
        if contact is None:
            contact = await self.db.contact(CHANNEL, user_id)
        if contact.opted_out_at is not None:
            return Outcome(Result.FAILED, "opted out")
        reply = as_reply(message)
        texts = self._render_alert(reply)
        now = self.clock()
        try:
            if _window_open(contact, now):
                try:
                    sid = ""
                    for text in texts:
                        sid = await self._post(user_id, "alert", {"body": text}, bulk=True, later=batched)
                except TwilioRestException as exc:
                    if exc.code != WINDOW_CLOSED:
                        raise
                    await self.db.mark_window_closed(CHANNEL, user_id, now)
                else:
                    if reply.choices:  # "A" or "B" in their reply picks Received or Need help
                        await self._remember_choices(user_id, reply, batched)
                    return Outcome(Result.SENT, message_id=sid)
            if not self.template_sids:
                return Outcome(Result.FAILED, "window closed, no template")
            sid = await self._post(user_id, "template", self._template(contact.language), bulk=True, later=batched)
            held = [(CHANNEL, user_id, text, now, None) for text in texts]  # delivered when they reply (VIEW)
            if batched:
                self._unwritten_held.extend(held)
            else:
                await self.db.hold_messages(held)
            if reply.choices:  # once they have read it, "A" or "B" picks Received or Need help
                await self._remember_choices(user_id, reply, batched)
            return Outcome(Result.SENT, message_id=sid)
        except SendUnconfirmed:  # not sent twice: counted as sent, its report never comes
            logger.warning("whatsapp: an alert may have gone (its answer was lost); not sent again")
            return Outcome(Result.SENT, "unconfirmed")
        except TwilioRestException as exc:
            if exc.status == 429:
                return Outcome(Result.RETRY, FLOOD_CONTROL)
            if exc.status >= 500:
                return Outcome(Result.RETRY, f"Twilio {exc.status}")
            return Outcome(Result.FAILED, _refusal(exc.code))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(Result.RETRY, f"network ({type(exc).__name__})")

    def _render_alert(self, reply: Reply) -> list[str]:
        """`render`, once for everyone who gets the same alert in the same language (its answers are
        lettered, so their ids are not shown)."""
        key = (reply.text, reply.language, tuple(choice.label for choice in reply.choices))
        texts = self._rendered.get(key)
        if texts is None:
            if len(self._rendered) >= 256:
                self._rendered.clear()
            texts = self._rendered[key] = self.render(reply)
        return texts

    async def _remember_choices(self, user_id: str, reply: Reply, later: bool) -> None:
        if later:
            self._unwritten_choices.append((user_id, reply))
        else:
            await self.engine.remember_choices(CHANNEL, user_id, reply)


def _text_of(params: dict[str, str]) -> str | None:
    """What the person wrote or tapped; None for a photo or voice note alone."""
    words = params.get("ButtonPayload") or params.get("Body") or ""
    media = params.get("NumMedia", "0") not in ("", "0")
    return None if media and not words.strip() else words


def _window_open(contact: Contact, now: datetime) -> bool:
    """Whether free text may go: within 24 hours of their last message, unless Twilio said 63016."""
    last, closed = contact.last_inbound_at, contact.window_closed_at
    return last is not None and now - last < WINDOW and not (closed is not None and closed >= last)


def _refusal(code: int | None) -> str:
    """A permanent Twilio refusal, in words."""
    reasons = {
        21211: "invalid number",
        21614: "invalid number",
        63003: "invalid number",
        21610: "opted out",
        63016: "window closed, no template",
    }
    return reasons.get(code or 0, f"refused (Twilio {code})")
