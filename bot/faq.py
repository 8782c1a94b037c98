"""The words the curated FAQ uses, so misspellings can be corrected towards them (bot.text).

Which entry a message asks about is learned (bot.judgement); this module only gathers vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.content import FaqEntry
from bot.text import words


def content_vocabulary(entries: Iterable[FaqEntry]) -> tuple[set[str], set[str]]:
    """The words the FAQ uses: (edited text: titles, keywords, bodies; example questions)."""
    edited: set[str] = set()
    examples: set[str] = set()
    for entry in entries:
        for text in (entry.title, entry.body, *entry.keywords):
            edited.update(words(text))
        for text in entry.questions:
            examples.update(words(text))
    return edited, examples
