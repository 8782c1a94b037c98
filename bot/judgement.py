"""Learned judgement: is someone in danger now, in crisis, and which answer does a message ask for?

Two linear models (scikit-learn logistic regression) share one set of features: word 1–2-grams and
character 2–5-grams of the normalised text. Character n-grams carry across typos ("knif", "helppp"),
txt-speak and every script, so a message in Bengali, Urdu or Romanian is read like one in English,
as long as people have written such messages in `content/examples/`.

- **Triage** learns `danger` (danger now), `crisis_now` (life at risk now: suicide, self-harm,
  overdose), `crisis` (thoughts of it, a mental-health crisis) and `routine` from the triage
  examples. A long message is read whole: each stretch of a few sentences is scored too, and the
  most urgent counts, so danger said at the end of a long story is not lost.
- **Intent** learns which FAQ entry a message asks about (or `none`, out of scope) from the FAQ
  examples, the entries' own example questions and out_of_scope.yaml's.

Training is deterministic and takes seconds; the trained models are kept in a cache file named by a
hash of everything they learn from, so a start-up loads them (well under a second) and a change to
the examples retrains them. Decision thresholds live in `content/judgement.yaml`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.content import CRISIS_ENTRY, NONE_LABEL, Content, Example

if TYPE_CHECKING:  # scikit-learn takes a second to import: only what reads messages imports it
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion

logger = logging.getLogger(__name__)

VERSION = 6  # bump when features or training change, so old cache files are not used
EMERGENCY_LABELS = ("danger", "crisis_now")
CRISIS_LABELS = ("crisis_now", "crisis")
DEFAULT_THRESHOLDS = {
    "emergency": 0.2,
    "emergency_in_form": 0.98,
    "crisis": 0.3,
    "crisis_ratio": 8.0,
    "answer": 0.08,
    "suggest": 0.04,
    "out_of_scope": 0.25,
    "out_of_scope_ratio": 0.75,
}
WINDOW_CHARS = 400  # a long message is also scored in stretches of about this many characters
MAX_WINDOWS = 60  # at most this many stretches (a 10,000-character message has about 25)
TRIAGE_C, INTENT_C = 16.0, 8.0  # inverse regularisation strength (chosen by leave-writers-out CV)
QUESTION_WEIGHT = 0.3  # an FAQ example question's weight as a routine triage example
# An out-of-scope example's weight as a routine one: greetings, thanks and chit-chat are as short
# as a panicked plea, and weighed like questions they were read as danger (CV: 7% of English and
# 22% of the other languages' out-of-scope messages; 3% and 14% at this weight, recall the same).
NONE_WEIGHT = 2.0

_ARABIC_MARKS = re.compile(r"[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat and tatweel
_VARIANTS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ە": "ہ", "ۀ": "ہ", "أ": "ا", "إ": "ا", "آ": "ا"})
_REPEATS = re.compile(r"(.)\1{2,}")
_SENTENCES = re.compile(r"(?<=[.!?।۔؟\n])\s+")


def normalise(text: str) -> str:
    """Text as the models read it: lowercase, marks folded, punctuation gone, symbols and emoji
    kept as words of their own, letters repeated for emphasis cut to two ("helppp" → "helpp")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ARABIC_MARKS.sub("", text).translate(_VARIANTS)
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "P" or category[0] == "Z" or category[0] == "C":
            out.append(" " if ch not in "'’‘`" else "")
        elif category[0] == "S":
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return " ".join(_REPEATS.sub(r"\1\1", "".join(out)).split())


def _tokens(text: str) -> list[str]:
    return text.split()


def features() -> FeatureUnion:
    """Word and character n-grams of the normalised text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    words = TfidfVectorizer(
        preprocessor=normalise, tokenizer=_tokens, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True
    )
    chars = TfidfVectorizer(preprocessor=normalise, analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    return FeatureUnion([("words", words), ("chars", chars)])


def letter_scripts(text: str) -> dict[str, int]:
    """How many letters of each writing system a text has."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def windows(text: str) -> list[str]:
    """A long message in stretches of whole sentences of about WINDOW_CHARS, overlapping by one
    sentence; a short one as it is."""
    if len(text) <= WINDOW_CHARS:
        return [text]
    sentences = [s for s in _SENTENCES.split(text) if s.strip()]
    pieces: list[str] = []
    for sentence in sentences:  # a sentence longer than a window is cut into windows
        pieces.extend(sentence[i : i + WINDOW_CHARS] for i in range(0, len(sentence), WINDOW_CHARS))
    out: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and sum(len(p) + 1 for p in current) + len(piece) > WINDOW_CHARS:
            out.append(" ".join(current))
            current = current[-1:]
        current.append(piece)
    if current:
        out.append(" ".join(current))
    if len(out) > MAX_WINDOWS:  # keep the start and the end, where people say what is happening
        out = out[: MAX_WINDOWS // 2] + out[-MAX_WINDOWS // 2 :]
    return out


@dataclass(frozen=True, slots=True)
class Dataset:
    """What the models learn from, in one place."""

    triage_texts: tuple[str, ...]
    triage_labels: tuple[str, ...]
    triage_weights: tuple[float, ...]
    intent_texts: tuple[str, ...]
    intent_labels: tuple[str, ...]


def dataset(content: Content, examples: Iterable[Example] | None = None) -> Dataset:
    """The training data: the examples given (all of content's by default) plus the FAQ entries'
    titles, example questions and keywords, and out_of_scope.yaml's questions and keywords."""
    chosen = list(content.examples if examples is None else examples)
    triage = [(e.text, e.label, 1.0) for e in chosen if e.kind == "triage"]
    intent = [(e.text, e.label) for e in chosen if e.kind == "faq"]
    # Questions about a topic are not danger now; about crisis support, they are a crisis.
    triage += [
        (t, "crisis" if label == CRISIS_ENTRY else "routine", NONE_WEIGHT if label == NONE_LABEL else QUESTION_WEIGHT)
        for t, label in intent
    ]
    for entry in content.faq.values():
        intent.extend((q, entry.id) for q in (entry.title, *entry.questions, *entry.keywords))
    if content.out_of_scope is not None:
        declined = content.out_of_scope
        intent.extend((q, NONE_LABEL) for q in (*declined.questions, *declined.keywords))
    return Dataset(
        tuple(t for t, _, _ in triage),
        tuple(lb for _, lb, _ in triage),
        tuple(w for _, _, w in triage),
        tuple(t for t, _ in intent),
        tuple(lb for _, lb in intent),
    )


def fingerprint(data: Dataset) -> str:
    """A hash of everything training depends on."""
    import sklearn

    digest = hashlib.sha256()
    digest.update(json.dumps([VERSION, sklearn.__version__, TRIAGE_C, INTENT_C, QUESTION_WEIGHT]).encode())
    for part in (data.triage_texts, data.triage_labels, data.triage_weights, data.intent_texts, data.intent_labels):
        digest.update(json.dumps(part, ensure_ascii=False).encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Reading:
    """What the models make of one message."""

    emergency: float  # probability of danger now or life at risk now (the most urgent stretch)
    crisis: float  # probability of a crisis (thoughts of suicide or self-harm, or at risk now)
    danger: float  # probability of danger now alone (the most urgent stretch)
    intents: tuple[tuple[str, float], ...]  # FAQ ids (or "none") with probabilities, best first
    readable: bool  # the message is mostly in scripts the examples have


@dataclass(frozen=True, slots=True)
class LinearOneVsRest:
    """A trained one-vs-rest logistic regression as one weight matrix: the same probabilities as
    scikit-learn's OneVsRestClassifier.predict_proba, in one sparse product instead of a Python
    loop over forty estimators (0.1 ms a message, not 14). The weights are kept in single precision:
    the same answers, half the cache file to load at start-up."""

    classes: tuple[str, ...]
    weights: np.ndarray  # float32: one column of weights per class, a row per feature
    bias: np.ndarray  # classes

    @classmethod
    def of(cls, model: OneVsRestClassifier) -> LinearOneVsRest:
        weights = np.vstack([e.coef_ for e in model.estimators_]).T
        bias = np.concatenate([e.intercept_ for e in model.estimators_])
        return cls(tuple(str(c) for c in model.classes_), np.ascontiguousarray(weights, dtype=np.float32), bias)

    def predict_proba(self, rows: Any) -> np.ndarray:
        """Per row, each class's probability against the rest, normalised to sum to 1."""
        # float32 rows too, or every product would first copy the weights to double precision
        scores: np.ndarray = np.asarray(rows.astype(np.float32) @ self.weights, dtype=np.float64) + self.bias
        chances: np.ndarray = 1.0 / (1.0 + np.exp(-scores))
        normalised: np.ndarray = chances / chances.sum(axis=1, keepdims=True)
        return normalised


@dataclass
class Judgement:
    """The two trained models and their shared features."""

    vectoriser: FeatureUnion
    triage: LogisticRegression
    intent: LinearOneVsRest
    scripts: frozenset[str]
    key: str = ""
    _classes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._classes = {str(c): i for i, c in enumerate(self.triage.classes_)}

    @classmethod
    def train(cls, data: Dataset) -> Judgement:
        """Fit both models (deterministic: the same data gives the same models)."""
        if not data.triage_texts or not data.intent_texts:
            raise ValueError("no examples to learn from (content/examples/ and the FAQ's questions)")
        vectoriser = features()
        matrix = vectoriser.fit_transform([*data.triage_texts, *data.intent_texts])
        count = len(data.triage_texts)
        triage = _triage_model(TRIAGE_C).fit(
            matrix[:count], list(data.triage_labels), sample_weight=np.array(data.triage_weights)
        )
        intent = LinearOneVsRest.of(_intent_model(INTENT_C).fit(matrix[count:], list(data.intent_labels)))
        known = frozenset(s for text in (*data.triage_texts, *data.intent_texts) for s in letter_scripts(text))
        return cls(vectoriser, triage, intent, known, fingerprint(data))

    def read(self, text: str, intent_text: str | None = None) -> Reading:
        """Read one message; `intent_text` is the part to match against the FAQ (default: all)."""
        parts = windows(text)
        asked = intent_text if intent_text is not None else text
        rows = self.rows([asked, *parts] if len(parts) > 1 else [asked])
        triage = self.triage_proba(rows)
        if len(parts) > 1:  # the first row is the part asked about; the stretches follow
            triage = triage[1:]
        intent = self.intent.predict_proba(rows[0])[0]
        order = np.argsort(-intent, kind="stable")
        ranked = tuple((self.intent.classes[i], float(intent[i])) for i in order[:10])
        return Reading(
            emergency=float(self._sum(triage, EMERGENCY_LABELS).max()),
            crisis=float(self._sum(triage, CRISIS_LABELS).max()),
            danger=float(triage[:, self._classes["danger"]].max()) if "danger" in self._classes else 0.0,
            intents=ranked,
            readable=self.readable(text),
        )

    def rows(self, texts: Sequence[str]) -> Any:
        """The features of some texts: what `vectoriser.transform` gives, without scikit-learn's
        checks of its input on every call (two thirds of the time of answering a message)."""
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

        blocks = []
        for _name, vectoriser in self.vectoriser.transformer_list:
            counts = CountVectorizer.transform(vectoriser, texts).astype(np.float64)  # words counted
            tfidf = vectoriser._tfidf  # the fitted weights TfidfVectorizer.transform applies
            if tfidf.sublinear_tf:
                np.log(counts.data, counts.data)
                counts.data += 1.0
            counts.data *= tfidf.idf_[counts.indices]
            inplace_csr_row_normalize_l2(counts)
            blocks.append(counts)
        return sparse.hstack(blocks, format="csr")

    def triage_proba(self, rows: Any) -> np.ndarray:
        """The triage model's probabilities (multinomial: a softmax of its scores), as
        `triage.predict_proba` gives them, without its checks of the input."""
        scores: np.ndarray = np.asarray(rows @ self.triage.coef_.T) + self.triage.intercept_
        scores -= scores.max(axis=1, keepdims=True)
        chances: np.ndarray = np.exp(scores)
        normalised: np.ndarray = chances / chances.sum(axis=1, keepdims=True)
        return normalised

    def readable(self, text: str) -> bool:
        """Whether most of a message's letters are in writing systems the examples have."""
        counts = letter_scripts(text)
        total = sum(counts.values())
        if not total:
            return True
        known = sum(n for s, n in counts.items() if s in self.scripts)
        return known * 2 >= total

    def _sum(self, probabilities: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        columns = [self._classes[label] for label in labels if label in self._classes]
        if not columns:
            return np.zeros(probabilities.shape[0])
        summed: np.ndarray = probabilities[:, columns].sum(axis=1)
        return summed


def _triage_model(strength: float) -> LogisticRegression:
    """Multinomial logistic regression over the four triage labels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=strength, max_iter=3000, class_weight="balanced")


def _intent_model(strength: float) -> OneVsRestClassifier:
    """One logistic regression per FAQ entry against the rest (liblinear: fast for many labels)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(
        LogisticRegression(C=strength, solver="liblinear", class_weight="balanced", random_state=0)
    )


# --- trained once, kept by hash ---------------------------------------------------------------
_loaded: dict[str, Judgement] = {}


def judgement_for(content: Content, cache_dir: Path | None = None) -> Judgement:
    """The trained models for this content: from memory, else the cache file in `cache_dir`, else
    trained now (and saved there for next time; `None`: kept in memory only). A cache that can't
    be read or written is passed over."""
    data = dataset(content)
    key = fingerprint(data)
    found = _loaded.get(key)
    if found is not None:
        return found
    path = cache_dir / f"judgement-{key[:24]}.pickle" if cache_dir is not None else None
    judgement = _load(path, key) if path is not None else None
    if judgement is None:
        logger.info(
            "training the models on %d triage and %d FAQ examples", len(data.triage_texts), len(data.intent_texts)
        )
        judgement = Judgement.train(data)
        if path is not None:
            _save(path, judgement)
    _loaded.clear()  # one content at a time: a changed content's old models are dropped
    _loaded[key] = judgement
    return judgement


def _load(path: Path, key: str) -> Judgement | None:
    try:
        with path.open("rb") as handle:
            loaded: Any = pickle.load(handle)  # the C unpickler: five times joblib's speed here
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or old file: train again
        logger.warning("could not read the model cache %s (%s); training again", path, type(exc).__name__)
        return None
    if not isinstance(loaded, Judgement) or loaded.key != key:
        return None
    return loaded


def _save(path: Path, judgement: Judgement) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".judgement-", delete=False) as handle:
            pickle.dump(judgement, handle, protocol=5)  # uncompressed: loads fastest
        os.replace(handle.name, path)
        for old in (*path.parent.glob("judgement-*.pickle"), *path.parent.glob("judgement-*.joblib")):
            if old != path:
                old.unlink(missing_ok=True)  # an older model, or one from before the pickle files
    except OSError as exc:
        logger.warning(
            "could not save the model cache in %s (%s); it will be trained again next time", path.parent, exc
        )
