"""Decide whether a message says someone is in danger now, so the reply leads with 999.

The patterns live in content/triage.yaml; the order of the decision is fixed here:
a danger cue is needed; "right now" makes it urgent; a hypothetical, a plan or a topic of
general interest ("what if", "training") does not; something ongoing or present does; a general
question or something in the past does not; and when still unsure, treat it as urgent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.content import TriageRules
from bot.text import Normaliser


@dataclass(frozen=True, slots=True)
class Assessment:
    """Triage's verdict on one message."""

    emergency: bool
    danger: str | None = None  # name of the first danger rule that matched
    guidance: str | None = None  # FAQ id to add after the 999 advice
    reason: str = "no danger cue"


class Triage:
    """Reads a message for danger now."""

    def __init__(self, rules: TriageRules, normaliser: Normaliser) -> None:
        self.rules = rules
        self.normaliser = normaliser

    def assess(self, text: str) -> Assessment:
        """Assess one message."""
        return self.assess_words(self.normaliser.corrected_words(text))

    def assess_words(self, words: list[str]) -> Assessment:
        """Assess a message already split into corrected words."""
        plain = " ".join(words)
        rule = next((r for r in self.rules.danger if r.pattern.search(plain)), None)
        if rule is None:
            return Assessment(False)

        def found(patterns: tuple[re.Pattern[str], ...]) -> bool:
            return any(p.search(plain) for p in patterns)

        if found(self.rules.now):
            verdict, reason = True, "happening now"
        elif found(self.rules.hypothetical):
            verdict, reason = False, "hypothetical, a plan or general interest"
        elif found(self.rules.ongoing):
            verdict, reason = True, "present or ongoing"
        elif found(self.rules.question):
            verdict, reason = False, "a general question"
        elif found(self.rules.past):
            verdict, reason = False, "in the past"
        else:
            verdict, reason = True, "danger cue, unsure of time: treated as urgent"
        return Assessment(verdict, rule.name, rule.guidance, reason)
