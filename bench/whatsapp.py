"""Benchmark the WhatsApp inbound webhook: signed requests per second and p50/p99 latency.

Run by hand from the repository root (not in CI):  python bench/whatsapp.py [--requests N]

Twilio-signed form posts go over loopback HTTP to the web app under uvicorn; each is checked
(RequestValidator), recorded, answered by the engine (database state, triage, FAQ) and returned
as TwiML, all within the request, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bot.answers import Answerer  # noqa: E402
from bot.app import WebServer, whatsapp_options  # noqa: E402
from bot.channels.whatsapp import WhatsAppChannel  # noqa: E402
from bot.config import Settings, default_content_dir, default_model_cache_dir  # noqa: E402
from bot.content import load_content  # noqa: E402
from bot.dialog import Engine  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.web import create_web_app  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilioApi  # noqa: E402

PUBLIC = "https://bench.example.org"
CLIENTS = 16  # Twilio calls a webhook with several connections at once


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    content = load_content(default_content_dir())
    rng = random.Random(20261126)
    questions = [q for entry in content.faq.values() for q in entry.questions]
    validator = RequestValidator(AUTH_TOKEN)
    url = f"{PUBLIC}/whatsapp/inbound"
    requests: list[tuple[dict[str, str], str]] = []
    for i in range(args.requests):
        params = {
            "From": f"whatsapp:+4477009{i:05d}",
            "To": SENDER,
            "Body": rng.choice(questions),
            "NumMedia": "0",
            "ProfileName": "A",
            "MessageSid": f"SM{i:032d}",
        }
        requests.append((params, validator.compute_signature(url, params)))

    with tempfile.TemporaryDirectory() as folder, FakeTwilioApi() as twilio:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=SENDER,
            twilio_api_base_url=twilio.base_url,
            public_base_url=PUBLIC,
            database_path=Path(folder) / "bench.db",
        )
        db = await Database.open(settings.database_path)
        channel = WhatsAppChannel(
            whatsapp_options(settings), Engine(content, db, answerer=Answerer(content, default_model_cache_dir())), db
        )
        await channel.start()
        config = uvicorn.Config(
            create_web_app(routes=channel.routes()),
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
        )
        server = WebServer(config)
        serving = asyncio.create_task(server.serve())
        while True:
            if server.started:
                break
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        latencies: list[float] = []
        queue = list(reversed(requests))

        async def sender(client: httpx.AsyncClient) -> None:
            while queue:
                params, signature = queue.pop()
                started = time.perf_counter()
                response = await client.post(
                    f"{base}/whatsapp/inbound", data=params, headers={"X-Twilio-Signature": signature}
                )
                latencies.append(1000 * (time.perf_counter() - started))
                assert response.status_code == 200 and "<Message>" in response.text

        started = time.perf_counter()
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(sender(client) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
        server.should_exit = True
        await serving
        await channel.stop()
        await db.close()
    latencies.sort()
    summary: dict[str, Any] = {
        "per_s": len(requests) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }
    print(
        f"whatsapp inbound: {summary['per_s']:.0f} signed webhooks/s   p50 {summary['p50']:.1f} ms   "
        f"p99 {summary['p99']:.1f} ms   ({len(requests)} requests, {CLIENTS} connections, loopback)"
    )


if __name__ == "__main__":
    asyncio.run(main())
