"""Benchmark booking under contention: many people at once for few seats, on the SQLite store.

Run by hand from the repository root (not in CI):  python bench/registrations.py [--people N --seats S]

Every person registers at once, spread over several database connections (as the bot, the CLI
and a second process would be), and the run then proves what matters: no session overbooked,
the waiting list in arrival order, and every registration accounted for.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import default_content_dir
from bot.content import load_content
from bot.store import Database
from bot.training import Person, Training

CONNECTIONS = 4


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--seats", type=int, default=100)
    args = parser.parse_args()
    copy = load_content(default_content_dir()).copy
    tz = ZoneInfo("Europe/London")
    start = (datetime.now(UTC) + timedelta(days=30)).astimezone(tz)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        connections = [await Database.open(path) for _ in range(CONNECTIONS)]
        trainings = [Training(db, copy, tz, clock=lambda: datetime.now(UTC)) for db in connections]
        session_id = await trainings[0].add({
            "title": "Benchmark", "venue": "Hall", "address": "1 Road", "borough": "Brent",
            "starts": start.strftime("%Y-%m-%dT10:00"), "ends": start.strftime("%Y-%m-%dT12:00"),
            "capacity": args.seats,
        })  # fmt: skip
        latencies: list[float] = []

        async def book(n: int) -> None:
            began = time.perf_counter()
            await trainings[n % CONNECTIONS].register(
                session_id, Person("telegram", str(n), f"Person {n}", "Masjid", "Volunteer", 1)
            )
            latencies.append(1000 * (time.perf_counter() - began))

        began = time.perf_counter()
        await asyncio.gather(*(book(n) for n in range(args.people)))
        elapsed = time.perf_counter() - began
        everyone = await connections[0].attendees(session_id)
        session = await connections[0].session(session_id)
        for db in connections:
            await db.close()
    assert session is not None
    confirmed = [r for r in everyone if r.status == "confirmed"]
    waiting = [r for r in everyone if r.status == "waiting"]
    latencies.sort()
    print(
        f"{args.people} people for {args.seats} seats over {CONNECTIONS} connections: "
        f"{args.people / elapsed:.0f} registrations/s, p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms"
    )
    overbooked = sum(r.seats for r in confirmed) - args.seats
    in_order = not confirmed or not waiting or max(r.id for r in confirmed) < min(r.id for r in waiting)
    print(
        f"seats taken {session.taken}/{session.capacity}, confirmed {len(confirmed)}, waiting {len(waiting)}, "
        f"registrations {len(everyone)}/{args.people}; overbooked by {max(0, overbooked)}; "
        f"waiting list in arrival order: {in_order}"
    )
    if overbooked > 0 or len(everyone) != args.people or not in_order:
        sys.exit("FAILED: the store lost or overbooked seats")


if __name__ == "__main__":
    asyncio.run(main())
