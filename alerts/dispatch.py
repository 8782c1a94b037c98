"""Deliver queued alerts: claim, send at each channel's rate, retry, classify, resume after a crash.

Two workers per channel each claim due deliveries in batches of about half a second's worth
(leased for `lease`), send them through that channel's `Sender` no faster than its `rate_limit`,
and record each outcome. Passing failures (flood control, 5xx, network) are retried with exponential backoff
and full jitter, up to `max_attempts`; when the platform says how long to wait (429 retry_after),
the whole channel waits that long. Permanent failures are kept with their reason. A channel that
is a `BatchSender` reads what a batch's sends need before them and writes what they recorded
after them, each at once (`prepare`, `flush`), so sending costs no database round trip a person.

At-least-once: a delivery is marked sent only after the platform took it. Stopping, the requests
in flight finish (up to `drain` seconds) and are recorded; none starts. Claims are leased for
`lease` and the lease is renewed while the batch is being sent, so a slow batch is never taken by
anyone else. If the process dies, the deliveries it had claimed but not yet recorded (at most two
half-second batches per channel: about `rate_limit` messages) are claimed again once
their lease expires, so those few people may get the alert twice. Nobody is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from prometheus_client import Counter, Gauge

from alerts.model import FLOOD_CONTROL, Alert, AlertMessage, Delivery, Outcome, Progress, Result
from alerts.sender import BatchSender, Sender
from alerts.store import AlertStore

logger = logging.getLogger(__name__)

# What /metrics shows of sending (prometheus-client's default registry).
SENDS = Counter("safetybot_alert_sends", "Alert sends tried, by channel and result (sent, retry, failed)",
                ["channel", "result"])  # fmt: skip
RATE_LIMITED = Counter("safetybot_rate_limited", "Flood-control answers (429) from a platform while sending alerts",
                       ["channel"])  # fmt: skip
SENDER = Gauge("safetybot_sender", "1 for each channel whose alerts this process sends", ["channel"])
HEARTBEAT = Gauge("safetybot_sender_heartbeat_seconds", "When this process's dispatcher last went round (Unix time)")

Clock = Callable[[], datetime]
MessageFor = Callable[[Alert, Delivery], AlertMessage]
OnReport = Callable[[Alert, Progress], Awaitable[None]]


async def _uninterrupted(work: Awaitable[None]) -> None:
    """Run `work` to the end even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # cancelled again meanwhile, the work still goes on to the end
        raise


def _pace(rate: float) -> AsyncLimiter:
    """`rate` sends a second, in bursts of a tenth of a second's worth at most (at least one): a
    whole second's at once, on top of a platform's own bucket, met its limit and drew 429s."""
    burst = max(1.0, rate / 10)
    return AsyncLimiter(burst, burst / rate)


class Dispatcher:
    """Sends what the outbox holds, per channel, at the channel's rate."""

    def __init__(
        self,
        store: AlertStore,
        senders: Mapping[str, Sender],
        clock: Clock,
        message_for: MessageFor,
        *,
        lease: timedelta = timedelta(seconds=30),
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        idle_wait: float = 1.0,
        rng: random.Random | None = None,
        on_finished: OnReport | None = None,
        on_progress: OnReport | None = None,
        progress_every: float = 5.0,
        only_user: str | None = None,
        drain: float = 10.0,
        on_tick: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.on_tick = on_tick  # also every `progress_every` s: escalations due
        self.drain = drain  # seconds, when stopping, for requests in flight to finish
        self.only_user = only_user  # the console chat delivers only to the person at its keyboard
        self.store = store
        self.senders = dict(senders)
        self.clock = clock
        self.message_for = message_for
        self.lease = lease
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.idle_wait = idle_wait
        self.rng = rng or random.Random()
        self.on_finished = on_finished
        self.on_progress = on_progress  # live progress for whoever sent it, every `progress_every` s
        self.progress_every = progress_every
        self._shown: dict[int, tuple[int, ...]] = {}
        self._limiters = {name: _pace(s.rate_limit) for name, s in self.senders.items()}
        # Requests in flight at once per channel: a quarter of a second's sends, enough to keep the
        # rate with round trips of up to 250 ms (Twilio's are often 150), and a bound on connections.
        self._in_flight = {name: asyncio.Semaphore(max(8, int(s.rate_limit / 4))) for name, s in self.senders.items()}
        self._paused_until: dict[str, datetime] = {}
        self._alerts: dict[int, Alert] = {}
        self.heartbeat: datetime | None = None  # when it last went round (`/readyz`): None until it runs

    async def run(self) -> None:
        """Send until cancelled: two workers per channel, plus upkeep (freed claims, reports)."""
        # Two workers per channel, each claiming half a second's worth: while one records its batch
        # and claims the next, the other keeps the channel busy.
        workers = [asyncio.create_task(self._work(name)) for name in self.senders for _ in range(2)]
        workers.append(asyncio.create_task(self._upkeep_forever()))
        for name in self.senders:
            SENDER.labels(name).set(1)
        try:
            await asyncio.gather(*workers)
        finally:
            for name in self.senders:
                SENDER.labels(name).set(0)
            # Cancelled, gather has cancelled each worker once already; a second cancel would
            # interrupt a worker recording what it sent (and those people would get it twice).
            for worker in workers:
                if not worker.done() and not worker.cancelling():
                    worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, channel: str) -> None:
        while True:
            self._beat()
            try:
                sent = await self.send_due(channel)
            except Exception:
                logger.exception("alerts: the %s worker failed; retrying shortly", channel)
                sent = 0
            if not sent:
                await asyncio.sleep(self.idle_wait)

    async def send_due(self, channel: str) -> int:
        """Claim one batch of due deliveries for a channel and send it; return how many were tried."""
        sender = self.senders[channel]
        batch = max(5, int(sender.rate_limit / 2))  # half a second of sending; two workers: the in-flight window
        claimed = await self.store.claim(channel, self.clock(), batch, self.lease, user_id=self.only_user)
        if not claimed:
            return 0
        if isinstance(sender, BatchSender):
            try:
                await sender.prepare([d.user_id for d in claimed])
            except Exception:  # each send then finds out for itself
                logger.exception("alerts: the %s sender could not prepare a batch", channel)
        results: list[tuple[int, str, dict[str, Any]]] = []
        unfinished = {d.id for d in claimed}
        stopping = asyncio.Event()

        async def one(delivery: Delivery) -> None:
            async with self._in_flight[channel]:
                if not stopping.is_set():
                    await self._wait_if_paused(channel)
                async with self._limiters[channel]:
                    if stopping.is_set():  # not started: back in the queue, due at once
                        results.append((delivery.id, "pending", {"not_before": self.clock().isoformat()}))
                        unfinished.discard(delivery.id)
                        return
                    outcome = await self._send(sender, delivery)
            results.append(self._record(channel, delivery, outcome))
            unfinished.discard(delivery.id)

        async def keep_claimed() -> None:  # while this process lives, nobody else takes them
            while True:
                await asyncio.sleep(self.lease.total_seconds() / 3)
                await self.store.extend_lease(sorted(unfinished), self.clock() + self.lease)

        keeper = asyncio.create_task(keep_claimed())
        sends = asyncio.gather(*(one(d) for d in claimed))
        try:
            await asyncio.shield(sends)
        except asyncio.CancelledError:
            # Stopping: a request the platform may already have taken is let finish and recorded
            # (else its person would get the alert twice, or be left out of a correction); the
            # rest start no more.
            stopping.set()
            await asyncio.wait([sends], timeout=self.drain)
            sends.cancel()  # still waiting after `drain`: left claimed, they go again once the lease ends
            raise
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await _uninterrupted(self._record_batch(sender, results))  # what went out is recorded, even when stopping
        return len(claimed)

    async def _record_batch(self, sender: Sender, results: list[tuple[int, str, dict[str, Any]]]) -> None:
        """What the sender keeps of a batch (its messages, the answers they offer), then the outcomes."""
        if isinstance(sender, BatchSender):
            try:
                await sender.flush()
            except Exception:  # the outcomes are recorded all the same
                logger.exception("alerts: the %s sender could not record a batch", sender.channel)
        await self.store.finish(results)

    async def _send(self, sender: Sender, delivery: Delivery) -> Outcome:
        alert = await self._alert(delivery.alert_id)
        try:
            return await sender.send_alert(delivery.user_id, self.message_for(alert, delivery))
        except Exception:  # a sender should classify; if it raises, treat it as passing
            logger.exception("alerts: %s sender raised", sender.channel)
            return Outcome(Result.RETRY, "error")

    def _beat(self) -> None:
        self.heartbeat = self.clock()
        HEARTBEAT.set(self.heartbeat.timestamp())

    def _record(self, channel: str, delivery: Delivery, outcome: Outcome) -> tuple[int, str, dict[str, Any]]:
        now = self.clock()
        SENDS.labels(channel, outcome.result.value).inc()
        if outcome.reason == FLOOD_CONTROL:
            RATE_LIMITED.labels(channel).inc()
        if outcome.result is Result.SENT:
            return delivery.id, "sent", {"message_id": outcome.message_id, "sent_at": now.isoformat()}
        if outcome.result is Result.FAILED:
            return delivery.id, "failed", {"reason": outcome.reason or "refused"}
        if delivery.attempts >= self.max_attempts:
            return delivery.id, "failed", {"reason": f"gave up after {delivery.attempts} attempts ({outcome.reason})"}
        if outcome.retry_after is not None:  # the platform said: everyone on this channel waits
            until = now + timedelta(seconds=outcome.retry_after)
            self._paused_until[channel] = max(self._paused_until.get(channel, until), until)
            delay = outcome.retry_after
        else:  # exponential backoff with full jitter
            delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (delivery.attempts - 1)))
        return delivery.id, "pending", {"not_before": (now + timedelta(seconds=delay)).isoformat()}

    async def _wait_if_paused(self, channel: str) -> None:
        until = self._paused_until.get(channel)
        if until is not None:
            wait = (until - self.clock()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _alert(self, alert_id: int) -> Alert:
        alert = self._alerts.get(alert_id)
        if alert is None:
            found = await self.store.alert(alert_id)
            if found is None:
                raise LookupError(f"alert {alert_id} is gone")
            alert = self._alerts[alert_id] = found
        return alert

    # --- reports ----------------------------------------------------------------------------------
    async def _upkeep_forever(self) -> None:
        """Every `progress_every` seconds: free the claims of a dispatcher that died (their lease
        ran out), and report progress."""
        while True:
            self._beat()
            try:
                await self.store.release_expired(self.clock())
                await self.report()
            except Exception:
                logger.exception("alerts: upkeep failed")
            await asyncio.sleep(self.progress_every)

    async def report(self) -> None:
        """Show whoever sent an alert how it is going (when that changed), and the final report once;
        then whatever else is due (`on_tick`: escalations)."""
        await self._report()
        if self.on_tick is not None:
            await self.on_tick()

    async def _report(self) -> None:
        for alert in await self.store.unreported():
            if alert.send_at > self.clock():
                continue
            progress = await self.store.progress(alert)
            if progress.done:
                if self.on_finished is not None:
                    await self.on_finished(alert, progress)
                await self.store.mark_reported(alert.id, self.clock())
                self._shown.pop(alert.id, None)
                continue
            seen = (progress.sent, progress.delivered, progress.failed, progress.acknowledged, progress.pending)
            if self.on_progress is not None and self._shown.get(alert.id) != seen:
                self._shown[alert.id] = seen
                await self.on_progress(alert, progress)
