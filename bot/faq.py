"""Match a free-text question to the curated FAQ entries.

Each entry is indexed by the canonical terms (bot.text) of its title, keywords, example questions
and body; a term is stronger in an entry the more central the field it appears in. A question is
scored against each entry by its *coverage* (how much of the question's meaning, terms weighted by
rarity, the entry explains) and its *resemblance* to the entry's closest example question.
Words the content never uses count against every entry in proportion to how unusual they are in
English, which keeps "recipe for biryani" from being answered; everyday words ("time", "good")
weigh little either way, which keeps long, chatty messages answerable. Words for an occasion
("after Friday prayers") weigh half: they say when something happened, not what it was. What the
bot declines (out_of_scope.yaml) is declined by its phrases: "school report" is out of scope, but
"report", the subject of many answers, counts for it in full only when the whole phrase is there.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

import numpy as np
from wordfreq import zipf_frequency

from bot.content import FaqEntry
from bot.text import Normaliser, words

# How strongly a term found in each field ties the entry to it.
FIELD_STRENGTH = {"title": 1.0, "keywords": 1.0, "questions": 0.7, "body": 0.2}
QUESTION_BASE, QUESTION_STEP = 0.15, 0.2  # a term in n example questions: base + n * step
TITLE_SHARE = 0.3  # how much of a title term's strength depends on the title's length
BIGRAM_BONUS = 0.5  # extra for two words in the same order as the entry has them
PHRASE_WEIGHT = 0.2  # weight of those ordered pairs in the score
RESEMBLANCE_WEIGHT = 0.25  # weight of the closest example question against coverage
UNEXPLAINED = 0.6  # how much a question's unexplained meaning counts against an entry
MIN_EVIDENCE = 1.0  # below this much explained meaning, confidence shrinks in proportion
OOV_MIN, OOV_MAX = 0.6, 3.0  # weight range of words the content never uses
EVERYDAY_ZIPF, EVERYDAY_FLOOR = 4.5, 0.4  # words commoner than this in English weigh less
# Decisions (see `Matcher.match_words`).
CONFIDENT_SCORE = 0.45  # confident when the best entry scores this well,
CLEAR_LEAD_SCORE, CLEAR_LEAD = 0.35, 0.2  # or scores less but leads the next clearly
LONG_AFTER, LONG_STEP, LONG_FLOOR = 6, 0.03, 0.2  # past 6 terms the bar falls 0.03 a term
LONG_LEAD = 0.05  # the lead a long message's best entry needs
SENTENCE_WEIGHT = 0.85  # a long message's question sentence, scored alone, counts this much
SENTENCE_MIN_TERMS = 3  # and needs this many meaningful words
CENTRAL_STRENGTH = 0.9  # a term this strong in an entry (title, keywords) is its subject
GENERAL_TERM_ENTRIES = 4  # a lone word that is the subject of this many entries is too general
SUGGEST_SCORE = 0.2  # below this, the question is out of scope
RANKED = 10  # how many of the best entries `rank` returns
OCCASION_WEIGHT = 0.5  # the weight of words for an occasion (lexicon `occasions`)
DECLINED_PART = 0.5  # strength of an answered subject as one word of a declined phrase (`_index`)


class Verdict(StrEnum):
    """How sure the matcher is."""

    CONFIDENT = "confident"
    UNSURE = "unsure"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry's score for a question."""

    entry_id: str
    score: float
    coverage: float
    resemblance: float


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's answer: a verdict and the ranked candidates (best first, at most 3)."""

    verdict: Verdict
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> str | None:
        """The confidently matched entry id, if any."""
        return self.candidates[0].entry_id if self.verdict is Verdict.CONFIDENT else None


_SENTENCE_END = re.compile(r"(?<=[.!?;\n])\s+|\n")
_ASKING = re.compile(
    r"^\W*(how|what|who|where|when|which|why|can|could|should|shall|is|are|do|does|did|will|would|"
    r"please|pls|plz|any|anyone|help|tell me|i need|we need|i want|we want)\b",
    re.IGNORECASE,
)


def _questions(text: str) -> list[str]:
    """The sentences of a message that ask something, and its last sentence."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    asking = [s for s in sentences if "?" in s or _ASKING.match(s)]
    if sentences and sentences[-1] not in asking:
        asking.append(sentences[-1])
    return asking if len(sentences) > 1 else []


def _bigrams(terms: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(terms)]


class Matcher:
    """Ranked retrieval over FAQ entries, tolerant of misspellings and informal words.

    Scores are computed for all entries at once with NumPy, so the cost of a question grows with
    its words, not with the number of entries.
    """

    def __init__(self, entries: Iterable[FaqEntry], normaliser: Normaliser, decline: FaqEntry | None = None) -> None:
        """`decline`: questions the bot does not answer; a message closest to it is out of scope."""
        self.normaliser = normaliser
        self.entries = list(entries)
        self.decline_id = decline.id if decline is not None else None
        self._declined_phrases: dict[str, tuple[str, ...]] = {}  # "school report" → ("report",)
        if decline is not None:
            self.entries.append(decline)
        self._ids = [entry.id for entry in self.entries]
        strength: dict[str, dict[int, float]] = defaultdict(dict)  # term -> entry -> strength
        examples: list[tuple[int, frozenset[str]]] = []  # (entry, terms) per example question
        profile_df: Counter[str] = Counter()  # entries whose title, keywords or examples hold a term
        for number, entry in enumerate(self.entries):
            profile_df.update(self._index(number, entry, strength, examples))
        count = len(self.entries)
        # Rarity among the entries that are *about* a term; a term only ever mentioned in passing
        # (in bodies) is rarer still but says less, hence the body's strength below 1.
        self._idf = {
            term: math.log((count + 1) / ((profile_df[term] or len(by_entry)) + 0.5))
            for term, by_entry in strength.items()
        }
        self._strength = strength
        self._postings = {
            term: (np.fromiter(by_entry, dtype=np.intp), np.fromiter(by_entry.values(), dtype=float))
            for term, by_entry in strength.items()
        }
        self._weights: dict[str, float] = {}
        # Example questions, indexed by term, with their vector lengths, for resemblance.
        self._example_entry = np.array([entry for entry, _ in examples], dtype=np.intp)
        self._example_norm = np.array(
            [math.sqrt(sum(self.weight(t) ** 2 for t in terms)) or 1.0 for _, terms in examples]
        )
        by_term: dict[str, list[int]] = defaultdict(list)
        for number, (_, terms) in enumerate(examples):
            for term in terms:
                by_term[term].append(number)
        self._example_postings = {term: np.array(found, dtype=np.intp) for term, found in by_term.items()}

    def _index(
        self,
        number: int,
        entry: FaqEntry,
        strength: dict[str, dict[int, float]],
        examples: list[tuple[int, frozenset[str]]],
    ) -> set[str]:
        terms = self.normaliser.terms
        fields: dict[str, list[list[str]]] = {
            "title": [terms(entry.title)],
            "keywords": [terms(k) for k in entry.keywords],
            "questions": [terms(q) for q in entry.questions],
            "body": [terms(entry.body)],
        }
        profile: set[str] = set()
        parts: set[str] = set()
        if entry.id == self.decline_id:  # indexed last, after every answered entry
            # A declined phrase is declined as a whole: "school report" is out of scope, but
            # "report", the subject of answered entries, is not.
            central = {
                t
                for t, by in strength.items()
                if sum(v >= CENTRAL_STRENGTH for v in by.values()) >= GENERAL_TERM_ENTRIES
            }
            parts = {t for k in fields["keywords"] if len(k) > 1 for t in k} & central
            for phrase in fields["keywords"]:  # said as the phrase, each word counts in full again
                if len(phrase) == 2 and parts.intersection(phrase):
                    self._declined_phrases[" ".join(phrase)] = tuple(t for t in phrase if t in parts)
        for field, texts in fields.items():
            found: Counter[str] = Counter()
            for text in texts:
                found.update(set(text) | set(_bigrams(text)))
            if field != "body":
                profile.update(found)
            for term, times in found.items():
                value = FIELD_STRENGTH[field]
                if field == "questions":  # a term in many example questions is central to it
                    value = min(value, QUESTION_BASE + QUESTION_STEP * times)
                elif field == "title":  # one word of a short title matters more than of a long one
                    share = 1 / max(1, len(set(texts[0])))
                    value *= 1 - TITLE_SHARE + TITLE_SHARE * share
                elif field == "keywords" and term in parts:
                    value *= DECLINED_PART
                strength[term][number] = max(strength[term].get(number, 0.0), value)
        for text in [*fields["questions"], fields["title"][0]]:
            if text:
                examples.append((number, frozenset(text)))
        return profile

    def weight(self, term: str) -> float:
        """How much a query term says: its rarity in the content, or in English if unknown."""
        weight = self._weights.get(term)
        if weight is None:
            zipf = zipf_frequency(term, "en") if term.isalpha() else 0.0
            # Everyday words ("time", "good", "people") say little whatever the content holds.
            everyday = min(1.0, max(EVERYDAY_FLOOR, (EVERYDAY_ZIPF + 1.5 - zipf) / 1.5))
            idf = self._idf.get(term)
            if idf is None:
                idf = min(OOV_MAX, max(OOV_MIN, (7.0 - zipf) / 2.0))
            if term in self.normaliser.occasions:  # "after Friday prayers" says when, not what about
                idf *= OCCASION_WEIGHT
            weight = self._weights[term] = idf * everyday
        return weight

    def rank(self, text: str) -> list[Candidate]:
        """The best-scoring entries for a question, best first."""
        return self.rank_words(self.normaliser.corrected_words(text))

    def rank_words(self, words: list[str]) -> list[Candidate]:
        """Rank for a question already split into corrected words (the best RANKED entries)."""
        terms = self.normaliser.terms_of_words(words)
        unique = list(dict.fromkeys(terms))
        if not unique:
            return []
        weights = {t: self.weight(t) for t in unique}
        total = sum(weights.values())
        evidence = np.zeros(len(self.entries))
        for term in unique:
            posting = self._postings.get(term)
            if posting is not None:
                evidence[posting[0]] += weights[term] * posting[1]
        if self._declined_phrases:
            declined = len(self.entries) - 1
            for bigram in set(_bigrams(terms)) & self._declined_phrases.keys():
                for part in self._declined_phrases[bigram]:
                    evidence[declined] += weights[part] * (1.0 - self._strength[part][declined])
        touched = np.flatnonzero(evidence)
        if not touched.size:
            return []
        bonus = np.zeros(len(self.entries))
        for bigram in dict.fromkeys(_bigrams(terms)):
            posting = self._postings.get(bigram)
            if posting is not None:
                bonus[posting[0]] += BIGRAM_BONUS * self._idf[bigram] * posting[1]
        found = evidence[touched]
        # What the entry leaves unexplained counts against it, but less than what it explains:
        # long messages carry greetings and backstory that no entry covers.
        coverage = found / (found + UNEXPLAINED * (total - found)) * np.minimum(1.0, found / MIN_EVIDENCE)
        phrase = bonus[touched] / total  # words in the entry's own order
        like = self._resemblance(unique, weights)[touched]
        score = (coverage + PHRASE_WEIGHT * phrase + RESEMBLANCE_WEIGHT * like) / (1 + RESEMBLANCE_WEIGHT)
        best = np.argsort(-score, kind="stable")[:RANKED]
        return [Candidate(self._ids[touched[i]], float(score[i]), float(coverage[i]), float(like[i])) for i in best]

    def _resemblance(self, terms: list[str], weights: Mapping[str, float]) -> np.ndarray:
        """Per entry, the cosine similarity of the question to its closest example question."""
        dots = np.zeros(len(self._example_entry))
        for term in terms:
            posting = self._example_postings.get(term)
            if posting is not None:
                dots[posting] += weights[term] ** 2
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        hit = np.flatnonzero(dots)
        best = np.zeros(len(self.entries))
        np.maximum.at(best, self._example_entry[hit], dots[hit] / (norm * self._example_norm[hit]))
        return best

    def match(self, text: str) -> Match:
        """Decide: confident (top score high and clear of the next), unsure, or out of scope."""
        return self.match_words(self.normaliser.corrected_words(text), text)

    def match_words(self, words: list[str], text: str = "") -> Match:
        """Match a question already split into corrected words (`text`: the message itself)."""
        ranked = self._with_questions(self.rank_words(words), words, text)
        declined = bool(ranked) and ranked[0].entry_id == self.decline_id
        ranked = [c for c in ranked if c.entry_id != self.decline_id]
        top = tuple(ranked[:3])
        if declined or not ranked or ranked[0].score < SUGGEST_SCORE:
            return Match(Verdict.OUT_OF_SCOPE, top)
        best = ranked[0].score
        lead = best - (ranked[1].score if len(ranked) > 1 else 0.0)
        terms = set(self.normaliser.terms_of_words(words))
        if self._too_general(terms):
            return Match(Verdict.UNSURE, top)
        # A long message carries greetings and backstory no entry explains, which dilutes even
        # the right entry's score; so the bar falls with length (and still wants a lead).
        extra = max(0, len(terms) - LONG_AFTER)
        bar = max(LONG_FLOOR, CONFIDENT_SCORE - LONG_STEP * extra)
        if (best >= bar and (not extra or lead >= LONG_LEAD)) or (best >= CLEAR_LEAD_SCORE and lead >= CLEAR_LEAD):
            return Match(Verdict.CONFIDENT, top)
        return Match(Verdict.UNSURE, top)

    def _with_questions(self, ranked: list[Candidate], words: list[str], text: str) -> list[Candidate]:
        """In a long message, also score the sentences that ask something, and keep the best.

        "Salaam, I'm the secretary ... (five sentences of backstory) ... how do we report it?"
        is about its question; the backstory dilutes the whole message's scores.
        """
        if len(set(self.normaliser.terms_of_words(words))) <= LONG_AFTER:
            return ranked
        best = {c.entry_id: c for c in ranked}
        for sentence in _questions(text):
            sentence_words = self.normaliser.corrected_words(sentence)
            if len(set(self.normaliser.terms_of_words(sentence_words))) < SENTENCE_MIN_TERMS:
                continue
            for c in self.rank_words(sentence_words):
                score = c.score * SENTENCE_WEIGHT
                if c.entry_id not in best or score > best[c.entry_id].score:
                    best[c.entry_id] = Candidate(c.entry_id, score, c.coverage, c.resemblance)
        return sorted(best.values(), key=lambda c: c.score, reverse=True)

    def _too_general(self, terms: set[str]) -> bool:
        """One word that is the subject of many entries ("police", "safety") can't pick one."""
        if len(terms) != 1:
            return False
        (term,) = terms
        central = [e for e, strength in self._strength.get(term, {}).items() if strength >= CENTRAL_STRENGTH]
        return len(central) >= GENERAL_TERM_ENTRIES


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
