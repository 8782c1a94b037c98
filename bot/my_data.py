"""What the bot stores about one person, as they would read it (/mydata) and as a file.

`Database.data_of` gathers the rows, kind by kind. `MyData.text` turns them into sections in
plain words: local friendly times, people's own words escaped, no row ids and no secrets (a
booking's calendar token never leaves the database). `MyData.document` is the same data as JSON
(`my-data.json`), for a computer to read: times as stored, ISO 8601 in UTC.

    section              rows (Database.data_of)      in the file
    Your conversation    dialog_state                 conversation
    Reaching you         contacts                     contact
    Training bookings    registrations + sessions     training_bookings
    Alerts               subscribers, alert_deliveries  alerts_sign_up, alerts_received
    Alerts you sent      alerts                       alerts_sent
    Messages the bot…    notifications                messages_from_the_bot
    Messages through…    outgoing_messages            platform_messages
    Waiting for a reply  held_messages                held_messages
    Coordinator          coordinators                 coordinator
    The audit log        audit_log (theirs, about them)  audit_log, audit_log_about_you
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts import KINDS
from bot import dates, languages
from bot.content import Copy
from bot.messages import Document
from bot.render import Style, escape_markdown, render_blocks

FILENAME = "my-data.json"
LISTED = 20  # of a long list (alerts received, messages), the latest shown in the chat; all are counted
OPTIONS = 3  # of the menu someone was last shown, the options named
GLIMPSE = 120  # characters of a message from the bot shown to say which one it was

Row = Mapping[str, Any]
Rows = Sequence[Row]

# What a flow collects, in words (copy `mydata_form_<key>`); other keys show as "other answers".
FORM_LABELS = ("name", "organisation", "role", "seats", "accessibility", "place", "areas", "kind", "audience",
               "text", "at", "answers", "notes")  # fmt: skip
FORM_INTERNAL = frozenset({"session", "asking"})  # ids of what a form is about, not anything the person gave
MARKDOWN_VALUES = frozenset({"text"})  # kept as Markdown already (an alert's text): not escaped again
# The part of the conversation a state belongs to, by its prefix (copy `mydata_where_<prefix>`).
FLOW_PREFIXES = ("trn", "alr", "report", "confirm_forget", "expired")
# What became of a message from the bot (a notification's status), in words.
NOTICE_STATUS = {
    "pending": "waiting",
    "sending": "waiting",
    "sent": "sent",
    "unconfirmed": "sent",
    "template": "template",
}  # fmt: skip; anything else: not sent
FILE_KEYS = {
    "dialog_state": "conversation",
    "contacts": "contact",
    "registrations": "training_bookings",
    "subscribers": "alerts_sign_up",
    "alert_deliveries": "alerts_received",
    "alerts": "alerts_sent",
    "notifications": "messages_from_the_bot",
    "outgoing_messages": "platform_messages",
    "held_messages": "held_messages",
    "coordinators": "coordinator",
    "audit_log": "audit_log",
    "audit_about": "audit_log_about_you",
}
SINGLE = frozenset({"dialog_state", "contacts", "subscribers", "coordinators"})  # one row at most: an object
JSON_COLUMNS = frozenset({"data", "body", "details"})  # stored as JSON text: parsed in the file
LIST_COLUMNS = frozenset({"boroughs", "areas", "kinds"})  # stored separated by ";"


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class MyData:
    """Describes a person's stored data in `copy`'s words, times in `tz`; `kept`: how long a
    conversation is kept without a message; `main_menu`: the ids of the main menu's options."""

    copy: Copy
    tz: ZoneInfo
    kept: timedelta
    main_menu: Callable[[], Iterable[str]]

    def when(self, value: str) -> str:
        """A stored time, as people read it here."""
        return dates.friendly(_moment(value), self.tz)

    # --- the text ---------------------------------------------------------------------------------
    def text(self, data: Mapping[str, Rows], channel: str, user_id: str) -> str:
        """Everything in `data`, section by section in plain words (Markdown), with how to delete it."""
        copy = self.copy
        try:
            account = copy.format(f"mydata_account_{channel}", id=escape_markdown(user_id))
        except KeyError:
            account = escape_markdown(f"{channel} {user_id}")
        parts = [copy.format("mydata_intro", account=account)]
        sections = [
            self._conversation(data.get("dialog_state", ())),
            self._contact(data.get("contacts", ())),
            self._bookings(data.get("registrations", ())),
            self._alerts(data.get("subscribers", ()), data.get("alert_deliveries", ())),
            self._alerts_sent(data.get("alerts", ())),
            self._notices(data.get("notifications", ())),
            self._outgoing(data.get("outgoing_messages", ()), channel),
            self._held(data.get("held_messages", ())),
            self._coordinator(data.get("coordinators", ())),
            self._audit(data.get("audit_log", ()), data.get("audit_about", ())),
        ]
        found = [section for section in sections if section]
        parts.extend(found or [copy["mydata_none"]])
        parts.append(copy["mydata_end"])
        return "\n\n".join(parts)

    def _heading(self, key: str) -> str:
        return f"**{self.copy[f'mydata_{key}']}**"

    def _listed(self, heading: str, lines: list[str], summary: str = "") -> str:
        """A section as a heading (and summary) and a list, the latest `LISTED` of a long one."""
        shown = lines[-LISTED:]
        items = [f"- {line}" for line in shown]
        if len(lines) > len(shown):
            items.insert(0, f"- {self.copy.format('mydata_earlier', count=len(lines) - len(shown))}")
        head = f"{heading} {summary}".rstrip()
        return head + "\n\n" + "\n".join(items) if items else head

    def _conversation(self, rows: Rows) -> str:
        if not rows:
            return ""
        row, copy = rows[0], self.copy
        state = str(row["state"])
        data = json.loads(row["data"] or "{}")
        labels = [f"“{escape_markdown(str(label))}”" for _, label in data.get("choices") or []]
        if state == "idle":
            ids = [str(choice_id) for choice_id, _ in data.get("choices") or []]
            if ids and set(ids) == set(self.main_menu()):
                where = copy["mydata_where_main_menu"]
            elif labels:
                options = ", ".join(labels[:OPTIONS])
                if len(labels) > OPTIONS:
                    options = copy.format("mydata_more_options", options=options, count=len(labels) - OPTIONS)
                where = copy.format("mydata_where_menu", options=options)
            else:
                where = copy["mydata_where_idle"]
        else:
            prefix = next((p for p in FLOW_PREFIXES if state.startswith(p)), "")
            where = copy[f"mydata_where_{prefix}"] if prefix else copy["mydata_where_flow"]
        days = max(1, self.kept.days)
        text = copy.format("mydata_conversation", where=where, when=self.when(row["updated_at"]), count=days)
        answers = self._form(data.get("form") or {})
        if answers:
            text += " " + copy.format("mydata_form", answers="; ".join(answers))
        lettered = [f"“{escape_markdown(str(label))}”" for _, label in data.get("lettered") or []]
        letters = min(int(data.get("letters") or 0), len(lettered))
        if letters:
            text += " " + copy.format("mydata_lettered", options=", ".join(lettered[:letters]))
        return f"{self._heading('conversation_heading')} {text}"

    def _form(self, form: Mapping[str, Any]) -> list[str]:
        """What a flow has collected so far, as "label value" phrases."""
        answers = []
        for key, value in form.items():
            if key in FORM_INTERNAL:
                continue
            shown = _values(value, markdown=key in MARKDOWN_VALUES)
            if not shown:
                continue
            label = self.copy[f"mydata_form_{key}"] if key in FORM_LABELS else self.copy["mydata_form_other"]
            answers.append(f"{label}: {', '.join(shown)}")
        return answers

    def _contact(self, rows: Rows) -> str:
        if not rows:
            return ""
        row, copy = rows[0], self.copy
        parts = []
        if row["last_inbound_at"]:
            parts.append(copy.format("mydata_last_wrote", when=self.when(row["last_inbound_at"])))
        if row["opted_out_at"]:
            parts.append(copy.format("mydata_opted_out", when=self.when(row["opted_out_at"])))
        else:
            parts.append(copy["mydata_opted_in"])
        if row["blocked_at"]:
            parts.append(copy.format("mydata_blocked", when=self.when(row["blocked_at"])))
        if row["window_closed_at"]:
            parts.append(copy.format("mydata_window_closed", when=self.when(row["window_closed_at"])))
        if row.get("language"):
            parts.append(copy.format("mydata_language", language=languages.language(row["language"]).name))
        return f"{self._heading('contact_heading')} {'; '.join(parts)}."

    def _bookings(self, rows: Rows) -> str:
        copy = self.copy
        lines = []
        for row in rows:
            status = copy[f"training_status_{row['status']}"]
            if row["status"] == "offered" and row["offered_until"]:
                status = copy.format("mydata_offered_until", status=status, until=self.when(row["offered_until"]))
            lines.append(
                copy.format(
                    "mydata_booking",
                    title=escape_markdown(row["title"]),
                    when=dates.span(_moment(row["starts_at"]), _moment(row["ends_at"]), self.tz),
                    venue=escape_markdown(row["venue"]),
                    seats=copy.count("seats_count", int(row["seats"])),
                    status=status,
                    name=escape_markdown(row["name"]),
                    organisation=escape_markdown(row["organisation"]),
                    role=escape_markdown(row["role"]),
                    accessibility=escape_markdown(row["accessibility"]) or copy["training_none_needed"].lower(),
                    booked=self.when(row["created_at"]),
                )
            )
        return self._listed(self._heading("bookings_heading"), lines) if lines else ""

    def _alerts(self, signed_up: Rows, received: Rows) -> str:
        if not signed_up and not received:
            return ""
        copy = self.copy
        summary = []
        if signed_up:
            row = signed_up[0]
            summary.append(copy[f"alerts_status_{row['kind']}_{row['status']}"])
            details = [
                copy.format(f"mydata_subscriber_{key}", value=escape_markdown(row[key]))
                for key in ("name", "role", "place")
                if row[key]
            ]  # a community member's sign-up has none of these: it starts with the areas
            areas = _split(row["boroughs"])
            shown = copy["alerts_all_london"] if areas == ["all"] else escape_markdown(", ".join(areas))
            details.append(copy.format("mydata_subscriber_areas", value=shown))
            details.append(copy.format("mydata_quiet_hours", start=row["quiet_start"], end=row["quiet_end"]))
            kinds = [kind for kind in reversed(KINDS) if kind in _split(row["kinds"] or "")]
            shown_kinds = ", ".join(copy[f"alerts_kind_{kind}"] for kind in kinds or ["urgent"])
            details.append(copy.format("mydata_subscriber_kinds", value=shown_kinds))
            details.append(copy.format("mydata_signed_up", when=self.when(row["created_at"])))
            said = "; ".join(details)
            summary.append(said[:1].upper() + said[1:] + ".")
        if received:
            answered = sum(1 for row in received if row["acknowledged"])
            summary.append(copy.format("mydata_alerts_received", count=len(received), answered=answered))
        lines = [self._delivery(row) for row in received]
        return self._listed(self._heading("alerts_heading"), lines, " ".join(summary))

    def _delivery(self, row: Row) -> str:
        copy = self.copy
        status = copy[f"mydata_delivery_{row['status']}"] if row["status"] in _DELIVERY else row["status"]
        if row["status"] == "failed" and row["reason"]:
            status = copy.format("mydata_delivery_failed_because", reason=escape_markdown(row["reason"]))
        line = copy.format(
            "mydata_delivery",
            reference=row["reference"],
            kind=copy[f"alerts_kind_{row['kind']}"],
            when=self.when(row["sent_at"] or row["send_at"]),
            status=status,
        )
        if row["acknowledged"]:
            answer = copy["alerts_need_help"] if row["acknowledged"] == "help" else copy["alerts_received"]
            when = self.when(row["acknowledged_at"]) if row["acknowledged_at"] else ""
            line += " " + copy.format("mydata_answered", answer=answer, when=when)
        return line

    def _alerts_sent(self, rows: Rows) -> str:
        copy = self.copy
        lines = []
        for row in rows:
            areas = _split(row["areas"])
            lines.append(
                copy.format(
                    "mydata_alert_sent",
                    reference=row["reference"],
                    kind=copy[f"alerts_kind_{row['kind']}"],
                    audience=copy[f"alerts_audience_{row['audience']}"].lower(),
                    areas=copy["alerts_all_london"] if areas == ["all"] else escape_markdown(", ".join(areas)),
                    when=self.when(row["send_at"]),
                    recipients=copy.count("recipients_count", int(row["total"])),
                )
            )
        return self._listed(self._heading("alerts_sent_heading"), lines) if lines else ""

    def _notices(self, rows: Rows) -> str:
        copy = self.copy
        lines = []
        for row in rows:
            body = json.loads(row["body"] or "{}")
            status = copy[f"mydata_notice_{NOTICE_STATUS.get(str(row['status']), 'not_sent')}"]
            when = self.when(row["sent_at"] or row["created_at"])
            lines.append(copy.format("mydata_notice", when=when, status=status, glimpse=_glimpse(body.get("text", ""))))
        return self._listed(self._heading("notices_heading"), lines) if lines else ""

    def _outgoing(self, rows: Rows, channel: str) -> str:
        if not rows:
            return ""
        counts = Counter(str(row["status"]) for row in rows)
        statuses = ", ".join(f"{n} {escape_markdown(status)}" for status, n in counts.most_common())
        text = self.copy.format(
            "mydata_outgoing", count=len(rows), since=self.when(rows[0]["created_at"]), statuses=statuses
        )
        return f"{self._heading('outgoing_heading')} {text}"

    def _held(self, rows: Rows) -> str:
        if not rows:
            return ""
        text = self.copy.format("mydata_held", count=len(rows), since=self.when(rows[0]["created_at"]))
        return f"{self._heading('held_heading')} {text}"

    def _coordinator(self, rows: Rows) -> str:
        if not rows:
            return ""
        row = rows[0]
        if row["removed_at"]:
            text = self.copy.format(
                "mydata_coordinator_was", since=self.when(row["added_at"]), until=self.when(row["removed_at"])
            )
        else:
            text = self.copy.format("mydata_coordinator_is", since=self.when(row["added_at"]))
        return f"{self._heading('coordinator_heading')} {text}"

    def _audit(self, mine: Rows, about: Rows) -> str:
        if not mine and not about:
            return ""
        copy = self.copy
        parts = []
        if mine:
            counts = Counter(str(row["action"]) for row in mine)
            actions = "; ".join(
                copy.format("mydata_audit_times", action=escape_markdown(action), count=n) if n > 1
                else escape_markdown(action)
                for action, n in counts.most_common()
            )  # fmt: skip
            first, last = self.when(mine[0]["at"]), self.when(mine[-1]["at"])
            parts.append(copy.format("mydata_audit_mine", count=len(mine), first=first, last=last, actions=actions))
        if about:
            done = "; ".join(f"{escape_markdown(str(row['action']))}, {self.when(row['at'])}" for row in about)
            parts.append(copy.format("mydata_audit_about", actions=done))
        return f"{self._heading('audit_heading')} {' '.join(parts)}"

    # --- the file ---------------------------------------------------------------------------------
    def document(self, data: Mapping[str, Rows], channel: str, user_id: str, now: datetime) -> Document:
        """The same data as a JSON file: sent on Telegram, saved in the console; never a link."""
        content = export(data, channel, user_id, now, self.tz)
        return Document(
            FILENAME,
            content,
            "application/json",
            caption=render_plain(self.copy["mydata_file_caption"]),
            unlinked=self.copy["mydata_file_unlinked"],
        )


_DELIVERY = frozenset({"pending", "sending", "sent", "delivered", "failed"})


def render_plain(markdown: str) -> str:
    """Copy as plain text (a file's caption is sent without formatting)."""
    return "\n\n".join(render_blocks(markdown, Style.PLAIN))


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(";") if part]


def _values(value: Any, *, markdown: bool = False) -> list[str]:
    """A form value as the phrases to show: someone's words escaped (or Markdown kept as it is),
    lists and mappings by their items; flags left out."""
    if isinstance(value, bool) or value is None or value == "":
        return []
    if isinstance(value, Mapping):
        return [shown for item in value.values() for shown in _values(item, markdown=markdown)]
    if isinstance(value, list | tuple):
        return [shown for item in value for shown in _values(item, markdown=markdown)]
    text = " ".join(str(value).split())  # one line: a paragraph break would split the section
    return [text if markdown else escape_markdown(text)]


def _glimpse(markdown: str) -> str:
    """The start of a message from the bot, as plain words, to say which one it was."""
    blocks = render_blocks(markdown, Style.PLAIN) if markdown else []
    first = " ".join(blocks[0].split()) if blocks else ""
    if len(first) > GLIMPSE:
        first = first[: GLIMPSE - 1].rstrip() + "…"
    return escape_markdown(first)


def export(data: Mapping[str, Rows], channel: str, user_id: str, now: datetime, tz: ZoneInfo) -> bytes:
    """The data as JSON: one key per kind (`FILE_KEYS`), rows as stored, JSON columns parsed and
    lists split; times ISO 8601 in UTC."""
    out: dict[str, Any] = {
        "channel": channel,
        "user_id": user_id,
        "exported_at": now.isoformat(),
        "times": "ISO 8601, UTC",
        "timezone": tz.key,
    }
    for kind, rows in data.items():
        cleaned = [{column: _file_value(column, value) for column, value in row.items()} for row in rows]
        key = FILE_KEYS.get(kind, kind)
        out[key] = cleaned[0] if kind in SINGLE and cleaned else cleaned
    return (json.dumps(out, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _file_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value) if value else {}
        except ValueError:
            return value
    if column in LIST_COLUMNS and isinstance(value, str):
        return _split(value)
    return value
