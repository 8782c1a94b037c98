"""The web app's own routes over real HTTP."""

from __future__ import annotations

import httpx

from bot.web import create_web_app
from tests.conftest import serving


async def test_health_check() -> None:
    async with serving(create_web_app()) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/healthz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert (await client.post(f"{base}/telegram/webhook", content=b"{}")).status_code == 404
