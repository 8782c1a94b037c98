"""The database: one aiosqlite connection, migrations, and every SQL statement the bot runs.

SQLite runs in WAL mode so the coordinator CLI can write while `safetybot run` reads. Writes are
serialised by one lock around `BEGIN IMMEDIATE … COMMIT`, since coroutines sharing a connection
share its transaction. All SQL lives here, in plain portable statements.

    StoreError            the database cannot be opened or migrated
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Tables holding rows about one user (by channel and user id): what /forget deletes.
USER_TABLES = (
    "subscribers",
    "dialog_state",
    "contacts",
    "outgoing_messages",
    "held_messages",
    "notifications",
    "registrations",
)  # not `coordinators`: a role is the operators' record, and a removed one must stay removed
SEAT_HOLDING = ("confirmed", "offered", "attended")  # registration statuses that hold seats


def _owner_only(path: Path) -> None:
    """Only the bot's own user may read the database (and its write-ahead log) or a backup."""
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):  # a file that doesn't exist yet, or isn't ours
            file.chmod(0o600)


def _create_owner_only(path: Path) -> None:
    """Create a file only its owner may read, or make an existing one so, before writing to it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)  # also if it was there already, with other permissions


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
    language: str | None = None  # the language they chose, if they did


@dataclass(frozen=True, slots=True)
class TrainingSession:
    """A training session as stored (times in UTC)."""

    id: int
    title: str
    provider: str
    venue: str
    address: str
    borough: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    description: str
    topics: tuple[str, ...]
    status: str
    taken: int = 0  # seats held by confirmed, offered and attended registrations
    waiting: int = 0  # registrations on the waiting list
    attended: int = 0  # registrations checked in
    sequence: int = 0  # its calendar entries' SEQUENCE: raised each time it moves or is cancelled
    moved_at: datetime | None = None  # when its time, venue or address last changed

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True, slots=True)
class Registration:
    """A person's registration for a session."""

    id: int
    session_id: int
    channel: str
    user_id: str
    name: str
    organisation: str
    role: str
    seats: int
    accessibility: str
    status: str
    offered_until: datetime | None
    calendar_token: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    """A message the bot owes someone."""

    id: int
    channel: str
    user_id: str
    body: dict[str, Any]
    attempts: int
    key: str  # what it is about (need-help:<delivery>:<coordinator>, reminder:…): queued once per key
    created_at: datetime
    coordinators_only: bool = False  # sent only to someone still a coordinator


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


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    """Items in lists of at most `size`, to keep a query's `IN (?, …)` within SQLite's limits."""
    return (items[start : start + size] for start in range(0, len(items), size))


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
            # Deleted rows are overwritten with zeros, not left in free space for a thief to read.
            await conn.execute("PRAGMA secure_delete = ON")
            if migrate:
                await db.migrate()
            if target != ":memory:":
                _owner_only(Path(target))
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(f"cannot prepare the database at {target}: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        return db

    async def scrub(self, *, attempts: int = 5, pause: float = 0.2) -> bool:
        """After deleting something sensitive: move the write-ahead log into the database file and
        empty it, so the deleted text is gone from the disk too (secure_delete zeroed it there).
        A reader in the middle of a read (the CLI, a backup) can keep the log busy: tried again
        `attempts` times, `pause` seconds apart; False, with a WARNING, if it never got through."""
        if self.path == ":memory:":
            return True
        for attempt in range(attempts):
            async with self._write_lock:
                try:
                    row = await self._fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    logger.debug("checkpoint failed: %s", exc)
                    row = None
            if row is not None and int(row[0]) == 0:  # (busy, log pages, moved): not busy, all moved
                return True
            if attempt + 1 < attempts:
                await asyncio.sleep(pause)
        logger.warning(
            "could not empty the write-ahead log (another process is reading); deleted text stays in"
            " it until the next checkpoint"
        )
        return False

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
                    f"the database is at schema version {current}, newer than this code ({newest}): upgrade the bot"
                )
            for number, name, sql in _migrations():
                if number <= current:
                    continue
                try:
                    await self._conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
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
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
            except BaseException:
                # Also when cancelled while BEGIN was still running in aiosqlite's thread: the
                # rollback is queued after it there, so the connection is never left mid-transaction
                # (rollback() does nothing when no transaction is open).
                await asyncio.shield(self._conn.rollback())
                raise
            await self._conn.execute("COMMIT")

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> Iterable[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchall()

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read (for packages with their own SQL, such as alerts)."""
        return [tuple(row) for row in await self._fetchall(sql, params)]

    async def backup(self, target: Path) -> None:
        """Copy the database to `target` with SQLite's online backup (safe while the bot runs).
        The file is created owner-only before a byte is written to it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _create_owner_only(target)
            async with aiosqlite.connect(str(target)) as dest:
                await self._conn.backup(dest)
            _owner_only(target)
        except (sqlite3.Error, OSError) as exc:
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

    async def load_dialogs(self, channel: str, user_ids: Iterable[str]) -> dict[str, DialogRecord]:
        """The saved places of many users (those who have one), read at once."""
        found = {}
        for chunk in _chunks(list(user_ids)):
            rows = await self._fetchall(
                "SELECT user_id, state, data, updated_at FROM dialog_state"
                f" WHERE channel = ? AND user_id IN ({', '.join('?' * len(chunk))})",
                (channel, *chunk),
            )
            for row in rows:
                found[str(row[0])] = DialogRecord(row[1], json.loads(row[2]), datetime.fromisoformat(row[3]))
        return found

    async def save_dialog(self, channel: str, user_id: str, state: str, data: dict[str, Any], now: datetime) -> None:
        """Save a user's place in the conversation."""
        await self.save_dialogs(channel, {user_id: DialogRecord(state, data, now)})

    async def save_dialogs(self, channel: str, records: Mapping[str, DialogRecord]) -> None:
        """Save the places of many users (by user id) in one transaction."""
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO dialog_state (channel, user_id, state, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO UPDATE SET"
                " state = excluded.state, data = excluded.data, updated_at = excluded.updated_at",
                [
                    (channel, user_id, r.state, json.dumps(r.data), r.updated_at.isoformat())
                    for user_id, r in records.items()
                ],
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
            # An alert's totals stay right: their delivery rows stay, without who they were.
            await conn.execute(
                "UPDATE alert_deliveries SET user_id = 'forgotten:' || id, message_id = NULL,"
                " reason = CASE WHEN status IN ('pending', 'sending') THEN 'forgotten' ELSE reason END,"
                " status = CASE WHEN status IN ('pending', 'sending') THEN 'failed' ELSE status END"
                " WHERE channel = ? AND user_id = ?",
                (channel, user_id),
            )
            # What they did stays in the audit log (counts, decisions), without who they were.
            who = f"{channel}:{user_id}"
            await conn.execute("UPDATE audit_log SET actor = 'forgotten' WHERE actor = ?", (who,))
            # The alerts a coordinator sent stay too, without who sent them or where the report goes.
            await conn.execute("UPDATE alerts SET created_by = 'forgotten' WHERE created_by = ?", (who,))
            for column in ("cancelled_by", "decided_by"):  # who withdrew, approved or refused one
                await conn.execute(f"UPDATE alerts SET {column} = 'forgotten' WHERE {column} = ?", (who,))
            await conn.execute(  # a call for help they took on
                "UPDATE alert_deliveries SET help_taken_by = 'forgotten' WHERE help_taken_by = ?", (who,)
            )
            await conn.execute(
                "UPDATE alerts SET report_channel = NULL, report_user = NULL"
                " WHERE report_channel = ? AND report_user = ?",
                (channel, user_id),
            )
            await conn.execute(
                "UPDATE audit_log SET details = replace(details, ?, 'forgotten') WHERE instr(details, ?) > 0",
                (json.dumps(who)[1:-1], json.dumps(who)[1:-1]),
            )
        return deleted

    # --- coordinators and the audit log --------------------------------------------------------
    async def bootstrap_coordinators(self, people: Iterable[tuple[str, str]], now: datetime) -> None:
        """Make these coordinators, unless they were ever added or removed before (COORDINATORS)."""
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO coordinators (channel, user_id, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO NOTHING",
                [(channel, user_id, now.isoformat()) for channel, user_id in people],
            )

    async def is_coordinator(self, channel: str, user_id: str) -> bool:
        """Whether this person is a coordinator now."""
        row = await self._fetchone(
            "SELECT 1 FROM coordinators WHERE channel = ? AND user_id = ? AND removed_at IS NULL", (channel, user_id)
        )
        return row is not None

    async def coordinators(self) -> list[tuple[str, str, datetime]]:
        """The coordinators now: (channel, user id, since), oldest first."""
        rows = await self._fetchall(
            "SELECT channel, user_id, added_at FROM coordinators WHERE removed_at IS NULL ORDER BY added_at, channel"
        )
        return [(row[0], row[1], datetime.fromisoformat(row[2])) for row in rows]

    async def set_coordinator(self, channel: str, user_id: str, active: bool, now: datetime) -> bool:
        """Add or remove a coordinator; return whether anything changed."""
        async with self.transaction() as conn:
            row = await (
                await conn.execute(
                    "SELECT removed_at IS NULL FROM coordinators WHERE channel = ? AND user_id = ?", (channel, user_id)
                )
            ).fetchone()
            if row is not None and bool(row[0]) == active:
                return False
            await conn.execute(
                "INSERT INTO coordinators (channel, user_id, added_at, removed_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO UPDATE SET"
                " added_at = CASE WHEN excluded.removed_at IS NULL THEN excluded.added_at ELSE added_at END,"
                " removed_at = excluded.removed_at",
                (channel, user_id, now.isoformat(), None if active else now.isoformat()),
            )
            return True

    async def audit(self, actor: str, action: str, details: Mapping[str, Any], now: datetime) -> None:
        """Record who did what, when (coordinators' actions, refusals, CLI changes)."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
                (now.isoformat(), actor, action, json.dumps(dict(details), sort_keys=True)),
            )

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
            "SELECT last_inbound_at, window_closed_at, opted_out_at, blocked_at, language FROM contacts"
            " WHERE channel = ? AND user_id = ?",
            (channel, user_id),
        )
        if row is None:
            return Contact()
        last, closed, opted_out, blocked = (datetime.fromisoformat(v) if v else None for v in tuple(row)[:4])
        return Contact(last, closed, opted_out, blocked, row[4])

    async def contacts(self, channel: str, user_ids: Iterable[str]) -> dict[str, Contact]:
        """`contact` for many users at once (one query): each of them, all None if nothing is known."""
        wanted = list(user_ids)
        found = dict.fromkeys(wanted, Contact())
        for chunk in _chunks(wanted):
            rows = await self._fetchall(
                "SELECT user_id, last_inbound_at, window_closed_at, opted_out_at, blocked_at, language FROM contacts"
                f" WHERE channel = ? AND user_id IN ({', '.join('?' * len(chunk))})",
                (channel, *chunk),
            )
            for row in rows:
                last, closed, opted_out, blocked = (datetime.fromisoformat(v) if v else None for v in tuple(row)[1:5])
                found[str(row[0])] = Contact(last, closed, opted_out, blocked, row[5])
        return found

    async def language_of(self, channel: str, user_id: str) -> str | None:
        """The language a person chose (an ISO 639-1 code), or None if they haven't."""
        row = await self._fetchone(
            "SELECT language FROM contacts WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return str(row[0]) if row is not None and row[0] else None

    async def set_language(self, channel: str, user_id: str, code: str | None) -> None:
        """Remember the language a person chose (None: forget the choice)."""
        await self._set_contact(channel, user_id, "language", code)

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
        await self.record_outgoing_many([(message_id, channel, user_id, kind, status, now)])

    async def record_outgoing_many(self, messages: Iterable[tuple[str, str, str, str, str, datetime]]) -> None:
        """`record_outgoing` for many messages in one transaction: (id, channel, user id, kind, status, when)."""
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO outgoing_messages (id, channel, user_id, kind, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                [(message_id, channel, user_id, kind, status, now.isoformat(), now.isoformat())
                 for message_id, channel, user_id, kind, status, now in messages],
            )  # fmt: skip

    async def record_unconfirmed(self, channel: str, user_id: str, kind: str, now: datetime) -> None:
        """Remember a message the platform may have taken but never confirmed (its answer was
        lost): there is no id to match a report to, so it gets one of its own."""
        await self.record_outgoing(f"unconfirmed-{uuid.uuid4().hex}", channel, user_id, kind, "unconfirmed", now)

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
        row = await self._fetchone("SELECT status, error_code FROM outgoing_messages WHERE id = ?", (message_id,))
        return (row[0], row[1]) if row else None

    # --- inbox (updates received, for deduplication and recovery after a crash) -----------------
    async def receive(self, channel: str, key: str, payload: str, now: datetime) -> bool:
        """Record an update before it is answered; False if this one was received before."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO inbox (channel, key, received_at, payload) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, key) DO NOTHING",
                (channel, key, now.isoformat(), payload),
            )
            return cursor.rowcount > 0

    async def handled(self, channel: str, key: str, now: datetime) -> None:
        """An update has been handled: keep only its key (to recognise a duplicate), not its text."""
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE inbox SET handled_at = ?, payload = NULL WHERE channel = ? AND key = ?",
                (now.isoformat(), channel, key),
            )

    async def unhandled(self, channel: str) -> list[tuple[str, str]]:
        """Updates received but never handled (the process died in between), oldest first."""
        rows = await self._fetchall(
            "SELECT key, payload FROM inbox WHERE channel = ? AND handled_at IS NULL AND payload IS NOT NULL"
            " ORDER BY received_at, rowid",
            (channel,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def purge_inbox(self, older_than: datetime) -> int:
        """Forget updates received before then (a duplicate older than that is handled again)."""
        async with self.transaction() as conn:
            cursor = await conn.execute("DELETE FROM inbox WHERE received_at < ?", (older_than.isoformat(),))
            return int(cursor.rowcount)

    # --- held messages ------------------------------------------------------------------------
    async def hold_message(
        self, channel: str, user_id: str, text: str, now: datetime, *, about: str | None = None
    ) -> None:
        """Keep a message until the user replies (only a template could be sent); `about`: the
        key of the notice it came from (deleted with it)."""
        await self.hold_messages([(channel, user_id, text, now, about)])

    async def hold_messages(self, messages: Iterable[tuple[str, str, str, datetime, str | None]]) -> None:
        """`hold_message` for many messages in one transaction: (channel, user id, text, when, about)."""
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO held_messages (channel, user_id, text, created_at, about) VALUES (?, ?, ?, ?, ?)",
                [(channel, user_id, text, now.isoformat(), about) for channel, user_id, text, now, about in messages],
            )

    async def held_messages(self, channel: str, user_id: str) -> list[tuple[int, str]]:
        """The user's held messages (id, text), oldest first; each is deleted once delivered."""
        rows = await self._fetchall(
            "SELECT id, text FROM held_messages WHERE channel = ? AND user_id = ? ORDER BY id", (channel, user_id)
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def drop_held_message(self, held_id: int) -> None:
        """A held message has been delivered."""
        async with self.transaction() as conn:
            await conn.execute("DELETE FROM held_messages WHERE id = ?", (held_id,))

    async def purge_dialogs(self, older_than: datetime) -> int:
        """Delete conversations idle since before `older_than`; return how many."""
        async with self.transaction() as conn:
            cursor = await conn.execute("DELETE FROM dialog_state WHERE updated_at < ?", (older_than.isoformat(),))
            return cursor.rowcount

    async def expire_dialogs(self, older_than: datetime, state_prefix: str, expired: str) -> int:
        """Empty the conversations in a state starting with `state_prefix` idle since before
        `older_than`, leaving only the state `expired` (so the person can be told); return how many."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE dialog_state SET state = ?, data = '{}' WHERE updated_at < ? AND substr(state, 1, ?) = ?",
                (expired, older_than.isoformat(), len(state_prefix), state_prefix),
            )
            return cursor.rowcount

    # --- unanswered questions -----------------------------------------------------------------
    async def record_unanswered(self, text: str, verdict: str, suggestions: Sequence[str], now: datetime) -> None:
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
            cursor = await conn.execute("DELETE FROM unanswered WHERE asked_at < ?", (older_than.isoformat(),))
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

    # --- training sessions --------------------------------------------------------------------
    _SESSION_COLUMNS = (
        "s.id, s.title, s.provider, s.venue, s.address, s.borough, s.starts_at, s.ends_at, s.capacity,"
        " s.description, s.topics, s.status,"
        " coalesce(sum(CASE WHEN r.status IN ('confirmed', 'offered', 'attended') THEN r.seats END), 0),"
        " count(CASE WHEN r.status = 'waiting' THEN 1 END),"
        " count(CASE WHEN r.status = 'attended' THEN 1 END), s.sequence, s.moved_at"
    )

    @staticmethod
    def _session(row: sqlite3.Row | tuple[Any, ...]) -> TrainingSession:
        return TrainingSession(
            int(row[0]), row[1], row[2], row[3], row[4], row[5],
            datetime.fromisoformat(row[6]), datetime.fromisoformat(row[7]), int(row[8]), row[9],
            tuple(t for t in row[10].split(";") if t), row[11], int(row[12]), int(row[13]), int(row[14]),
            int(row[15]), datetime.fromisoformat(row[16]) if row[16] else None,
        )  # fmt: skip

    async def add_session(self, fields: dict[str, Any], now: datetime) -> int:
        """Store a new session; return its id."""
        return (await self.add_sessions([fields], now))[0]

    async def add_sessions(self, sessions: Sequence[dict[str, Any]], now: datetime) -> list[int]:
        """Store several sessions in one transaction (all or none); return their ids."""
        ids = []
        async with self.transaction() as conn:
            for fields in sessions:
                cursor = await conn.execute(
                    "INSERT INTO training_sessions (title, provider, venue, address, borough, starts_at,"
                    " ends_at, capacity, description, topics, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?)",
                    (*_session_values(fields), now.isoformat(), now.isoformat()),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    async def add_new_sessions(self, sessions: Sequence[dict[str, Any]], now: datetime) -> tuple[list[int], list[int]]:
        """Store the sessions not already there, in one transaction (all or none); return the ids
        added and the ids of those already there. The same session is the same title and venue
        (ignoring case) starting at the same time, whatever its status."""
        added, there = [], []
        async with self.transaction() as conn:
            for fields in sessions:
                async with conn.execute(
                    "SELECT id FROM training_sessions WHERE lower(title) = lower(?) AND lower(venue) = lower(?)"
                    " AND starts_at = ? ORDER BY id LIMIT 1",
                    (fields["title"], fields["venue"], fields["starts_at"].astimezone(UTC).isoformat()),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None:
                    there.append(int(row[0]))
                    continue
                cursor = await conn.execute(
                    "INSERT INTO training_sessions (title, provider, venue, address, borough, starts_at,"
                    " ends_at, capacity, description, topics, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled', ?, ?)",
                    (*_session_values(fields), now.isoformat(), now.isoformat()),
                )
                added.append(int(cursor.lastrowid or 0))
        return added, there

    async def update_session(
        self, session_id: int, fields: dict[str, Any], now: datetime, *, moved: bool = False
    ) -> None:
        """Change some fields of a session (capacity never below the seats already taken);
        `moved`: its time or place changed, so its calendar entries get a higher SEQUENCE."""
        columns = {k: v for k, v in zip(SESSION_FIELDS, _session_values(fields), strict=True) if k in fields}
        async with self.transaction() as conn:
            if "capacity" in columns:
                async with conn.execute(
                    "SELECT coalesce(sum(seats), 0) FROM registrations WHERE session_id = ?"
                    " AND status IN ('confirmed', 'offered', 'attended')",
                    (session_id,),
                ) as cursor:
                    taken = int((await cursor.fetchone() or [0])[0])
                if int(columns["capacity"]) < taken:
                    raise StoreError(f"capacity {columns['capacity']} is below the {taken} seats already taken")
            assignments = "".join(f"{name} = ?, " for name in columns)
            if moved:
                assignments += "sequence = sequence + 1, moved_at = ?, "
            await conn.execute(
                f"UPDATE training_sessions SET {assignments}updated_at = ? WHERE id = ?",
                (*columns.values(), *([now.isoformat()] if moved else []), now.isoformat(), session_id),
            )

    async def session(self, session_id: int) -> TrainingSession | None:
        """One session with its seat counts."""
        row = await self._fetchone(
            f"SELECT {self._SESSION_COLUMNS} FROM training_sessions s"
            " LEFT JOIN registrations r ON r.session_id = s.id WHERE s.id = ? GROUP BY s.id",
            (session_id,),
        )
        return self._session(row) if row else None

    async def sessions(self, *, after: datetime | None = None, scheduled_only: bool = False) -> list[TrainingSession]:
        """Sessions in start order, optionally only scheduled ones starting after a time."""
        where, params = [], []
        if after is not None:
            where.append("s.starts_at > ?")
            params.append(after.isoformat())
        if scheduled_only:
            where.append("s.status = 'scheduled'")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._fetchall(
            f"SELECT {self._SESSION_COLUMNS} FROM training_sessions s"
            f" LEFT JOIN registrations r ON r.session_id = s.id {clause}"
            " GROUP BY s.id ORDER BY s.starts_at, s.id",
            params,
        )
        return [self._session(row) for row in rows]

    async def cancel_session(self, session_id: int, now: datetime) -> list[Registration]:
        """Cancel a session and everyone's place in it; return the registrations to tell (those
        checked in too: their attendance stays on record)."""
        async with self.transaction() as conn:
            async with conn.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE session_id = ?"
                " AND status IN ('confirmed', 'waiting', 'offered', 'attended') ORDER BY id",
                (session_id,),
            ) as cursor:
                affected = [_registration(row) for row in await cursor.fetchall()]
            await conn.execute(
                "UPDATE training_sessions SET status = 'cancelled', sequence = sequence + 1, updated_at = ?"
                " WHERE id = ?",
                (now.isoformat(), session_id),
            )
            await conn.execute(
                "UPDATE registrations SET status = 'cancelled', offered_until = NULL, updated_at = ?"
                " WHERE session_id = ? AND status IN ('confirmed', 'waiting', 'offered')",
                (now.isoformat(), session_id),
            )
        return affected

    # --- registrations ------------------------------------------------------------------------
    async def register(self, session_id: int, person: dict[str, Any], now: datetime) -> tuple[Registration, bool]:
        """Take seats if they are free, else join the waiting list, atomically.

        Returns the registration and whether it is new (False: the person already had one).
        """
        async with self.transaction() as conn:
            async with conn.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE session_id = ? AND channel = ?"
                " AND user_id = ? AND status != 'cancelled'",
                (session_id, person["channel"], person["user_id"]),
            ) as cursor:
                existing = await cursor.fetchone()
            if existing is not None:
                return _registration(existing), False
            async with conn.execute(
                "SELECT capacity, status, starts_at FROM training_sessions WHERE id = ?", (session_id,)
            ) as cursor:
                session = await cursor.fetchone()
            if session is None:
                raise StoreError(f"there is no session {session_id}")
            if session[1] != "scheduled" or datetime.fromisoformat(session[2]) <= now:
                raise StoreError(f"session {session_id} is not open for registration")
            async with conn.execute(
                "SELECT coalesce(sum(CASE WHEN status IN ('confirmed', 'offered', 'attended') THEN seats END), 0),"
                " count(CASE WHEN status = 'waiting' THEN 1 END) FROM registrations WHERE session_id = ?",
                (session_id,),
            ) as cursor:
                taken, waiting = await cursor.fetchone() or (0, 0)
            # First come, first served: nobody jumps a waiting list, even if their seats would fit.
            fits = int(waiting) == 0 and int(taken) + int(person["seats"]) <= int(session[0])
            status = "confirmed" if fits else "waiting"
            cursor = await conn.execute(
                "INSERT INTO registrations (session_id, channel, user_id, name, organisation, role, seats,"
                " accessibility, status, calendar_token, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id, person["channel"], person["user_id"], person["name"], person["organisation"],
                    person["role"], int(person["seats"]), person.get("accessibility", ""), status,
                    person["calendar_token"], now.isoformat(), now.isoformat(),
                ),
            )  # fmt: skip
            async with conn.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE id = ?", (cursor.lastrowid,)
            ) as found:
                return _registration(await found.fetchone()), True

    async def registration(self, registration_id: int) -> Registration | None:
        row = await self._fetchone(
            f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE id = ?", (registration_id,)
        )
        return _registration(row) if row else None

    async def registration_by_token(self, token: str) -> Registration | None:
        row = await self._fetchone(
            f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE calendar_token = ?", (token,)
        )
        return _registration(row) if row else None

    async def registration_ids_of(self, channel: str, user_id: str) -> list[int]:
        """The ids of all a person's registrations, whatever their status."""
        rows = await self._fetchall(
            "SELECT id FROM registrations WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return [int(row[0]) for row in rows]

    async def registrations_of(self, channel: str, user_id: str) -> list[Registration]:
        """A person's active registrations (confirmed, waiting, offered), soonest first."""
        rows = await self._fetchall(
            f"SELECT {_R_COLUMNS} FROM registrations r"
            " JOIN training_sessions s ON s.id = r.session_id WHERE r.channel = ? AND r.user_id = ?"
            " AND r.status IN ('confirmed', 'waiting', 'offered') ORDER BY s.starts_at, r.id",
            (channel, user_id),
        )
        return [_registration(row) for row in rows]

    async def waiting_position(self, registration: Registration) -> int:
        """Where a waiting registration is on its session's waiting list: 1 is next."""
        row = await self._fetchone(
            "SELECT count(*) FROM registrations WHERE session_id = ? AND status = 'waiting' AND id <= ?",
            (registration.session_id, registration.id),
        )
        return int(row[0]) if row else 0

    async def attendees(self, session_id: int) -> list[Registration]:
        """Everyone registered for a session, in the order they registered."""
        rows = await self._fetchall(
            f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        return [_registration(row) for row in rows]

    async def set_registration_status(
        self, registration_id: int, status: str, now: datetime, *, expect: tuple[str, ...] = ()
    ) -> bool:
        """Change a registration's status (only from one of `expect`, if given); True if changed."""
        condition = f" AND status IN ({', '.join('?' * len(expect))})" if expect else ""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE registrations SET status = ?, offered_until = NULL, updated_at = ? WHERE id = ?{condition}",
                (status, now.isoformat(), registration_id, *expect),
            )
            return cursor.rowcount > 0

    async def promote(self, session_id: int, now: datetime, offer_for: timedelta) -> list[Registration]:
        """Offer free seats to the waiting list, first come first served; return those offered.

        The first waiting person whose seats fit gets an offer; then the next, while seats remain.
        People a coordinator booked by phone are confirmed at once (the coordinator tells them).
        """
        offered: list[Registration] = []
        async with self.transaction() as conn:
            async with conn.execute(
                "SELECT capacity, status, starts_at FROM training_sessions WHERE id = ?", (session_id,)
            ) as cursor:
                session = await cursor.fetchone()
            if session is None or session[1] != "scheduled" or datetime.fromisoformat(session[2]) <= now:
                return []
            async with conn.execute(
                "SELECT coalesce(sum(seats), 0) FROM registrations WHERE session_id = ?"
                " AND status IN ('confirmed', 'offered', 'attended')",
                (session_id,),
            ) as cursor:
                free = int(session[0]) - int((await cursor.fetchone() or [0])[0])
            async with conn.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE session_id = ? AND status = 'waiting'"
                " ORDER BY id",
                (session_id,),
            ) as cursor:
                waiting = [_registration(row) for row in await cursor.fetchall()]
            until = min(now + offer_for, datetime.fromisoformat(session[2]))
            for candidate in waiting:
                if candidate.seats > free:
                    continue
                free -= candidate.seats
                if candidate.channel == "phone":  # booked by a coordinator, who phones them: no offer to wait on
                    await conn.execute(
                        "UPDATE registrations SET status = 'confirmed', updated_at = ? WHERE id = ?",
                        (now.isoformat(), candidate.id),
                    )
                    continue
                await conn.execute(
                    "UPDATE registrations SET status = 'offered', offered_until = ?, updated_at = ? WHERE id = ?",
                    (until.isoformat(), now.isoformat(), candidate.id),
                )
                offered.append(_registration_with(candidate, status="offered", offered_until=until))
        return offered

    async def expired_offers(self, now: datetime) -> list[Registration]:
        """Offers not taken up in time."""
        rows = await self._fetchall(
            f"SELECT {_REGISTRATION_COLUMNS} FROM registrations WHERE status = 'offered' AND offered_until <= ?",
            (now.isoformat(),),
        )
        return [_registration(row) for row in rows]

    async def due_reminders(self, now: datetime, lead: timedelta) -> list[tuple[Registration, TrainingSession]]:
        """Confirmed registrations whose session starts within `lead` from now (and hasn't started)."""
        rows = await self._fetchall(
            f"SELECT {_R_COLUMNS}, s.id FROM registrations r"
            " JOIN training_sessions s ON s.id = r.session_id"
            " WHERE r.status = 'confirmed' AND s.status = 'scheduled' AND s.starts_at > ? AND s.starts_at <= ?",
            (now.isoformat(), (now + lead).isoformat()),
        )
        found = []
        for row in rows:
            session = await self.session(int(row[-1]))
            if session is not None:
                found.append((_registration(row[:-1]), session))
        return found

    async def anonymise_past_registrations(self, ended_before: datetime) -> int:
        """Strip personal details from registrations for sessions that ended long ago (counts stay)."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE registrations SET name = '', organisation = '', role = '', accessibility = '',"
                " channel = 'deleted', user_id = 'deleted-' || id, updated_at = ?"
                " WHERE channel != 'deleted' AND session_id IN"
                " (SELECT id FROM training_sessions WHERE ends_at < ?)",
                (ended_before.isoformat(), ended_before.isoformat()),
            )
            return cursor.rowcount

    # --- notifications (the bot's own outbox for people) ----------------------------------------
    async def notify(
        self,
        key: str,
        channel: str,
        user_id: str,
        body: dict[str, Any],
        now: datetime,
        *,
        coordinators_only: bool = False,
    ) -> bool:
        """Queue a message for someone, once per key; True if newly queued. `coordinators_only`:
        it is sent only if they are still a coordinator then."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO notifications (key, channel, user_id, body, created_at, coordinators_only)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, channel, user_id, json.dumps(body), now.isoformat(), int(coordinators_only)),
            )
            return cursor.rowcount > 0

    async def purge_outgoing(self, older_than: datetime) -> int:
        """Forget what became of the messages sent before `older_than` (their delivery reports
        come within minutes); return how many."""
        async with self.transaction() as conn:
            cursor = await conn.execute("DELETE FROM outgoing_messages WHERE updated_at < ?", (older_than.isoformat(),))
            return int(cursor.rowcount)

    async def purge_notifications(self, older_than: datetime) -> int:
        """Delete notifications sent (or given up on) before `older_than`; return how many."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM notifications WHERE status != 'pending' AND created_at < ?", (older_than.isoformat(),)
            )
            return int(cursor.rowcount)

    async def data_of(self, channel: str, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored about one person (for /mydata), by kind: each a list of rows with the
        columns a person can be shown (times as stored, ISO 8601 UTC), joined with what they are
        about (a booking's session, an alert's reference). Row ids and secrets (calendar tokens)
        are left out. Every table that holds rows about a person is read here, next to
        `forget_user`, so that what /mydata shows and what /forget deletes are the same tables."""
        who = f"{channel}:{user_id}"
        queries = {
            "dialog_state": "SELECT state, data, updated_at FROM dialog_state WHERE channel = ? AND user_id = ?",
            "contacts": "SELECT last_inbound_at, window_closed_at, opted_out_at, blocked_at, language FROM contacts"
            " WHERE channel = ? AND user_id = ?",
            "registrations": "SELECT s.title, s.venue, s.address, s.borough, s.starts_at, s.ends_at,"
            " s.status AS session_status, r.name, r.organisation, r.role, r.seats, r.accessibility, r.status,"
            " r.offered_until, r.created_at, r.updated_at FROM registrations r"
            " JOIN training_sessions s ON s.id = r.session_id WHERE r.channel = ? AND r.user_id = ?"
            " ORDER BY s.starts_at, r.id",
            "subscribers": "SELECT kind, status, name, role, place, boroughs, kinds, quiet_start, quiet_end,"
            " created_at, updated_at FROM subscribers WHERE channel = ? AND user_id = ?",
            "alert_deliveries": "SELECT a.reference, a.kind, a.send_at, d.status, d.reason, d.sent_at,"
            " d.acknowledged, d.acknowledged_at FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.channel = ? AND d.user_id = ? ORDER BY d.id",
            "alerts": "SELECT reference, kind, audience, areas, text, created_at, send_at, total FROM alerts"
            " WHERE created_by = ? OR (report_channel = ? AND report_user = ?) ORDER BY id",
            "notifications": "SELECT body, status, attempts, created_at, sent_at, next_attempt_at, reason"
            " FROM notifications WHERE channel = ? AND user_id = ? ORDER BY id",
            "outgoing_messages": "SELECT kind, status, error_code, created_at, updated_at FROM outgoing_messages"
            " WHERE channel = ? AND user_id = ? ORDER BY created_at",
            "held_messages": "SELECT text, created_at FROM held_messages WHERE channel = ? AND user_id = ? ORDER BY id",
            "coordinators": "SELECT added_at, removed_at FROM coordinators WHERE channel = ? AND user_id = ?",
            "audit_log": "SELECT at, action, details FROM audit_log WHERE actor = ? ORDER BY id",
            # What others did about them (a coordinator added by an operator): named in the details.
            "audit_about": "SELECT at, action FROM audit_log WHERE actor != ? AND instr(details, ?) > 0 ORDER BY id",
        }
        named = json.dumps(who)  # as the details' JSON spells it, quotes and all (not "telegram:111" for 11)
        params: dict[str, tuple[str, ...]] = {
            "alerts": (who, channel, user_id),
            "audit_log": (who,),
            "audit_about": (who, named),
        }
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, sql in queries.items():
            async with self._conn.execute(sql, params.get(kind, (channel, user_id))) as cursor:
                names = [d[0] for d in cursor.description]
                rows = [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
            if rows:
                found[kind] = rows
        return found

    async def drop_notifications(self, key_prefix: str, *, sent_too: bool = False) -> int:
        """Withdraw queued notifications whose key starts with this (ones about someone forgotten);
        `sent_too`: delete those already sent as well (they name the person)."""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM notifications WHERE (status = 'pending' OR ?) AND substr(key, 1, ?) = ?",
                (sent_too, len(key_prefix), key_prefix),
            )
            if sent_too:  # and the copies held behind a WhatsApp template
                await conn.execute(
                    "DELETE FROM held_messages WHERE substr(about, 1, ?) = ?", (len(key_prefix), key_prefix)
                )
            return int(cursor.rowcount)

    async def withdraw_notifications(self, keys: Iterable[str]) -> int:
        """Withdraw these queued notifications (by exact key) if they have not gone yet."""
        wanted = list(keys)
        if not wanted:
            return 0
        async with self.transaction() as conn:
            cursor = await conn.execute(
                f"DELETE FROM notifications WHERE status = 'pending' AND key IN ({', '.join('?' * len(wanted))})",
                wanted,
            )
            return int(cursor.rowcount)

    async def drop_choices(self, choice_ids: Iterable[str], label: str = "-") -> int:
        """Blank the labels of these choices (buttons that name someone forgotten, such as "Check
        in: Amina") in everyone's saved conversation, keeping their places so that a typed number
        still picks what the person saw; return how many conversations changed."""
        wanted = set(choice_ids)
        if not wanted:
            return 0
        changed = 0
        async with self.transaction() as conn:
            rows = await (await conn.execute("SELECT channel, user_id, data FROM dialog_state")).fetchall()
            for channel, user_id, raw in rows:
                if not any(choice in raw for choice in wanted):  # a cheap look first
                    continue
                data = json.loads(raw)
                choices = data.get("choices", [])
                if not any(pair[0] in wanted for pair in choices):
                    continue
                data["choices"] = [[pair[0], label] if pair[0] in wanted else pair for pair in choices]
                await conn.execute(
                    "UPDATE dialog_state SET data = ? WHERE channel = ? AND user_id = ?",
                    (json.dumps(data), channel, user_id),
                )
                changed += 1
        return changed

    async def pending_notifications(self, channels: Sequence[str], limit: int = 100) -> list[Notification]:
        """Queued messages for the given channels, oldest first (whether due yet or not)."""
        if not channels:
            return []
        marks = ", ".join("?" * len(channels))
        rows = await self._fetchall(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications"
            f" WHERE status IN ('pending', 'sending') AND channel IN ({marks}) ORDER BY id LIMIT ?",
            (*channels, limit),
        )
        return [_notification(r) for r in rows]

    async def claim_notifications(
        self, channels: Sequence[str], now: datetime, lease: timedelta, *, user_id: str | None = None, limit: int = 20
    ) -> list[Notification]:
        """Take up to `limit` due notifications for the given channels, calls for help first, then
        oldest first, leased until now + lease: no other process sends them meanwhile, and a claim
        whose sender died comes back when its lease runs out."""
        if not channels:
            return []
        marks = ", ".join("?" * len(channels))
        moment = now.isoformat()
        only = " AND user_id = ?" if user_id is not None else ""
        async with self.transaction() as conn:
            cursor = await conn.execute(
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications"
                f" WHERE channel IN ({marks}){only} AND ((status = 'pending' AND coalesce(next_attempt_at, '') <= ?)"
                " OR (status = 'sending' AND lease_until <= ?))"
                f" ORDER BY substr(key, 1, {len(NEED_HELP_KEY)}) = ? DESC, id LIMIT ?",
                (*channels, *((user_id,) if user_id is not None else ()), moment, moment, NEED_HELP_KEY, limit),
            )
            rows = list(await cursor.fetchall())
            if rows:
                await conn.execute(
                    f"UPDATE notifications SET status = 'sending', lease_until = ?"
                    f" WHERE id IN ({', '.join('?' * len(rows))})",
                    ((now + lease).isoformat(), *(row[0] for row in rows)),
                )
        return [_notification(r) for r in rows]

    async def finish_notification(self, notification_id: int, status: str, now: datetime) -> None:
        """Record what became of a queued message (sent, or why it can never go)."""
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE notifications SET status = ?, attempts = attempts + 1, sent_at = ?, lease_until = NULL"
                " WHERE id = ?",
                (status, now.isoformat(), notification_id),
            )

    async def retry_notification(self, notification_id: int, at: datetime, reason: str) -> None:
        """Count a failed attempt; the message stays queued, to be tried again at `at`."""
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE notifications SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?,"
                " lease_until = NULL, reason = ? WHERE id = ?",
                (at.isoformat(), reason, notification_id),
            )

    async def notification_statuses(self, key_prefix: str) -> list[str]:
        """The status of every notification whose key starts with this (a call for help's copies)."""
        rows = await self._fetchall(
            "SELECT status FROM notifications WHERE substr(key, 1, ?) = ?", (len(key_prefix), key_prefix)
        )
        return [str(row[0]) for row in rows]

    async def undelivered(self, key_prefix: str, created_before: datetime) -> int:
        """How many notifications with this key prefix, queued before then, have still not gone."""
        row = await self._fetchone(
            "SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')"
            " AND substr(key, 1, ?) = ? AND created_at < ?",
            (len(key_prefix), key_prefix, created_before.isoformat()),
        )
        return int(row[0]) if row else 0

    async def notices_waiting(self, now: datetime) -> list[tuple[str, int, str | None]]:
        """Per channel: notifications not sent yet, and when the oldest of those due was queued
        (for /metrics)."""
        rows = await self._fetchall(
            "SELECT channel, count(*), min(CASE WHEN coalesce(next_attempt_at, '') <= ? THEN created_at END)"
            " FROM notifications WHERE status IN ('pending', 'sending') GROUP BY channel",
            (now.isoformat(),),
        )
        return [(str(r[0]), int(r[1]), r[2]) for r in rows]


NEED_HELP_KEY = "need-help:"  # notification keys of a leader's call for help: need-help:<delivery>:<coordinator>


def is_call_for_help(key: str | None) -> bool:
    """Whether a notification key is a leader's call for help."""
    return key is not None and key.startswith(NEED_HELP_KEY)


_NOTIFICATION_COLUMNS = "id, channel, user_id, body, attempts, key, created_at, coordinators_only"


def _notification(row: Any) -> Notification:
    return Notification(
        int(row[0]), row[1], row[2], json.loads(row[3]), int(row[4]), row[5], datetime.fromisoformat(row[6]),
        bool(row[7]),
    )  # fmt: skip


SESSION_FIELDS = (
    "title", "provider", "venue", "address", "borough", "starts_at", "ends_at", "capacity",
    "description", "topics",
)  # fmt: skip
_REGISTRATION_FIELDS = (
    "id", "session_id", "channel", "user_id", "name", "organisation", "role", "seats", "accessibility",
    "status", "offered_until", "calendar_token", "created_at",
)  # fmt: skip
_REGISTRATION_COLUMNS = ", ".join(_REGISTRATION_FIELDS)
_R_COLUMNS = ", ".join(f"r.{name}" for name in _REGISTRATION_FIELDS)  # the same, in joins


def _session_values(fields: dict[str, Any]) -> tuple[Any, ...]:
    """Session fields in column order, times as ISO strings and topics joined."""
    values = []
    for name in SESSION_FIELDS:
        value = fields.get(name, "" if name not in ("capacity",) else 0)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif name == "topics":
            value = ";".join(value) if isinstance(value, list | tuple) else str(value or "")
        values.append(value)
    return tuple(values)


def _registration(row: Any) -> Registration:
    return Registration(
        int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6], int(row[7]), row[8], row[9],
        datetime.fromisoformat(row[10]) if row[10] else None, row[11], datetime.fromisoformat(row[12]),
    )  # fmt: skip


def _registration_with(registration: Registration, **changes: Any) -> Registration:
    from dataclasses import replace

    return replace(registration, **changes)
