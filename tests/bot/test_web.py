"""The web app's own routes over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.web import GuardedHTTP, create_web_app
from tests.conftest import serving


async def test_health_check() -> None:
    async with serving(create_web_app()) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert (await client.post(f"{base}/telegram/webhook", content=b"{}")).status_code == 404


async def test_a_client_dripping_its_headers_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GuardedHTTP, "header_timeout", 0.2)  # our own deadline, shortened for the test
    async with serving(create_web_app()) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ...and the rest never comes (slowloris)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # the server closed it
        writer.close()
        async with httpx.AsyncClient() as client:  # others are still served
            assert (await client.get(f"{base}/healthz")).status_code == 200
