"""Read people's messages the way the matcher and triage need them.

Lowercase, strip punctuation, correct misspellings towards the words the content uses, read
synonyms as their canonical words (content/lexicon.yaml, loaded as a `Lexicon`), stem, and drop words
with no meaning.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import snowballstemmer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from wordfreq import zipf_frequency

_APOSTROPHES = re.compile(r"['’‘`´]")
_WORD = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# A token this common in English is a real word, not a typo, even if the content never uses it.
REAL_WORD_ZIPF = 3.0
CORRECTION_CUTOFF = 0.75
MAX_TOKENS = 1000


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Words the matcher needs: variants read as canonical words, and words carrying no meaning."""

    synonyms: Mapping[tuple[str, ...], tuple[str, ...]]
    stopwords: frozenset[str]
    about_the_bot: frozenset[str] = frozenset()  # "you" in a message with no other meaning
    greetings: frozenset[str] = frozenset()  # a message of only these words is a greeting
    occasions: frozenset[str] = frozenset()  # when or where it happened ("after Friday prayers")
    thanks: frozenset[str] = frozenset()  # a message of these (and small talk) is a thank-you
    thanks_also: frozenset[str] = frozenset()  # words that may come with a thank-you ("so much")


_ID = re.compile(r"[0-9]{1,12}")


def number(value: str) -> int | None:
    """A number as people and buttons give them: ASCII digits only ("፩" and "²" pass isdigit() but
    not int()), at most 12 of them (SQLite's integers end at 19 digits); None if it isn't one."""
    value = value.strip()
    return int(value) if _ID.fullmatch(value) else None


def clean(text: str) -> str:
    """Normalise Unicode and drop control and invisible formatting characters."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text))


def words(text: str) -> list[str]:
    """Split text into lowercase word tokens, apostrophes removed ("don't" -> "dont")."""
    return _WORD.findall(_APOSTROPHES.sub("", clean(text).casefold()))[:MAX_TOKENS]


class Normaliser:
    """Turns text into canonical stemmed terms, correcting misspellings on the way."""

    def __init__(
        self,
        lexicon: Lexicon,
        vocabulary: Iterable[str],
        examples: Iterable[str] = (),
        short_numbers: Iterable[str] = (),
    ) -> None:
        """`vocabulary`: correctly spelled words misspellings are corrected towards.

        `examples`: words from example questions, which editors misspell on purpose; each joins
        the vocabulary unless it is itself a near miss of a vocabulary word ("polise").
        `short_numbers`: numbers under three digits that still mean something (press 55).
        """
        self._stemmer = snowballstemmer.stemmer("english")
        self._stems: dict[str, str] = {}
        self._fixes: dict[str, str] = {}
        self.stopwords = frozenset(self.stem(w) for w in lexicon.stopwords)
        self.short_numbers = frozenset(short_numbers)  # one- and two-digit numbers that mean something
        self._about_the_bot = lexicon.about_the_bot
        self._greetings = lexicon.greetings
        self._small_talk = lexicon.greetings | lexicon.stopwords | lexicon.about_the_bot
        self._thanks = lexicon.thanks
        self._thanks_also = self._small_talk | lexicon.thanks | lexicon.thanks_also
        self.occasions = frozenset(self.stem(w) for w in lexicon.occasions)
        self._synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        lexicon_words: set[str] = set(lexicon.stopwords)
        for variant, canonical in lexicon.synonyms.items():
            variant_words = [w for part in variant for w in words(part)]
            canonical_words = [w for part in canonical for w in words(part)]
            lexicon_words.update(variant_words + canonical_words)
            key = tuple(self.stem(w) for w in variant_words)
            if key:
                self._synonyms[key] = tuple(self.stem(w) for w in canonical_words)
        self._longest = max((len(k) for k in self._synonyms), default=1)
        self.vocabulary = frozenset(w for w in set(vocabulary) | lexicon_words if w.isalpha())
        self._index_vocabulary()
        extra = {w for w in examples if w.isalpha() and w not in self.vocabulary}
        known = {w for w in extra if len(w) < 4 or self._closest(w) == w}
        if known:
            self.vocabulary |= known
            self._index_vocabulary()
        self._fixes.clear()

    def _index_vocabulary(self) -> None:
        self._by_initial: dict[str, list[str]] = {}
        for word in sorted(self.vocabulary):
            self._by_initial.setdefault(word[0], []).append(word)
        self._choices = sorted(self.vocabulary)

    def stem(self, word: str) -> str:
        """Stem one lowercase word (cached)."""
        stem = self._stems.get(word)
        if stem is None:
            stem = self._stems[word] = self._stemmer.stemWord(word)
        return stem

    def correct(self, word: str) -> str:
        """Return the vocabulary word a misspelt `word` most likely meant, or `word` itself."""
        if word in self.vocabulary or len(word) < 4 or not word.isalpha():
            return word
        fixed = self._fixes.get(word)
        if fixed is None:
            fixed = self._fixes[word] = self._closest(word)
        return fixed

    def _closest(self, word: str) -> str:
        if zipf_frequency(word, "en") >= REAL_WORD_ZIPF:
            return word
        # Typos seldom change the first letter: prefer words that share it, and ask more of others.
        same_initial = self._by_initial.get(word[0], [])
        best = process.extractOne(word, same_initial, scorer=OSA.normalized_similarity, score_cutoff=CORRECTION_CUTOFF)
        if best is None:
            best = process.extractOne(word, self._choices, scorer=fuzz.ratio, score_cutoff=88)
        return str(best[0]) if best is not None else word

    def is_greeting(self, text: str) -> bool:
        """Whether the message is only a greeting ("salam bro, how are you?")."""
        found = words(text)
        return bool(found) and set(found) <= self._small_talk and bool(self._greetings.intersection(found))

    def is_thanks(self, text: str) -> bool:
        """Whether the message only says thank you ("thanks so much", "jazakallah khair")."""
        found = words(text)
        return bool(found) and set(found) <= self._thanks_also and bool(self._thanks.intersection(found))

    def corrected_words(self, text: str) -> list[str]:
        """The message's words with misspellings corrected (no stemming, stopwords kept)."""
        return [self.correct(w) for w in words(text)]

    def terms(self, text: str) -> list[str]:
        """Canonical stemmed content terms of the text, in order, stopwords removed."""
        return self.terms_of_words(self.corrected_words(text))

    def terms_of_words(self, tokens: list[str]) -> list[str]:
        """Canonical stemmed content terms of already-corrected words."""
        stems = [self.stem(w) for w in tokens]
        out: list[str] = []
        i = 0
        while i < len(stems):
            for size in range(min(self._longest, len(stems) - i), 0, -1):
                canonical = self._synonyms.get(tuple(stems[i : i + size]))
                if canonical is not None:
                    out.extend(canonical)
                    i += size
                    break
            else:
                out.append(stems[i])
                i += 1
        # Short numbers ("9", "2") are ages, counts and steps; phone numbers like 999 and 55 count.
        terms = [
            t for t in out if t not in self.stopwords and (not t.isdigit() or len(t) >= 3 or t in self.short_numbers)
        ]
        if not terms and self._about_the_bot.intersection(tokens):
            return [self.stem("bot")]  # "what can you do?", "who are you?"
        return terms


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet will show as text, never run: text starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe, as OWASP advises against CSV injection."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


GAP_WORDS = 30  # longer than a question: most likely someone's own story
_LONG_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")  # phone numbers, account and reference numbers
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def gap_text(text: str, limit: int = 500) -> str:
    """What is kept of a question the bot could not answer, for the content gaps list: long
    numbers and email addresses masked, and a message longer than a question (a story of what
    happened to someone, with names and places) not kept at all, only its length."""
    words = text.split()
    if len(words) > GAP_WORDS:
        return f"[a message of {len(words)} words, not kept]"
    masked = _EMAIL.sub("[email]", _LONG_NUMBER.sub("[number]", text))
    return masked[:limit]
