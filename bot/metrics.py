"""What `GET /metrics` shows, in Prometheus's text format (prometheus-client, its default registry).

    safetybot_messages_in_total{channel}           messages people sent (texts and button presses)
    safetybot_messages_out_total{channel,kind}     messages the bot sent: reply, notice, alert, template
    safetybot_reply_seconds{channel}               time to work out a reply (a histogram)
    safetybot_outbox_pending{queue,channel}        waiting to be sent: queue "alerts" or "notices"
    safetybot_outbox_oldest_seconds{queue,channel} how late the oldest of those already due is
    safetybot_alert_sends_total{channel,result}    alert sends: sent, retry, failed (alerts.dispatch)
    safetybot_rate_limited_total{channel}          flood-control answers (429) while sending alerts
    safetybot_sender{channel}                      1 where this process sends that channel's alerts
    safetybot_sender_heartbeat_seconds             when this process's dispatcher last went round
    process_* and python_*                         the process (CPU, memory, open files) and its Python

No metric carries a person's id, number or words: labels are channels, kinds and results only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

MESSAGES_IN = Counter("safetybot_messages_in", "Messages people sent the bot (texts and button presses)", ["channel"])
MESSAGES_OUT = Counter("safetybot_messages_out", "Messages the bot sent, by kind (reply, notice, alert, template)",
                       ["channel", "kind"])  # fmt: skip
REPLY_SECONDS = Histogram(
    "safetybot_reply_seconds", "Time to work out a reply to a message", ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip
OUTBOX_PENDING = Gauge("safetybot_outbox_pending", "Messages waiting to be sent, by queue (alerts, notices)",
                       ["queue", "channel"])  # fmt: skip
OUTBOX_OLDEST = Gauge("safetybot_outbox_oldest_seconds", "How late the oldest waiting message already due is",
                      ["queue", "channel"])  # fmt: skip

Waiting = Callable[[datetime], Awaitable[list[tuple[str, int, str | None]]]]


def received(channel: str) -> float:
    """Count a message in; the moment it arrived, for `replied`."""
    MESSAGES_IN.labels(channel).inc()
    return time.perf_counter()


def replied(channel: str, since: float) -> None:
    """Record how long a reply took to work out (since `received`)."""
    REPLY_SECONDS.labels(channel).observe(time.perf_counter() - since)


def sent(channel: str, kind: str, count: int = 1) -> None:
    """Count messages out."""
    MESSAGES_OUT.labels(channel, kind).inc(count)


async def exposition(queues: dict[str, Waiting], now: datetime) -> bytes:
    """Every metric as Prometheus reads it, with the outboxes read from the database just now."""
    OUTBOX_PENDING.clear()
    OUTBOX_OLDEST.clear()
    for queue, waiting in queues.items():
        for channel, count, oldest in await waiting(now):
            OUTBOX_PENDING.labels(queue, channel).set(count)
            late = (now - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
            OUTBOX_OLDEST.labels(queue, channel).set(max(0.0, late))
    return generate_latest()
