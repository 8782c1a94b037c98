"""Decide whether a message says someone is in danger now (the reply leads with 999), or in crisis.

The decision is learned (bot.judgement: a model trained on thousands of labelled messages from
many writers, in many languages). The patterns in content/triage.yaml are only a safety net: when
one matches and its timing evidence doesn't say "not now", the message is an emergency even if the
model thought otherwise. The net can add an emergency, never remove one.

The net's timing groups weigh whether it is happening now: "right now" and "is at the gate" count
for it; "what if", "last week" and "how do I" count against it. A total of zero or more is urgent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.content import DangerRule, TriageRules
from bot.judgement import DEFAULT_THRESHOLDS, Judgement, Reading
from bot.text import Normaliser, clean

_SYMBOLS = str.maketrans({"🆘": " sos ", "🚨": " sos "})  # read by the net's patterns as words


@dataclass(frozen=True, slots=True)
class Assessment:
    """Triage's verdict on one message."""

    emergency: bool  # danger now, or life at risk now: the reply leads with 999
    danger: str | None = None  # "model", or the name of the safety-net rule that decided it
    guidance: str | None = None  # the net rule's FAQ id, if it decided
    reason: str = "no danger"  # what decided it
    now: bool = False  # sure it is happening now (the model, or a net rule with "now" words)
    crisis: bool = False  # thoughts of suicide or self-harm, or a mental-health crisis
    readable: bool = True  # written in a script the examples have


class Triage:
    """Reads a message for danger now and crisis."""

    def __init__(
        self,
        rules: TriageRules,
        normaliser: Normaliser,
        judgement: Judgement,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.rules = rules
        self.normaliser = normaliser
        self.judgement = judgement
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}

    def assess(self, text: str, answering: bool = False) -> Assessment:
        """Assess one whole message, however long (`answering`: typed as the answer to a form's
        question, a name or a place, where the models need to be surer)."""
        text = clean(text)
        return self.decide(self.judgement.read(text), text, answering)

    def decide(self, reading: Reading, text: str, answering: bool = False) -> Assessment:
        """Combine the models' reading of a message with the safety net."""
        bar = self.thresholds["emergency_in_form" if answering else "emergency"]
        # In a script no example has, the models' reading means nothing: only the net decides.
        urgent = reading.readable and reading.emergency >= bar
        crisis = reading.readable and reading.crisis >= self.thresholds["crisis"] and reading.crisis > reading.danger
        if urgent:
            reason = f"model: {reading.emergency:.2f} urgent"
            return Assessment(True, "model", None, reason, now=True, crisis=crisis, readable=reading.readable)
        rule, now, reason = self.net(text)
        if rule is not None:
            return Assessment(True, rule.name, rule.guidance, reason, now=now, crisis=crisis, readable=reading.readable)
        reason = f"model: {reading.emergency:.2f} urgent, {reading.crisis:.2f} crisis"
        return Assessment(False, reason=reason, crisis=crisis, readable=reading.readable)

    def net(self, text: str) -> tuple[DangerRule | None, bool, str]:
        """The safety net: (the first danger rule that matches and isn't ruled out by its timing,
        whether its timing says "now", the evidence)."""
        plain = " ".join(self.normaliser.corrected_words(text.translate(_SYMBOLS)))
        rule = next((r for r in self.rules.danger if r.pattern.search(plain)), None)
        if rule is None:
            return None, False, "no danger cue"
        score, found = self.timing(plain)
        if score < 0:
            return None, False, "net: " + ", ".join(found)
        return rule, score > 0, "net: " + (", ".join(found) or "no clue about time")

    def timing(self, plain: str) -> tuple[float, list[str]]:
        """The timing evidence in normalised words: its total (above 0: now; below: not now) and
        the groups that matched."""
        score = 0.0
        found = []
        for group in self.rules.timing:
            hits = sum(1 for pattern in group.patterns if pattern.search(plain))
            if hits:
                score += hits * group.weight
                found.append(f"{group.name}×{hits}")
        return score, found
