"""Benchmark a flood: one person sends 1,000 messages at once while 200 others ask questions.

Run by hand (not in CI):  python bench/flood.py
The whole engine runs as the app builds it (training, alerts and report flows, a SQLite file, the
per-person limit from the settings' defaults). Reports how long the others waited for their
answers with and without the flood, and what the flooder got back.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.app import open_app
from bot.config import Settings
from bot.dialog import Engine
from bot.messages import Incoming, Reply

OTHERS, FLOOD = 200, 1000
QUESTIONS = [
    "how do I report graffiti on our mosque",
    "what is true vision",
    "number for victim support",
    "how can we make our building more secure",
]


async def timed(engine: Engine, incoming: Incoming) -> tuple[float, Reply]:
    started = time.perf_counter()
    reply = await engine.handle(incoming)
    return time.perf_counter() - started, reply


async def run(flood: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, database_path=Path(folder) / "bench.db")  # type: ignore[call-arg]
        async with open_app(settings, record_gaps=False) as app:
            others = [
                timed(app.engine, Incoming("whatsapp", f"+4479111{n:05d}", QUESTIONS[n % len(QUESTIONS)]))
                for n in range(OTHERS)
            ]
            spam = [
                timed(app.engine, Incoming("whatsapp", "+447911999999", f"spam {n}"))
                for n in range(FLOOD if flood else 0)
            ]
            started = time.perf_counter()
            results = await asyncio.gather(*spam, *others)
            took = time.perf_counter() - started
            mine, their_results = results[: FLOOD if flood else 0], results[FLOOD if flood else 0 :]
            theirs = sorted(t for t, _ in their_results)
            answered = sum(1 for _, r in their_results if r.answer)
            label = f"with a {FLOOD}-message flood" if flood else "no flood"
            print(
                f"{label:24} {OTHERS} others answered={answered} in {took:.2f}s  "
                f"their wait p50={statistics.median(theirs) * 1000:.0f}ms "
                f"p99={theirs[int(len(theirs) * 0.99) - 1] * 1000:.0f}ms"
            )
            if flood:
                silent = sum(1 for _, r in mine if r.silent)
                notices = sum(1 for _, r in mine if r.text.startswith("You're sending"))
                print(f"{'':24} the flooder: {FLOOD - silent - notices} answers, {notices} notice, {silent} ignored")


if __name__ == "__main__":
    asyncio.run(run(flood=False))
    asyncio.run(run(flood=True))
