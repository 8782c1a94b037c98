"""The one web app: platform webhooks and a health check, served by uvicorn.

    POST /telegram/webhook   Telegram updates (secret header checked), queued for the bot
    POST /whatsapp/inbound   WhatsApp messages through Twilio (bot.channels.whatsapp)
    POST /whatsapp/status    WhatsApp delivery reports (bot.channels.whatsapp)
    GET  /calendar/TOKEN.ics a training booking's calendar entry (unguessable TOKEN)
    GET  /healthz            200 while the process is up
    GET  /readyz             200 when it can serve: the database answers, its schema is this code's,
                             the alerts dispatcher goes round; else 503, saying which check failed
    GET  /metrics            counters and gauges in Prometheus's text format (bot.metrics): no
                             personal data; keep it off the public address at the reverse proxy

Every webhook is authenticated before anything in it is acted on, and bodies over `MAX_BODY` are
refused before they are read in full (Telegram's secret is a header, checked first; Twilio's
signature covers the form, so up to `MAX_BODY` of it is read to check it).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.http_body import BodyIncomplete, BodyTooLarge, read_body
from bot.metrics import CONTENT_TYPE

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Telegram updates are a few kilobytes
HEADER_TIMEOUT = 10.0  # seconds a client may take to send a request's headers
MAX_CONNECTIONS = 256  # open at once; beyond this uvicorn answers 503 (a proxy's pool is far smaller)
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class GuardedHTTP(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers. uvicorn has none
    of its own: a client that opens connections and drips its headers a byte at a time (slowloris)
    would hold them all open until the process runs out of file descriptors. Bodies have their
    deadline in `bot.http_body.read_body`."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_headers()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
        self._headers_due = self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _headers_late(self, cycle: object) -> None:
        if self.cycle is cycle and not self.transport.is_closing():  # no new request began in time
            logger.debug("closed a connection that sent no complete request headers in time")
            self.transport.close()


class UpdateSink(Protocol):
    """Where webhook updates go (the Telegram channel)."""

    async def feed(self, data: dict[str, Any]) -> None:
        """Queue one update; raise ValueError if it is not one."""


def create_web_app(
    *,
    telegram: UpdateSink | None = None,
    telegram_secret: str | None = None,
    routes: Sequence[BaseRoute] = (),
    calendar: Callable[[str], Awaitable[bytes | None]] | None = None,
    readiness: Callable[[], Awaitable[dict[str, str | None]]] | None = None,
    metrics: Callable[[], Awaitable[bytes]] | None = None,
) -> Starlette:
    """Build the web app: health, Telegram's webhook if given, other channels' `routes`,
    calendar entries behind unguessable links (for channels that can't send a file), readiness
    (`readiness` gives each check's failure, None where it passed) and `metrics`."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        assert readiness is not None
        try:
            failures = await readiness()
        except Exception:  # a check that can't even run: not ready, and why goes to the log
            logger.exception("readiness: a check failed to run")
            failures = {"checks": "could not run"}
        checks = {name: failure or "ok" for name, failure in failures.items()}
        ready = all(failure is None for failure in failures.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)  # fmt: skip

    async def metrics_text(_request: Request) -> Response:
        assert metrics is not None
        return Response(await metrics(), media_type=CONTENT_TYPE)

    async def telegram_webhook(request: Request) -> Response:
        sent = request.headers.get(TELEGRAM_SECRET_HEADER, "")
        if not telegram_secret or not hmac.compare_digest(sent.encode(), telegram_secret.encode()):
            logger.warning("telegram webhook: refused a request without the right secret")
            return Response(status_code=403)
        try:
            data = json.loads(await read_body(request, MAX_BODY))
        except BodyTooLarge:
            return Response(status_code=413)
        except BodyIncomplete:
            return Response(status_code=400)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested absurdly deep
            return Response("not JSON", status_code=400)
        if not isinstance(data, dict):
            return Response("not an update", status_code=400)
        assert telegram is not None
        try:
            await telegram.feed(data)
        except (ValueError, RecursionError):
            return Response("not an update", status_code=400)
        return Response(status_code=200)

    async def calendar_entry(request: Request) -> Response:
        assert calendar is not None
        content = await calendar(str(request.path_params["token"]))
        if content is None:
            return Response(status_code=404)
        headers = {"Content-Disposition": 'attachment; filename="training.ics"', "Cache-Control": "no-store"}
        return Response(content, media_type="text/calendar", headers=headers)

    table: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), *routes]
    if readiness is not None:
        table.append(Route("/readyz", readyz, methods=["GET"]))
    if metrics is not None:
        table.append(Route("/metrics", metrics_text, methods=["GET"]))
    if calendar is not None:
        table.append(Route("/calendar/{token}.ics", calendar_entry, methods=["GET"]))
    if telegram is not None:
        table.append(Route("/telegram/webhook", telegram_webhook, methods=["POST"]))
    return Starlette(routes=table)
