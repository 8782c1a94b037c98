"""Settings, read once from the environment or `.env` and passed down from the composition root."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import languages
from bot.phone import DEFAULT_REGION, e164

_PACKAGE_DIR = Path(__file__).resolve().parent
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
PAID_BROADCAST_LIMIT = 1000  # messages a second Telegram takes with allow_paid_broadcast (Bot API)


def default_content_dir() -> Path:
    """Find the curated content: the copy inside an installed wheel, else the clone's `content/`."""
    bundled = _PACKAGE_DIR / "_content"
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / "content"


def default_model_cache_dir() -> Path:
    """Where trained models are kept: $XDG_CACHE_HOME/safetybot, or ~/.cache/safetybot."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "safetybot"


class Settings(BaseSettings):
    """Every setting of the bot; names match DESIGN.md and `.env.example`."""

    # Empty values count as unset, so a copied .env.example with blanks behaves like no .env.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_path: Path = Path("./safetybot.db")
    content_dir: Path = Field(default_factory=default_content_dir)
    # Where the trained models are kept between starts (default: ~/.cache/safetybot).
    model_cache_dir: Path = Field(default_factory=default_model_cache_dir)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_rate_limit: float = Field(default=30.0, gt=0)
    # A Telegram channel the bot administers (@name or -100… id): community alerts are posted there too.
    telegram_community_channel: str | None = None
    # Alerts (never replies) go as paid broadcasts (allow_paid_broadcast): Telegram then takes up to
    # 1,000 messages a second instead of about 30, billing 0.1 Telegram Stars from the bot's balance
    # for each message beyond its free limit. Raise TELEGRAM_RATE_LIMIT with it (up to 1000).
    telegram_paid_broadcast: bool = False

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    whatsapp_rate_limit: float = Field(default=80.0, gt=0)
    whatsapp_template_sid: str | None = None
    # The approved template in each language, e.g. "en:HX…,bn:HX…": someone who chose a language
    # gets its template outside the 24-hour window (else WHATSAPP_TEMPLATE_SID, or the English one).
    whatsapp_template_sids: str = ""

    public_base_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080

    coordinators: str = ""
    timezone: str = "Europe/London"
    log_level: str = "INFO"
    # "json": one JSON object a line (time, level, logger, message; numbers masked as in text).
    log_format: Literal["text", "json"] = "text"
    dialog_retention_days: int = Field(default=30, ge=1)
    gaps_retention_days: int = Field(default=90, ge=1)
    # Per person: this many messages at once, then USER_RATE_LIMIT a minute; past it one notice.
    user_rate_limit: float = Field(default=30.0, gt=0)
    user_rate_burst: int = Field(default=15, ge=1)
    # Answers given in "Report a hate crime or incident" are deleted this long after the last
    # message (and as soon as their summary is shown).
    report_expiry_minutes: int = Field(default=60, ge=1, le=1440)

    training_offer_hours: float = Field(default=24.0, gt=0)
    training_reminder_hours: str = "24,2"
    training_retention_days: int = Field(default=30, ge=1)
    calendar_dir: Path = Path("./calendars")
    # Which translations (content/translations/) people are shown: `approved` ones (the default),
    # also `reviewed` ones, or even `draft`s (each then says it is not yet checked). Below it, English.
    translation_min_status: Literal["draft", "reviewed", "approved"] = "approved"

    # How long the alerts dispatcher holds a claimed delivery: if the process dies, that batch is
    # sent again after this (the at-least-once window; see alerts/dispatch.py).
    alert_lease_seconds: float = Field(default=30.0, gt=0)
    # 2: an alert composed by one coordinator waits until another approves it (both audited).
    alert_approvals: int = Field(default=1, ge=1, le=2)
    # With ALERT_APPROVALS=2, may one coordinator alone send an urgent alert (danger now)?
    alert_urgent_one_coordinator: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use a name like Europe/London") from exc
        return value

    @field_validator("telegram_community_channel")
    @classmethod
    def _community_channel(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{4,31}|-100\d{5,}", value.strip()):
            raise ValueError(
                f"TELEGRAM_COMMUNITY_CHANNEL {value!r} should be the channel's @name or its id (-100…), and the bot"
                " must be one of its administrators"
            )
        return value.strip() if value else None

    @field_validator("coordinators")
    @classmethod
    def _coordinator_list(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            channel, sep, user = item.partition(":")
            if not sep or not channel or not user:
                raise ValueError(
                    f"COORDINATORS entry {item!r} should look like channel:user_id, e.g. telegram:123456,console:amina"
                )
        return value

    @field_validator("whatsapp_template_sids")
    @classmethod
    def _template_list(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            code, sep, sid = item.partition(":")
            if item and (not sep or languages.supported(code.strip()) != code.strip().lower() or not sid.strip()):
                known = ", ".join(lang.code for lang in languages.LANGUAGES)
                raise ValueError(f"WHATSAPP_TEMPLATE_SIDS entry {item!r} should look like bn:HX… (languages: {known})")
        return value

    @property
    def template_sids(self) -> dict[str, str]:
        """The WhatsApp template for each language (WHATSAPP_TEMPLATE_SIDS), "en" being
        WHATSAPP_TEMPLATE_SID unless given there too."""
        sids = {"en": self.whatsapp_template_sid} if self.whatsapp_template_sid else {}
        for item in (part.strip() for part in self.whatsapp_template_sids.split(",")):
            code, _, sid = item.partition(":")
            if item:
                sids[code.strip().lower()] = sid.strip()
        return sids

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError(
                "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: set a long random "
                "secret (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        if self.telegram_webhook_url and not self.telegram_webhook_url.startswith("https://"):
            raise ValueError("TELEGRAM_WEBHOOK_URL must be an https:// address (Telegram requires it)")
        return self

    @model_validator(mode="after")
    def _paid_broadcast_limit(self) -> Settings:
        if self.telegram_paid_broadcast and self.telegram_rate_limit > PAID_BROADCAST_LIMIT:
            raise ValueError(
                f"TELEGRAM_RATE_LIMIT is {self.telegram_rate_limit:g} but Telegram takes at most {PAID_BROADCAST_LIMIT}"
                f" messages a second even as paid broadcasts: set it to {PAID_BROADCAST_LIMIT} or less"
            )
        return self

    @model_validator(mode="after")
    def _whatsapp_complete(self) -> Settings:
        twilio = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_WHATSAPP_FROM": self.twilio_whatsapp_from,
        }
        given = [name for name, value in twilio.items() if value]
        if given and len(given) < len(twilio):
            missing = ", ".join(name for name in twilio if name not in given)
            raise ValueError(f"WhatsApp needs {missing} too (or unset {', '.join(given)})")
        if given and not self.public_base_url:
            raise ValueError(
                "WhatsApp needs PUBLIC_BASE_URL: the https address Twilio calls (webhook signatures "
                "are checked against it)"
            )
        return self

    @field_validator("training_reminder_hours")
    @classmethod
    def _reminder_hours(cls, value: str) -> str:
        try:
            hours = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("TRAINING_REMINDER_HOURS should be hours before a session, e.g. 24,2") from None
        if any(h <= 0 for h in hours):
            raise ValueError("TRAINING_REMINDER_HOURS must be positive hours, e.g. 24,2")
        return value

    @property
    def reminder_leads(self) -> tuple[timedelta, ...]:
        """How long before a session each reminder goes."""
        return tuple(timedelta(hours=float(h)) for h in self.training_reminder_hours.split(",") if h.strip())

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a time zone."""
        return ZoneInfo(self.timezone)

    @property
    def whatsapp_enabled(self) -> bool:
        """Whether the WhatsApp channel is configured."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_from)

    @property
    def alert_channels(self) -> tuple[str, ...]:
        """The channels alerts go out on: those configured, or the local console when none is."""
        channels = tuple(
            name
            for name, on in (("telegram", self.telegram_bot_token is not None), ("whatsapp", self.whatsapp_enabled))
            if on
        )
        return channels or ("console",)

    @property
    def coordinator_ids(self) -> frozenset[tuple[str, str]]:
        """The (channel, user id) pairs bootstrapped as coordinators."""
        pairs = [part.strip().partition(":") for part in self.coordinators.split(",")]
        people = {(c.strip().lower(), u.strip()) for c, _, u in pairs if c.strip() and u.strip()}
        # WhatsApp numbers as the channel reads them (E.164): "whatsapp:07911 123456" → +447911123456
        return frozenset((c, (e164(u, DEFAULT_REGION) or u) if c == "whatsapp" else u) for c, u in people)
