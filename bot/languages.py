"""The languages the bot speaks, the one each person chose, and which translation they are shown.

Everything the bot words is looked up in the language of the person it is answering or writing to:
`speaking(content, code)` sets that language for the work done inside it (a context variable, as
gettext-style libraries activate a language per request), and the copy, FAQ answers, the guided
report, alert templates, plurals and dates follow it.

A translation is shown when its status is at least TRANSLATION_MIN_STATUS and it was made from the
English as it is now (its `source_sha256`); otherwise the English is shown. A reply then ends with
one line saying so, in the person's language: that part of it is still in English, or that what
it shows is a draft not yet checked by a native speaker.

    Language        one language: ISO 639-1 code, own name, Babel locale, direction
    Translated      one translated text or entry with its review trail
    Translation     all of one language's translations (content/translations/<code>/)
    Voice           the language being written in now, and the notes its reply needs
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

ENGLISH = "en"
STATUSES = ("draft", "reviewed", "approved")  # each step is a further check by a person
DEFAULT_MIN_STATUS = "approved"


@dataclass(frozen=True, slots=True)
class Language:
    """A language the bot can write in."""

    code: str  # ISO 639-1
    name: str  # its own name, in its own script: what the menu shows
    english: str  # its English name, for coordinators and logs
    locale: str  # the Babel (CLDR) locale: plurals and dates
    rtl: bool = False  # written right to left
    words: tuple[str, ...] = ()  # "language" in it: typed alone, they open the language menu


LANGUAGES: tuple[Language, ...] = (
    Language("en", "English", "English", "en_GB", words=("language", "languages")),
    Language("bn", "বাংলা", "Bengali", "bn", words=("ভাষা", "bhasha")),
    Language("ur", "اردو", "Urdu", "ur", rtl=True, words=("زبان", "zaban", "zuban")),
    Language("ar", "العربية", "Arabic", "ar", rtl=True, words=("اللغة", "لغة", "اللغات")),
    Language("tr", "Türkçe", "Turkish", "tr", words=("dil", "lisan")),
    Language("so", "Soomaali", "Somali", "so", words=("luqad", "luqadda")),
    Language("pl", "Polski", "Polish", "pl", words=("język", "jezyk")),
    Language("pa", "ਪੰਜਾਬੀ", "Punjabi", "pa_Guru", words=("ਭਾਸ਼ਾ", "boli")),
)
BY_CODE: Mapping[str, Language] = {language.code: language for language in LANGUAGES}


def language(code: str | None) -> Language:
    """The language with this code (English for None or a code the bot doesn't speak)."""
    return BY_CODE.get((code or ENGLISH).lower(), BY_CODE[ENGLISH])


def supported(code: str | None) -> str | None:
    """The bot's code for a language tag such as Telegram's `language_code` ("bn", "pl-PL",
    "pa-Guru"), or None if the bot doesn't speak it."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in BY_CODE else None


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().strip(".!?؟।/").casefold()


_WORDS = {_folded(w): lang.code for lang in LANGUAGES for w in (*lang.words, f"/{lang.words[0]}")}
_NAMES = {_folded(n): lang.code for lang in LANGUAGES for n in (lang.name, lang.english)}


def asks_for_menu(text: str) -> bool:
    """Whether a message is only the word "language" (in any language the bot speaks)."""
    return _folded(text) in _WORDS


def named(text: str) -> str | None:
    """The language a message is only the name of ("বাংলা", "Polish"), or None."""
    return _NAMES.get(_folded(text))


# --- which script a message is written in -------------------------------------------------------
_SCRIPTS = (("bn", 0x0980, 0x09FF), ("pa", 0x0A00, 0x0A7F))
_ARABIC = ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
_URDU_ONLY = set("ٹڈڑںےۓھہۂۃ")  # letters Urdu writes and Arabic doesn't
_ARABIC_ONLY = set("ةىيكإأ")  # Arabic's own forms (Urdu writes ی ک, and rarely أ إ)
MIN_LETTERS = 4  # fewer letters than this can't say which language it is
SCRIPT_SHARE = 0.8  # this share of the letters in one script: written in it


def detect(text: str) -> str | None:
    """The language a message is confidently written in, by its script: Bengali or Gurmukhi
    letters, or Arabic script with letters only Urdu or only Arabic uses. None when unsure (a
    short message, mixed scripts, Latin letters, or Arabic script that could be either)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < MIN_LETTERS:
        return None
    for code, low, high in _SCRIPTS:
        if sum(low <= ord(c) <= high for c in letters) >= SCRIPT_SHARE * len(letters):
            return code
    arabic = [c for c in letters if any(low <= ord(c) <= high for low, high in _ARABIC)]
    if len(arabic) < SCRIPT_SHARE * len(letters):
        return None
    urdu, arabic_only = sum(c in _URDU_ONLY for c in arabic), sum(c in _ARABIC_ONLY for c in arabic)
    if urdu and not arabic_only:
        return "ur"
    if arabic_only and not urdu:
        return "ar"
    return None


# --- translations ---------------------------------------------------------------------------------
def source_hash(value: str | Mapping[str, str]) -> str:
    """The SHA-256 a translation records of the English it was made from: of the text stripped,
    or of a plural text's forms as `form: text` lines in order."""
    if isinstance(value, str):
        text = value.strip()
    else:
        text = "\n".join(f"{form}: {str(words).strip()}" for form, words in sorted(value.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rank(status: str) -> int:
    """How far a status is along draft → reviewed → approved (-1 for none)."""
    return STATUSES.index(status) if status in STATUSES else -1


@dataclass(frozen=True, slots=True)
class Translated:
    """One translated text, FAQ entry, report guide or alert template, with its review trail."""

    value: Any
    status: str = "draft"
    reviewer: str = ""
    stale: bool = False  # made from English that has changed since


@dataclass(frozen=True, slots=True)
class Translation:
    """One language's translations (content/translations/<code>/)."""

    code: str
    texts: Mapping[str, Translated] = field(default_factory=dict)  # copy.yaml's keys (and "roles")
    faq: Mapping[str, Translated] = field(default_factory=dict)  # by entry id
    report: Translated | None = None
    alerts: Mapping[str, Translated] = field(default_factory=dict)  # by template name


DRAFT_NOTE = "translation_draft_note"
FALLBACK_NOTE = "translation_fallback_note"


@dataclass(slots=True)
class Voice:
    """The language the bot is writing in now, and what its reply must say about the translation."""

    language: Language
    translation: Translation | None = None
    min_status: str = DEFAULT_MIN_STATUS
    chosen: bool = True  # False: the person hasn't chosen a language (English, with the choice offered)
    notes: set[str] = field(default_factory=set)  # DRAFT_NOTE, FALLBACK_NOTE

    @property
    def english(self) -> bool:
        return self.language.code == ENGLISH

    def shown(self, found: Translated | None, *, always: bool = False) -> Any | None:
        """A translation's value if it may be shown (`always`: any status, for the 999 advice),
        noting a draft; None (noting that English is shown instead) if not."""
        if self.english:
            return None
        if found is not None and not found.stale and (always or rank(found.status) >= rank(self.min_status)):
            if found.status == "draft":
                self.notes.add(DRAFT_NOTE)
            return found.value
        self.notes.add(FALLBACK_NOTE)
        return None

    def note_text(self, key: str) -> str | None:
        """A note in this language, whatever its status (it is one fixed line about the
        translation itself, so the person can read why), or None if it has none."""
        found = self.translation.texts.get(key) if self.translation is not None else None
        if found is None or found.stale or not isinstance(found.value, str):
            return None
        return str(found.value)


_VOICE: ContextVar[Voice | None] = ContextVar("voice", default=None)


def current() -> Voice | None:
    """The voice set by the innermost `speaking` (None: English, outside any)."""
    return _VOICE.get()


def translated(pick: Callable[[Translation], Translated | None], *, always: bool = False) -> Any | None:
    """What the current voice shows of one translated thing (`pick` finds it among the language's
    translations): its value, or None where the English is shown (English spoken, or no
    translation that may be shown: then noted). `always`: any status (the 999 advice)."""
    voice = _VOICE.get()
    if voice is None or voice.english:
        return None
    return voice.shown(pick(voice.translation) if voice.translation is not None else None, always=always)


def current_locale() -> str:
    voice = _VOICE.get()
    return voice.language.locale if voice is not None else BY_CODE[ENGLISH].locale


@contextmanager
def speaking(
    code: str | None, translations: Mapping[str, Translation], min_status: str = DEFAULT_MIN_STATUS
) -> Iterator[Voice]:
    """Word everything inside in this language (English for None, someone who hasn't chosen,
    or an unknown code)."""
    lang = language(code)
    voice = Voice(lang, translations.get(lang.code), min_status, chosen=code is not None)
    token = _VOICE.set(voice)
    try:
        yield voice
    finally:
        _VOICE.reset(token)


# --- right to left --------------------------------------------------------------------------------
RLM, LRI, PDI = "\u200f", "\u2066", "\u2069"
# What must read left to right inside right-to-left text: links, e-mail addresses, numbers with
# what joins their parts (phone numbers in groups, "0800 138 1625", would otherwise show the
# groups in reverse; so would times, "19:52", and dates, "2026-12-05"), commands and references.
_LTR_RUN = re.compile(
    r"https?://\S+?(?=[)\]>\s]|$)|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d+(?:[ :./\-–]\d+)*|/[a-z]+\b|"
    r"\b[A-Z]-[A-Z0-9]{4}(?:-\d+)?\b"
)


def isolate_ltr(text: str) -> str:
    """Numbers, links, e-mail addresses, commands and alert references in right-to-left text,
    each isolated left to right (Unicode's bidirectional isolates, which Telegram, WhatsApp and
    terminals follow): "0800 138 1625" would otherwise show its groups in reverse order."""
    return _LTR_RUN.sub(lambda m: f"{LRI}{m.group(0)}{PDI}", text)


def rtl_lines(text: str) -> str:
    """Each line marked to start right to left (a line that begins with "1." or "999" would
    otherwise be laid out left to right)."""
    return "\n".join(f"{RLM}{line}" if line.strip() else line for line in text.split("\n"))


def bidi(text: str, rtl: bool) -> str:
    """Plain text as a right-to-left reader's phone shows it correctly (left-to-right text is
    returned as it is)."""
    return rtl_lines(isolate_ltr(text)) if rtl else text
