"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that records every call.

The real python-telegram-bot client talks to it through TELEGRAM_API_BASE_URL. Tests queue
updates for getUpdates, wait for the calls the bot makes, and inject faults per method:
flood control (429 with retry_after), a blocked user (403), or a dropped connection.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes import LoopbackServer

TOKEN = "123456:TEST-token"
BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Safety",
    "username": "safety_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters PTB sends as plain strings; everything else is JSON-encoded.
_STRING_PARAMETERS = {"text", "parse_mode", "url", "secret_token", "callback_query_id", "caption", "document_filename"}


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeBotApi(LoopbackServer):
    """The fake server. Use as a context manager or call `close()`."""

    def __init__(self, poll_hold: float = 0.05) -> None:
        self.calls: list[Call] = []
        self.poll_hold = poll_hold  # how long an empty getUpdates waits for news
        self._updates: list[dict[str, Any]] = []
        self._faults: dict[str, list[tuple[str, Any]]] = {}
        self._chat_faults: dict[int, str] = {}  # chat id → "forbidden" or "not_found", for good
        # With `rate_limit()`: sendMessage calls beyond it get 429 (retry_after 1), like Telegram.
        self._changed = threading.Condition()
        self._released = threading.Event()  # ends every "hang" fault
        self.hanging = 0  # calls held by a "hang" fault so far
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        """The value for TELEGRAM_API_BASE_URL."""
        return f"{self.address}/bot"

    # --- what tests do ------------------------------------------------------------------------
    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (an update_id is added)."""
        update = {"update_id": next(self._update_ids), **update}
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    def fail(self, method: str, kind: str, value: Any = None, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail: "retry_after" (value: seconds),
        "forbidden", "bad_request", "server_error" (500), "hang" (no answer until `release()`, at
        most 60 s, then a dropped connection), "not_json" (a 200 whose body is an HTML
        page, as a broken proxy sends: the message may or may not have gone), "drop" (close the
        connection without answering) or "slow" (the call is taken and recorded, but answered only
        after `release()`, at most 60 s: a client with a shorter read timeout gives up first)."""
        with self._changed:
            self._faults.setdefault(method, []).extend([(kind, value)] * times)

    def release(self) -> None:
        """End every "hang" and "slow" fault, and forget those not yet met."""
        with self._changed:
            held = ("hang", "slow")
            self._faults = {m: [f for f in faults if f[0] not in held] for m, faults in self._faults.items()}
        self._released.set()

    def fail_chat(self, chat_id: int, kind: str) -> None:
        """Every sendMessage to this chat fails: "forbidden" (blocked the bot) or "not_found"."""
        with self._changed:
            self._chat_faults[chat_id] = kind

    def wait_for(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _: True, timeout: float = 10.0
    ) -> Call:
        """Wait until the bot has made a matching call (and not failed it); return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self.calls:
                    if call.method == method and where(call.params):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    made = [f"{c.method}({c.params.get('text', '')[:40]!r})" for c in self.calls]
                    raise AssertionError(f"no matching {method} call within {timeout}s; made: {made}")
                self._changed.wait(left)

    async def called(
        self, method: str, where: Callable[[dict[str, Any]], bool] = lambda _: True, within: float = 10.0
    ) -> Call:
        """`wait_for` from async code, without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, method, where, within)

    def calls_of(self, method: str) -> list[Call]:
        """The calls of `method` that succeeded, in order."""
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The sendMessage calls that succeeded, in order (optionally to one chat)."""
        with self._changed:
            return [
                c.params
                for c in self.calls
                if c.method == "sendMessage" and (chat_id is None or c.params.get("chat_id") == chat_id)
            ]

    # --- the server side ----------------------------------------------------------------------
    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if method == "sendMessage" and self.limit is not None and not self.limit.take():
            fault: tuple[str, Any] | None = ("retry_after", 1)
        else:
            with self._changed:
                faults = self._faults.get(method)
                fault = faults.pop(0) if faults else None
                kind = self._chat_faults.get(params.get("chat_id")) if method == "sendMessage" else None
                if fault is None and kind is not None:
                    fault = (kind, None)
        if fault is not None:
            kind, value = fault
            if kind == "drop":
                return None
            if kind == "hang":
                with self._changed:
                    self.hanging += 1
                    self._changed.notify_all()
                self._released.wait(timeout=60)
                return None
            if kind == "slow":
                with self._changed:
                    self.calls.append(Call(method, params))
                    self.hanging += 1
                    self._changed.notify_all()
                self._released.wait(timeout=60)
                return 200, {"ok": True, "result": self._result(method, params)}
            if kind == "retry_after":
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {value}",
                    "parameters": {"retry_after": value},
                }
            if kind == "forbidden":
                return 403, {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
            if kind == "not_json":
                return 200, {"<html>": "proxy error"}
            if kind == "server_error":
                return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            if kind == "not_found":
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: as the test asked"}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._updates_after(int(params.get("offset") or 0))}
        with self._changed:
            self.calls.append(Call(method, params))
            self._changed.notify_all()
        return 200, {"ok": True, "result": self._result(method, params)}

    def _updates_after(self, offset: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.poll_hold
        with self._changed:
            while True:
                fresh = [u for u in self._updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if fresh or left <= 0:
                    return fresh
                self._changed.wait(left)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "sendDocument", "editMessageText"):
            chat_id = params.get("chat_id")
            chat = {"id": chat_id, "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "group"}
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": chat,
                "from": BOT_USER,
                "text": params.get("text") or params.get("caption") or "",
            }
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True  # setMyCommands, setWebhook, deleteWebhook, answerCallbackQuery...

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                method = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith(f"/bot{TOKEN}/"):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = fake._answer(method, _parse(self.headers.get("Content-Type", ""), body))
                if answer is None:  # drop the connection without a word
                    self.close_connection = True
                    return
                self._reply(*answer)

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = b"<html>proxy error</html>" if "<html>" in payload else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # a "slow" answer the client gave up on
                    self.close_connection = True

            def log_message(self, *_: object) -> None:  # keep test output quiet
                pass

        return Handler


def _parse(content_type: str, body: bytes) -> dict[str, Any]:
    """Parameters as PTB sends them (form-encoded or multipart, non-string values as JSON), or as
    a JSON object (application/json, which the Bot API also takes: the channel sends alerts so)."""
    if content_type.startswith("application/json"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    if content_type.startswith("multipart/"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        raw: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():  # a file: its bytes, and the name it was sent under
                raw[str(name)] = payload
                raw[f"{name}_filename"] = part.get_filename()
            else:
                raw[str(name)] = payload.decode()
    else:
        raw = dict(parse_qsl(body.decode(), keep_blank_values=True))
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _STRING_PARAMETERS or not isinstance(value, str):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def user(user_id: int = 111, first_name: str = "Amina") -> dict[str, Any]:
    """A Telegram user object."""
    return {"id": user_id, "is_bot": False, "first_name": first_name}


def private_message(text: str | None, user_id: int = 111, message_id: int = 1, **extra: Any) -> dict[str, Any]:
    """An update with a message in a private chat (text None: a sticker)."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Amina"},
        "from": user(user_id),
        **extra,
    }
    if text is None:
        message["sticker"] = {
            "file_id": "s1",
            "file_unique_id": "u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    else:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": message}


def group_message(text: str, user_id: int, chat_id: int = -100777, message_id: int = 1) -> dict[str, Any]:
    """An update with a message in a group."""
    return {
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": "Masjid committee"},
            "from": user(user_id),
            "text": text,
        }
    }


def button_press(data: str, user_id: int = 111, chat_id: int | None = None) -> dict[str, Any]:
    """An update with a press of an inline keyboard button."""
    chat = chat_id if chat_id is not None else user_id
    return {
        "callback_query": {
            "id": f"cb-{user_id}-{time.monotonic_ns()}",
            "from": user(user_id),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 99,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
                "from": BOT_USER,
                "text": "menu",
            },
        }
    }
