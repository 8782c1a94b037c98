"""The composition root: builds settings, content, database and engine, and nothing else does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.answers import Answerer
from bot.config import Settings
from bot.content import Content, load_content
from bot.dialog import Engine
from bot.store import Database


@dataclass(frozen=True, slots=True)
class App:
    """Everything a running bot is made of."""

    settings: Settings
    content: Content
    db: Database
    engine: Engine


@asynccontextmanager
async def open_app(
    settings: Settings, *, database: Path | str | None = None, record_gaps: bool = True
) -> AsyncIterator[App]:
    """Load content, open the database and build the engine; close the database on exit."""
    content = load_content(settings.content_dir)
    db = await Database.open(database if database is not None else settings.database_path)
    try:
        engine = Engine(
            content,
            db,
            answerer=Answerer(content),
            coordinators=settings.coordinator_ids,
            idle_limit=timedelta(days=settings.dialog_retention_days),
            gaps_limit=timedelta(days=settings.gaps_retention_days),
            record_gaps=record_gaps,
        )
        yield App(settings, content, db, engine)
    finally:
        await db.close()
