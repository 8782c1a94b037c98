"""Every SQL statement alerts runs, over the bot's database (passed in, never imported).

Tables: subscribers, alerts, alert_deliveries (the outbox) and audit_log; opt-outs and blocks are
read from the shared `contacts` table. The outbox is claimed with a lease: a crashed dispatcher's
claims expire and go back to pending, so nobody is skipped. On PostgreSQL the claim would be
`SELECT … FOR UPDATE SKIP LOCKED`; SQLite's single writer makes the transaction enough.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from alerts.model import KINDS, Alert, Delivery, Kind, Progress, Subscriber


class Connection(Protocol):
    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Db(Protocol):
    """What alerts needs of the database: write transactions and reads."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


_SUBSCRIBER = "id, channel, user_id, kind, status, name, role, place, boroughs, quiet_start, quiet_end, kinds"
_ALERT = (
    "id, reference, kind, audience, areas, text, created_by, created_at, send_at, total, report_channel, report_user,"
    " report_message, translations, cancelled_at, cancelled_by, follows, follow_up,"
    " (SELECT o.reference FROM alerts o WHERE o.id = alerts.follows), approval, decided_by, decided_at, channels,"
    " escalate_after, escalated_at"
)


_SUBSCRIBER_S = ", ".join("s." + column.strip() for column in _SUBSCRIBER.split(","))  # from subscribers s
_PAGE = 5000  # subscribers read at a time when finding an alert's recipients
PRIORITY = {"urgent": 0, "vigilance": 1, "reassurance": 2}  # claimed in this order (alert_deliveries.priority)


async def _queue(
    conn: Connection, alert_id: int, kind: str, start: datetime, deliveries: Sequence[tuple[str, str, datetime]]
) -> None:
    """One delivery row per (channel, user id, not before), at the alert kind's priority and never
    due before the alert's time (`start`): `claim` relies on it."""
    await conn.executemany(
        "INSERT INTO alert_deliveries (alert_id, channel, user_id, not_before, priority) VALUES (?, ?, ?, ?, ?)",
        ((alert_id, channel, user_id, max(not_before, start).isoformat(), PRIORITY[kind])
         for channel, user_id, not_before in deliveries),
    )  # fmt: skip


def _subscriber(row: Sequence[Any]) -> Subscriber:
    boroughs = tuple(b for b in str(row[8]).split(";") if b)
    kinds = tuple(k for k in str(row[11]).split(";") if k)
    return Subscriber(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], boroughs, row[9], row[10],
                      kinds=kinds)  # fmt: skip


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(
        int(row[0]), row[1], row[2], row[3], tuple(a for a in str(row[4]).split(";") if a), row[5], row[6],
        datetime.fromisoformat(row[7]), datetime.fromisoformat(row[8]), int(row[9]), row[10], row[11], row[12],
        json.loads(row[13] or "{}"), datetime.fromisoformat(row[14]) if row[14] else None, row[15],
        int(row[16]) if row[16] is not None else None, row[17], row[18], row[19], row[20],
        datetime.fromisoformat(row[21]) if row[21] else None, tuple(c for c in str(row[22] or "").split(";") if c),
        timedelta(seconds=int(row[23])) if row[23] else None, datetime.fromisoformat(row[24]) if row[24] else None,
    )  # fmt: skip


class AlertStore:
    """Alerts' tables."""

    def __init__(self, db: Db) -> None:
        self.db = db

    # --- subscribers ----------------------------------------------------------------------------
    async def save_subscriber(
        self,
        channel: str,
        user_id: str,
        *,
        kind: str,
        status: str,
        name: str = "",
        role: str = "",
        place: str = "",
        boroughs: Iterable[str] = (),
        now: datetime,
    ) -> tuple[Subscriber, bool]:
        """Add or update a subscriber; return it and whether anything changed."""
        areas = ";".join(boroughs)
        before = await self.subscriber(channel, user_id)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscribers (channel, user_id, kind, status, name, role, place, boroughs, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, user_id) DO UPDATE SET"
                " kind = excluded.kind, status = excluded.status, name = excluded.name, role = excluded.role,"
                " place = excluded.place, boroughs = excluded.boroughs, updated_at = excluded.updated_at",
                (channel, user_id, kind, status, name, role, place, areas, now.isoformat(), now.isoformat()),
            )
        after = await self.subscriber(channel, user_id)
        assert after is not None
        changed = before is None or (before.kind, before.status, before.name, before.role, before.place,
                                     before.boroughs) != (after.kind, after.status, after.name, after.role,
                                                          after.place, after.boroughs)  # fmt: skip
        return after, changed

    async def subscriber(self, channel: str, user_id: str) -> Subscriber | None:
        rows = await self.db.query(
            f"SELECT {_SUBSCRIBER} FROM subscribers WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return _subscriber(rows[0]) if rows else None

    async def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        rows = await self.db.query(f"SELECT {_SUBSCRIBER} FROM subscribers WHERE id = ?", (subscriber_id,))
        return _subscriber(rows[0]) if rows else None

    async def subscribers(self, *, status: str | None = None, kind: str | None = None) -> list[Subscriber]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if kind:
            where.append("kind = ?")
            params.append(kind)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.query(f"SELECT {_SUBSCRIBER} FROM subscribers{clause} ORDER BY id", params)
        return [_subscriber(r) for r in rows]

    async def set_status(self, subscriber_id: int, status: str, now: datetime) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
                (status, now.isoformat(), subscriber_id),
            )
            return bool(cursor.rowcount)

    async def set_boroughs(self, channel: str, user_id: str, boroughs: Iterable[str], now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE subscribers SET boroughs = ?, updated_at = ? WHERE channel = ? AND user_id = ?",
                (";".join(boroughs), now.isoformat(), channel, user_id),
            )

    async def set_preferences(
        self, channel: str, user_id: str, now: datetime, *, kinds: Iterable[str] | None = None,
        quiet: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        """A subscriber's choice of kinds (urgent is always added) and of quiet hours (start, end)."""
        async with self.db.transaction() as conn:
            if kinds is not None:
                chosen = [k for k in KINDS if k in set(kinds) | {Kind.URGENT}]
                await conn.execute(
                    "UPDATE subscribers SET kinds = ?, updated_at = ? WHERE channel = ? AND user_id = ?",
                    (";".join(chosen), now.isoformat(), channel, user_id),
                )
            if quiet is not None:
                await conn.execute(
                    "UPDATE subscribers SET quiet_start = ?, quiet_end = ?, updated_at = ? WHERE channel = ?"
                    " AND user_id = ?",
                    (quiet[0], quiet[1], now.isoformat(), channel, user_id),
                )

    async def deliveries_of(self, channel: str, user_id: str) -> list[int]:
        """The ids of the alert deliveries to one person."""
        rows = await self.db.query(
            "SELECT id FROM alert_deliveries WHERE channel = ? AND user_id = ? ORDER BY id", (channel, user_id)
        )
        return [int(row[0]) for row in rows]

    async def remove_subscriber(self, channel: str, user_id: str) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM subscribers WHERE channel = ? AND user_id = ?", (channel, user_id))
            return bool(cursor.rowcount)

    async def recipients(
        self, audience: str, areas: Sequence[str], channels: Sequence[str], kind: str | None = None
    ) -> list[Subscriber]:
        """Approved subscribers an alert reaches: right kind, an area in common, not opted out or
        blocked, and (given the alert's `kind`) wanting alerts of that kind."""
        return [s async for page in self.recipients_by_page(audience, areas, channels, kind) for s in page]

    async def recipients_by_page(
        self, audience: str, areas: Sequence[str], channels: Sequence[str], alert_kind: str | None = None
    ) -> AsyncIterator[list[Subscriber]]:
        """`recipients`, read a page at a time (queueing an alert keeps none of them), and what many
        people share (their role, place, areas, quiet hours, language, kinds) kept once, not once each."""
        kinds = (
            ("leader", "community") if audience == "all" else ("leader",) if audience == "leaders" else ("community",)
        )
        wanted = set(areas)
        shared: dict[str, str] = {}
        boroughs_of: dict[str, tuple[str, ...]] = {}
        kinds_of: dict[str, tuple[str, ...]] = {}
        last = 0
        while True:
            found: list[Subscriber] = []
            rows = await self.db.query(
                f"SELECT {_SUBSCRIBER_S}, c.language FROM subscribers s"
                " LEFT JOIN contacts c ON c.channel = s.channel AND c.user_id = s.user_id"
                f" WHERE s.status = 'approved' AND s.kind IN ({', '.join('?' * len(kinds))})"
                # "(s.channel || '')": read in id order from where the last page ended, not every page
                # from the start by channel and then sorted (a plain SQL way to keep an index out of it)
                f" AND (s.channel || '') IN ({', '.join('?' * len(channels))})"
                " AND c.opted_out_at IS NULL AND c.blocked_at IS NULL AND s.id > ? ORDER BY s.id LIMIT ?",
                (*kinds, *channels, last, _PAGE),
            )
            for row in rows:
                boroughs = boroughs_of.get(row[8])
                if boroughs is None:
                    boroughs = boroughs_of[row[8]] = tuple(b for b in str(row[8]).split(";") if b)
                wants = kinds_of.get(row[11])
                if wants is None:
                    wants = kinds_of[row[11]] = tuple(k for k in str(row[11]).split(";") if k)
                if alert_kind is not None and alert_kind != "urgent" and alert_kind not in wants:
                    continue  # they chose not to get this kind (urgent ones reach everyone)
                if "all" in wanted or "all" in boroughs or wanted.intersection(boroughs):
                    channel, kind, status, role, place, start, end = (
                        shared.setdefault(v, v) for v in (row[1], row[3], row[4], row[6], row[7], row[9], row[10])
                    )
                    language = None if row[12] is None else shared.setdefault(row[12], row[12])
                    found.append(Subscriber(int(row[0]), channel, row[2], kind, status, row[5], role, place, boroughs,
                                            start, end, language, wants))  # fmt: skip
            yield found
            if len(rows) < _PAGE:
                return
            last = int(rows[-1][0])

    # --- alerts and the outbox -------------------------------------------------------------------
    async def create_alert(
        self, fields: dict[str, Any], deliveries: Sequence[tuple[str, str, datetime]], now: datetime
    ) -> Alert:
        """Write the alert and one delivery row per recipient in one transaction. A follow-up
        (`reference` None) is numbered after `numbered_after` (its original's reference) in that
        transaction, so two written at once can't take the same number."""
        async with self.db.transaction() as conn:
            reference = fields["reference"]
            if reference is None:
                cursor = await conn.execute("SELECT count(*) FROM alerts WHERE follows = ?", (fields["follows"],))
                earlier = (await cursor.fetchall())[0][0]
                reference = f"{fields['numbered_after']}-{int(earlier) + 1}"
            cursor = await conn.execute(
                "INSERT INTO alerts (reference, kind, audience, areas, text, created_by, created_at, send_at, total,"
                " report_channel, report_user, translations, follows, follow_up, approval, channels, escalate_after)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reference, fields["kind"], fields["audience"], ";".join(fields["areas"]),
                    fields["text"], fields["created_by"], now.isoformat(), fields["send_at"].isoformat(),
                    fields.get("total", len(deliveries)), fields.get("report_channel"), fields.get("report_user"),
                    json.dumps(dict(fields.get("translations") or {}), ensure_ascii=False, sort_keys=True),
                    fields.get("follows"), fields.get("follow_up"), fields.get("approval"),
                    ";".join(fields.get("channels") or ()), fields.get("escalate_after"),
                ),
            )  # fmt: skip
            alert_id = int(cursor.lastrowid or 0)
            await _queue(conn, alert_id, fields["kind"], fields["send_at"], deliveries)
        alert = await self.alert(alert_id)
        assert alert is not None
        return alert

    async def decide(
        self, alert: Alert, approved: bool, who: str, now: datetime,
        deliveries: Sequence[tuple[str, str, datetime]] = (), send_at: datetime | None = None,
    ) -> Alert | None:  # fmt: skip
        """Approve an alert awaiting a second coordinator (queueing `deliveries`, from `send_at`)
        or refuse it, in one transaction; None if it was no longer awaiting (decided meanwhile)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alerts SET approval = ?, decided_by = ?, decided_at = ?, total = ?, send_at = ?"
                " WHERE id = ? AND approval = 'awaiting' AND cancelled_at IS NULL",
                ("approved" if approved else "refused", who, now.isoformat(),
                 len(deliveries) if approved else alert.total, (send_at or alert.send_at).isoformat(), alert.id),
            )  # fmt: skip
            if not cursor.rowcount:
                return None
            await _queue(conn, alert.id, alert.kind, send_at or alert.send_at, deliveries)
        return await self.alert(alert.id)

    async def alert(self, alert_id: int) -> Alert | None:
        rows = await self.db.query(f"SELECT {_ALERT} FROM alerts WHERE id = ?", (alert_id,))
        return _alert(rows[0]) if rows else None

    async def alert_by_reference(self, reference: str) -> Alert | None:
        rows = await self.db.query(f"SELECT {_ALERT} FROM alerts WHERE reference = ?", (reference.upper(),))
        return _alert(rows[0]) if rows else None

    async def follow_ups(self, alert: Alert) -> list[Alert]:
        """The corrections and all clears sent about an alert, oldest first."""
        rows = await self.db.query(f"SELECT {_ALERT} FROM alerts WHERE follows = ? ORDER BY id", (alert.id,))
        return [_alert(r) for r in rows]

    async def received(self, alert: Alert) -> list[Subscriber]:
        """Who received an alert (the platform took it) and can still be reached: subscribed and
        approved, not opted out or blocked since; with their quiet hours and language, in the
        order the alert was queued. A follow-up goes to exactly these people."""
        rows = await self.db.query(
            f"SELECT {_SUBSCRIBER_S}, c.language"
            " FROM alert_deliveries d JOIN subscribers s ON s.channel = d.channel AND s.user_id = d.user_id"
            " LEFT JOIN contacts c ON c.channel = d.channel AND c.user_id = d.user_id"
            " WHERE d.alert_id = ? AND d.status IN ('sent', 'delivered') AND s.status = 'approved'"
            " AND c.opted_out_at IS NULL AND c.blocked_at IS NULL ORDER BY d.id",
            (alert.id,),
        )
        return [dataclasses.replace(_subscriber(row), language=row[-1]) for row in rows]

    async def unacknowledged_leaders(self, alert: Alert) -> list[tuple[Subscriber, str, str | None]]:
        """The faith leaders an alert was for who haven't acknowledged it, with what became of
        their delivery (status, reason), in the order queued: for escalation."""
        rows = await self.db.query(
            f"SELECT {_SUBSCRIBER_S}, c.language, d.status, d.reason"
            " FROM alert_deliveries d JOIN subscribers s ON s.channel = d.channel AND s.user_id = d.user_id"
            " LEFT JOIN contacts c ON c.channel = d.channel AND c.user_id = d.user_id"
            " WHERE d.alert_id = ? AND d.acknowledged IS NULL AND s.kind = 'leader' AND d.status != 'cancelled'"
            " ORDER BY d.id",
            (alert.id,),
        )
        return [(dataclasses.replace(_subscriber(row), language=row[-3]), row[-2], row[-1]) for row in rows]

    async def escalations_due(self, now: datetime) -> list[Alert]:
        """Alerts whose time to be acknowledged has run out, not yet escalated (nor withdrawn,
        awaiting approval or refused)."""
        rows = await self.db.query(
            f"SELECT {_ALERT} FROM alerts WHERE escalate_after IS NOT NULL AND escalated_at IS NULL"
            " AND cancelled_at IS NULL AND coalesce(approval, 'approved') = 'approved' ORDER BY id"
        )
        alerts = [_alert(r) for r in rows]
        return [a for a in alerts if a.escalate_after is not None and a.send_at + a.escalate_after <= now]

    async def mark_escalated(self, alert: Alert, now: datetime) -> bool:
        """Claim an alert's escalation (once, whichever process gets there first)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alerts SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL", (now.isoformat(), alert.id)
            )
            return bool(cursor.rowcount)

    async def acknowledge_original(self, alert_id: int, channel: str, user_id: str, how: str, now: datetime) -> None:
        """An answer to a reminder answers the alert it reminds of."""
        rows = await self.db.query(
            "SELECT id FROM alert_deliveries WHERE alert_id = ? AND channel = ? AND user_id = ?",
            (alert_id, channel, user_id),
        )
        for (delivery_id,) in rows:
            await self.acknowledge(int(delivery_id), how, now)

    async def help_request(self, delivery_id: int) -> tuple[int, str, str, str | None, str | None] | None:
        """A delivery someone answered with Need help: (alert id, channel, user id, taken by, taken at)."""
        rows = await self.db.query(
            "SELECT alert_id, channel, user_id, help_taken_by, help_taken_at FROM alert_deliveries"
            " WHERE id = ? AND acknowledged = 'help'",
            (delivery_id,),
        )
        return (int(rows[0][0]), rows[0][1], rows[0][2], rows[0][3], rows[0][4]) if rows else None

    async def take_help(self, delivery_id: int, who: str, now: datetime) -> bool:
        """A coordinator takes on a call for help ("I'm on it"); False if someone already had."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alert_deliveries SET help_taken_by = ?, help_taken_at = ? WHERE id = ?"
                " AND acknowledged = 'help' AND help_taken_by IS NULL",
                (who, now.isoformat(), delivery_id),
            )
            return bool(cursor.rowcount)

    async def was_sent_to(self, alert: Alert, channel: str, user_id: str) -> bool:
        rows = await self.db.query(
            "SELECT 1 FROM alert_deliveries WHERE alert_id = ? AND channel = ? AND user_id = ?"
            " AND status IN ('sent', 'delivered')",
            (alert.id, channel, user_id),
        )
        return bool(rows)

    async def reference_taken(self, reference: str) -> bool:
        return bool(await self.db.query("SELECT 1 FROM alerts WHERE reference = ?", (reference,)))

    async def outbox(self, now: datetime) -> list[tuple[str, int, str | None]]:
        """Per channel: deliveries not sent yet (waiting or being sent), and the earliest time one
        of those already due was due (for /metrics; those held for quiet hours are not late)."""
        rows = await self.db.query(
            "SELECT channel, count(*), min(CASE WHEN not_before <= ? THEN not_before END) FROM alert_deliveries"
            " WHERE status IN ('pending', 'sending') GROUP BY channel",
            (now.isoformat(),),
        )
        return [(str(channel), int(waiting), oldest) for channel, waiting, oldest in rows]

    async def release_expired(self, now: datetime) -> int:
        """Claims whose dispatcher died go back to pending (they may go twice: the in-flight window)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alert_deliveries SET status = 'pending', lease_until = NULL"
                " WHERE status = 'sending' AND lease_until <= ?",
                (now.isoformat(),),
            )
            return int(cursor.rowcount)

    async def claim(
        self, channel: str, now: datetime, limit: int, lease: timedelta, *, user_id: str | None = None
    ) -> list[Delivery]:
        """Take up to `limit` due deliveries for a channel (only `user_id`'s, if given), urgent
        first, then the longest due, leased until now + lease. A delivery is never due before its
        alert's send time (`not_before` starts there), so the alerts table isn't read.

        Each priority is read as one range of the index alert_deliveries_due (channel, status,
        priority, not_before, id), so a claim reads the rows it takes and no others, however many
        are queued or waiting out quiet hours."""
        only = " AND d.user_id = ?" if user_id is not None else ""
        rows: list[Any] = []
        async with self.db.transaction() as conn:
            for priority in sorted(PRIORITY.values()):
                cursor = await conn.execute(
                    "SELECT d.id, d.alert_id, d.channel, d.user_id, d.attempts, c.language FROM alert_deliveries d"
                    " LEFT JOIN contacts c ON c.channel = d.channel AND c.user_id = d.user_id"
                    " WHERE d.channel = ? AND d.status = 'pending' AND d.priority = ? AND d.not_before <= ?"
                    f"{only} ORDER BY d.not_before, d.id LIMIT ?",
                    (channel, priority, now.isoformat(), *((user_id,) if user_id is not None else ()),
                     limit - len(rows)),
                )  # fmt: skip
                rows.extend(await cursor.fetchall())
                if len(rows) >= limit:
                    break
            if rows:
                marks = ", ".join("?" * len(rows))
                await conn.execute(
                    f"UPDATE alert_deliveries SET status = 'sending', lease_until = ?, attempts = attempts + 1"
                    f" WHERE id IN ({marks})",
                    ((now + lease).isoformat(), *(row[0] for row in rows)),
                )
        return [Delivery(int(r[0]), int(r[1]), r[2], r[3], int(r[4]) + 1, r[5]) for r in rows]

    async def recipients_of(self, alert: Alert, status: str | None = None) -> list[dict[str, Any]]:
        """Each recipient of an alert and what became of it, in the order they were queued:
        channel, user id, name and place of worship (if they signed up with them), status,
        reason, attempts, and when it was due, sent and acknowledged. `status`: only the
        `failed`, the `pending` (queued or being sent) or the `unacknowledged` (reached, no answer)."""
        only = {
            None: "",
            "failed": " AND d.status = 'failed'",
            "pending": " AND d.status IN ('pending', 'sending')",
            "unacknowledged": " AND d.status IN ('sent', 'delivered') AND d.acknowledged IS NULL",
        }[status]
        rows = await self.db.query(
            "SELECT d.channel, d.user_id, s.name, s.place, d.status, d.reason, d.attempts, d.not_before, d.sent_at,"
            " d.acknowledged, d.acknowledged_at FROM alert_deliveries d"
            " LEFT JOIN subscribers s ON s.channel = d.channel AND s.user_id = d.user_id"
            f" WHERE d.alert_id = ?{only} ORDER BY d.id",
            (alert.id,),
        )
        names = ("channel", "user_id", "name", "place_of_worship", "status", "reason", "attempts", "due_at",
                 "sent_at", "acknowledged", "acknowledged_at")  # fmt: skip
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def resend_failed(self, alert: Alert, reasons: Sequence[str], now: datetime) -> int:
        """Queue again the failed deliveries whose reason starts with one of `reasons` (a cause
        that can be fixed: no template yet, attempts used up), for people still reachable; how many."""
        if not reasons:
            return 0
        like = " OR ".join("d.reason LIKE ?" for _ in reasons)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alert_deliveries SET status = 'pending', reason = NULL, attempts = 0, lease_until = NULL,"
                " not_before = ? WHERE id IN (SELECT d.id FROM alert_deliveries d"
                " LEFT JOIN contacts c ON c.channel = d.channel AND c.user_id = d.user_id"
                f" WHERE d.alert_id = ? AND d.status = 'failed' AND ({like})"
                " AND c.opted_out_at IS NULL AND c.blocked_at IS NULL)",
                (now.isoformat(), alert.id, *(f"{reason}%" for reason in reasons)),
            )
            return int(cursor.rowcount)

    async def extend_lease(self, delivery_ids: Sequence[int], until: datetime) -> None:
        """Keep claims that are still being sent (a slow batch, a long flood-control wait)."""
        if not delivery_ids:
            return
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE alert_deliveries SET lease_until = ? WHERE status = 'sending'"
                f" AND id IN ({', '.join('?' * len(delivery_ids))})",
                (until.isoformat(), *delivery_ids),
            )

    async def finish(self, results: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Record many outcomes at once: (delivery id, new status, fields)."""
        if not results:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE alert_deliveries SET status = ?, lease_until = NULL, reason = coalesce(?, reason),"
                " message_id = coalesce(?, message_id), sent_at = coalesce(?, sent_at),"
                " not_before = coalesce(?, not_before) WHERE id = ?"
                " AND NOT (status = 'cancelled' AND ? = 'pending')",  # withdrawn meanwhile: no retry
                [(status, values.get("reason"), values.get("message_id"), values.get("sent_at"),
                  values.get("not_before"), delivery_id, status) for delivery_id, status, values in results],
            )  # fmt: skip

    async def report_delivery(self, message_id: str, status: str, error: int | None = None) -> None:
        """A platform's delivery report for a message an alert sent (Twilio's status callback)."""
        final = {"delivered": "delivered", "read": "delivered", "failed": "failed", "undelivered": "failed"}
        if status not in final:
            return
        reason = f"undelivered (code {error})" if error else "undelivered"
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE alert_deliveries SET status = ?, reason = coalesce(?, reason) WHERE message_id = ?"
                " AND status IN ('sent', 'delivered')",
                (final[status], reason if final[status] == "failed" else None, message_id),
            )

    async def delivery_for(
        self, delivery_id: int, channel: str, user_id: str
    ) -> tuple[Alert, Subscriber | None] | None:
        """A delivery of someone's own (None if it isn't theirs), with its alert and subscriber."""
        rows = await self.db.query(
            "SELECT alert_id FROM alert_deliveries WHERE id = ? AND channel = ? AND user_id = ?",
            (delivery_id, channel, user_id),
        )
        if not rows:
            return None
        alert = await self.alert(int(rows[0][0]))
        assert alert is not None
        return alert, await self.subscriber(channel, user_id)

    async def acknowledge(self, delivery_id: int, how: str, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE alert_deliveries SET acknowledged = CASE WHEN acknowledged = 'help' THEN 'help' ELSE ? END,"
                " acknowledged_at = coalesce(acknowledged_at, ?),"
                " status = CASE WHEN status = 'sent' THEN 'delivered' ELSE status END WHERE id = ?",
                (how, now.isoformat(), delivery_id),
            )

    async def progress(self, alert: Alert) -> Progress:
        """An alert's totals, from its counts (alert_counts, kept by triggers as deliveries change):
        a few rows, however many recipients; the reasons of failures read from those rows alone."""
        rows = await self.db.query(
            "SELECT channel, total, pending, sent, delivered, failed, cancelled, acknowledged, need_help"
            " FROM alert_counts WHERE alert_id = ? ORDER BY channel",
            (alert.id,),
        )
        progress = Progress(alert.reference, alert.kind, alert.total)
        for channel, total, pending, sent, delivered, failed, cancelled, acknowledged, need_help in rows:
            if total:
                progress.by_channel[channel] = total
            progress.pending += pending
            progress.sent += sent
            progress.delivered += delivered
            progress.failed += failed
            progress.cancelled += cancelled
            progress.acknowledged += acknowledged
            progress.need_help += need_help
        if progress.failed:
            reasons = await self.db.query(
                "SELECT coalesce(nullif(reason, ''), 'unknown'), count(*) FROM alert_deliveries"
                " WHERE alert_id = ? AND status = 'failed' GROUP BY 1",
                (alert.id,),
            )
            progress.failed_by_reason = {str(reason): int(count) for reason, count in reasons}
        return progress

    async def cancel(self, alert: Alert, who: str, now: datetime) -> int:
        """Withdraw an alert: its deliveries not yet sent (queued, or claimed and not yet recorded)
        are cancelled and never go; return how many. A second withdrawal changes nothing."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alerts SET cancelled_at = ?, cancelled_by = ? WHERE id = ? AND cancelled_at IS NULL",
                (now.isoformat(), who, alert.id),
            )
            if not cursor.rowcount:
                return 0
            cursor = await conn.execute(
                "UPDATE alert_deliveries SET status = 'cancelled', lease_until = NULL"
                " WHERE alert_id = ? AND status IN ('pending', 'sending')",
                (alert.id,),
            )
            return int(cursor.rowcount)

    async def alerts(self, limit: int = 20) -> list[Alert]:
        rows = await self.db.query(f"SELECT {_ALERT} FROM alerts ORDER BY id DESC LIMIT ?", (limit,))
        return [_alert(r) for r in rows]

    async def unreported(self) -> list[Alert]:
        """Alerts with someone to tell when they finish, not yet told."""
        rows = await self.db.query(
            f"SELECT {_ALERT} FROM alerts WHERE report_user IS NOT NULL AND reported_at IS NULL"
            " AND coalesce(approval, 'approved') = 'approved' ORDER BY id"
        )
        return [_alert(r) for r in rows]

    async def set_report_message(self, alert_id: int, message_id: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE alerts SET report_message = ? WHERE id = ?", (message_id, alert_id))

    async def mark_reported(self, alert_id: int, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE alerts SET reported_at = ? WHERE id = ?", (now.isoformat(), alert_id))

    # --- audit ----------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, details: dict[str, Any], now: datetime) -> None:
        """Record who did what (never the message text of people who wrote to the bot)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
                (now.isoformat(), actor, action, json.dumps(details, sort_keys=True)),
            )

    async def audit_log(self, limit: int = 50) -> list[tuple[str, str, str, dict[str, Any]]]:
        rows = await self.db.query(
            "SELECT at, actor, action, details FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]
