"""Alerts: subscriptions by area, composing, and durable rate-limited delivery with reports.

Never imports `bot`. Channels take part by implementing `Sender`; the database is passed in.
"""

from alerts.compose import (
    NO_QUIET_HOURS,
    AlertError,
    Composer,
    Preview,
    parse_areas,
    parse_duration,
    parse_quiet_hours,
    quiet_until,
)
from alerts.dispatch import Dispatcher
from alerts.model import (
    FLOOD_CONTROL,
    KINDS,
    Alert,
    AlertMessage,
    Audience,
    Delivery,
    FollowUp,
    Kind,
    Outcome,
    Progress,
    Result,
    Subscriber,
)
from alerts.sender import Sender
from alerts.store import AlertStore

__all__ = [
    "FLOOD_CONTROL",
    "KINDS",
    "NO_QUIET_HOURS",
    "Alert",
    "AlertError",
    "AlertMessage",
    "AlertStore",
    "Audience",
    "Composer",
    "Delivery",
    "Dispatcher",
    "FollowUp",
    "Kind",
    "Outcome",
    "Preview",
    "Progress",
    "Result",
    "Sender",
    "Subscriber",
    "parse_areas",
    "parse_duration",
    "parse_quiet_hours",
    "quiet_until",
]
