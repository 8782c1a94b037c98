"""The composition root: builds content, database, engine, channels and web app; runs the bot."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from alerts import Alert, AlertStore, Composer, Dispatcher, Progress
from bot import metrics
from bot.alerts_flow import AlertsFlow
from bot.answers import Answerer
from bot.config import Settings
from bot.content import Content, load_content
from bot.dialog import Engine
from bot.logs import QUIET
from bot.notify import Notifier, ProactiveSender
from bot.ratelimit import FloodGuard
from bot.report_flow import EVIDENCE_ENTRY, ReportFlow
from bot.store import Database, latest_version
from bot.training import Training
from bot.training_flow import TrainingFlow
from bot.web import MAX_CONNECTIONS, GuardedHTTP, create_web_app

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramOptions
    from bot.channels.whatsapp import WhatsAppOptions

logger = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = 3600.0  # seconds between retention purges while running
SCHEDULE_EVERY = 2.0  # seconds between looks at offers, reminders and queued messages
DRAFTS_EVERY = 30.0  # seconds between deletions of expired report answers (REPORT_EXPIRY_MINUTES)


@dataclass(frozen=True, slots=True)
class App:
    """Everything a running bot is made of."""

    settings: Settings
    content: Content
    db: Database
    engine: Engine
    training: Training
    alerts: AlertStore
    composer: Composer
    alerts_flow: AlertsFlow


def cli_actor() -> str:
    """Who the audit log names for what is done from the command line (the coordinators' commands)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (some containers)
        return "cli"


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    database: Path | str | None = None,
    record_gaps: bool = True,
    clock: Callable[[], datetime] | None = None,
    limit_floods: bool = True,
) -> AsyncIterator[App]:
    """Load content, open the database and build the engine; close the database on exit.
    `limit_floods=False`: no per-person message limit (the local console, batch answers)."""
    content = load_content(settings.content_dir).with_min_status(settings.translation_min_status)
    db = await Database.open(database if database is not None else settings.database_path)
    try:
        clock = clock or _utcnow
        await db.bootstrap_coordinators(settings.coordinator_ids, clock())
        training = Training(
            db,
            content.copy,
            settings.zone,
            clock=clock,
            offer_for=timedelta(hours=settings.training_offer_hours),
            reminders=settings.reminder_leads,
            boroughs=content.boroughs,
        )
        flow = TrainingFlow(
            training, content.copy, retention=timedelta(days=settings.training_retention_days), roles=content.roles
        )
        alerts = AlertStore(db)
        composer = Composer(alerts, settings.zone, clock, content.boroughs, approvals=settings.alert_approvals,
                            urgent_alone=settings.alert_urgent_one_coordinator,
                            community_channel=settings.telegram_community_channel)  # fmt: skip
        answerer = Answerer(content, settings.model_cache_dir)
        alerts_flow = AlertsFlow(
            alerts,
            composer,
            db,
            content.copy,
            templates=content.alert_templates,
            channels=lambda: settings.alert_channels,
            clock=clock,
            roles=content.roles,
            places=content.places,
            numbers=content.numbers,
            danger=lambda text: answerer.triage.assess(text, answering=True).now,
        )
        flows = [flow.flow(), alerts_flow.flow()]
        if content.report is not None:
            flows.append(report_flow(content, answerer, timedelta(minutes=settings.report_expiry_minutes)).flow())
        engine = Engine(
            content,
            db,
            answerer=answerer,
            idle_limit=timedelta(days=settings.dialog_retention_days),
            gaps_limit=timedelta(days=settings.gaps_retention_days),
            clock=clock,
            record_gaps=record_gaps,
            flows=flows,
            flood=FloodGuard(settings.user_rate_limit, settings.user_rate_burst, clock) if limit_floods else None,
            tz=settings.zone,
        )
        yield App(settings, content, db, engine, training, alerts, composer, alerts_flow)
    finally:
        await db.close()


def report_flow(content: Content, answerer: Answerer, expiry: timedelta) -> ReportFlow:
    """The guided report, with the answerer's 999 advice and triage."""
    assert content.report is not None
    evidence = content.faq.get(EVIDENCE_ENTRY)
    return ReportFlow(
        content.report,
        content.copy,
        expiry=expiry,
        emergency=lambda: answerer.emergency_reply(content.faq.get("emergency-999")),
        danger=lambda text: answerer.triage.assess(text, answering=True).now,
        evidence=evidence,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def web_config(web: Any, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves the web app: with deadlines for slow clients and a cap on connections."""
    return uvicorn.Config(
        web, host=host, port=port, lifespan="off", log_level="warning", http=GuardedHTTP,
        limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5,
    )  # fmt: skip


class WebServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: `run_bot` stops it and then finishes the bot's work."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def missing_channels(settings: Settings) -> str | None:
    """Why `safetybot run` has nothing to run, or None if a channel is configured."""
    if settings.telegram_bot_token is not None or settings.whatsapp_enabled:
        return None
    return (
        "no channel is configured.\n"
        "  - Telegram needs TELEGRAM_BOT_TOKEN (from @BotFather).\n"
        "  - WhatsApp needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM and\n"
        "    PUBLIC_BASE_URL.\n"
        "Set them in .env (see .env.example and the README). To try the bot now without any\n"
        "tokens, run:\n"
        "  safetybot chat"
    )


def telegram_options(settings: Settings) -> TelegramOptions:
    """The Telegram channel's options from the settings (TELEGRAM_*); ValueError without a token."""
    from bot.channels.telegram import TelegramOptions  # imported only when a channel runs

    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    secret = settings.telegram_webhook_secret
    return TelegramOptions(
        bot_token=settings.telegram_bot_token.get_secret_value(),
        api_base_url=settings.telegram_api_base_url,
        rate_limit=settings.telegram_rate_limit,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=secret.get_secret_value() if secret else None,
        community_channel=settings.telegram_community_channel,
        paid_broadcast=settings.telegram_paid_broadcast,
    )


def whatsapp_options(settings: Settings) -> WhatsAppOptions:
    """The WhatsApp channel's options from the settings (TWILIO_*, WHATSAPP_*, PUBLIC_BASE_URL);
    ValueError unless WhatsApp is configured."""
    from bot.channels.whatsapp import WhatsAppOptions  # imported only when a channel runs

    if not settings.whatsapp_enabled or settings.twilio_auth_token is None:
        raise ValueError("WhatsApp is not configured")
    return WhatsAppOptions(
        account_sid=str(settings.twilio_account_sid),
        auth_token=settings.twilio_auth_token.get_secret_value(),
        whatsapp_from=str(settings.twilio_whatsapp_from),
        public_base_url=str(settings.public_base_url),
        api_base_url=settings.twilio_api_base_url,
        rate_limit=settings.whatsapp_rate_limit,
        template_sids=settings.template_sids,
    )


async def run_bot(settings: Settings) -> None:
    """Run every configured channel and the web app until SIGINT or SIGTERM, then stop cleanly."""
    from telegram.warnings import PTBDeprecationWarning

    from bot.channels.telegram import TelegramChannel  # imported only when a channel runs
    from bot.channels.whatsapp import WhatsAppChannel

    # PTB warns on every flood-control wait that RetryAfter.retry_after will change type.
    warnings.filterwarnings("ignore", message=".*retry_after.*", category=PTBDeprecationWarning)
    for name, floor in QUIET.items():  # they log requests in full (addresses, headers, the token)
        logging.getLogger(name).setLevel(floor)

    async with open_app(settings) as app:
        # Load (or, after a content change, train) the models before the first message arrives.
        await asyncio.to_thread(lambda: app.engine.answerer.judgement)
        telegram = (
            TelegramChannel(telegram_options(settings), app.engine, app.db) if settings.telegram_bot_token else None
        )
        whatsapp = (
            WhatsAppChannel(whatsapp_options(settings), app.engine, app.db) if settings.whatsapp_enabled else None
        )
        secret = settings.telegram_webhook_secret
        senders: dict[str, ProactiveSender] = {}
        if telegram:
            senders["telegram"] = telegram
        if whatsapp:
            senders["whatsapp"] = whatsapp
        notifier = Notifier(app.db, app.engine, senders, app.training.clock, calendars=app.training.calendar_document)
        dispatcher = alerts_dispatcher(
            app, {name: s for name, s in (("telegram", telegram), ("whatsapp", whatsapp)) if s}
        )
        web = create_web_app(
            telegram=telegram if telegram and settings.telegram_webhook_url else None,
            telegram_secret=secret.get_secret_value() if secret else None,
            routes=whatsapp.routes() if whatsapp else (),
            calendar=app.training.calendar_file,
            readiness=lambda: readiness(app.db, dispatcher),
            metrics=lambda: metrics.exposition(
                {"alerts": app.alerts.outbox, "notices": app.db.notices_waiting}, app.training.clock()
            ),
        )
        if whatsapp:
            whatsapp.on_status = app.alerts.report_delivery
        server = WebServer(web_config(web, settings.http_host, settings.http_port))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        housekeeping = asyncio.create_task(_housekeeping(app))
        drafts = asyncio.create_task(purge_drafts(app))
        scheduler = asyncio.create_task(_schedule(app, notifier))
        sending: asyncio.Task[None] | None = None
        try:
            if telegram:
                await telegram.start()
            if whatsapp:
                await whatsapp.start()
            sending = asyncio.create_task(dispatcher.run())  # once the channels can send
            logger.info(
                "web app on http://%s:%d (webhooks, /healthz, /readyz, /metrics)",
                settings.http_host,
                settings.http_port,
            )
            await server.serve()
        finally:
            logger.info("stopping: finishing messages already received")
            housekeeping.cancel()
            drafts.cancel()
            scheduler.cancel()
            if sending is not None:  # claims not recorded are sent again after their lease (at-least-once)
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
            if telegram:
                await telegram.stop()
            if whatsapp:
                await whatsapp.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def alerts_dispatcher(app: App, senders: dict[str, Any], **options: Any) -> Dispatcher:
    """The alerts dispatcher over the channels given (each an alerts `Sender`), with live progress
    for coordinators on channels that can edit a message, and the final report for everyone."""
    flow = app.alerts_flow

    async def on_progress(alert: Alert, progress: Progress) -> None:
        live = getattr(senders.get(alert.report_channel or ""), "show_live", None)
        if live is None or alert.report_user is None:
            return  # WhatsApp can't edit messages: the coordinator taps "See progress" instead
        shown = await live(alert.report_user, alert.report_message, await flow.live_progress(alert, progress))
        if shown is not None and shown != alert.report_message:
            await app.alerts.set_report_message(alert.id, shown)

    return Dispatcher(
        app.alerts,
        senders,
        app.training.clock,
        flow.message_for,
        lease=timedelta(seconds=app.settings.alert_lease_seconds),
        on_finished=flow.finished,
        on_progress=on_progress,
        on_tick=flow.escalate_due,
        **options,
    )


SENDER_STALE = timedelta(seconds=30)  # a dispatcher that hasn't gone round for this long is stuck


async def readiness(db: Database, dispatcher: Dispatcher) -> dict[str, str | None]:
    """What /readyz checks, each with why it fails (None when it passes): the database answers,
    its schema is the one this code expects, and the alerts dispatcher is going round."""
    checks: dict[str, str | None] = {}
    try:
        version = await db.version()
    except Exception as exc:  # unreachable, locked beyond its timeout, gone
        checks["database"] = f"not answering ({type(exc).__name__})"
        checks["migrations"] = "unknown"
    else:
        checks["database"] = None
        newest = latest_version()
        checks["migrations"] = (
            None if version == newest else f"at {version}, this code needs {newest}: safetybot db migrate"
        )
    beat = dispatcher.heartbeat
    if beat is None:
        checks["sender"] = "not started yet"
    else:
        late = dispatcher.clock() - beat
        checks["sender"] = None if late <= SENDER_STALE else f"last went round {late.total_seconds():.0f} s ago"
    return checks


async def _housekeeping(app: App) -> None:
    """Apply the retention rules now and then while the bot runs."""
    while True:
        try:
            await app.engine.purge_expired()
            ended = app.training.clock() - timedelta(days=app.settings.training_retention_days)
            await app.db.anonymise_past_registrations(ended)
        except Exception:
            logger.exception("housekeeping failed")
        await asyncio.sleep(HOUSEKEEPING_EVERY)


async def purge_drafts(app: App) -> None:
    """Delete what people wrote in a guided report as soon as it expires, while the bot runs."""
    while True:
        try:
            await app.engine.purge_drafts()
        except Exception:
            logger.exception("deleting expired report answers failed; trying again shortly")
        await asyncio.sleep(DRAFTS_EVERY)


async def _schedule(app: App, notifier: Notifier) -> None:
    """Pass on lapsed offers, queue due reminders, and send what is queued, every few seconds:
    so what the CLI writes (a cancelled session, say) goes out while the bot runs."""
    while True:
        try:
            await app.training.run_due()
            await notifier.send_pending()
            await notifier.warn_undelivered()
        except Exception:
            logger.exception("the scheduler failed; trying again shortly")
        await asyncio.sleep(SCHEDULE_EVERY)
