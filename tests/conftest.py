"""Shared fixtures: real content, a real SQLite file per test, an engine with an injected clock."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis
import pytest

from alerts import AlertStore, Composer
from bot.alerts_flow import AlertsFlow
from bot.answers import Answerer
from bot.app import WebServer, report_flow, web_config
from bot.cli import main
from bot.config import Settings, default_content_dir, default_model_cache_dir
from bot.content import Content, load_content
from bot.dialog import Engine
from bot.messages import Delivery, Incoming, Reply
from bot.store import Database
from bot.training import Training
from bot.training_flow import TrainingFlow

# Property tests run the same examples every time, so the suite is deterministic (and CI can't turn
# red by chance); HYPOTHESIS_PROFILE=explore searches new ones, for a developer's machine.
hypothesis.settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis.settings.register_profile("explore")
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

REPO = Path(__file__).resolve().parent.parent
CONTENT_DIR = REPO / "content"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def content() -> Content:
    return load_content(CONTENT_DIR)


@pytest.fixture(scope="session")
def answerer(content: Content) -> Answerer:
    answerer = Answerer(content, default_model_cache_dir())
    answerer.judgement  # noqa: B018  # trained (or loaded) now, not inside the first test's deadline
    return answerer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.db")
    yield database
    await database.close()


@pytest.fixture
def shown(content: Content) -> Content:
    """The content as the deployment under test shows it: with the default settings here; a test
    module may override this fixture (e.g. to show draft translations) for all that follows."""
    return content


@pytest.fixture
def shown_answerer(shown: Content, answerer: Answerer) -> Answerer:
    """The answerer for `shown` (the same trained models)."""
    return answerer if shown is answerer.content else Answerer(shown, judgement=answerer.judgement)


@pytest.fixture
def make_engine(shown: Content, shown_answerer: Answerer, db: Database, clock: FakeClock) -> Callable[..., Engine]:
    def build(**overrides: Any) -> Engine:
        options: dict[str, Any] = {"answerer": shown_answerer, "clock": clock}
        options.update(overrides)
        engine_content = options.pop("content", shown)
        return Engine(engine_content, options.pop("db", db), **options)

    return build


@pytest.fixture
def training(db: Database, shown: Content, clock: FakeClock) -> Training:
    return Training(
        db, shown.copy, ZoneInfo("Europe/London"), clock=clock, offer_for=timedelta(hours=24),
        boroughs=shown.boroughs,
    )  # fmt: skip


COORDINATORS = frozenset({("console", "coord")})
# A training session as coordinators type it (local times in Europe/London).
SESSION: dict[str, object] = {
    "title": "Keeping our mosque safe",
    "venue": "Al Manaar",
    "address": "244 Acklam Road, London W10 5YG",
    "borough": "Kensington and Chelsea",
    "starts": "2026-12-05T10:00",
    "ends": "2026-12-05T13:00",
    "capacity": 3,
}

ALERT_CHANNELS = ("console", "telegram", "whatsapp")


@pytest.fixture
def alert_store(db: Database) -> AlertStore:
    return AlertStore(db)


@pytest.fixture
def composer(alert_store: AlertStore, shown: Content, clock: FakeClock) -> Composer:
    return Composer(alert_store, ZoneInfo("Europe/London"), clock, shown.boroughs, rng=random.Random(7))


@pytest.fixture
def alerts_flow(
    alert_store: AlertStore, composer: Composer, db: Database, shown: Content, clock: FakeClock
) -> AlertsFlow:
    return AlertsFlow(
        alert_store,
        composer,
        db,
        shown.copy,
        templates=shown.alert_templates,
        channels=lambda: ALERT_CHANNELS,
        clock=clock,
        roles=shown.roles,
        places=shown.places,
        numbers=shown.numbers,
    )


REPORT_EXPIRY = timedelta(minutes=60)


@pytest.fixture
async def engine(
    make_engine: Callable[..., Engine],
    training: Training,
    shown: Content,
    shown_answerer: Answerer,
    alerts_flow: AlertsFlow,
) -> Engine:
    """The engine as the app builds it: with the training, alerts and report flows, "coord" a
    coordinator."""
    alerts_flow.danger = lambda text: shown_answerer.triage.assess(text, answering=True).now
    flow = TrainingFlow(training, shown.copy, retention=timedelta(days=30), roles=shown.roles).flow()
    reporting = report_flow(shown, shown_answerer, REPORT_EXPIRY).flow()
    await training.db.bootstrap_coordinators(COORDINATORS, training.clock())
    return make_engine(flows=(flow, alerts_flow.flow(), reporting))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> bool:
    """Wait until an async check passes (for effects of work the bot does in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def make_incoming(text: str | None = None, **overrides: Any) -> Incoming:
    """An incoming console message from user "amina" unless told otherwise."""
    fields: dict[str, Any] = {"channel": "console", "user_id": "amina", "text": text}
    fields.update(overrides)
    return Incoming(**fields)


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the real content, for tests that break it on purpose."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running `safetybot` as a subprocess against a temporary database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(DATABASE_PATH=str(tmp_path / "cli.db"), CONTENT_DIR=str(CONTENT_DIR), PYTHONIOENCODING="utf-8")
    return env


class Outbox:
    """A channel that records what the notifier asks it to send first, and takes it all."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def send_proactive(self, user_id: str, reply: Reply, *, about: str | None = None) -> Delivery:
        self.sent.append((user_id, reply))
        return Delivery.SENT


@dataclass
class Ran:
    """What a command printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """Run `safetybot ARGS` in this process (the same code, without a new interpreter's start-up)."""
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(Path(cli_env["DATABASE_PATH"]).parent)

    def run(args: list[str]) -> Ran:
        capsys.readouterr()
        code = main(args)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def safetybot() -> list[str]:
    """The command that runs the CLI with this interpreter."""
    return [sys.executable, "-m", "bot"]


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        database_path=tmp_path / "bot.db",  # type: ignore[call-arg]
        content_dir=default_content_dir(),
        **values,
    )


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port; yield its base URL."""
    server = WebServer(web_config(app, "127.0.0.1", 0))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started or task.done()

    await eventually(started)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
