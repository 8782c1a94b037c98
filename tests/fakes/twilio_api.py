"""A fake Twilio REST API: a real HTTP server on 127.0.0.1 that records Messages.json posts.

The real twilio client (AsyncTwilioHttpClient) reaches it through TWILIO_API_BASE_URL. It checks
basic auth, and tests can make the next posts fail: 429, 500, a refused message with a Twilio
error code (63016: outside the 24-hour window), a dropped connection, or a message taken whose
answer is lost. It lists the messages sent to a number, newest first, as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes import LoopbackServer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-twilio-auth-token"
SENDER = "whatsapp:+14155238886"


class FakeTwilioApi(LoopbackServer):
    """The fake server. Use as a context manager or call `close()`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []  # accepted posts, in order
        self.refused = 0  # posts answered with an error
        self.accepted_at: list[float] = []  # time.monotonic() of each accepted post, for benchmarks
        self._faults: list[tuple[str, Any]] = []
        self._number_faults: dict[str, int] = {}  # "whatsapp:+44…" → Twilio error code, for good
        # With `rate_limit()`: posts beyond it get 429 (code 20429), as Twilio does.
        self._changed = threading.Condition()
        self._sids = itertools.count(1)
        self.lookups = 0  # GETs of the message list
        self._failing_lookups = 0  # the next ones answer 500
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        """The value for TWILIO_API_BASE_URL."""
        return self.address

    def fail(self, kind: str, value: Any = None, times: int = 1) -> None:
        """Make the next `times` posts fail: "status" (value: HTTP status, e.g. 429 or 500),
        "code" (value: a Twilio error code, answered with 400), "drop" (the connection closed,
        nothing taken) or "lost_answer" (the message taken, then the connection closed)."""
        with self._changed:
            self._faults.extend([(kind, value)] * times)

    def fail_lookups(self, times: int = 1) -> None:
        """Make the next `times` reads of the message list answer 500."""
        with self._changed:
            self._failing_lookups += times

    def fail_number(self, to: str, code: int) -> None:
        """Every post to this number (e.g. "whatsapp:+447700900123") is refused with `code`."""
        with self._changed:
            self._number_faults[to] = code

    def wait_for(
        self, where: Callable[[dict[str, str]], bool] = lambda _: True, timeout: float = 10.0
    ) -> dict[str, str]:
        """Wait for an accepted message matching `where`; return its parameters."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if where(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message within {timeout}s; got {self.messages}")
                self._changed.wait(left)

    async def posted(self, where: Callable[[dict[str, str]], bool] = lambda _: True) -> dict[str, str]:
        """`wait_for` from async code."""
        return await asyncio.to_thread(self.wait_for, where)

    def _answer(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]] | None:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return 404, {"code": 20404, "message": "Not found", "status": 404}
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        with self._changed:
            fault = self._faults.pop(0) if self._faults else None
            code = self._number_faults.get(params.get("To", ""))
            if fault is None and code is not None:
                fault = ("code", code)
            if fault is None and self.limit is not None and not self.limit.take():
                fault = ("status", 429)
            if fault is not None:
                self.refused += 1
                self._changed.notify_all()
        if fault is not None and fault[0] != "lost_answer":
            kind, value = fault
            if kind == "drop":
                return None
            if kind == "status":
                return value, {
                    "code": 20429 if value == 429 else 20500,
                    "message": "try later",
                    "status": value,
                }
            return 400, {"code": value, "message": f"refused with {value}", "status": 400}
        sid = f"SM{next(self._sids):032x}"
        with self._changed:
            self.messages.append({"Sid": sid, **params})
            self.accepted_at.append(time.monotonic())
            self._changed.notify_all()
        if fault is not None:  # "lost_answer": taken, but the answer never leaves
            return None
        return 201, _resource({"Sid": sid, **params})

    def _list(self, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        """GET Messages.json?To=…&From=…&PageSize=…: the latest messages first, as Twilio lists them."""
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        route, _, query = path.partition("?")
        if route != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return 404, {"code": 20404, "message": "Not found", "status": 404}
        wanted = dict(parse_qsl(query))
        size = int(wanted.get("PageSize", "50"))
        with self._changed:
            self.lookups += 1
            if self._failing_lookups:
                self._failing_lookups -= 1
                return 500, {"code": 20500, "message": "try later", "status": 500}
            matching = [
                m for m in reversed(self.messages)
                if all(m.get(k) == wanted[k] for k in ("To", "From") if k in wanted)
            ][:size]  # fmt: skip
        return 200, {
            "messages": [_resource(m) for m in matching],
            "page": 0,
            "page_size": size,
            "first_page_uri": route,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": path,
            "start": 0,
            "end": max(0, len(matching) - 1),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(fake._answer(self.path, self.headers, body))

            def do_GET(self) -> None:
                self._send(fake._list(self.path, self.headers))

            def _send(self, answer: tuple[int, dict[str, Any]] | None) -> None:
                if answer is None:
                    self.close_connection = True
                    return
                status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


def _resource(message: dict[str, str]) -> dict[str, Any]:
    """A message as Twilio's REST API shows it."""
    sid = message["Sid"]
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "status": "queued",
        "to": message.get("To"),
        "from": message.get("From"),
        "body": message.get("Body"),
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "num_segments": "1",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
