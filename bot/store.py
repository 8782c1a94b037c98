"""The database: one aiosqlite connection, migrations, and every SQL statement the bot runs.

SQLite runs in WAL mode so the coordinator CLI can write while `safetybot run` reads. Writes are
serialised by one lock around `BEGIN IMMEDIATE … COMMIT`, since coroutines sharing a connection
share its transaction. All SQL lives here, in plain portable statements.

    StoreError            the database cannot be opened or migrated
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000
# Tables holding rows about one user (by channel and user id): what /forget deletes.
USER_TABLES = ("dialog_state", "contacts", "outgoing_messages", "held_messages")


class StoreError(Exception):
    """The database cannot be opened, migrated or backed up."""


@dataclass(frozen=True, slots=True)
class DialogRecord:
    """A user's saved place in a conversation."""

    state: str
    data: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    """How a user can be reached: when they last wrote, and what stops the bot writing first."""

    last_inbound_at: datetime | None = None
    window_closed_at: datetime | None = None
    opted_out_at: datetime | None = None
    blocked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """A question the bot could not answer, with how often it was asked."""

    text: str
    times: int
    last_asked: str
    suggestions: str


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("bot") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            number = int(item.name.split("_", 1)[0])
            found.append((number, item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    """The schema version the code expects."""
    return max((number for number, _, _ in _migrations()), default=0)


class Database:
    """The bot's database. Open with `await Database.open(path)`; close with `await db.close()`."""

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self._conn = connection
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, *, migrate: bool = True) -> Database:
        """Open (creating if needed) and, by default, bring the schema up to date."""
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(target, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {target}: {exc}") from exc
        db = cls(conn, target)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if target != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            if migrate:
                await db.migrate()
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(f"cannot prepare the database at {target}: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (waits for the write lock, so nothing is half-written)."""
        async with self._write_lock:
            await self._conn.close()

    async def version(self) -> int:
        """The schema version recorded in the file."""
        row = await self._fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> list[str]:
        """Apply every migration newer than the file's version; return the names applied."""
        applied = []
        async with self._write_lock:
            current = int((await (await self._conn.execute("PRAGMA user_version")).fetchone() or [0])[0])
            newest = latest_version()
            if current > newest:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this code "
                    f"({newest}): upgrade the bot"
                )
            for number, name, sql in _migrations():
                if number <= current:
                    continue
                try:
                    await self._conn.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
                    )
                except sqlite3.Error as exc:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise StoreError(f"migration {name} failed: {exc}") from exc
                applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run statements in one write transaction, committed together or not at all."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> Iterable[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchall()

    async def backup(self, target: Path) -> None:
        """Copy the database to `target` with SQLite's online backup (safe while the bot runs)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with aiosqlite.connect(str(target)) as dest:
                await self._conn.backup(dest)
        except sqlite3.Error as exc:
            raise StoreError(f"backup to {target} failed: {exc}") from exc

    # --- dialog state -----------------------------------------------------------------------
    async def load_dialog(self, channel: str, user_id: str) -> DialogRecord | None:
        """A user's saved place in the conversation, if any."""
        row = await self._fetchone(
            "SELECT state, data, updated_at FROM dialog_state WHERE channel = ? AND user_id = ?",
            (channel, user_id),
        )
        if row is None:
            return None
        return DialogRecord(row[0], json.loads(row[1]), datetime.fromisoformat(row[2]))

    async def save_dialog(
        self, channel: str, user_id: str, state: str, data: dict[str, Any], now: datetime
    ) -> None:
        """Save a user's place in the conversation."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO dialog_state (channel, user_id, state, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO UPDATE SET"
                " state = excluded.state, data = excluded.data, updated_at = excluded.updated_at",
                (channel, user_id, state, json.dumps(data), now.isoformat()),
            )

    async def forget_user(self, channel: str, user_id: str) -> int:
        """Delete everything stored about one user; return the rows deleted."""
        deleted = 0
        async with self.transaction() as conn:
            for table in USER_TABLES:
                cursor = await conn.execute(
                    f"DELETE FROM {table} WHERE channel = ? AND user_id = ?", (channel, user_id)
                )
                deleted += cursor.rowcount
        return deleted

    # --- contacts: reaching people first ------------------------------------------------------
    async def _set_contact(self, channel: str, user_id: str, column: str, value: str | None) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                f"INSERT INTO contacts (channel, user_id, {column}) VALUES (?, ?, ?)"
                f" ON CONFLICT (channel, user_id) DO UPDATE SET {column} = excluded.{column}",
                (channel, user_id, value),
            )

    async def contact(self, channel: str, user_id: str) -> Contact:
        """What is known about reaching a user (all None if nothing)."""
        row = await self._fetchone(
            "SELECT last_inbound_at, window_closed_at, opted_out_at, blocked_at FROM contacts"
            " WHERE channel = ? AND user_id = ?",
            (channel, user_id),
        )
        values = [datetime.fromisoformat(v) if v else None for v in (row or (None,) * 4)]
        return Contact(*values)

    async def record_inbound(self, channel: str, user_id: str, now: datetime) -> None:
        """A user wrote: their window opens and they no longer block the bot."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO contacts (channel, user_id, last_inbound_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO UPDATE SET last_inbound_at = excluded.last_inbound_at,"
                " window_closed_at = NULL, blocked_at = NULL",
                (channel, user_id, now.isoformat()),
            )

    async def mark_blocked(self, channel: str, user_id: str, now: datetime) -> None:
        """Record that a user blocked the bot: no proactive messages to them."""
        await self._set_contact(channel, user_id, "blocked_at", now.isoformat())

    async def mark_reachable(self, channel: str, user_id: str) -> None:
        """A user wrote to the bot, so they no longer block it."""
        await self._set_contact(channel, user_id, "blocked_at", None)

    async def is_blocked(self, channel: str, user_id: str) -> bool:
        """Whether a user has blocked the bot."""
        return (await self.contact(channel, user_id)).blocked_at is not None

    async def set_opted_out(self, channel: str, user_id: str, when: datetime | None) -> None:
        """STOP (a time) or START (None): whether the bot may message the user first."""
        await self._set_contact(channel, user_id, "opted_out_at", when.isoformat() if when else None)

    async def mark_window_closed(self, channel: str, user_id: str, now: datetime) -> None:
        """The platform refused a free-form message: only templates until the user writes."""
        await self._set_contact(channel, user_id, "window_closed_at", now.isoformat())

    # --- outgoing messages --------------------------------------------------------------------
    async def record_outgoing(
        self, message_id: str, channel: str, user_id: str, kind: str, status: str, now: datetime
    ) -> None:
        """Remember a message handed to a platform, to match its delivery reports."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO outgoing_messages (id, channel, user_id, kind, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (message_id, channel, user_id, kind, status, now.isoformat(), now.isoformat()),
            )

    async def update_outgoing(
        self, message_id: str, status: str, error_code: int | None, now: datetime
    ) -> tuple[str, str] | None:
        """Record a delivery report; return (channel, user id) of the message, if it is ours."""
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE outgoing_messages SET status = ?, error_code = coalesce(?, error_code),"
                " updated_at = ? WHERE id = ?",
                (status, error_code, now.isoformat(), message_id),
            )
            async with conn.execute(
                "SELECT channel, user_id FROM outgoing_messages WHERE id = ?", (message_id,)
            ) as cursor:
                row = await cursor.fetchone()
        return (row[0], row[1]) if row else None

    async def outgoing(self, message_id: str) -> tuple[str, int | None] | None:
        """(status, error code) of a message the bot sent."""
        row = await self._fetchone(
            "SELECT status, error_code FROM outgoing_messages WHERE id = ?", (message_id,)
        )
        return (row[0], row[1]) if row else None

    # --- held messages ------------------------------------------------------------------------
    async def hold_message(self, channel: str, user_id: str, text: str, now: datetime) -> None:
        """Keep a message until the user replies (only a template could be sent)."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO held_messages (channel, user_id, text, created_at) VALUES (?, ?, ?, ?)",
                (channel, user_id, text, now.isoformat()),
            )

    async def take_held_messages(self, channel: str, user_id: str) -> list[str]:
        """The user's held messages, oldest first, removed from the store."""
        async with self.transaction() as conn:
            async with conn.execute(
                "SELECT id, text FROM held_messages WHERE channel = ? AND user_id = ? ORDER BY id",
                (channel, user_id),
            ) as cursor:
                rows = list(await cursor.fetchall())
            if rows:
                await conn.execute(
                    "DELETE FROM held_messages WHERE channel = ? AND user_id = ?", (channel, user_id)
                )
        return [row[1] for row in rows]

    async def purge_dialogs(self, older_than: datetime) -> int:
        """Delete conversations idle since before `older_than`; return how many."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM dialog_state WHERE updated_at < ?", (older_than.isoformat(),)
            )
            return cursor.rowcount

    # --- unanswered questions -----------------------------------------------------------------
    async def record_unanswered(
        self, text: str, verdict: str, suggestions: Sequence[str], now: datetime
    ) -> None:
        """Keep a question the bot could not answer (its text only, never who asked)."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO unanswered (text, verdict, suggestions, asked_at) VALUES (?, ?, ?, ?)",
                (text, verdict, " ".join(suggestions), now.isoformat()),
            )

    async def gaps(self, limit: int = 50) -> list[Gap]:
        """Unanswered questions, most often asked first."""
        rows = await self._fetchall(
            "SELECT lower(text) AS question, count(*) AS times, max(asked_at) AS last_asked,"
            " max(suggestions) FROM unanswered GROUP BY question"
            " ORDER BY times DESC, last_asked DESC LIMIT ?",
            (limit,),
        )
        return [Gap(r[0], int(r[1]), r[2], r[3]) for r in rows]

    async def purge_unanswered(self, older_than: datetime) -> int:
        """Delete unanswered questions recorded before `older_than`."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM unanswered WHERE asked_at < ?", (older_than.isoformat(),)
            )
            return cursor.rowcount

    async def scan(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, for privacy checks and `mydata`-style exports in tests."""
        tables = [
            r[0]
            for r in await self._fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: [tuple(r) for r in await self._fetchall(f'SELECT * FROM "{t}"')] for t in tables}
