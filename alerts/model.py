"""What alerts are made of: kinds, audiences, subscribers, alerts, deliveries and outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    """How pressing an alert is. Urgent ones ignore quiet hours."""

    REASSURANCE = "reassurance"
    VIGILANCE = "vigilance"
    URGENT = "urgent"


KINDS: tuple[str, ...] = tuple(kind.value for kind in Kind)  # every kind, least pressing first


class FollowUp(StrEnum):
    """A message about an alert already sent, to the people who received it."""

    CORRECTION = "correction"
    ALL_CLEAR = "all-clear"
    REMINDER = "reminder"  # escalation: to leaders who had not acknowledged it in time


class Audience(StrEnum):
    """Who an alert is for."""

    LEADERS = "leaders"  # verified faith leaders
    COMMUNITY = "community"  # members who opted in to reassurance messages
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Someone who gets alerts: a faith leader (verified by a coordinator) or a community member."""

    id: int
    channel: str
    user_id: str
    kind: str  # leader or community
    status: str  # pending, approved or rejected
    name: str
    role: str
    place: str
    boroughs: tuple[str, ...]  # ("all",) for everywhere
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    language: str | None = None  # the language they chose (where known: an alert's recipients)
    kinds: tuple[str, ...] = KINDS  # what they get (urgent always)

    def gets(self, kind: str) -> bool:
        """Whether they get alerts of this kind: urgent ones always."""
        return kind == Kind.URGENT or kind in self.kinds


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored."""

    id: int
    reference: str
    kind: str
    audience: str
    areas: tuple[str, ...]
    text: str
    created_by: str
    created_at: datetime
    send_at: datetime
    total: int
    report_channel: str | None = None
    report_user: str | None = None
    report_message: str | None = None  # the live progress message, where the channel can edit one
    translations: Mapping[str, str] = field(default_factory=dict)  # the text in other languages, by code
    cancelled_at: datetime | None = None  # withdrawn: what had not gone by then never goes
    cancelled_by: str | None = None
    follows: int | None = None  # a follow-up: the id of the alert it corrects or gives the all clear for
    follow_up: str | None = None  # its kind: FollowUp
    follows_reference: str | None = None  # the reference it carries: the original's
    approval: str | None = None  # awaiting, approved or refused (ALERT_APPROVALS=2); None: not needed
    decided_by: str | None = None  # who approved or refused it
    decided_at: datetime | None = None
    channels: tuple[str, ...] = ()  # the channels it goes on, as composed
    escalate_after: timedelta | None = None  # then: a reminder to leaders who haven't acknowledged it
    escalated_at: datetime | None = None

    @property
    def awaiting(self) -> bool:
        """Waiting for a second coordinator: nothing is queued for anyone yet."""
        return self.approval == "awaiting"

    @property
    def unapproved(self) -> bool:
        """Waiting for a second coordinator, or refused by one: it has gone to nobody."""
        return self.approval in ("awaiting", "refused")

    @property
    def shown_reference(self) -> str:
        """The reference people see and can CHECK: a follow-up carries the original's."""
        return self.follows_reference or self.reference


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """What a channel sends: Markdown-subset text and (id, label) choices."""

    text: str
    choices: tuple[tuple[str, str], ...] = ()
    language: str | None = None  # the language it is worded in, if not English


class Result(StrEnum):
    """What happened to one send."""

    SENT = "sent"  # the platform took it
    RETRY = "retry"  # a passing failure (flood control, 5xx, network): try again later
    FAILED = "failed"  # it can't go to this person (blocked, opted out, invalid number...)


FLOOD_CONTROL = "flood control"  # an Outcome's reason when the platform said too fast (429)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A sender's answer for one delivery."""

    result: Result
    reason: str = ""  # for FAILED: blocked, opted out, invalid number, window closed, ...
    message_id: str | None = None  # the platform's id, for delivery reports
    retry_after: float | None = None  # for RETRY: the platform said when


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient of one alert, as the dispatcher claims it."""

    id: int
    alert_id: int
    channel: str
    user_id: str
    attempts: int
    language: str | None = None  # the language the recipient chose (None: not chosen, English)


@dataclass(slots=True)
class Progress:
    """An alert's totals: what `alerts status` and the coordinator's report show."""

    reference: str
    kind: str
    total: int
    pending: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0  # not sent: the alert was withdrawn first
    acknowledged: int = 0
    need_help: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.pending == 0
