"""Load and check content/translations/<code>/: one language's copy, FAQ entries, guided report
and alert templates, each with its review trail (status, reviewer, the hash of its English).

What a translation says must be what its English says where it matters for safety: the same
phone numbers (999, 55, 18000…), web addresses and {placeholders}. A difference is an error, as
a wrong number in the English would be. Drafts, stale and missing translations are warnings:
the bot shows English for them, with a note.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from babel import Locale

from bot.content import (
    PLURAL_FORMS,
    AlertTemplate,
    Category,
    FaqEntry,
    ReportGuide,
    YamlDoc,
    reflow,
)
from bot.languages import BY_CODE, ENGLISH, STATUSES, Translated, Translation, source_hash

if TYPE_CHECKING:
    from bot.content_check import Inspector

FOLDER = "translations"
_URL = re.compile(r"https?://[^\s)>\]]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"(?<![\w/])\+?\d(?:[ \u00a0]?\d)*(?![\w/])")  # any script's digits; groups with spaces
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _western(digits: str) -> str:
    return "".join(str(unicodedata.digit(c)) for c in digits)


def facts(text: str, known: Mapping[str, str] | frozenset[str]) -> dict[str, set[str]]:
    """What a translation must keep: its phone numbers (a number in numbers.yaml, such as 999, 55
    or 18000, or one of five digits or more, or starting with 0 or +), web and e-mail addresses,
    and placeholders. Other numbers ("24-hour", "9am") may be put in the language's own words.
    A phone number written in another script's digits is kept as written, so it differs from the
    English: it must be in 0-9 to be dialled from the message."""
    found = _facts(text, known if isinstance(known, frozenset) else frozenset(known))
    return {kind: set(values) for kind, values in found.items()}


@functools.lru_cache(maxsize=8192)  # the English is compared with seven languages
def _facts(text: str, known: frozenset[str]) -> dict[str, frozenset[str]]:
    addresses = set(_URL.findall(text))
    bare = _URL.sub(" ", text)
    phones = set()
    for run in _NUMBER.findall(bare):
        digits = "".join(c for c in run if c.isdigit())
        western = _western(digits)
        if western in known or len(western) >= 5 or (run.startswith(("0", "+")) and len(western) >= 3):
            phones.add(digits)
    return {
        "phone numbers": frozenset(phones),
        "web or e-mail addresses": frozenset(addresses),
        "placeholders": frozenset(_PLACEHOLDER.findall(bare)),
    }


def differences(english: str, translated: str, known: Mapping[str, str] | frozenset[str]) -> list[str]:
    """How a translation's facts differ from its English ("phone numbers…: 999 missing, 99 added")."""
    out = []
    theirs = facts(translated, known)
    for kind, ours in facts(english, known).items():
        missing, added = sorted(ours - theirs[kind]), sorted(theirs[kind] - ours)
        if missing or added:
            said = [f"{', '.join(missing)} missing" if missing else "", f"{', '.join(added)} added" if added else ""]
            out.append(f"{kind} differ from the English: {'; '.join(s for s in said if s)}")
    return out


@dataclasses.dataclass(slots=True)
class _Tally:
    """What one language has, for the summary line."""

    drafts: int = 0
    stale: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)


class TranslationsInspector:
    """Reads every language folder against the English already loaded."""

    def __init__(
        self,
        inspector: Inspector,
        english_copy: Mapping[str, str | dict[str, str]],
        roles: tuple[str, ...],
        categories: Sequence[Category],
        faq: Mapping[str, FaqEntry],
        report: ReportGuide | None,
        templates: Mapping[str, AlertTemplate],
        numbers: dict[str, str],
    ) -> None:
        self.inspector = inspector
        self.english_copy = english_copy
        self.roles = roles
        self.categories = categories
        self.faq = faq
        self.report = report
        self.templates = templates
        self.numbers = numbers
        self.known = frozenset(numbers)  # the known numbers' digits, as `facts` takes them
        self.folder = inspector.directory / FOLDER

    def error(self, path: Path, line: int, message: str) -> None:
        self.inspector.error(path, line, message)

    def warn(self, path: Path, line: int, message: str) -> None:
        self.inspector.warn(path, line, message)

    def run(self) -> dict[str, Translation]:
        out: dict[str, Translation] = {}
        if not self.folder.is_dir():
            return out
        for folder in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            code = folder.name
            if code not in BY_CODE or code == ENGLISH:
                known = ", ".join(c for c in BY_CODE if c != ENGLISH)
                self.error(folder, 1, f"{code!r} is not a language the bot speaks ({known})")
                continue
            tally = _Tally()
            texts = self._copy(folder, code, tally)
            faq = self._faq(folder, code, tally)
            report = self._report(folder, code, tally)
            alerts = self._alerts(folder, code, tally)
            self._summary(folder, code, tally)
            out[code] = Translation(code, texts, faq, report, alerts)
        return out

    # --- the review trail ---------------------------------------------------------------------
    def _trail(self, path: Path, doc: YamlDoc, meta: Mapping[str, Any], code: str, *where: object) -> tuple[str, str]:
        """A file's status and reviewer, checked: its language, a known status, and a reviewer
        named for anything past a draft."""
        if str(meta.get("language") or "") != code:
            self.error(path, doc.line(*where, "language"), f"`language` should be {code!r} (the folder's)")
        status = str(meta.get("status") or "")
        if status not in STATUSES:
            self.error(path, doc.line(*where, "status"), f"`status` should be one of {', '.join(STATUSES)}")
            status = "draft"
        reviewer = str(meta.get("reviewer") or "").strip()
        if status != "draft" and not reviewer:
            self.error(path, doc.line(*where, "reviewer"), f"a {status} translation names its `reviewer`")
        return status, reviewer

    def _compare(self, path: Path, line: int, what: str, english: str, translated: str) -> bool:
        problems = differences(english, translated, self.known)
        for problem in problems:
            self.error(path, line, f"{what}: {problem}")
        return not problems

    def _open(self, path: Path, tally: _Tally) -> tuple[YamlDoc, dict[str, Any]] | None:
        """A translation's YAML file and its top-level mapping; None if missing (listed) or broken."""
        if not path.exists():
            tally.missing.append(path.name)
            return None
        doc = self._doc(path)
        if doc is None:
            return None
        return doc, _mapping(doc.data)

    def _doc(self, path: Path) -> YamlDoc | None:
        try:
            return YamlDoc(path, path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.error(path, 1, f"not valid YAML: {first}")
            return None

    # --- copy.yaml ----------------------------------------------------------------------------
    def _copy(self, folder: Path, code: str, tally: _Tally) -> dict[str, Translated]:
        path = folder / "copy.yaml"
        out: dict[str, Translated] = {}
        opened = self._open(path, tally)
        if opened is None:
            return out
        doc, data = opened
        status, reviewer = self._trail(path, doc, data, code)
        hashes: dict[str, Any] = _mapping(data.get("source_sha256"))
        texts: dict[str, Any] = _mapping(data.get("texts"))
        forms = set(Locale.parse(BY_CODE[code].locale).plural_form.tags) | {"other"}
        for key, value in texts.items():
            key = str(key)
            line = doc.line("texts", key)
            english = self.english_copy.get(key)
            if english is None:
                self.warn(path, line, f"`{key}` is not in the English copy.yaml (no longer used?)")
                continue
            translated = self._text(path, line, key, value, english, forms)
            if translated is None:
                continue
            if hashes.get(key) != source_hash(english):
                tally.stale.append(key)
                out[key] = Translated(translated, status, reviewer, stale=True)
                continue
            pairs = (
                [(english, translated)]
                if isinstance(english, str) and isinstance(translated, str)
                else [(_all(english), _all(translated))]
            )
            if all(self._compare(path, line, f"`{key}`", e, t) for e, t in pairs):
                out[key] = Translated(translated, status, reviewer)
                tally.drafts += status == "draft"
        tally.missing.extend(k for k in self.english_copy if k not in texts)
        topics = _mapping(data.get("topics"))  # the "Safety guidance by topic" labels, by category id
        for category in self.categories:
            label = str(topics.get(category.id) or "").strip()
            if not label:
                tally.missing.append(f"topics: {category.id}")
                continue
            stale = hashes.get(f"topic:{category.id}") != source_hash(category.label)
            if stale:
                tally.stale.append(f"topics: {category.id}")
            out[f"topic:{category.id}"] = Translated(label, status, reviewer, stale=stale)
        for unknown in sorted(set(topics) - {c.id for c in self.categories}):
            self.warn(path, doc.line("topics", unknown), f"`topics: {unknown}` is not a topic of topics.yaml")
        roles = data.get("roles")
        if roles is not None:
            if not isinstance(roles, list) or len(roles) != len(self.roles) or not all(str(r).strip() for r in roles):
                self.error(path, doc.line("roles"), f"`roles` should list {len(self.roles)} roles, as the English does")
            else:
                english_roles = "\n".join(self.roles)
                stale = hashes.get("roles") not in (None, source_hash(english_roles))
                out["roles"] = Translated(tuple(str(r).strip() for r in roles), status, reviewer, stale=stale)
        return out

    def _text(
        self, path: Path, line: int, key: str, value: object, english: str | dict[str, str], forms: set[str]
    ) -> str | dict[str, str] | None:
        """One translated text, reflowed as the English is; plural texts with this language's forms."""
        if isinstance(english, str):
            if not isinstance(value, str | int) or not str(value).strip():
                self.error(path, line, f"`{key}` should be a text, as in the English")
                return None
            return reflow(str(value).strip())
        if not isinstance(value, dict) or "other" not in value or not set(map(str, value)) <= forms & PLURAL_FORMS:
            self.error(path, line, f"`{key}` needs this language's plural forms: other, and any of "
                       f"{', '.join(sorted(forms - {'other'})) or 'none'}")  # fmt: skip
            return None
        return {str(form): reflow(str(text).strip()) for form, text in value.items()}

    # --- faq/<id>.md --------------------------------------------------------------------------
    def _faq(self, folder: Path, code: str, tally: _Tally) -> dict[str, Translated]:
        out: dict[str, Translated] = {}
        found = {p.stem: p for p in sorted((folder / "faq").glob("*.md"))} if (folder / "faq").is_dir() else {}
        for stem, path in found.items():
            if stem not in self.faq:
                self.warn(path, 1, f"no English FAQ entry {stem!r}: this translation is not shown")
        for entry_id, entry in self.faq.items():
            found_path = found.get(entry_id)
            if found_path is None:
                tally.missing.append(f"faq/{entry_id}.md")
                continue
            path = found_path
            loaded = self._entry(path, code, entry)
            if loaded is None:
                continue
            translated, status, reviewer, fresh = loaded
            if not fresh:
                tally.stale.append(f"faq/{entry_id}.md")
                out[entry_id] = Translated(translated, status, reviewer, stale=True)
                continue
            line = 1
            if self._compare(
                path, line, "the entry", f"{entry.title}\n{entry.body}", f"{translated.title}\n{translated.body}"
            ):
                out[entry_id] = Translated(translated, status, reviewer)
                tally.drafts += status == "draft"
        return out

    def _entry(self, path: Path, code: str, entry: FaqEntry) -> tuple[FaqEntry, str, str, bool] | None:
        read = self.inspector.front_matter(path, path.read_text(encoding="utf-8"))
        if read is None:
            return None
        doc, body, body_line = read
        meta = doc.data if isinstance(doc.data, dict) else {}
        status, reviewer = self._trail(path, doc, meta, code)
        if str(meta.get("id") or "") != entry.id:
            self.error(path, doc.line("id"), f"`id` should be {entry.id!r}, as the file's name and the English")
        title = str(meta.get("title") or "").strip()
        if not title or not body.strip():
            self.error(path, body_line if title else doc.line("title"), "a translated entry needs a `title` and a body")
            return None
        fresh = meta.get("source_sha256") == source_hash(f"{entry.title}\n{entry.body}")
        translated = dataclasses.replace(entry, title=title, body=body.strip(), path=path)
        return translated, status, reviewer, fresh

    # --- report.yaml --------------------------------------------------------------------------
    def _report(self, folder: Path, code: str, tally: _Tally) -> Translated | None:
        path = folder / "report.yaml"
        english = self.report
        if english is None:
            return None
        opened = self._open(path, tally)
        if opened is None:
            return None
        doc, data = opened
        meta = _mapping(data.get("translation"))
        status, reviewer = self._trail(path, doc, meta, code, "translation")
        english_text = (self.inspector.directory / "report.yaml").read_text(encoding="utf-8")
        if meta.get("source_sha256") != source_hash(english_text):
            tally.stale.append("report.yaml")
            return Translated(None, status, reviewer, stale=True)
        from bot.content_check import Inspector

        reader = Inspector(folder, self.inspector.today)
        guide = reader._report(self.numbers, dict(self.faq))
        for problem in reader.problems:
            (self.error if problem.error else self.warn)(problem.path, problem.line, problem.message)
        if guide is None:
            return None
        if _shape(guide) != _shape(english):
            self.error(path, 1, "questions, options, routes and `when`s must be those of the English report.yaml, "
                       "ids in the same order: translate only texts, labels, titles and tips")  # fmt: skip
            return None
        ok = True
        pairs = [
            *((f"question `{a.id}`", a.text, b.text) for a, b in zip(english.questions, guide.questions, strict=True)),
            *((f"route `{a.id}`", a.text, b.text) for a, b in zip(english.routes, guide.routes, strict=True)),
            *((f"write-up `{a.id}`", a.text, b.text) for a, b in zip(english.writeup, guide.writeup, strict=True)),
            ("tips", english.tips, guide.tips),
        ]
        for what, ours, theirs in pairs:
            ok = self._compare(path, doc.line(), what, ours, theirs) and ok
        if not ok:
            return None
        tally.drafts += status == "draft"
        # The English decides when it starts and what it is about; the translation only words it.
        guide = dataclasses.replace(
            guide, start=english.start, topics=english.topics, tips_sources=english.tips_sources
        )
        return Translated(guide, status, reviewer)

    # --- alerts/<name>.yaml -------------------------------------------------------------------
    def _alerts(self, folder: Path, code: str, tally: _Tally) -> dict[str, Translated]:
        out: dict[str, Translated] = {}
        for name, template in self.templates.items():
            path = folder / "alerts" / f"{name}.yaml"
            if not path.exists():
                tally.missing.append(f"alerts/{name}.yaml")
                continue
            doc = self._doc(path)
            if doc is None:
                continue
            data = doc.data if isinstance(doc.data, dict) else {}
            status, reviewer = self._trail(path, doc, data, code)
            title, text = (str(data.get(key) or "").strip() for key in ("title", "text"))
            if not title or not text:
                self.error(path, 1, "a translated alert template needs `title` and `text`")
                continue
            translated = AlertTemplate(name, template.kind, title, text)
            if data.get("source_sha256") != source_hash(f"{template.title}\n{template.text}"):
                tally.stale.append(f"alerts/{name}.yaml")
                out[name] = Translated(translated, status, reviewer, stale=True)
            elif self._compare(path, doc.line("text"), "the template", f"{template.title}\n{template.text}",
                               f"{title}\n{text}"):  # fmt: skip
                out[name] = Translated(translated, status, reviewer)
                tally.drafts += status == "draft"
        return out

    def _summary(self, folder: Path, code: str, tally: _Tally) -> None:
        name = BY_CODE[code].english
        if tally.drafts:
            self.warn(folder, 1, f"{name}: {tally.drafts} translations are drafts, not yet checked by a native "
                      "speaker (shown only with TRANSLATION_MIN_STATUS=draft)")  # fmt: skip
        if tally.stale:
            self.warn(folder, 1, f"{name}: {len(tally.stale)} translations are stale (their English changed; "
                      f"English is shown until they are translated again): {_listed(tally.stale)}")  # fmt: skip
        if tally.missing:
            whole_first = sorted(tally.missing, key=lambda item: "/" not in item)  # a page or template, then texts
            self.warn(folder, 1, f"{name}: {len(tally.missing)} not translated (English is shown): "
                      f"{_listed(whole_first)}")  # fmt: skip


def _mapping(value: object) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _all(value: str | dict[str, str]) -> str:
    return value if isinstance(value, str) else "\n".join(value[f] for f in sorted(value))


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _shape(guide: ReportGuide) -> tuple[object, ...]:
    """What a translation of the guide must keep: its ids, options and conditions, in order."""
    return (
        tuple((q.id, tuple(o.id for o in q.options)) for q in guide.questions),
        tuple((r.id, sorted((k, sorted(v)) for k, v in r.when.items())) for r in guide.routes),
        tuple((q.id, q.max_chars, sorted((k, sorted(v)) for k, v in q.when.items())) for q in guide.writeup),
    )
