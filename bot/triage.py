"""Decide whether a message says someone is in danger now, so the reply leads with 999.

A danger cue must match (content/triage.yaml). Then the timing groups weigh whether it is
happening now: "right now" and "is at the gate" count for it; "what if", "last week" and
"how do I" count against it. A total of zero or more is urgent, so a danger cue with no clue
about time is treated as urgent: missing a real emergency is far worse than a false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.content import TriageRules
from bot.text import Normaliser


@dataclass(frozen=True, slots=True)
class Assessment:
    """Triage's verdict on one message."""

    emergency: bool
    danger: str | None = None  # name of the first danger rule that matched
    guidance: str | None = None  # FAQ id to add after the 999 advice
    reason: str = "no danger cue"  # or the timing evidence that decided it
    now: bool = False  # a danger cue and words saying it is happening now ("still outside")


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
        score = 0.0
        found = []
        for group in self.rules.timing:
            hits = sum(1 for pattern in group.patterns if pattern.search(plain))
            if hits:
                score += hits * group.weight
                found.append(f"{group.name}×{hits}")
        reason = ", ".join(found) or "no clue about time"
        return Assessment(score >= 0, rule.name, rule.guidance, reason, now=score > 0)
