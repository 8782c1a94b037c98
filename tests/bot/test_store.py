"""The database: WAL, foreign keys, migrations by user_version, online backup."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import Database, StoreError, _create_owner_only, latest_version

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_new_database_is_migrated_with_wal_and_foreign_keys(db: Database) -> None:
    assert await db.version() == latest_version() >= 1
    assert (await db._fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db._fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db._fetchone("PRAGMA busy_timeout"))[0] >= 1000


async def test_migrate_twice_does_nothing(db: Database) -> None:
    assert await db.migrate() == []


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(StoreError, match="newer than this code"):
        await Database.open(path)


async def test_failed_write_leaves_nothing_half_written(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO unanswered (text, verdict, asked_at) VALUES ('q', 'fallback', 'x')")
            raise RuntimeError("crash mid-transaction")
    assert await db.gaps() == []


async def test_dialog_round_trip_and_purge(db: Database) -> None:
    await db.save_dialog("console", "a", "idle", {"choices": [["menu:main", "Main menu"]]}, NOW)
    await db.save_dialog("console", "b", "idle", {}, NOW - timedelta(days=40))
    record = await db.load_dialog("console", "a")
    assert record is not None and record.data["choices"] == [["menu:main", "Main menu"]]
    assert await db.purge_dialogs(NOW - timedelta(days=30)) == 1
    assert await db.load_dialog("console", "b") is None


async def test_backup_while_open_copies_everything(db: Database, tmp_path: Path) -> None:
    await db.record_unanswered("where is the bake sale", "fallback", [], NOW)
    target = tmp_path / "backups" / "copy.db"
    await db.backup(target)
    await db.record_unanswered("after the backup", "fallback", [], NOW)  # still writable
    copy = await Database.open(target)
    try:
        assert [g.text for g in await copy.gaps()] == ["where is the bake sale"]
    finally:
        await copy.close()


async def test_gaps_group_repeats_and_purge_old_ones(db: Database) -> None:
    for text in ("Bake sale?", "bake sale?", "parking"):
        await db.record_unanswered(text, "fallback", [], NOW)
    await db.record_unanswered("ancient", "fallback", [], NOW - timedelta(days=200))
    gaps = await db.gaps()
    assert (gaps[0].text, gaps[0].times) == ("bake sale?", 2)
    assert await db.purge_unanswered(NOW - timedelta(days=90)) == 1


async def test_scrub_says_when_a_reader_keeps_the_log_busy_and_succeeds_after(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await db.record_unanswered("a question", "fallback", [], NOW)
    reader = sqlite3.connect(db.path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM unanswered").fetchall()  # a read in progress pins the log
        await db.record_unanswered("another", "fallback", [], NOW)
        assert await db.scrub(attempts=2, pause=0) is False
        assert "could not empty the write-ahead log" in caplog.text
        reader.execute("COMMIT")
    finally:
        reader.close()
    assert await db.scrub(attempts=2, pause=0) is True
    assert Path(f"{db.path}-wal").stat().st_size == 0  # noqa: ASYNC240


async def test_a_backup_is_owner_only_from_its_first_byte(db: Database, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "copy.db"
    target.parent.mkdir()
    target.write_bytes(b"")
    target.chmod(0o644)  # left readable by everyone by an earlier tool
    await db.backup(target)
    assert target.stat().st_mode & 0o777 == 0o600
    # The file exists owner-only before SQLite writes a byte (SQLite itself would create it 0644,
    # and the backup used to fix that only at the end), whatever the process's umask.
    fresh = tmp_path / "backups" / "fresh.db"
    previous = os.umask(0)
    try:
        _create_owner_only(fresh)
    finally:
        os.umask(previous)
    assert fresh.stat().st_mode & 0o777 == 0o600 and fresh.stat().st_size == 0
