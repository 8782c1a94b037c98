"""PostgreSQL's schema (bot/migrations/postgresql/) is SQLite's (bot/migrations/), on a real
PostgreSQL server: the same tables, columns in the same order, NOT NULLs, defaults, keys, unique
constraints, foreign keys and indexes; and its triggers keep alert_counts as SQLite's do."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.store import Database, latest_version
from tests.postgres import postgres_server


def postgres_migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot") / "migrations" / "postgresql"
    return sorted((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8"))
                  for item in folder.iterdir() if item.name.endswith(".sql"))  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
async def pg(server: str) -> AsyncIterator[asyncpg.Connection]:
    """A new database on the server, with PostgreSQL's migrations applied."""
    name = f"schema_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f"CREATE DATABASE {name}")
    conn = await asyncpg.connect(server.rsplit("/", 1)[0] + f"/{name}")
    try:
        for _, sql in postgres_migrations():
            await conn.execute(sql)
        yield conn
    finally:
        await conn.close()
        await admin.execute(f"DROP DATABASE {name}")
        await admin.close()


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "schema.db")
    yield db
    await db.close()


def default(value: Any) -> str | None:
    """A column default as both write it: 'pending'::text and 'pending' are the same."""
    if value is None:
        return None
    text = re.sub(r"::[a-z ]+$", "", str(value))
    return None if text.startswith(("nextval(", "generated")) else text


async def sqlite_schema(db: Database) -> dict[str, Any]:
    tables = await db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    schema: dict[str, Any] = {}
    for (table,) in tables:
        info = await db.query(f"PRAGMA table_info({table})")  # cid, name, type, notnull, default, pk
        unique = set()
        for _, index, is_unique, origin, _ in await db.query(f"PRAGMA index_list({table})"):
            if is_unique and origin == "u":
                unique.add(tuple(str(r[2]) for r in await db.query(f"PRAGMA index_info({index})")))
        foreign = await db.query(f"PRAGMA foreign_key_list({table})")  # id, seq, table, from, to, ...
        schema[str(table)] = {
            "columns": [str(r[1]) for r in info],
            "not_null": sorted(str(r[1]) for r in info if r[3] and not r[5]),  # key columns: never null
            "defaults": {str(r[1]): default(r[4]) for r in info if r[4] is not None},
            "primary_key": [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5]],
            "unique": unique,
            "foreign_keys": {(str(r[3]), str(r[2]), str(r[4])) for r in foreign},
        }
    indexes = {}
    named = await db.query("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    for name, table in named:
        columns = tuple(str(r[2]) for r in await db.query(f"PRAGMA index_info({name})"))
        indexes[str(name)] = (str(table), columns)
    return {"tables": schema, "indexes": indexes}


async def postgres_schema(conn: asyncpg.Connection) -> dict[str, Any]:
    tables = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    keyed = await conn.fetch(
        "SELECT c.table_name, c.constraint_name, c.constraint_type, k.column_name, k.ordinal_position,"
        " u.table_name AS target, u.column_name AS target_column"
        " FROM information_schema.table_constraints c"
        " JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)"
        " LEFT JOIN information_schema.constraint_column_usage u"
        "   ON c.constraint_type = 'FOREIGN KEY' AND u.constraint_schema = c.constraint_schema"
        "   AND u.constraint_name = c.constraint_name"
        " WHERE c.table_schema = 'public' ORDER BY c.constraint_name, k.ordinal_position"
    )
    schema: dict[str, Any] = {}
    for (table,) in tables:
        columns = await conn.fetch(
            "SELECT column_name, is_nullable, column_default, is_identity FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        mine = [r for r in keyed if r["table_name"] == table]
        key = [r["column_name"] for r in mine if r["constraint_type"] == "PRIMARY KEY"]
        unique: dict[str, list[str]] = {}
        for r in mine:
            if r["constraint_type"] == "UNIQUE":
                unique.setdefault(r["constraint_name"], []).append(r["column_name"])
        schema[table] = {
            "columns": [c["column_name"] for c in columns],
            "not_null": sorted(c["column_name"] for c in columns
                               if c["is_nullable"] == "NO" and c["column_name"] not in key),
            "defaults": {c["column_name"]: default(c["column_default"]) for c in columns
                         if c["column_default"] is not None and c["is_identity"] == "NO"},
            "primary_key": key,
            "unique": {tuple(columns) for columns in unique.values()},
            "foreign_keys": {(r["column_name"], r["target"], r["target_column"]) for r in mine
                             if r["constraint_type"] == "FOREIGN KEY"},
        }  # fmt: skip
    indexes = {}
    for row in await conn.fetch(
        "SELECT i.relname AS name, t.relname AS table, array_agg(a.attname ORDER BY k.ord) AS columns"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
        " WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        " GROUP BY i.relname, t.relname"
    ):  # the indexes made by CREATE INDEX (not those behind a key or a unique constraint)
        indexes[row["name"]] = (row["table"], tuple(row["columns"]))
    return {"tables": schema, "indexes": indexes}


async def test_postgresql_starts_at_the_version_sqlite_is_at() -> None:
    assert max(number for number, _ in postgres_migrations()) == latest_version()


async def test_the_two_schemas_are_the_same(lite: Database, pg: asyncpg.Connection) -> None:
    ours, theirs = await sqlite_schema(lite), await postgres_schema(pg)
    assert sorted(theirs["tables"]) == sorted(ours["tables"])
    for table, expected in ours["tables"].items():
        for part, value in expected.items():
            assert theirs["tables"][table][part] == value, f"{table}: {part}"
    assert theirs["indexes"] == ours["indexes"]


async def test_postgresqls_triggers_keep_the_counts_as_sqlites_do(pg: asyncpg.Connection) -> None:
    alert = await pg.fetchval(
        "INSERT INTO alerts (reference, kind, audience, areas, text, created_by, created_at, send_at, total)"
        " VALUES ('A-TEST', 'urgent', 'leaders', 'all', 'x', 'cli', 't', 't', 4) RETURNING id"
    )
    await pg.executemany(
        "INSERT INTO alert_deliveries (alert_id, channel, user_id, not_before) VALUES ($1, $2, $3, 't')",
        [(alert, "telegram", "1"), (alert, "telegram", "2"), (alert, "telegram", "3"), (alert, "whatsapp", "4")],
    )
    await pg.execute("UPDATE alert_deliveries SET status = 'sending' WHERE user_id IN ('1', '2')")  # still pending
    await pg.execute("UPDATE alert_deliveries SET status = 'sent', acknowledged = 'help' WHERE user_id = '1'")
    await pg.execute("UPDATE alert_deliveries SET status = 'failed', reason = 'blocked' WHERE user_id = '2'")
    await pg.execute("UPDATE alert_deliveries SET attempts = attempts + 1 WHERE user_id = '3'")  # not counted
    await pg.execute("DELETE FROM alert_deliveries WHERE user_id = '4'")
    counts = {r["channel"]: dict(r) for r in await pg.fetch("SELECT * FROM alert_counts WHERE alert_id = $1", alert)}
    recount = {
        r["channel"]: dict(r)
        for r in await pg.fetch(
            "SELECT alert_id, channel, count(*)::int AS total,"
            " count(*) FILTER (WHERE status IN ('pending', 'sending'))::int AS pending,"
            " count(*) FILTER (WHERE status = 'sent')::int AS sent,"
            " count(*) FILTER (WHERE status = 'delivered')::int AS delivered,"
            " count(*) FILTER (WHERE status NOT IN ('pending', 'sending', 'sent', 'delivered', 'cancelled'))::int"
            " AS failed, count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,"
            " count(acknowledged)::int AS acknowledged, count(*) FILTER (WHERE acknowledged = 'help')::int"
            " AS need_help FROM alert_deliveries WHERE alert_id = $1 GROUP BY alert_id, channel",
            alert,
        )
    }
    assert counts["telegram"] == recount["telegram"]
    assert (counts["telegram"]["total"], counts["telegram"]["pending"], counts["telegram"]["sent"]) == (3, 1, 1)
    assert (counts["telegram"]["failed"], counts["telegram"]["need_help"]) == (1, 1)
    assert counts["whatsapp"]["total"] == 0 and "whatsapp" not in recount  # deleted: counted out
