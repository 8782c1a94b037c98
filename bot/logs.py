"""Logging that keeps people's details out of the logs.

The bot never logs what people write, their names or their numbers; this is the safety net for
what libraries or exception messages might carry: phone numbers (and WhatsApp addresses) are
masked in every record, whatever its level, to the last three digits ("+44•••••••123"). Libraries
that log requests in full (Twilio, httpx, with headers and addresses; python-telegram-bot at DEBUG,
with the bot token in the address) are kept at a level where they don't.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# "+447700900123", "whatsapp:+44 7700 900123", "07700 900123": a run of 8 or more digits, with
# optional spaces, after an optional +. Shorter runs (ids of rows, HTTP codes, 999) stay.
_PHONE = re.compile(r"(?<![\w])(\+?\d(?:[ \u00a0]?\d){7,})(?!\w)")
QUIET = {"twilio": logging.WARNING, "httpx": logging.WARNING, "httpcore": logging.WARNING,
         "aiosqlite": logging.WARNING, "telegram": logging.INFO}  # fmt: skip


def mask(text: str) -> str:
    """Phone numbers in a text, masked to their last three digits."""

    def hide(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        lead = "+" if match.group(1).startswith("+") else ""
        return f"{lead}{'•' * (len(digits) - 3)}{digits[-3:]}"

    return _PHONE.sub(hide, text)


class MaskingFilter(logging.Filter):
    """Masks phone numbers in a record's message (formatted with its arguments) and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class MaskedJsonFormatter(JsonFormatter):
    """A record as one JSON object (python-json-logger): time, level, logger, message, and the
    traceback if any, its numbers masked as `MaskingFilter` masks the message."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "traceback"},
            timestamp="time",  # ISO 8601, in UTC
            json_ensure_ascii=False,
        )

    def formatException(self, ei: Any) -> str:
        return mask(str(super().formatException(ei)))  # a string: exc_info_as_array is off

    def formatStack(self, stack_info: str) -> str:
        return mask(str(super().formatStack(stack_info)))


def configure_logging(level: int | str, log_format: str = "text") -> None:
    """Log to stderr at `level` (unless logging is already set up, as under a test runner), as
    text or as JSON lines (`log_format`), with numbers masked on every handler and chatty
    libraries kept quiet."""
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler(sys.stderr)
        text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        stream.setFormatter(MaskedJsonFormatter() if log_format == "json" else text)
        root.addHandler(stream)
        root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(floor)
