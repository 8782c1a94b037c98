"""Load the curated content: FAQ entries, topic menu, known numbers, word lists, triage rules, copy.

Loading validates as it goes and collects every problem with its file and line, so
`safetybot content check` can report them all at once and the bot refuses to start on bad content.

    ContentError          content has errors; `.problems` lists them
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from babel import Locale

from bot import languages
from bot.languages import Translation
from bot.text import Lexicon


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of the content check."""

    path: Path
    line: int
    message: str
    error: bool = True

    def __str__(self) -> str:
        kind = "error" if self.error else "warning"
        return f"{self.path}:{self.line}: {kind}: {self.message}"


class ContentError(Exception):
    """The content has errors; the bot cannot start on it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [str(p) for p in problems if p.error]
        super().__init__("content has errors:\n" + "\n".join(errors))


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One curated answer."""

    id: str
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    audience: tuple[str, ...]
    sources: tuple[str, ...]
    reviewed: date
    related: tuple[str, ...]
    body: str
    verify: tuple[str, ...] = ()
    path: Path = Path()


@dataclass(frozen=True, slots=True)
class Category:
    """A group of FAQ entries in the "Safety guidance by topic" menu."""

    id: str
    label: str
    entries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DangerRule:
    """A pattern that signals danger now, and the FAQ entry to add after the 999 advice."""

    name: str
    pattern: re.Pattern[str]
    guidance: str


@dataclass(frozen=True, slots=True)
class TimingGroup:
    """Patterns that say something about *when* (now, ongoing, hypothetical, past) and their weight."""

    name: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class TriageRules:
    """The word patterns triage reads: danger cues, and evidence about whether it is happening now."""

    danger: tuple[DangerRule, ...]
    timing: tuple[TimingGroup, ...]
    vocabulary: frozenset[str]


def place_key(typed: str) -> str:
    """A place name as looked up: lower case, letters and digits only ("Shepherd's Bush" and
    "shepherds bush" are the same place)."""
    return " ".join("".join(c for c in typed.casefold() if c.isalnum() or c.isspace()).split())


PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})  # CLDR's categories
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
_PLACEHOLDER_LINE = re.compile(r"^\s*\{\w+\}\s*$")


def reflow(text: str) -> str:
    """copy.yaml's words as one line per paragraph, so phones wrap them and no line breaks mid-
    sentence. A line break stays before a list item and around a line that is only a
    {placeholder}; a line ending in a backslash keeps its break (the backslash goes)."""
    paragraphs = []
    for paragraph in text.strip().split("\n\n"):
        out: list[str] = []
        keep = True  # the first line starts the paragraph
        for line in paragraph.split("\n"):
            hard = line.rstrip().endswith("\\")
            line = line.rstrip().removesuffix("\\").rstrip()
            if keep or _LIST_LINE.match(line) or _PLACEHOLDER_LINE.match(line):
                out.append(line)
            else:
                out[-1] = f"{out[-1]} {line.strip()}"
            keep = hard or bool(_PLACEHOLDER_LINE.match(line))
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs)


class Copy:
    """The bot's own words (menus, prompts, errors), looked up by key, in the language being
    written in (`languages.speaking`): its translation where one may be shown, else English.

    A text that depends on a number has one form per CLDR plural category (`one`, `other`, and
    for some languages `zero`, `two`, `few`, `many`); `format(key, count=n)` picks the form Babel
    gives for n in the language of the text ("1 seat", "2 seats")."""

    def __init__(self, strings: Mapping[str, str | Mapping[str, str]], locale: str = "en_GB") -> None:
        self._strings: dict[str, str | dict[str, str]] = {
            key: reflow(value) if isinstance(value, str) else {form: reflow(t) for form, t in value.items()}
            for key, value in strings.items()
        }
        self._locale = Locale.parse(locale)
        self.translations: Mapping[str, Translation] = {}
        self.min_status = languages.DEFAULT_MIN_STATUS

    def using(self, translations: Mapping[str, Translation], min_status: str) -> Copy:
        """The same words with these translations, shown from this status up."""
        bound = Copy.__new__(Copy)
        bound._strings, bound._locale = self._strings, self._locale
        bound.translations, bound.min_status = translations, min_status
        return bound

    def speaking(self, code: str | None) -> AbstractContextManager[languages.Voice]:
        """Word everything inside in this language (see `languages.speaking`)."""
        return languages.speaking(code, self.translations, self.min_status)

    def _lookup(self, key: str, *, always: bool = False) -> tuple[str | dict[str, str], Locale]:
        english = self._strings[key]
        value = languages.translated(lambda t: t.texts.get(key), always=always)
        if value is not None:
            return value, _locale(languages.current_locale())
        return english, self._locale

    def __getitem__(self, key: str) -> str:
        value, _ = self._lookup(key)
        if not isinstance(value, str):
            raise KeyError(f"{key} has plural forms: use format({key!r}, count=…)")
        return value

    def english(self, key: str) -> str:
        """A text in English, whoever is being written to (the 999 advice also in English)."""
        value = self._strings[key]
        if not isinstance(value, str):
            raise KeyError(f"{key} has plural forms: use format({key!r}, count=…)")
        return value

    def always(self, key: str) -> str:
        """A text in the language being written in whatever its translation's status, if it has
        one made from the current English (the 999 advice: its numbers are checked, and the
        English is shown with it)."""
        value, _ = self._lookup(key, always=True)
        return value if isinstance(value, str) else self[key]

    def format(self, key: str, **values: object) -> str:
        """Fill the named placeholders of one string (the plural form for `count`, if it has forms)."""
        value, locale = self._lookup(key)
        if not isinstance(value, str):
            count = values["count"]
            assert isinstance(count, int | float)
            value = value.get(locale.plural_form(count)) or value["other"]
        return value.format(**values)

    def count(self, key: str, count: int) -> str:
        """A counted phrase: `count("seats", 2)` is "2 seats"."""
        return self.format(key, count=count)

    def keys(self) -> Iterator[str]:
        return iter(self._strings)

    def source(self, key: str) -> str | dict[str, str]:
        """A text's English as loaded (plural texts: their forms)."""
        return self._strings[key]


@functools.cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


@dataclass(frozen=True, slots=True)
class AlertTemplate:
    """A ready-made alert text coordinators can send as it is."""

    name: str
    kind: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Option:
    """One answer to pick from."""

    id: str
    label: str


Conditions = Mapping[str, frozenset[str]]  # question id → the answers something is for


def applies(when: Conditions, answers: Mapping[str, Any]) -> bool:
    """Whether every question in `when` got one of its answers (an empty `when`: always)."""
    return all(answers.get(key) in values for key, values in when.items())


@dataclass(frozen=True, slots=True)
class ReportQuestion:
    """A step of the guided report: picked from `options` (they decide the routes shown), or, in
    the write-up, typed, and shown in the summary under `label`."""

    id: str
    text: str
    options: tuple[Option, ...] = ()
    label: str = ""
    max_chars: int = 1000
    when: Conditions = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportRoute:
    """Somewhere to report or get support, shown when its `when` fits the answers."""

    id: str
    title: str
    text: str
    when: Conditions
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportGuide:
    """content/report.yaml: the guided "Report a hate crime or incident" flow."""

    reviewed: date
    topics: frozenset[str]  # FAQ entries about reporting: their answers offer the guide
    start: re.Pattern[str] | None  # "I want to report…" about one of them starts it at once
    questions: tuple[ReportQuestion, ...]
    routes: tuple[ReportRoute, ...]
    writeup: tuple[ReportQuestion, ...]
    tips: str
    tips_sources: tuple[str, ...]


TRIAGE_LABELS = ("danger", "crisis_now", "crisis", "routine")
NONE_LABEL = "none"  # an FAQ example that no entry answers (out of scope)
CRISIS_ENTRY = "crisis-support"  # the entry that is the reply to someone in crisis


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message from content/examples/: what a person wrote, and what it needs.

    `kind` is "triage" (label: danger, crisis_now, crisis or routine) or "faq" (label: an FAQ id,
    or "none" for out of scope). `writer` names who wrote it (content/examples/writers.yaml):
    evaluation leaves whole writers out, so the figures say how the bot does for new people.
    """

    kind: str
    label: str
    text: str
    writer: str


def example_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """The numbered rows of an examples file (`kind<TAB>label<TAB>message`, the format of
    content/examples/ and the evaluation sets), fields stripped; comments and blank lines skipped."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            yield number, [part.strip() for part in line.split("\t")]


@dataclass(frozen=True, slots=True)
class Content:
    """Everything under CONTENT_DIR, validated."""

    faq: Mapping[str, FaqEntry]
    categories: tuple[Category, ...]
    numbers: Mapping[str, str]
    lexicon: Lexicon
    triage: TriageRules
    copy: Copy
    out_of_scope: FaqEntry | None = None  # what the bot declines: keywords and questions only
    boroughs: tuple[str, ...] = ()  # the areas alerts target
    alert_templates: Mapping[str, AlertTemplate] = field(default_factory=dict)
    report: ReportGuide | None = None  # the guided report, if report.yaml exists
    directory: Path = field(default=Path())
    examples: tuple[Example, ...] = ()  # labelled messages the models learn from
    judgement: Mapping[str, float] = field(default_factory=dict)  # the models' thresholds
    roles: tuple[str, ...] = ()  # what people choose from as their role (`roles` in copy.yaml)
    # Places and postcode districts people type ("Whitechapel", "E1"), by `place_key`: the
    # place as written in places.yaml and the borough(s) it is in.
    places: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    translations: Mapping[str, Translation] = field(default_factory=dict)  # by language code

    def speaking(self, code: str | None) -> AbstractContextManager[languages.Voice]:
        """Word everything inside in this language, with this content's translations."""
        return self.copy.speaking(code)

    def with_min_status(self, status: str) -> Content:
        """This content showing translations from `status` up (TRANSLATION_MIN_STATUS)."""
        return dataclasses.replace(self, copy=self.copy.using(self.translations, status))


def shown_entry(entry: FaqEntry, *, always: bool = False) -> FaqEntry:
    """An FAQ entry as the person being written to reads it: its translation (title and body)
    where one may be shown (`always`: any status, for the crisis reply), else the English."""
    value = languages.translated(lambda t: t.faq.get(entry.id), always=always)
    return value if isinstance(value, FaqEntry) else entry


def shown_label(category: Category) -> str:
    """A topic's label in the language being written in (copy.yaml's `topics:` in a translation)."""
    value = languages.translated(lambda t: t.texts.get(f"topic:{category.id}"))
    return value if isinstance(value, str) else category.label


def shown_report(guide: ReportGuide) -> ReportGuide:
    """The guided report in the language being written in (where its translation may be shown)."""
    value = languages.translated(lambda t: t.report)
    return value if isinstance(value, ReportGuide) else guide


def shown_template(template: AlertTemplate) -> AlertTemplate:
    """An alert template in the language being written in (where its translation may be shown)."""
    value = languages.translated(lambda t: t.alerts.get(template.name))
    return value if isinstance(value, AlertTemplate) else template


# Keys the dialog engine and answer builder look up; a missing one is an error in copy.yaml.
COPY_KEYS = (
    "welcome",
    "main_menu_prompt",
    "menu_help_now",
    "menu_report",
    "menu_topics",
    "menu_training",
    "menu_alerts",
    "menu_privacy",
    "alerts_intro",
    "alerts_leader_signup",
    "alerts_community_signup",
    "alerts_yours",
    "alerts_paused",
    "alerts_status_leader_pending",
    "alerts_status_leader_approved",
    "alerts_status_leader_rejected",
    "alerts_status_community_pending",
    "alerts_status_community_approved",
    "alerts_status_community_rejected",
    "alerts_change_areas",
    "alerts_stop",
    "alerts_stop_confirm",
    "alerts_stop_yes",
    "alerts_stopped",
    "alerts_not_subscribed",
    "alerts_compose",
    "alerts_pending",
    "alerts_recent",
    "alerts_not_allowed",
    "alerts_all_london",
    "alerts_unknown_area",
    "alerts_place_in",
    "alerts_place_suggestion",
    "alerts_use_boroughs",
    "alerts_ask_name",
    "alerts_bad_name",
    "alerts_ask_role",
    "alerts_ask_place",
    "alerts_bad_place",
    "alerts_ask_areas",
    "alerts_area_problem",
    "alerts_areas_changed",
    "alerts_consent_leader",
    "alerts_consent_community",
    "alerts_consent_yes",
    "alerts_community_done",
    "alerts_leader_pending",
    "alerts_request",
    "alerts_review",
    "alerts_none_pending",
    "alerts_pending_intro",
    "alerts_no_such_request",
    "alerts_approve",
    "alerts_reject",
    "alerts_review_pending",
    "alerts_review_approved",
    "alerts_review_rejected",
    "alerts_decided_approved",
    "alerts_decided_rejected",
    "alerts_ask_reject_reason",
    "alerts_reject_no_reason",
    "alerts_bad_reject_reason",
    "alerts_rejected_reason",
    "alerts_ask_team",
    "alerts_leader_asks",
    "alerts_team_asked",
    "alerts_unnamed",
    "alerts_community_member",
    "alerts_recent_label",
    "alerts_nobody",
    "alerts_other_areas",
    "alerts_other_audience",
    "alerts_you_are_approved",
    "alerts_you_are_rejected",
    "alerts_ask_kind",
    "alerts_kind_reassurance",
    "alerts_kind_vigilance",
    "alerts_kind_urgent",
    "alerts_ask_audience",
    "alerts_audience_leaders",
    "alerts_audience_community",
    "alerts_audience_all",
    "alerts_ask_compose_areas",
    "alerts_use_template",
    "alerts_ask_text",
    "alerts_compose_problem",
    "alerts_now",
    "alerts_past",
    "alerts_preview",
    "alerts_preview_languages",
    "alerts_add_translation",
    "alerts_ask_translation_language",
    "alerts_ask_translation",
    "alerts_send",
    "alerts_send_later",
    "alerts_discard",
    "alerts_ask_at",
    "alerts_scheduled",
    "alerts_queued",
    "alerts_see_progress",
    "alerts_none_sent",
    "alerts_recent_intro",
    "alerts_no_such_alert",
    "alerts_refresh",
    "alerts_report_scheduled",
    "alerts_report_progress",
    "alerts_report_final",
    "alerts_report_withdrawn",
    "alerts_withdrawn",
    "alerts_thanks",
    "alerts_help_request",
    "alerts_help_sent",
    "alerts_not_genuine",
    "alerts_genuine",
    "alerts_message",
    "alerts_received",
    "alerts_need_help",
    "topics_prompt",
    "category_prompt",
    "back",
    "main_menu",
    "cancelled",
    "expired_menu",
    "empty_message",
    "too_long",
    "no_text",
    "fallback",
    "declined",
    "thanks_reply",
    "stop_which",
    "stop_this",
    "stop_all",
    "console_goodbye",
    "did_you_mean",
    "none_of_these",
    "sources",
    "emergency_lead",
    "emergency_more",
    "crisis_lead",
    "failsafe",
    "unreadable",
    "privacy",
    "forget_confirm",
    "forget_yes",
    "forget_no",
    "forgotten",
    "forget_kept",
    "error",
    "choose_number",
    "choose_number_typed",
    "choose_in_range",
    "seats_count",
    "recipients_count",
    "people_count",
    "choose_letter",
    "carry_on",
    "coordinator_hello",
    "unknown_command",
    "command_start",
    "command_help",
    "command_menu",
    "command_cancel",
    "command_alerts",
    "command_subscribe",
    "command_unsubscribe",
    "command_privacy",
    "command_forget",
    "opted_out",
    "opted_in",
    "template_sender",
    "view_word",
    "calendar_link",
    "calendar_file",
    "file_saved",
    "training_intro",
    "training_none",
    "training_my",
    "training_manage",
    "training_full_mark",
    "training_cancelled_mark",
    "training_details",
    "training_seats_left",
    "training_full",
    "training_is_cancelled",
    "training_already",
    "training_register",
    "training_join_waiting",
    "training_no_such_session",
    "training_closed",
    "training_ask_name",
    "training_bad_name",
    "training_ask_org",
    "training_bad_org",
    "training_ask_role",
    "training_ask_seats",
    "training_bad_seats",
    "training_ask_access",
    "training_bad_access",
    "training_none_needed",
    "training_consent",
    "training_consent_yes",
    "training_consent_no",
    "training_consent_refused",
    "training_summary",
    "training_confirm",
    "training_stop",
    "training_confirmed",
    "training_waiting",
    "training_already_registered",
    "training_failed",
    "training_status_confirmed",
    "training_status_waiting",
    "training_status_offered",
    "training_status_cancelled",
    "training_status_attended",
    "training_my_none",
    "training_my_intro",
    "training_registration",
    "training_no_such_registration",
    "training_cancel_registration",
    "training_cancel_confirm",
    "training_cancel_yes",
    "training_cancel_no",
    "training_registration_cancelled",
    "training_offer",
    "training_accept",
    "training_decline",
    "training_offer_gone",
    "training_declined",
    "training_offer_lapsed",
    "training_reminder",
    "training_session_cancelled",
    "training_session_moved",
    "training_session_moved_waiting",
    "training_moved_when",
    "training_moved_where",
    "training_manage_label",
    "training_uncheckin",
    "training_checkin_on_the_day",
    "training_checkin_refused",
    "training_admin_person",
    "training_admin_status_confirmed",
    "training_admin_status_waiting",
    "training_admin_status_offered",
    "training_admin_status_attended",
    "training_admin_status_cancelled",
    "training_edit_told",
    "training_not_allowed",
    "training_manage_intro",
    "training_new_session",
    "training_new_intro",
    "training_new_step",
    "training_new_ask_title",
    "training_new_ask_venue",
    "training_new_ask_address",
    "training_new_ask_borough",
    "training_new_ask_starts",
    "training_new_ask_ends",
    "training_new_ask_capacity",
    "training_new_ask_provider",
    "training_new_ask_description",
    "training_new_skip",
    "training_edit_help",
    "training_form_problem",
    "training_admin_session",
    "training_checkin",
    "training_edit",
    "training_cancel_session",
    "training_cancel_session_confirm",
    "training_cancel_session_yes",
    "training_session_cancelled_done",
    "privacy_training",
    "privacy_alerts",
    "privacy_report",
    "command_report",
    "command_language",
    "menu_language",
    "language_prompt",
    "language_chosen",
    "language_offer",
    "translation_draft_note",
    "translation_fallback_note",
    "in_english",
    "mydata_language",
    "report_offer",
    "report_private",
    "private_only",
    "slow_down",
    "menu_mydata",
    "menu_forget",
    "mydata_private",
    "mydata_intro",
    "mydata_account_telegram",
    "mydata_account_whatsapp",
    "mydata_account_console",
    "mydata_none",
    "mydata_end",
    "mydata_earlier",
    "mydata_conversation_heading",
    "mydata_conversation",
    "mydata_where_main_menu",
    "mydata_where_menu",
    "mydata_more_options",
    "mydata_where_idle",
    "mydata_where_trn",
    "mydata_where_alr",
    "mydata_where_report",
    "mydata_where_expired",
    "mydata_where_confirm_forget",
    "mydata_where_flow",
    "mydata_form",
    "mydata_form_name",
    "mydata_form_organisation",
    "mydata_form_role",
    "mydata_form_seats",
    "mydata_form_accessibility",
    "mydata_form_place",
    "mydata_form_areas",
    "mydata_form_kind",
    "mydata_form_audience",
    "mydata_form_text",
    "mydata_form_at",
    "mydata_form_answers",
    "mydata_form_notes",
    "mydata_form_other",
    "mydata_lettered",
    "mydata_contact_heading",
    "mydata_last_wrote",
    "mydata_opted_in",
    "mydata_opted_out",
    "mydata_blocked",
    "mydata_window_closed",
    "mydata_bookings_heading",
    "mydata_booking",
    "mydata_offered_until",
    "mydata_alerts_heading",
    "mydata_subscriber_name",
    "mydata_subscriber_role",
    "mydata_subscriber_place",
    "mydata_subscriber_areas",
    "mydata_quiet_hours",
    "mydata_signed_up",
    "mydata_alerts_received",
    "mydata_delivery",
    "mydata_delivery_pending",
    "mydata_delivery_sending",
    "mydata_delivery_sent",
    "mydata_delivery_delivered",
    "mydata_delivery_failed",
    "mydata_delivery_failed_because",
    "mydata_answered",
    "mydata_alerts_sent_heading",
    "mydata_alert_sent",
    "mydata_notices_heading",
    "mydata_notice",
    "mydata_notice_waiting",
    "mydata_notice_sent",
    "mydata_notice_template",
    "mydata_notice_not_sent",
    "mydata_outgoing_heading",
    "mydata_outgoing",
    "mydata_held_heading",
    "mydata_held",
    "mydata_coordinator_heading",
    "mydata_coordinator_is",
    "mydata_coordinator_was",
    "mydata_audit_heading",
    "mydata_audit_mine",
    "mydata_audit_times",
    "mydata_audit_about",
    "mydata_file_caption",
    "mydata_file_unlinked",
    "command_mydata",
    "report_start",
    "report_safe_yes",
    "report_safe_no",
    "report_safe_again",
    "report_choose",
    "report_routes",
    "report_write_offer",
    "report_write_yes",
    "report_write_no",
    "report_write_declined",
    "report_question",
    "report_skip",
    "report_finish",
    "report_too_long",
    "report_danger_noted",
    "report_summary",
    "report_summary_empty",
    "report_deleted",
    "report_expired",
)


def load_content(directory: Path, today: date | None = None) -> Content:
    """Load and validate the content, raising ContentError on any error (warnings pass)."""
    content, problems = inspect_content(directory, today)
    if content is None or any(p.error for p in problems):
        raise ContentError(problems)
    return content


def inspect_content(directory: Path, today: date | None = None) -> tuple[Content | None, list[Problem]]:
    """Read every content file and return the content (None if unusable) and every problem.

    What was read is kept for the life of the process, by the directory and the size and
    modification time of every file in it: commands run again in one process (the tests, a
    long-lived shell) don't read the same files twice, and a changed file is always read."""
    from bot.content_check import Inspector

    day = today or date.today()
    key = (str(directory.resolve()), day, _fingerprint(directory))
    if key not in _READ:
        if len(_READ) >= 16:
            _READ.clear()
        _READ[key] = Inspector(directory, day).run()
    content, problems = _READ[key]
    return content, list(problems)


_READ: dict[tuple[str, date, tuple[tuple[str, int, int], ...]], tuple[Content | None, list[Problem]]] = {}


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under `directory` with its size and modification time (nanoseconds)."""
    if not directory.is_dir():
        return ()
    found = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            found.append((str(path.relative_to(directory)), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents, ten times
# faster, which is most of the bot's start-up once the models are cached.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlDoc:
    """Parsed YAML plus the line of every key and item, for problems that name a line."""

    def __init__(self, path: Path, text: str, first_line: int = 1) -> None:
        self.path = path
        self._lines: dict[tuple[object, ...], int] = {}
        loader = _SAFE_LOADER(text)  # parsed once: the data is built from the nodes that give the lines
        try:
            node = loader.get_single_node()
            self.data: Any = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        if node is not None:
            self._walk(node, (), first_line)

    def _walk(self, node: yaml.Node, where: tuple[object, ...], first: int) -> None:
        self._lines.setdefault(where, node.start_mark.line + first)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._lines[(*where, key.value)] = key.start_mark.line + first
                self._walk(value, (*where, key.value), first)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*where, index), first)

    def line(self, *where: object) -> int:
        """The line of a key or item, or of its nearest enclosing one."""
        for end in range(len(where), -1, -1):
            if where[:end] in self._lines:
                return self._lines[where[:end]]
        return 1


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Split `---` front matter from the body; return (yaml, body, body's first line) or None."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


_PHONE = re.compile(r"(?<![\w£$€.,:/+-])(\+?\d(?:[ \u00a0]?\d)*)(?![\w%/]|[.,:]\d)")
_CALL_WORDS = re.compile(
    r"\b(call|calling|ring|dial|phone|telephone|text|textphone|press|number|helpline|hotline|"
    r"freephone|tel)[\s:]*$",
    re.IGNORECASE,
)
_YEARISH = re.compile(r"^(19|20)\d\d$")


def phone_numbers(text: str, first_line: int = 1) -> Iterator[tuple[int, str, str]]:
    """Yield (line, digits, as written) for every phone-number-like run of digits in the text.

    A run counts when it starts with 0 or +, has five or more digits, or follows a word such as
    "call", "text" or "press" (so short codes like 999, 101 and 55 are checked too).
    """
    for offset, line in enumerate(text.splitlines()):
        plain = line.replace("**", "").replace("__", "").replace("*", "").replace("`", "")
        for match in _PHONE.finditer(plain):
            raw = match.group(1)
            digits = re.sub(r"\D", "", raw)
            before = plain[: match.start()]
            phone_like = raw.startswith(("0", "+")) or len(digits) >= 5 or bool(_CALL_WORDS.search(before[-24:]))
            if phone_like and not (len(digits) == 4 and _YEARISH.match(digits) and " " not in raw):
                yield first_line + offset, digits, raw
