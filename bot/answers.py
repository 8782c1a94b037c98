"""Answer a free-text message: danger and crisis first, then the FAQ, then a kind fallback.

Builds the `Reply` a person sees; the dialog engine and `safetybot ask` both use it. What a
message needs is decided by the learned models (bot.judgement) with the safety net (bot.triage);
the thresholds are content (content/judgement.yaml).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from bot import languages
from bot.content import CRISIS_ENTRY, NONE_LABEL, Content, FaqEntry, shown_entry
from bot.faq import content_vocabulary
from bot.judgement import DEFAULT_THRESHOLDS, Judgement, judgement_for
from bot.messages import Choice, Reply
from bot.text import Normaliser, clean, words
from bot.triage import Assessment, Triage

MAX_MESSAGE_CHARS = 4000  # match this much of a message to the FAQ (danger is read in all of it)
MAIN_MENU = "menu:main"
NONE_OF_THESE = "menu:none"
EMERGENCY_ENTRY = "emergency-999"
GENERAL_WORD_ENTRIES = 4  # a lone word in the title or keywords of this many entries can't pick one


class Kind(StrEnum):
    """What sort of answer a message got."""

    EMERGENCY = "emergency"
    CRISIS = "crisis"
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"
    DECLINED = "declined"  # out of scope on purpose (prayer times, events): ask your place of worship
    UNREADABLE = "unreadable"  # a language or script the bot has no examples for


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome for one message, before it is worded."""

    kind: Kind
    entry: FaqEntry | None = None
    suggestions: tuple[FaqEntry, ...] = ()
    assessment: Assessment = field(default_factory=lambda: Assessment(False))
    truncated: bool = False


def faq_choice(entry: FaqEntry) -> Choice:
    """The option that opens an FAQ entry (its title as the person reads it)."""
    return Choice(f"faq:{entry.id}", shown_entry(entry).title)


class Answerer:
    """Turns free text into an Answer, and an Answer into a Reply."""

    def __init__(self, content: Content, cache_dir: Path | None = None, judgement: Judgement | None = None) -> None:
        """`judgement`: trained models to use (default: those for this content, loaded or trained
        on first use, so commands that never read a message don't pay for them)."""
        self.content = content
        edited, examples = content_vocabulary(content.faq.values())
        short_numbers = {n for n in content.numbers if len(n) < 3}
        self.normaliser = Normaliser(content.lexicon, edited | content.triage.vocabulary, examples, short_numbers)
        self.thresholds = {**DEFAULT_THRESHOLDS, **content.judgement}
        self._cache_dir = cache_dir
        self._judgement = judgement
        # Words so general ("police", "report") that alone they ask "did you mean" of three entries.
        subjects = Counter(
            term
            for entry in content.faq.values()
            for term in {t for text in (entry.title, *entry.keywords) for t in self.normaliser.terms(text)}
        )
        self.general_words = frozenset(t for t, n in subjects.items() if n >= GENERAL_WORD_ENTRIES)

    @property
    def judgement(self) -> Judgement:
        """The trained models (from memory, the cache file, or trained now)."""
        if self._judgement is None:
            self._judgement = judgement_for(self.content, self._cache_dir)
        return self._judgement

    @cached_property
    def triage(self) -> Triage:
        """Danger and crisis: the models with the safety net."""
        return Triage(self.content.triage, self.normaliser, self.judgement, self.thresholds)

    def answer(self, text: str) -> Answer:
        """Decide what a free-text message needs (danger is read in the whole message)."""
        text = clean(text)
        truncated = len(text) > MAX_MESSAGE_CHARS
        asked = text[:MAX_MESSAGE_CHARS]
        reading = self.judgement.read(text, asked)
        assessment = self.triage.decide(reading, text)
        faq = self.content.faq
        ranked = [(faq[i], p) for i, p in reading.intents if i in faq]
        top = ranked[0] if ranked else None
        if assessment.crisis and CRISIS_ENTRY in faq:
            # Life at risk now: the crisis reply. Thoughts of it, or a crisis: the crisis reply too,
            # unless the message plainly asks about another entry ("I can't stop feeling scared
            # after the riots": feeling low after incidents). Either way that entry is offered first.
            other = tuple(e for e, p in ranked[:1] if e.id != CRISIS_ENTRY and p >= self.thresholds["answer"])
            crisis_chance = dict(reading.intents).get(CRISIS_ENTRY, 0.0)
            plainly = bool(other) and ranked[0][1] >= self.thresholds["crisis_ratio"] * crisis_chance
            if assessment.emergency or not plainly:
                return Answer(Kind.CRISIS, faq[CRISIS_ENTRY], other, assessment, truncated)
        declined = dict(reading.intents).get(NONE_LABEL, 0.0)
        if assessment.emergency:
            # The guidance the message is about, as confidently as an answer would be (more likely
            # than not a question no entry answers: "someone collapsed" is no entry's), else the
            # net rule's, else when to call 999.
            about = top is not None and top[1] >= self.thresholds["answer"]
            about = about and top is not None and top[1] >= self.thresholds["out_of_scope_ratio"] * declined
            closest = top[0] if about and top is not None else None
            guidance = closest or faq.get(assessment.guidance or "") or faq.get(EMERGENCY_ENTRY)
            return Answer(Kind.EMERGENCY, guidance, (), assessment, truncated)
        if not assessment.readable:
            return Answer(Kind.UNREADABLE, None, (), assessment, truncated)
        # No words, no question ("9", "!!!"): only danger (above) could be read in it.
        if not ranked or not any(c.isalpha() for c in asked):
            return Answer(Kind.FALLBACK, None, (), assessment, truncated)
        if declined >= self.thresholds["out_of_scope"]:
            return Answer(Kind.DECLINED, None, (), assessment, truncated)
        best_entry, chance = ranked[0]
        lone = set(self.normaliser.terms(asked)) if len(words(asked)) == 1 else set()
        if lone and lone <= self.general_words:
            return Answer(Kind.SUGGEST, None, tuple(e for e, _ in ranked[:3]), assessment, truncated)
        if chance >= self.thresholds["answer"] and chance >= self.thresholds["out_of_scope_ratio"] * declined:
            # Likely runners-up are offered too, in case the question was misread.
            close = tuple(e for e, p in ranked[1:3] if p >= self.thresholds["suggest"])
            return Answer(Kind.ANSWER, best_entry, close, assessment, truncated)
        if chance >= self.thresholds["suggest"]:
            return Answer(Kind.SUGGEST, None, tuple(e for e, _ in ranked[:3]), assessment, truncated)
        return Answer(Kind.FALLBACK, None, (), assessment, truncated)

    # --- wording ------------------------------------------------------------------------------
    def reply(self, answer: Answer) -> Reply:
        """Word an Answer as the Reply a person sees."""
        copy = self.content.copy
        note = copy["too_long"] + "\n\n" if answer.truncated else ""
        if answer.kind in (Kind.CRISIS, Kind.EMERGENCY):
            if answer.kind is Kind.CRISIS:
                reply = self.crisis_reply(answer.entry, answer.assessment.emergency, answer.suggestions)
            else:
                reply = self.emergency_reply(answer.entry)
            # The 999 advice comes first, before any notice.
            return dataclasses.replace(reply, text=f"{reply.text}\n\n{note}".rstrip()) if note else reply
        if answer.kind is Kind.ANSWER and answer.entry is not None:
            reply = self.entry_reply(answer.entry)
            alternatives = tuple(faq_choice(e) for e in answer.suggestions)
            choices = alternatives + tuple(c for c in reply.choices if c not in alternatives)
            return Reply(
                note + reply.text,
                choices,
                answer=answer.entry.id,
                suggestions=tuple(e.id for e in answer.suggestions),
            )
        if answer.kind is Kind.SUGGEST:
            options = tuple(faq_choice(e) for e in answer.suggestions)
            return Reply(
                f"{note}{copy['did_you_mean']}\n\n{copy['failsafe']}",
                (*options, Choice(NONE_OF_THESE, copy["none_of_these"])),
                suggestions=tuple(e.id for e in answer.suggestions),
            )
        if answer.kind is Kind.UNREADABLE:
            # Plain English, the 999 line first: we can't tell what the message says.
            return Reply(f"{copy['unreadable']}\n\n{note}{copy['fallback']}", self.main_menu_choices())
        if answer.kind is Kind.DECLINED:
            return Reply(f"{note}{copy['declined']}\n\n{copy['failsafe']}", self.main_menu_choices())
        return Reply(f"{note}{copy['fallback']}\n\n{copy['failsafe']}", self.main_menu_choices())

    def danger_lead(self) -> str:
        """The 999 advice, in the language being written in and then in English (someone may hand
        the phone to a neighbour); shown in any translation made from the current English, even a
        draft: its numbers are checked, and the English is there too."""
        copy = self.content.copy
        voice = languages.current()
        english = copy.english("emergency_lead")
        if voice is None or voice.english:
            return english
        theirs = copy.always("emergency_lead")
        return english if theirs == english else f"{theirs}\n\n{copy.always('in_english')}\n\n{english}"

    def emergency_reply(self, guidance: FaqEntry | None) -> Reply:
        """The 999 advice first, then the guidance for this kind of danger."""
        copy = self.content.copy
        lead = self.danger_lead()
        if guidance is None:
            return Reply(lead, (Choice(MAIN_MENU, copy["main_menu"]),), emergency=True)
        entry = self.entry_reply(guidance, without=lead)
        text = f"{lead}\n\n{copy['emergency_more']}\n\n{entry.text}"
        return Reply(text, entry.choices, emergency=True, answer=guidance.id)

    def crisis_reply(self, entry: FaqEntry | None, emergency: bool = True, also: tuple[FaqEntry, ...] = ()) -> Reply:
        """For someone in crisis: the crisis entry, which leads with 999 for a life at risk now
        (content check makes sure), then the crisis lines; `also`: entries offered first. In
        another language, as the 999 advice is: its translation whatever its status, then the
        short English crisis lines."""
        copy = self.content.copy
        if entry is None:
            return Reply(copy.always("crisis_lead"), (Choice(MAIN_MENU, copy["main_menu"]),), emergency=emergency)
        translated = shown_entry(entry, always=True)
        shown = self.entry_reply(translated)
        if translated is not entry:
            english = f"{copy.always('in_english')}\n\n{copy.english('crisis_lead')}"
            shown = dataclasses.replace(shown, text=f"{shown.text}\n\n{english}")
        offered = tuple(faq_choice(e) for e in also)
        choices = offered + tuple(c for c in shown.choices if c not in offered)
        suggestions = tuple(e.id for e in also)
        return dataclasses.replace(shown, choices=choices, emergency=emergency, suggestions=suggestions)

    def entry_reply(self, entry: FaqEntry, without: str = "") -> Reply:
        """An FAQ answer with its sources, and related topics as choices; `without`: advice
        already given above it (the 999 lead), whose steps it doesn't repeat."""
        copy = self.content.copy
        entry = shown_entry(entry)
        sources = "\n".join(f"- [{site_name(url)}]({url})" for url in entry.sources)
        body = without_repeats(entry.body, without) if without else entry.body
        text = f"**{entry.title}**\n\n{body}\n\n{copy['sources']}\n\n{sources}"
        related = tuple(faq_choice(self.content.faq[i]) for i in entry.related if i in self.content.faq)
        return Reply(text, (*related, Choice(MAIN_MENU, copy["main_menu"])), answer=entry.id)

    def main_menu_choices(self) -> tuple[Choice, ...]:
        """The main menu's options."""
        copy = self.content.copy
        items = tuple(
            Choice(f"menu:{key}", copy[f"menu_{key.replace('-', '_')}"])
            for key in ("help-now", "report", "topics", "training", "alerts", "privacy")
        )
        # Last, so the numbers people know stay theirs; with the English word too, so someone
        # shown a language they can't read finds the way back.
        label = copy["menu_language"]
        english = copy.english("menu_language")
        return (*items, Choice("menu:language", f"🌐 {label}" if label == english else f"🌐 {label} · {english}"))


_ITEM = re.compile(r"^(\s*)(\d+)[.)]\s|^\s*[-*]\s")
_TOKEN = re.compile(r"[\w']+")
REPEAT_SHARE = 0.5  # a step this share of whose words a line above has (and its number) repeats it


def _tokens(line: str) -> set[str]:
    return {t.casefold() for t in _TOKEN.findall(line)}


def _repeats(step: str, above: list[set[str]]) -> bool:
    """Whether a list step says only what a line above already said: the same phone number (55,
    18000), and most of the step's words are that line's (a step that adds advice is kept)."""
    mine = _tokens(_ITEM.sub("", step, count=1))  # the step's words, not its number
    for theirs in above:
        shared = mine & theirs
        if any(t.isdigit() for t in shared) and len(shared) >= REPEAT_SHARE * len(mine):
            return True
    return False


def without_repeats(body: str, above: str) -> str:
    """`body` without the list steps that repeat a line of `above` (a reply leading with the 999
    advice doesn't give "press 55" twice); numbered lists are numbered again from 1."""
    lines = [_tokens(_ITEM.sub("", line, count=1)) for line in above.splitlines() if line.strip()]
    out: list[str] = []
    dropping = False
    for line in body.splitlines():
        item = _ITEM.match(line)
        if item:
            dropping = _repeats(line, lines)
        elif not line.strip() or not line.startswith((" ", "\t")):
            dropping = False  # a paragraph or a blank line ends the step
        if not dropping:
            out.append(line)
    return _renumber("\n".join(out))


def _renumber(body: str) -> str:
    """Number each ordered list's steps 1, 2, 3… (after some were left out)."""
    out, count = [], 0
    for line in body.splitlines():
        item = _ITEM.match(line)
        if item and item.group(2) is not None and not item.group(1):
            count += 1
            line = f"{count}." + line[item.end(2) + 1 :]
        elif line.strip() and not line.startswith((" ", "\t")) and not item:
            count = 0
        elif not line.strip():
            pass  # a blank line inside a list keeps its numbering
        out.append(line)
    return "\n".join(out)


def site_name(url: str) -> str:
    """A short name for a source link: its host without www."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return host.removeprefix("www.")
