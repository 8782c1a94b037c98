"""Dates and times as people read them, in one friendly local format everywhere (Babel, CLDR).

"Sat 5 Dec 2026, 10:00" in the deployment's TIMEZONE: the day, then the 24-hour time. A session
on one day reads "Sat 5 Dec 2026, 10:00–13:00". Machine output (`--json`, `--csv`) keeps ISO 8601.
Day and month names are in the language being written in (`languages.speaking`): "শনি 5 ডিসে 2026,
10:00"; digits stay 0-9, as people dial and type them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.languages import current_locale

_DAY = "EEE d MMM y"  # Sat 5 Dec 2026
_TIME = "HH:mm"  # 10:00


def day(moment: datetime, tz: ZoneInfo, locale: str | None = None) -> str:
    """ "Sat 5 Dec 2026" in `tz`."""
    return format_datetime(moment.astimezone(tz), _DAY, tzinfo=tz, locale=locale or current_locale())


def time(moment: datetime, tz: ZoneInfo, locale: str | None = None) -> str:
    """ "10:00" in `tz`."""
    return format_datetime(moment.astimezone(tz), _TIME, tzinfo=tz, locale=locale or current_locale())


def friendly(moment: datetime, tz: ZoneInfo, locale: str | None = None) -> str:
    """ "Sat 5 Dec 2026, 10:00" in `tz`."""
    return f"{day(moment, tz, locale)}, {time(moment, tz, locale)}"


def span(start: datetime, end: datetime, tz: ZoneInfo, locale: str | None = None) -> str:
    """ "Sat 5 Dec 2026, 10:00–13:00", or both dates when it runs past midnight."""
    if start.astimezone(tz).date() == end.astimezone(tz).date():
        return f"{friendly(start, tz, locale)}–{time(end, tz, locale)}"
    return f"{friendly(start, tz, locale)} – {friendly(end, tz, locale)}"
