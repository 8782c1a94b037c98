"""Validate the content directory file by file, collecting problems with their file and line."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.content import (
    COPY_KEYS,
    CRISIS_ENTRY,
    NONE_LABEL,
    PLURAL_FORMS,
    TRIAGE_LABELS,
    AlertTemplate,
    Category,
    Content,
    Copy,
    DangerRule,
    Example,
    FaqEntry,
    Option,
    Problem,
    ReportGuide,
    ReportQuestion,
    ReportRoute,
    TimingGroup,
    TriageRules,
    YamlDoc,
    example_rows,
    phone_numbers,
    place_key,
    split_front_matter,
)
from bot.languages import DEFAULT_MIN_STATUS
from bot.text import Lexicon
from bot.translations import TranslationsInspector

REVIEW_PERIOD = timedelta(days=365)
ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$")
REQUIRED = ("id", "title", "questions", "keywords", "audience", "sources", "reviewed", "related")
AUDIENCES = frozenset({"members", "leaders", "coordinators"})
MIN_QUESTIONS = 6
MAX_ID_LENGTH = 48
EXAMPLE_KINDS = ("triage", "faq")
CRISIS_999_WITHIN = 200  # the crisis entry must give 999 this early
MAX_ROLES = 12  # roles to choose from: each is a button, or a numbered line on WhatsApp
# content/judgement.yaml: the models' decision thresholds (probabilities) and their upper bounds.
JUDGEMENT_KEYS = {
    "emergency": 1.0,
    "emergency_in_form": 1.0,
    "crisis": 1.0,
    "crisis_ratio": 100.0,  # a ratio of two probabilities
    "answer": 1.0,
    "suggest": 1.0,
    "out_of_scope": 1.0,
    "out_of_scope_ratio": 10.0,  # a ratio of two probabilities
}


class Inspector:
    """One pass over a content directory."""

    def __init__(self, directory: Path, today: date) -> None:
        self.directory = directory
        self.today = today
        self.problems: list[Problem] = []
        self.copy_strings: dict[str, str | dict[str, str]] = {}  # copy.yaml as written (before reflowing)

    def error(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(path, line, message))

    def warn(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(path, line, message, error=False))

    def run(self) -> tuple[Content | None, list[Problem]]:
        if not self.directory.is_dir():
            self.error(self.directory, 1, "content directory not found (check CONTENT_DIR)")
            return None, self.problems
        numbers = self._numbers()
        lexicon = self._lexicon()
        faq = self._faq(numbers)
        categories = self._topics(faq)
        triage = self._triage(faq)
        copy = self._copy(numbers)
        decline = self._out_of_scope()
        boroughs = self._boroughs()
        places = self._places(boroughs)
        templates = self._alert_templates(numbers)
        report = self._report(numbers, faq)
        examples = self._examples(faq)
        judgement = self._judgement()
        roles = self._roles()
        translations = TranslationsInspector(
            self, self.copy_strings, roles, categories, faq, report, templates, numbers
        ).run()
        crisis = faq.get(CRISIS_ENTRY)
        if crisis is not None and "999" not in crisis.body[:CRISIS_999_WITHIN]:
            # It is the whole reply to someone whose life may be at risk: 999 must come first.
            self.error(crisis.path, 1, f"the crisis entry must give 999 in its first {CRISIS_999_WITHIN} characters")
        if lexicon is None or triage is None or copy is None:
            return None, self.problems
        content = Content(
            faq,
            categories,
            numbers,
            lexicon,
            triage,
            copy.using(translations, DEFAULT_MIN_STATUS),
            decline,
            boroughs,
            templates,
            report,
            self.directory,
            examples,
            judgement,
            roles,
            places,
            translations,
        )
        return content, self.problems

    # --- examples/ (labelled messages the models learn from) ---------------------------------
    def _examples(self, faq: dict[str, FaqEntry]) -> tuple[Example, ...]:
        folder = self.directory / "examples"
        if not folder.is_dir():
            return ()
        writers: set[str] = set()
        doc = self._yaml("examples/writers.yaml")
        if doc is not None:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("writers"), dict):
                writers = set(doc.data["writers"])
            else:
                self.error(doc.path, 1, "expected `writers:` mapping each writer id to who they are")
        found: list[Example] = []
        for path in sorted(folder.glob("*.tsv")):
            writer = path.stem
            if writer not in writers:
                self.error(path, 1, f"writer `{writer}` is not described in examples/writers.yaml")
            try:
                rows = list(example_rows(path.read_text(encoding="utf-8")))
            except UnicodeDecodeError:
                self.error(path, 1, "not UTF-8 text")
                continue
            for number, parts in rows:
                if len(parts) != 3 or not parts[2]:
                    self.error(path, number, "expected `kind<TAB>label<TAB>message`")
                    continue
                kind, label, text = parts
                if kind not in EXAMPLE_KINDS:
                    self.error(path, number, f"unknown kind `{kind}` (expected triage or faq)")
                elif kind == "triage" and label not in TRIAGE_LABELS:
                    self.error(path, number, f"unknown triage label `{label}` (expected {', '.join(TRIAGE_LABELS)})")
                elif kind == "faq" and label != NONE_LABEL and label not in faq:
                    self.error(path, number, f"unknown FAQ id `{label}` (or `{NONE_LABEL}` for out of scope)")
                else:
                    found.append(Example(kind, label, text, writer))
        return tuple(found)

    def _judgement(self) -> dict[str, float]:
        if not (self.directory / "judgement.yaml").exists():
            return {}
        doc = self._yaml("judgement.yaml")
        if doc is None or not isinstance(doc.data, dict):
            return {}
        values: dict[str, float] = {}
        for key, most in JUDGEMENT_KEYS.items():
            value = doc.data.get(key)
            if not isinstance(value, int | float) or not 0 <= value <= most:
                where = doc.line(key) if key in doc.data else 1
                self.error(doc.path, where, f"`{key}` should be a number from 0 to {most:g}")
                continue
            values[key] = float(value)
        return values

    def _yaml(self, name: str) -> YamlDoc | None:
        path = self.directory / name
        try:
            return YamlDoc(path, path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.error(path, 1, "file is missing")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.error(path, _yaml_line(exc), f"not valid YAML: {_first_line(exc)}")
        return None

    # --- numbers.yaml -----------------------------------------------------------------------
    def _numbers(self) -> dict[str, str]:
        doc = self._yaml("numbers.yaml")
        known: dict[str, str] = {}
        if doc is None:
            return known
        items = doc.data.get("numbers") if isinstance(doc.data, dict) else None
        if not isinstance(items, list):
            self.error(doc.path, 1, "expected a `numbers:` list")
            return known
        for index, item in enumerate(items):
            line = doc.line("numbers", index)
            if not isinstance(item, dict) or not isinstance(item.get("number"), str | int):
                self.error(doc.path, line, "each number needs `number` (quoted) and `name`")
                continue
            digits = re.sub(r"\D", "", str(item["number"]))
            if not digits:
                self.error(doc.path, line, f"{item['number']!r} has no digits")
            elif digits in known:
                self.error(doc.path, line, f"{item['number']} is listed twice")
            if not item.get("name"):
                self.error(doc.path, line, "each number needs a `name` saying whose it is")
            source = item.get("source")
            if not isinstance(source, str) or not URL.match(source):
                self.error(doc.path, line, "each number needs a `source` URL")
            known[digits] = str(item.get("name", ""))
        return known

    # --- lexicon.yaml -----------------------------------------------------------------------
    def _lexicon(self) -> Lexicon | None:
        doc = self._yaml("lexicon.yaml")
        if doc is None:
            return None
        data = doc.data if isinstance(doc.data, dict) else {}
        synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        raw = data.get("synonyms") or {}
        if not isinstance(raw, dict):
            self.error(doc.path, doc.line("synonyms"), "`synonyms` maps a canonical word to variants")
            raw = {}
        for canonical, variants in raw.items():
            line = doc.line("synonyms", canonical)
            if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
                self.error(doc.path, line, f"`{canonical}` should list its variants as strings")
                continue
            target = tuple(str(canonical).lower().split())
            for variant in variants:
                key = tuple(variant.lower().split())
                if key in synonyms and synonyms[key] != target:
                    self.error(doc.path, line, f"{variant!r} is already a variant of {' '.join(synonyms[key])!r}")
                synonyms[key] = target
        stopwords = data.get("stopwords") or ""
        if not isinstance(stopwords, str):
            self.error(doc.path, doc.line("stopwords"), "`stopwords` should be words separated by spaces")
            stopwords = ""
        about, greetings, occasions, thanks, thanks_also = (
            frozenset(w.lower() for w in self._strings(doc, key))
            for key in ("about_the_bot", "greetings", "occasions", "thanks", "thanks_also")
        )
        return Lexicon(synonyms, frozenset(stopwords.lower().split()), about, greetings, occasions, thanks, thanks_also)

    # --- faq/*.md ---------------------------------------------------------------------------
    def _faq(self, numbers: dict[str, str]) -> dict[str, FaqEntry]:
        folder = self.directory / "faq"
        entries: dict[str, FaqEntry] = {}
        lines: dict[str, tuple[Path, YamlDoc]] = {}
        paths = sorted(folder.glob("*.md")) if folder.is_dir() else []
        if not paths:
            self.error(folder, 1, "no FAQ entries found")
        for path in paths:
            loaded = self._entry(path, numbers)
            if loaded is None:
                continue
            entry, doc = loaded
            if entry.id in entries:
                self.error(path, doc.line("id"), f"id {entry.id!r} is also used by {entries[entry.id].path.name}")
                continue
            entries[entry.id] = entry
            lines[entry.id] = (path, doc)
        for entry in entries.values():
            path, doc = lines[entry.id]
            for index, other in enumerate(entry.related):
                if other not in entries:
                    self.error(path, doc.line("related", index), f"related id {other!r} does not exist")
                elif other == entry.id:
                    self.error(path, doc.line("related", index), "an entry cannot be related to itself")
        return entries

    def _entry(self, path: Path, numbers: dict[str, str]) -> tuple[FaqEntry, YamlDoc] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.error(path, 1, "not UTF-8 text")
            return None
        read = self.front_matter(path, text)
        if read is None:
            return None
        doc, body, body_line = read
        data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        ok = True
        for key in REQUIRED:
            if data.get(key) in (None, "", []):
                self.error(path, 2, f"missing required field `{key}`")
                ok = False
        if not ok:
            return None
        entry_id = str(data["id"])
        if not ID.match(entry_id):
            self.error(path, doc.line("id"), f"id {entry_id!r} must be lowercase kebab-case")
        if len(entry_id) > MAX_ID_LENGTH:  # ids travel in button data, which Telegram caps at 64 bytes
            self.error(path, doc.line("id"), f"id {entry_id!r} is longer than {MAX_ID_LENGTH} characters")
        if entry_id != path.stem:
            self.error(path, doc.line("id"), f"id {entry_id!r} does not match the file name")
        lists = {
            key: self._strings(doc, key)
            for key in ("questions", "keywords", "audience", "sources", "related", "verify")
        }
        if len(lists["questions"]) < MIN_QUESTIONS:
            self.error(
                path,
                doc.line("questions"),
                f"needs at least {MIN_QUESTIONS} example questions, has {len(lists['questions'])}",
            )
        for index, audience in enumerate(lists["audience"]):
            if audience not in AUDIENCES:
                self.error(
                    path,
                    doc.line("audience", index),
                    f"audience {audience!r} is not one of {', '.join(sorted(AUDIENCES))}",
                )
        for index, source in enumerate(lists["sources"]):
            if not URL.match(source):
                self.error(path, doc.line("sources", index), f"source {source!r} is not a URL")
        reviewed = self._date(doc, data["reviewed"])
        if not body.strip():
            self.error(path, body_line, "the answer body is empty")
        for line, digits, raw in phone_numbers(body, body_line):
            if digits not in numbers:
                self.error(
                    path,
                    line,
                    f"phone number {raw!r} is not in numbers.yaml: check the digits, or add it there with its source",
                )
        for index, fact in enumerate(lists["verify"]):
            self.warn(path, doc.line("verify", index), f"re-verify against the official source: {fact}")
        entry = FaqEntry(
            id=entry_id,
            title=str(data["title"]).strip(),
            questions=lists["questions"],
            keywords=lists["keywords"],
            audience=lists["audience"],
            sources=lists["sources"],
            reviewed=reviewed or date.min,
            related=lists["related"],
            body=body.strip(),
            verify=lists["verify"],
            path=path,
        )
        return entry, doc

    def front_matter(self, path: Path, text: str) -> tuple[YamlDoc, str, int] | None:
        """A Markdown file's front matter (parsed), body and the body's first line, or None
        (and the problem recorded)."""
        parts = split_front_matter(text)
        if parts is None:
            self.error(path, 1, "expected YAML front matter between two `---` lines")
            return None
        front, body, body_line = parts
        try:
            doc = YamlDoc(path, front, first_line=2)
        except yaml.YAMLError as exc:
            self.error(path, _yaml_line(exc) + 1, f"front matter is not valid YAML: {_first_line(exc)}")
            return None
        return doc, body, body_line

    def _strings(self, doc: YamlDoc, key: str) -> tuple[str, ...]:
        value = doc.data.get(key) if isinstance(doc.data, dict) else None
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            self.error(doc.path, doc.line(key), f"`{key}` should be a list of strings")
            return ()
        return tuple(str(v).strip() for v in value if str(v).strip())

    def _date(self, doc: YamlDoc, value: object) -> date | None:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, date):
            self.error(doc.path, doc.line("reviewed"), f"reviewed {value!r} is not a date (YYYY-MM-DD)")
            return None
        if value > self.today:
            self.error(doc.path, doc.line("reviewed"), f"reviewed {value} is in the future")
        elif self.today - value > REVIEW_PERIOD:
            self.warn(
                doc.path,
                doc.line("reviewed"),
                f"last reviewed {value}, more than 12 months ago: check it against its sources",
            )
        return value

    # --- lists of names: roles (in copy.yaml) and boroughs.yaml ----------------------------------
    def _names(self, file: str, key: str, what: str, most: int | None = None) -> tuple[str, ...]:
        """A required list of distinct names under `key` in `file` (at most `most` of them)."""
        doc = self._yaml(file)
        if doc is None:
            return ()
        names = self._strings(doc, key)
        if not names:
            self.error(doc.path, 1, f"expected a `{key}:` list")
        if len(set(n.lower() for n in names)) != len(names):
            self.error(doc.path, doc.line(key), f"a {what} is listed twice")
        if most is not None and len(names) > most:
            self.error(doc.path, doc.line(key), f"at most {most} {what}s: each is a button or a numbered line")
        return names

    def _roles(self) -> tuple[str, ...]:
        return self._names("copy.yaml", "roles", "role", MAX_ROLES)

    def _boroughs(self) -> tuple[str, ...]:
        return self._names("boroughs.yaml", "boroughs", "borough")

    def _places(self, boroughs: tuple[str, ...]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """places.yaml (optional): places and postcode districts, each with the boroughs it is in."""
        if not (self.directory / "places.yaml").exists():
            return {}
        doc = self._yaml("places.yaml")
        if doc is None:
            return {}
        data = doc.data if isinstance(doc.data, dict) else {}
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        known = {b.casefold(): b for b in boroughs}
        for section in ("places", "postcodes"):
            entries = data.get(section) or {}
            if not isinstance(entries, dict):
                self.error(doc.path, doc.line(section), f"`{section}` should map each name to a list of boroughs")
                continue
            for name, areas in entries.items():
                line = doc.line(section, name)
                if not isinstance(areas, list) or not areas or not all(isinstance(a, str) for a in areas):
                    self.error(doc.path, line, f"{name}: expected a list of boroughs")
                    continue
                unknown = [a for a in areas if a.casefold() not in known]
                if unknown:
                    self.error(doc.path, line, f"{name}: not in boroughs.yaml: {', '.join(unknown)}")
                    continue
                key = place_key(str(name))
                if key in found or key in known:
                    self.error(doc.path, line, f"{name} is listed twice (or is a borough's name)")
                    continue
                found[key] = (str(name), tuple(known[a.casefold()] for a in areas))
        return found

    def _alert_templates(self, numbers: dict[str, str]) -> dict[str, AlertTemplate]:
        folder = self.directory / "alerts"
        templates: dict[str, AlertTemplate] = {}
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            doc = self._yaml(f"alerts/{path.name}")
            if doc is None:
                continue
            data = doc.data if isinstance(doc.data, dict) else {}
            kind, title, text = (str(data.get(key) or "").strip() for key in ("kind", "title", "text"))
            if kind not in ("reassurance", "vigilance", "urgent"):
                self.error(path, doc.line("kind"), "kind must be reassurance, vigilance or urgent")
            if not title or not text:
                self.error(path, 1, "an alert template needs `title` and `text`")
                continue
            for line, digits, raw in phone_numbers(text, doc.line("text") + 1):
                if digits not in numbers:
                    self.error(path, line, f"phone number {raw!r} is not in numbers.yaml")
            try:
                text.format(areas="x", date="x")
            except (KeyError, IndexError, ValueError) as exc:
                self.error(path, doc.line("text"), f"text: unknown placeholder {exc} (use {{areas}} and {{date}})")
            templates[path.stem] = AlertTemplate(path.stem, kind, title, text)
        return templates

    # --- report.yaml (optional) ---------------------------------------------------------------
    def _report(self, numbers: dict[str, str], faq: dict[str, FaqEntry]) -> ReportGuide | None:
        if not (self.directory / "report.yaml").exists():
            return None
        doc = self._yaml("report.yaml")
        if doc is None:
            return None
        data = doc.data if isinstance(doc.data, dict) else {}
        before = len([p for p in self.problems if p.error])
        reviewed = self._date(doc, data.get("reviewed"))
        topics = self._strings(doc, "topics")
        for index, topic in enumerate(topics):
            if topic not in faq:
                self.error(doc.path, doc.line("topics", index), f"FAQ id {topic!r} does not exist")
        start = None
        if data.get("start_patterns"):
            start = self._pattern(doc, data["start_patterns"], ("start_patterns",))
        questions = self._report_questions(doc, "questions", numbers, picked=True)
        answers = {q.id: {o.id for o in q.options} for q in questions}
        routes: list[ReportRoute] = []
        for index, item in enumerate(data.get("routes") or []):
            where = ("routes", index)
            if not isinstance(item, dict) or not all(str(item.get(k) or "").strip() for k in ("id", "title", "text")):
                self.error(doc.path, doc.line(*where), "each route needs `id`, `title`, `text` and `sources`")
                continue
            route_id = self._report_id(doc, item["id"], where, [r.id for r in routes])
            sources = tuple(str(u) for u in item.get("sources") or [])
            if not sources or not all(URL.match(u) for u in sources):
                self.error(doc.path, doc.line(*where, "sources"), "a route needs `sources`: a list of web addresses")
            text = " ".join(str(item["text"]).split())  # one paragraph: it becomes one numbered item
            self._report_numbers(doc, text, numbers, (*where, "text"))
            when = self._when(doc, item.get("when"), answers, where)
            routes.append(ReportRoute(route_id, str(item["title"]).strip(), text, when, sources))
        if not routes:
            self.error(doc.path, doc.line("routes"), "the report guide needs `routes`")
        writeup = self._report_questions(doc, "writeup", numbers, picked=False, answers=answers)
        tips = str(data.get("tips") or "").strip()
        self._report_numbers(doc, tips, numbers, ("tips",))
        tips_sources = self._strings(doc, "tips_sources")
        if not tips or not tips_sources or not all(URL.match(u) for u in tips_sources):
            self.error(doc.path, doc.line("tips"), "the report guide needs `tips` and `tips_sources` (web addresses)")
        if reviewed is None or len([p for p in self.problems if p.error]) > before:
            return None
        return ReportGuide(reviewed, frozenset(topics), start, questions, tuple(routes), writeup, tips, tips_sources)

    def _report_questions(
        self,
        doc: YamlDoc,
        key: str,
        numbers: dict[str, str],
        *,
        picked: bool,
        answers: dict[str, set[str]] | None = None,
    ) -> tuple[ReportQuestion, ...]:
        data = doc.data if isinstance(doc.data, dict) else {}
        raw = data.get(key)
        if not isinstance(raw, list) or not raw:
            self.error(doc.path, doc.line(key), f"`{key}` should be a list of questions")
            return ()
        questions: list[ReportQuestion] = []
        for index, item in enumerate(raw):
            where = (key, index)
            if not isinstance(item, dict) or not str(item.get("id") or "").strip() or not item.get("text"):
                self.error(doc.path, doc.line(*where), "each question needs an `id` and a `text`")
                continue
            question_id = self._report_id(doc, item["id"], where, [q.id for q in questions])
            text = str(item["text"]).strip()
            self._report_numbers(doc, text, numbers, (*where, "text"))
            if picked:
                options: list[Option] = []
                for number, option in enumerate(item.get("options") or []):
                    spot = (*where, "options", number)
                    if not isinstance(option, dict) or not option.get("id") or not option.get("label"):
                        self.error(doc.path, doc.line(*spot), "each option needs an `id` and a `label`")
                        continue
                    option_id = self._report_id(doc, option["id"], spot, [o.id for o in options])
                    options.append(Option(option_id, str(option["label"]).strip()))
                if len(options) < 2:
                    self.error(doc.path, doc.line(*where), "a question to pick from needs at least two `options`")
                questions.append(ReportQuestion(question_id, text, tuple(options)))
                continue
            label = str(item.get("label") or "").strip()
            most = item.get("max_chars", 1000)
            if not label:
                self.error(doc.path, doc.line(*where), "a write-up question needs a `label` for the summary")
            if not isinstance(most, int) or not 50 <= most <= 4000:
                self.error(doc.path, doc.line(*where, "max_chars"), "`max_chars` should be a number from 50 to 4000")
                most = 1000
            when = self._when(doc, item.get("when"), answers or {}, where)
            questions.append(ReportQuestion(question_id, text, (), label, most, when))
        return tuple(questions)

    def _report_id(self, doc: YamlDoc, value: object, where: tuple[object, ...], taken: list[str]) -> str:
        text = str(value).strip()
        if not ID.match(text) or len(text) > 20:  # ids travel in button data, 64 bytes at most
            self.error(doc.path, doc.line(*where), f"id {text!r} must be kebab-case, at most 20 characters")
        if text in taken:
            self.error(doc.path, doc.line(*where), f"id {text!r} is used twice")
        return text

    def _report_numbers(self, doc: YamlDoc, text: str, numbers: dict[str, str], where: tuple[object, ...]) -> None:
        for _, digits, raw in phone_numbers(text):
            if digits not in numbers:
                self.error(doc.path, doc.line(*where), f"phone number {raw!r} is not in numbers.yaml")

    def _when(
        self, doc: YamlDoc, raw: object, answers: dict[str, set[str]], where: tuple[object, ...]
    ) -> dict[str, frozenset[str]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(doc.path, doc.line(*where, "when"), "`when` maps question ids to lists of answers")
            return {}
        when: dict[str, frozenset[str]] = {}
        for key, values in raw.items():
            spot = doc.line(*where, "when", key)
            listed = values if isinstance(values, list) else [values]
            if key not in answers:
                self.error(doc.path, spot, f"`when` names {key!r}, which is not one of the questions")
                continue
            unknown = [str(v) for v in listed if str(v) not in answers[key]]
            if unknown:
                self.error(doc.path, spot, f"{key!r} has no answer {', '.join(map(repr, unknown))}")
            when[str(key)] = frozenset(str(v) for v in listed)
        return when

    # --- out_of_scope.yaml (optional) --------------------------------------------------------
    def _out_of_scope(self) -> FaqEntry | None:
        if not (self.directory / "out_of_scope.yaml").exists():
            return None
        doc = self._yaml("out_of_scope.yaml")
        if doc is None:
            return None
        lists = {key: self._strings(doc, key) for key in ("keywords", "questions")}
        if not lists["keywords"] and not lists["questions"]:
            self.error(doc.path, 1, "expected `keywords` and `questions` lists")
            return None
        return FaqEntry(
            id="out-of-scope",
            title="",
            questions=lists["questions"],
            keywords=lists["keywords"],
            audience=(),
            sources=(),
            reviewed=date.min,
            related=(),
            body="",
            path=doc.path,
        )

    # --- topics.yaml ------------------------------------------------------------------------
    def _topics(self, faq: dict[str, FaqEntry]) -> tuple[Category, ...]:
        doc = self._yaml("topics.yaml")
        if doc is None:
            return ()
        raw = doc.data.get("categories") if isinstance(doc.data, dict) else None
        if not isinstance(raw, list):
            self.error(doc.path, 1, "expected a `categories:` list")
            return ()
        categories: list[Category] = []
        seen: dict[str, str] = {}
        for index, item in enumerate(raw):
            line = doc.line("categories", index)
            if not isinstance(item, dict) or not item.get("id") or not item.get("label"):
                self.error(doc.path, line, "each category needs `id`, `label` and `entries`")
                continue
            if not ID.match(str(item["id"])) or len(str(item["id"])) > MAX_ID_LENGTH:
                self.error(doc.path, line, f"category id {item['id']!r} must be short kebab-case")
            ids = item.get("entries") or []
            for number, entry_id in enumerate(ids):
                where = doc.line("categories", index, "entries", number)
                if entry_id not in faq:
                    self.error(doc.path, where, f"FAQ id {entry_id!r} does not exist")
                elif entry_id in seen:
                    self.error(doc.path, where, f"{entry_id!r} is already in category {seen[entry_id]!r}")
                seen[entry_id] = str(item["id"])
            categories.append(Category(str(item["id"]), str(item["label"]), tuple(map(str, ids))))
        for entry_id, entry in faq.items():
            if entry_id not in seen:
                self.warn(doc.path, 1, f"{entry_id!r} ({entry.path.name}) is in no category")
        return tuple(categories)

    # --- triage.yaml ------------------------------------------------------------------------
    def _triage(self, faq: dict[str, FaqEntry]) -> TriageRules | None:
        doc = self._yaml("triage.yaml")
        if doc is None:
            return None
        data = doc.data if isinstance(doc.data, dict) else {}
        danger: list[DangerRule] = []
        for index, item in enumerate(data.get("danger") or []):
            line = doc.line("danger", index)
            if not isinstance(item, dict) or not item.get("name") or not item.get("patterns"):
                self.error(doc.path, line, "each danger rule needs `name`, `patterns` and `guidance`")
                continue
            guidance = str(item.get("guidance", ""))
            if guidance not in faq:
                self.error(
                    doc.path,
                    doc.line("danger", index, "guidance"),
                    f"guidance id {guidance!r} does not exist",
                )
            pattern = self._pattern(doc, item["patterns"], ("danger", index, "patterns"))
            if pattern is not None:
                danger.append(DangerRule(str(item["name"]), pattern, guidance))
        timing: list[TimingGroup] = []
        for index, item in enumerate(data.get("timing") or []):
            line = doc.line("timing", index)
            if not isinstance(item, dict) or not isinstance(item.get("weight"), int | float):
                self.error(doc.path, line, "each timing group needs `name`, a number `weight` and `patterns`")
                continue
            raw = item.get("patterns") or []
            compiled = []
            for number, pattern in enumerate(raw if isinstance(raw, list) else [raw]):
                one = self._pattern(doc, [pattern], ("timing", index, "patterns", number))
                if one is not None:
                    compiled.append(one)
            timing.append(TimingGroup(str(item.get("name", index)), float(item["weight"]), tuple(compiled)))
        if not danger:
            self.error(doc.path, 1, "triage needs at least one `danger` rule")
        vocabulary = data.get("vocabulary") or ""
        if not isinstance(vocabulary, str):
            self.error(doc.path, doc.line("vocabulary"), "`vocabulary` should be words separated by spaces")
            vocabulary = ""
        words = frozenset(vocabulary.lower().split())
        return TriageRules(tuple(danger), tuple(timing), words)

    def _pattern(self, doc: YamlDoc, patterns: object, where: tuple[object, ...]) -> re.Pattern[str] | None:
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list):
            self.error(doc.path, doc.line(*where), "patterns should be a list of regular expressions")
            return None
        for index, pattern in enumerate(patterns):
            try:
                re.compile(str(pattern))
            except re.error as exc:
                self.error(doc.path, doc.line(*where, index), f"bad pattern {pattern!r}: {exc}")
                return None
        return re.compile("|".join(f"(?:{p})" for p in patterns))

    # --- copy.yaml --------------------------------------------------------------------------
    def _copy(self, numbers: dict[str, str]) -> Copy | None:
        doc = self._yaml("copy.yaml")
        if doc is None:
            return None
        data = doc.data if isinstance(doc.data, dict) else {}
        strings: dict[str, str | dict[str, str]] = {}
        for k, v in data.items():
            if isinstance(v, str | int):
                strings[str(k)] = str(v).strip()
            elif isinstance(v, dict) and k != "roles":  # plural forms: {one: "{count} seat", other: …}
                forms = {str(f): str(t).strip() for f, t in v.items() if isinstance(t, str | int)}
                if set(forms) - PLURAL_FORMS or "other" not in forms or len(forms) != len(v):
                    self.error(doc.path, doc.line(k), f"`{k}` needs plural forms as texts: other, and any of "
                               f"{', '.join(sorted(PLURAL_FORMS - {'other'}))}")  # fmt: skip
                    continue
                strings[str(k)] = forms
        for key in COPY_KEYS:
            if not strings.get(key):
                self.error(doc.path, 1, f"missing the text `{key}`")
        for key, value in strings.items():
            for text in [value] if isinstance(value, str) else value.values():
                first = doc.line(key) + (1 if "\n" in text else 0)
                for line, digits, raw in phone_numbers(text, first):
                    if digits not in numbers:
                        self.error(doc.path, line, f"phone number {raw!r} in `{key}` is not in numbers.yaml")
        self.copy_strings = strings
        return Copy(strings) if all(strings.get(k) for k in COPY_KEYS) else None


def _yaml_line(exc: BaseException) -> int:
    mark = getattr(exc, "problem_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
