"""Dates and times as people read them, in one friendly local format everywhere (Babel, CLDR).

"Sat 5 Dec 2026, 10:00" in the deployment's TIMEZONE: the day, then the 24-hour time. A session
on one day reads "Sat 5 Dec 2026, 10:00–13:00". Machine output (`--json`, `--csv`) keeps ISO 8601.
Day and month names are in the language being written in (`languages.speaking`): "শনি 5 ডিসে 2026,
10:00"; digits stay 0-9, as people dial and type them. What coordinators type ("2026-12-05 10:00",
for a session or an alert sent later) is read as a time on the clock in TIMEZONE (`parse_local`).
"""

from __future__ import annotations

from datetime import UTC, datetime
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


def parse_local(value: object, tz: ZoneInfo, what: str) -> datetime:
    """A local date and time ("2026-12-05 10:00") in `tz`, as an aware UTC datetime; ValueError,
    saying what to fix, if it is not one or does not exist that day (`what` names the field)."""
    text = str(value).strip().replace(" ", "T", 1) if value is not None else ""
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a date and time like 2026-12-05T10:00") from None
    if naive.tzinfo is not None:
        naive = naive.astimezone(tz).replace(tzinfo=None)
    local = naive.replace(tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:  # e.g. 01:30 on the night the clocks go forward
        raise ValueError(f"{what}: {text} does not exist in {tz.key} (the clocks change that night)")
    return local.astimezone(UTC)
