"""Reading a request's body within a size limit and a deadline, for the web app and the channels'
own webhook routes.

    BodyTooLarge          the body is over the limit (answer 413)
    BodyIncomplete        the client went away, or took too long, before sending it all (answer 400)
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import ClientDisconnect, Request

logger = logging.getLogger(__name__)

BODY_TIMEOUT = 10.0  # seconds a client may take to send a body (a slow drip holds a connection)


class BodyTooLarge(Exception):
    """The request body is over the limit."""


class BodyIncomplete(Exception):
    """The client went away, or took too long, before sending the whole body."""


async def read_body(request: Request, limit: int, within: float = BODY_TIMEOUT) -> bytes:
    """Read a request body, refusing it as soon as it passes `limit` bytes, or if it hasn't all
    arrived `within` seconds."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(within):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise BodyTooLarge
    except (ClientDisconnect, TimeoutError) as exc:
        logger.debug("a client sent only part of a request body (%s)", type(exc).__name__)
        raise BodyIncomplete from exc
    return bytes(body)
