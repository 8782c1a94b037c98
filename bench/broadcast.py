"""Benchmark a broadcast: 10,000 recipients across Telegram and WhatsApp, against fake platforms
that enforce their rate limits (429 beyond them).

Run by hand from the repository root (not in CI):  python bench/broadcast.py [--recipients N]
At scale, with Telegram's paid broadcasts:  python bench/broadcast.py --recipients 100000 --telegram-rate 1000

Each fake server runs in its own process on loopback, with the limit set to the bot's setting
(TELEGRAM_RATE_LIMIT 500/s, WHATSAPP_RATE_LIMIT 800/s by default here; above 30/s Telegram's
alerts go as paid broadcasts, TELEGRAM_PAID_BROADCAST). The subscribers are written in one bulk
insert. The bot's real channels and dispatcher send the alert from the durable outbox in this
process. Reported per channel: the achieved rate as a fraction of the limit in steady state
(first and last second left out; target ≥ 0.95), 429s received in steady state (target 0), lost
(0), duplicates (0); for the bot's process, the CPU time (all its threads) from queueing the
alert to the last outcome recorded, per message (target: at most 1 ms, and at 100,000 recipients
within 1.2 times the figure at 10,000), and its peak memory (max RSS; target under 200 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bot.app import alerts_dispatcher, open_app, telegram_options, whatsapp_options  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.channels.whatsapp import WhatsAppChannel  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN  # noqa: E402
from tests.fakes.telegram_api import FakeBotApi  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilioApi  # noqa: E402


def serve_fake(kind: str, rate: float, pipe: Connection) -> None:
    """In a child process: run one fake platform until told to stop, then report what it saw."""
    # Telegram holds a long poll open until there is news (10 s): so does the fake here, not the
    # 50 ms of the tests, which would cost the bot a getUpdates call 20 times a second.
    fake: Any = FakeBotApi(poll_hold=POLL_HOLD) if kind == "telegram" else FakeTwilioApi()
    limit = fake.rate_limit(rate)
    pipe.send(fake.base_url)
    started = time.process_time()
    pipe.recv()  # "stop"
    cpu = time.process_time() - started  # what answering cost, on the same cores as the bot
    if kind == "telegram":
        sent = [(c.params.get("chat_id"), c.at) for c in fake.calls if c.method == "sendMessage"]
    else:
        sent = [(m["To"], at) for m, at in zip(fake.messages, fake.accepted_at, strict=True)]
    pipe.send({"sent": sent, "refused": list(limit.refused), "cpu": cpu})
    fake.close()


FREE_BROADCAST_RATE = 30  # messages a second Telegram takes in a broadcast without paying: above, paid broadcasts
POLL_HOLD = 2.0  # seconds an empty getUpdates waits; the bot's stop waits for one at most this long


def steady(times: list[float], refused: list[float]) -> tuple[float, int, float]:
    """Rate (per second) and 429s between the first and last second of sending, and the duration."""
    if len(times) < 3:
        return 0.0, len(refused), 0.0
    times = sorted(times)
    start, end = times[0] + 1.0, times[-1] - 1.0
    inside = [t for t in times if start <= t <= end]
    rate = len(inside) / (end - start) if end > start else 0.0
    return rate, sum(1 for t in refused if start <= t <= end), times[-1] - times[0]


async def seed(app: Any, chats: list[str], numbers: list[str]) -> None:
    """The subscribers (approved leaders, a tenth of them everywhere) in one transaction, as bulk inserts."""
    now = datetime.now(UTC).isoformat()
    boroughs = app.content.boroughs
    async with app.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscribers (channel, user_id, kind, status, name, role, place, boroughs,"
            " created_at, updated_at) VALUES (?, ?, 'leader', 'approved', ?, 'Imam', 'Masjid', ?, ?, ?)",
            ((channel, user, f"Leader {i}", "all" if i % 10 == 0 else boroughs[i % len(boroughs)], now, now)
             for channel, users in (("telegram", chats), ("whatsapp", numbers)) for i, user in enumerate(users)),
        )  # fmt: skip
        await conn.executemany(  # wrote recently: the alert itself goes, not the template
            "INSERT INTO contacts (channel, user_id, last_inbound_at) VALUES ('whatsapp', ?, ?)",
            ((number, now) for number in numbers),
        )


async def run(args: argparse.Namespace, urls: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_path=Path(folder) / "bench.db",
            telegram_bot_token=TELEGRAM_TOKEN,
            telegram_api_base_url=urls["telegram"],
            telegram_rate_limit=args.telegram_rate,
            telegram_paid_broadcast=args.telegram_rate > FREE_BROADCAST_RATE,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=SENDER,
            twilio_api_base_url=urls["whatsapp"],
            whatsapp_rate_limit=args.whatsapp_rate,
            public_base_url="https://bench.example.org",
        )
        async with open_app(settings) as app:
            kinds = ("telegram", "whatsapp") if args.channels == "both" else (args.channels,)
            share = args.recipients // len(kinds)
            chats = [str(100000 + i) for i in range(share)] if "telegram" in kinds else []
            numbers = [f"+4479{i:08d}" for i in range(share)] if "whatsapp" in kinds else []
            await seed(app, chats, numbers)
            telegram = TelegramChannel(telegram_options(settings), app.engine, app.db)
            whatsapp = WhatsAppChannel(whatsapp_options(settings), app.engine, app.db)
            await telegram.start()
            await whatsapp.start()
            senders = {"telegram": telegram, "whatsapp": whatsapp}
            dispatcher = alerts_dispatcher(app, {kind: senders[kind] for kind in kinds})
            started = time.monotonic()
            cpu_before = time.process_time()
            alert = await app.composer.send(kind="urgent", audience="leaders", areas=("all",),
                                            text="**Benchmark**: lock the side doors.", created_by="bench",
                                            channels=("telegram", "whatsapp"))  # fmt: skip
            queued = time.monotonic() - started
            task = asyncio.create_task(dispatcher.run())
            while not (await app.alerts.progress(alert)).done:  # noqa: ASYNC110 (the outbox is the state)
                await asyncio.sleep(0.2)
            elapsed = time.monotonic() - started
            cpu = time.process_time() - cpu_before
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            progress = await app.alerts.progress(alert)
            await telegram.stop()
            await whatsapp.stop()
        return {
            "chats": chats,
            "numbers": numbers,
            "total": alert.total,
            "queued": queued,
            "elapsed": elapsed,
            "cpu": cpu,
            "progress": progress,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--telegram-rate", type=float, default=500)
    parser.add_argument("--whatsapp-rate", type=float, default=800)
    parser.add_argument("--channels", choices=("both", "telegram", "whatsapp"), default="both")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    pipes, children, urls = {}, [], {}
    for kind, rate in (("telegram", args.telegram_rate), ("whatsapp", args.whatsapp_rate)):
        mine, theirs = context.Pipe()
        child = context.Process(target=serve_fake, args=(kind, rate, theirs), daemon=True)
        child.start()
        pipes[kind], urls[kind] = mine, mine.recv()
        children.append(child)
    result = asyncio.run(run(args, urls))
    seen: dict[str, Any] = {}
    for kind, pipe in pipes.items():
        pipe.send("stop")
        seen[kind] = pipe.recv()
    for child in children:
        child.join(timeout=10)

    progress = result["progress"]
    print(f"recipients {result['total']} (telegram {len(result['chats'])}, whatsapp {len(result['numbers'])});"
          f" alert and outbox written in {result['queued'] * 1000:.0f} ms;"
          f" all sent in {result['elapsed']:.1f} s")  # fmt: skip
    print(f"outbox: sent {progress.sent}, delivered {progress.delivered}, failed {progress.failed}, "
          f"pending {progress.pending}")  # fmt: skip
    expected = {
        "telegram": {int(c) for c in result["chats"]},
        "whatsapp": {f"whatsapp:{n}" for n in result["numbers"]},
    }
    for kind, limit in (("telegram", args.telegram_rate), ("whatsapp", args.whatsapp_rate)):
        if not expected[kind]:
            continue
        sent = seen[kind]["sent"]
        counts = Counter(user for user, _ in sent)
        lost = len(expected[kind] - set(counts))
        duplicates = sum(n - 1 for n in counts.values())
        rate, refused_steady, span = steady([at for _, at in sent], seen[kind]["refused"])
        print(f"{kind:9} limit {limit:.0f}/s: achieved {rate:.0f}/s = {rate / limit:.3f} of the limit "
              f"(steady state, {span:.1f} s); 429s {len(seen[kind]['refused'])} in all, {refused_steady} in"
              f" steady state; lost {lost}; duplicates {duplicates}")  # fmt: skip
    print(f"the bot's process: {result['cpu'] / result['elapsed']:.0%} of a core while sending,"
          f" {result['cpu'] / max(1, result['total']) * 1000:.2f} ms CPU per message;"
          f" peak memory (max RSS) {result['rss_mib']:.0f} MiB")  # fmt: skip
    print("the fake platforms (on the same cores): "
          + ", ".join(f"{kind} {seen[kind]['cpu']:.1f} s of CPU" for kind in seen if expected[kind]))  # fmt: skip


if __name__ == "__main__":
    main()
