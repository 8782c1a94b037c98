"""Answer a free-text message: triage first, then the FAQ, then a kind fallback.

Builds the `Reply` a person sees; the dialog engine and `safetybot ask` both use it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

from bot.content import Content, FaqEntry
from bot.faq import Matcher, Verdict, content_vocabulary
from bot.messages import Choice, Reply
from bot.text import Normaliser, clean
from bot.triage import Assessment, Triage

MAX_MESSAGE_CHARS = 4000  # read this much of a message; the rest is ignored (and the user told)
ALTERNATIVE_RATIO = 0.5  # runners-up scoring at least this share of the best are offered too
MAIN_MENU = "menu:main"
NONE_OF_THESE = "menu:none"


class Kind(StrEnum):
    """What sort of answer a message got."""

    EMERGENCY = "emergency"
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome for one message, before it is worded."""

    kind: Kind
    entry: FaqEntry | None = None
    suggestions: tuple[FaqEntry, ...] = ()
    assessment: Assessment = field(default_factory=lambda: Assessment(False))
    truncated: bool = False


def faq_choice(entry: FaqEntry) -> Choice:
    """The option that opens an FAQ entry."""
    return Choice(f"faq:{entry.id}", entry.title)


class Answerer:
    """Turns free text into an Answer, and an Answer into a Reply."""

    def __init__(self, content: Content) -> None:
        self.content = content
        edited, examples = content_vocabulary(content.faq.values())
        short_numbers = {n for n in content.numbers if len(n) < 3}
        self.normaliser = Normaliser(content.lexicon, edited | content.triage.vocabulary, examples, short_numbers)
        self.triage = Triage(content.triage, self.normaliser)
        self.matcher = Matcher(content.faq.values(), self.normaliser, content.out_of_scope)

    def answer(self, text: str) -> Answer:
        """Decide what a free-text message needs."""
        truncated = len(text) > MAX_MESSAGE_CHARS
        text = clean(text[:MAX_MESSAGE_CHARS])
        words = self.normaliser.corrected_words(text)
        assessment = self.triage.assess_words(words)
        if assessment.emergency:
            # The danger rule's guidance suits danger now better than a word match does.
            guidance = self.content.faq.get(assessment.guidance or "")
            return Answer(Kind.EMERGENCY, guidance, (), assessment, truncated)
        match = self.matcher.match_words(words, text)
        ranked = [self.content.faq[c.entry_id] for c in match.candidates]
        if match.verdict is Verdict.CONFIDENT:
            # Close runners-up are offered too, in case the question was misread.
            floor = ALTERNATIVE_RATIO * match.candidates[0].score
            close = tuple(self.content.faq[c.entry_id] for c in match.candidates[1:] if c.score >= floor)
            return Answer(Kind.ANSWER, ranked[0], close, assessment, truncated)
        if match.verdict is Verdict.UNSURE:
            return Answer(Kind.SUGGEST, None, tuple(ranked), assessment, truncated)
        return Answer(Kind.FALLBACK, None, (), assessment, truncated)

    # --- wording ------------------------------------------------------------------------------
    def reply(self, answer: Answer) -> Reply:
        """Word an Answer as the Reply a person sees."""
        copy = self.content.copy
        note = copy["too_long"] + "\n\n" if answer.truncated else ""
        if answer.kind is Kind.EMERGENCY:
            reply = self.emergency_reply(answer.entry)
            if not answer.truncated:
                return reply
            # The 999 advice comes first, before any notice.
            return dataclasses.replace(reply, text=f"{reply.text}\n\n{copy['too_long']}")
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
                note + copy["did_you_mean"],
                (*options, Choice(NONE_OF_THESE, copy["none_of_these"])),
                suggestions=tuple(e.id for e in answer.suggestions),
            )
        return Reply(note + copy["fallback"], self.main_menu_choices())

    def emergency_reply(self, guidance: FaqEntry | None) -> Reply:
        """The 999 advice first, then the guidance for this kind of danger."""
        copy = self.content.copy
        if guidance is None:
            return Reply(copy["emergency_lead"], (Choice(MAIN_MENU, copy["main_menu"]),), emergency=True)
        entry = self.entry_reply(guidance)
        text = f"{copy['emergency_lead']}\n\n{copy['emergency_more']}\n\n{entry.text}"
        return Reply(text, entry.choices, emergency=True, answer=guidance.id)

    def entry_reply(self, entry: FaqEntry) -> Reply:
        """An FAQ answer with its sources, and related topics as choices."""
        copy = self.content.copy
        sources = "\n".join(f"- [{site_name(url)}]({url})" for url in entry.sources)
        text = f"**{entry.title}**\n\n{entry.body}\n\n{copy['sources']}\n\n{sources}"
        related = tuple(faq_choice(self.content.faq[i]) for i in entry.related if i in self.content.faq)
        return Reply(text, (*related, Choice(MAIN_MENU, copy["main_menu"])), answer=entry.id)

    def main_menu_choices(self) -> tuple[Choice, ...]:
        """The main menu's options."""
        copy = self.content.copy
        return tuple(
            Choice(f"menu:{key}", copy[f"menu_{key.replace('-', '_')}"])
            for key in ("help-now", "report", "topics", "training", "alerts", "privacy")
        )


def site_name(url: str) -> str:
    """A short name for a source link: its host without www."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return host.removeprefix("www.")
