"""How well the bot judges messages from people it has never seen.

Run by hand, and by CI with --check:  python bench/judgement.py [--folds 5] [--check] [--misses]

1. Leave-writers-out cross-validation over content/examples/: the writers are split into folds;
   the models are trained on the other folds' writers (plus the FAQ entries' own questions) and
   score this fold's writers, whom they never saw. Figures are given for English and for the other
   languages, with a plain Okapi BM25 ranking over the same FAQ content as the baseline.
2. The final set, tests/eval/final/: writers used for nothing else, scored once with the models
   trained on all the examples.

Emergency recall counts danger-now and life-at-risk-now messages that got emergency=true; leads_999
those whose reply has "999" in its first 300 characters; false alarms are routine messages marked
emergency; crisis counts crisis messages that got the crisis reply (or the 999 advice).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

from bot.answers import Answerer, Kind
from bot.config import default_content_dir, default_model_cache_dir
from bot.content import NONE_LABEL, Content, Example, example_rows, load_content
from bot.judgement import Judgement, dataset, normalise
from bot.render import Style, render

FINAL = Path(__file__).resolve().parent.parent / "tests" / "eval" / "final"
FORM_WRITER = "forms"  # short answers typed into the bot's forms (names, places, numbers)
# What CI requires: a little under the figures measured on 2026-12-01 (125 writers: 21 English, 9-13
# for each listed language, 3-4 for each romanised one), so that a change that makes the judgement
# worse for people it never saw fails. Figures then: recall 0.993 (English 0.999, other languages
# 0.991), crisis 0.952, English top-1 0.980 and top-3 0.996, other languages' top-1 0.974, out of
# scope 0.956; false alarms English 0.049, other languages 0.079, all 0.071 (the target: 0.08).
FLOORS = {"recall": 0.985, "recall_other": 0.985, "leads_999": 0.99, "crisis": 0.93, "top1_en": 0.96,
          "top3_en": 0.985, "top1_other": 0.95, "oos": 0.92}  # fmt: skip
CEILINGS = {"false_alarm_en": 0.06, "false_alarm_other": 0.085, "false_alarm": 0.08}


@dataclass
class Score:
    """Counts for one group of messages."""

    urgent: int = 0
    caught: int = 0
    led: int = 0
    routine: int = 0
    alarms: int = 0
    crisis: int = 0
    crisis_met: int = 0
    asked: int = 0
    top1: int = 0
    top3: int = 0
    bm25_top1: int = 0
    bm25_top3: int = 0
    declined: int = 0
    held: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.misses.extend(other.misses)

    def figures(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else math.nan

        return {
            "recall": ratio(self.caught, self.urgent),
            "leads_999": ratio(self.led, self.urgent),
            "false_alarm": ratio(self.alarms, self.routine),
            "crisis": ratio(self.crisis_met, self.crisis),
            "top1": ratio(self.top1, self.asked),
            "top3": ratio(self.top3, self.asked),
            "bm25_top1": ratio(self.bm25_top1, self.asked),
            "bm25_top3": ratio(self.bm25_top3, self.asked),
            "oos": ratio(self.held, self.declined),
        }


class BM25:
    """Plain Okapi BM25 (k1 1.5, b 0.75) over each FAQ entry's title, keywords, questions and body."""

    def __init__(self, content: Content, k1: float = 1.5, b: float = 0.75) -> None:
        self.ids = list(content.faq)
        docs = [
            normalise(" ".join((e.title, " ".join(e.keywords), " ".join(e.questions), e.body))).split()
            for e in content.faq.values()
        ]
        self.tf = [Counter(d) for d in docs]
        self.lengths = np.array([len(d) for d in docs], dtype=float)
        df: Counter[str] = Counter(t for d in docs for t in set(d))
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b, self.mean = k1, b, float(self.lengths.mean())

    def rank(self, text: str) -> list[str]:
        scores = np.zeros(len(self.ids))
        for term in set(normalise(text).split()):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i, tf in enumerate(self.tf):
                f = tf.get(term, 0)
                if f:
                    norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.mean)
                    scores[i] += idf * f * (self.k1 + 1) / (f + norm)
        order = np.argsort(-scores, kind="stable")
        return [self.ids[i] for i in order if scores[i] > 0]


def score(answerer: Answerer, bm25: BM25, examples: Iterable[Example]) -> Score:
    """Score one group of examples with trained models. The form writer's messages are read as the
    bot reads them: typed as the answer to a form's question (a name, a place)."""
    result = Score()
    for example in examples:
        answer = answerer.answer(example.text)
        reply = answerer.reply(answer)
        if example.kind == "triage":
            urgent = example.label in ("danger", "crisis_now")
            emergency = answer.assessment.emergency
            if example.writer == FORM_WRITER:
                emergency = answerer.triage.assess(example.text, answering=True).emergency
            if urgent:
                result.urgent += 1
                result.caught += emergency
                led = "999" in render(reply.text, Style.PLAIN)[:300]
                result.led += led
                if not emergency or not led:
                    result.misses.append(f"missed {example.label} [{example.writer}]: {example.text}")
            if example.label in ("crisis", "crisis_now"):
                result.crisis += 1
                met = answer.kind is Kind.CRISIS or answer.assessment.emergency
                result.crisis_met += met
                if not met:
                    result.misses.append(f"crisis not met [{example.writer}]: {example.text}")
            if example.label == "routine":
                result.routine += 1
                result.alarms += emergency
                if emergency:
                    result.misses.append(f"false alarm [{example.writer}]: {example.text}")
            continue
        named = reply.answer if answer.kind in (Kind.ANSWER, Kind.EMERGENCY, Kind.CRISIS) else None
        if example.label == NONE_LABEL:
            result.declined += 1
            result.held += named is None
            if named is not None:
                result.misses.append(f"out of scope answered {named} [{example.writer}]: {example.text}")
            continue
        ranked = ([named] if named else []) + [s for s in reply.suggestions if s != named]
        result.asked += 1
        result.top1 += named == example.label
        result.top3 += example.label in ranked[:3]
        baseline = bm25.rank(example.text)
        result.bm25_top1 += baseline[:1] == [example.label]
        result.bm25_top3 += example.label in baseline[:3]
        if named != example.label:
            result.misses.append(
                f"faq want {example.label} got {named} {ranked[:3]} [{example.writer}]: {example.text}"
            )
    return result


def languages(path: Path) -> dict[str, str]:
    """Each writer's language, from a writers.yaml."""
    if not path.exists():
        return {}
    writers = yaml.safe_load(path.read_text(encoding="utf-8"))["writers"]
    return {w: str(about.get("language", "en")) for w, about in writers.items()}


def group(language: str) -> str:
    """English, the other languages (native scripts and romanised), or mixed (the form answers and
    the noise writers: many languages, gibberish, test pings)."""
    return language if language in ("en", "mixed") else "other"


def cross_validate(content: Content, folds: int, jobs: int = 1) -> tuple[dict[str, Score], float]:
    """Leave-writers-out: (scores by language group and in all, seconds per training). `jobs`:
    folds trained at once, each in its own process (the same figures, sooner on more cores)."""
    examples = list(content.examples)
    writers = [e.writer for e in examples]
    language = languages(content.directory / "examples" / "writers.yaml")
    splits = [(list(train), list(test)) for train, test in GroupKFold(n_splits=folds).split(examples, groups=writers)]
    if jobs > 1:
        done = Parallel(n_jobs=jobs)(delayed(_fold_in_process)(content.directory, *split) for split in splits)
    else:
        done = [_fold(content, *split) for split in splits]
    by_group: dict[str, Score] = defaultdict(Score)
    for parts, _ in done:
        for writer, part in parts:
            by_group[group(language.get(writer, "en"))].add(part)
            by_group[f"lang:{language.get(writer, 'en')}"].add(part)
            by_group["all"].add(part)
    return dict(by_group), float(np.mean([seconds for _, seconds in done]))


def _fold(content: Content, train: list[int], test: list[int]) -> tuple[list[tuple[str, Score]], float]:
    """Train on one fold's other writers; score each of its writers: ([(writer, score)], seconds)."""
    examples = list(content.examples)
    writers = [e.writer for e in examples]
    started = time.perf_counter()
    judgement = Judgement.train(dataset(content, [examples[i] for i in train]))
    took = time.perf_counter() - started
    answerer, bm25 = Answerer(content, judgement=judgement), BM25(content)
    parts = [
        (writer, score(answerer, bm25, (examples[i] for i in test if writers[i] == writer)))
        for writer in sorted({writers[i] for i in test})
    ]
    return parts, took


def _fold_in_process(directory: Path, train: list[int], test: list[int]) -> tuple[list[tuple[str, Score]], float]:
    return _fold(load_content(directory), train, test)


def final_set(content: Content, folder: Path) -> dict[str, Score]:
    """The final writers' messages, scored with the models trained on every example."""
    found: list[Example] = []
    language = languages(folder / "writers.yaml")
    for path in sorted(folder.glob("*.tsv")):
        for _, (kind, label, text) in example_rows(path.read_text(encoding="utf-8")):
            found.append(Example(kind, label, text, path.stem))
    answerer = Answerer(content, default_model_cache_dir())  # the models the bot itself uses
    bm25 = BM25(content)
    by_group: dict[str, Score] = defaultdict(Score)
    for example in found:
        part = score(answerer, bm25, [example])
        by_group[group(language.get(example.writer, "en"))].add(part)
        by_group["all"].add(part)
    return dict(by_group)


def net_precision(content: Content) -> None:
    """Each safety-net pattern's precision on the triage examples (timing applied): what share of
    the messages it alone would mark as emergencies really are."""
    doc = yaml.safe_load((content.directory / "triage.yaml").read_text(encoding="utf-8"))
    answerer = Answerer(content, default_model_cache_dir())
    triage = [e for e in content.examples if e.kind == "triage"]
    plains = [" ".join(answerer.normaliser.corrected_words(e.text)) for e in triage]
    allowed = [answerer.triage.timing(p)[0] >= 0 for p in plains]  # not ruled out by "last week"…
    for rule in doc["danger"]:
        for pattern in rule["patterns"]:
            compiled = re.compile(pattern)
            hits = [e for e, p, ok in zip(triage, plains, allowed, strict=True) if ok and compiled.search(p)]
            real = sum(e.label in ("danger", "crisis_now") for e in hits)
            shown = f"{real / len(hits):.2f}" if hits else "  - "
            print(f"{shown} of {len(hits):4d}  {rule['name']}: {pattern}")


def show(title: str, groups: dict[str, Score]) -> None:
    print(f"\n{title}")
    for name in sorted(groups, key=lambda g: (g.startswith("lang:"), g)):
        figures = groups[name].figures()
        shown = " ".join(f"{k}={v:.3f}" for k, v in figures.items() if not math.isnan(v))
        print(f"  {name:10} {shown}")


def check(groups: dict[str, Score]) -> list[str]:
    """The figures below their floors (or above their ceilings)."""
    short = []
    overall = groups["all"].figures()
    english = groups["en"].figures() if "en" in groups else overall
    other = groups["other"].figures() if "other" in groups else overall
    wanted = {
        "recall": overall["recall"],
        "recall_other": other["recall"],
        "top1_other": other["top1"],
        "leads_999": overall["leads_999"],
        "crisis": overall["crisis"],
        "top1_en": english["top1"],
        "top3_en": english["top3"],
        "oos": overall["oos"],
    }
    short += [f"{k}={wanted[k]:.3f}<{v}" for k, v in FLOORS.items() if not wanted[k] >= v]
    highest = {"false_alarm_en": english["false_alarm"], "false_alarm_other": other["false_alarm"],
               "false_alarm": overall["false_alarm"]}  # fmt: skip
    short += [f"{k}={highest[k]:.3f}>{v}" for k, v in CEILINGS.items() if not highest[k] <= v]
    if not overall["top1"] > overall["bm25_top1"] + 0.1:
        short.append(f"top1 {overall['top1']:.3f} does not beat BM25 {overall['bm25_top1']:.3f} by 0.1")
    return short


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="folds trained at once (default: one per core)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a figure misses its floor")
    parser.add_argument("--misses", action="store_true", help="list the messages judged wrongly")
    parser.add_argument("--no-final", action="store_true", help="skip the final set")
    parser.add_argument("--net", action="store_true", help="only print each safety-net pattern's precision")
    args = parser.parse_args(argv)
    content = load_content(default_content_dir())
    if args.net:
        net_precision(content)
        return 0
    writers = {e.writer for e in content.examples}
    print(f"{len(content.examples)} examples by {len(writers)} writers; {args.folds} folds of whole writers")
    groups, seconds = cross_validate(content, args.folds, max(1, args.jobs))
    show(f"leave-writers-out cross-validation (training {seconds:.1f} s a fold)", groups)
    if args.misses:
        print("\n".join(groups["all"].misses))
    short = check(groups)
    if not args.no_final and FINAL.is_dir() and any(FINAL.glob("*.tsv")):
        final = final_set(content, FINAL)
        show("final set (writers used for nothing else)", final)
        # Its mistakes are never listed: read, they would be tuned to, and it would measure nothing.
        short += [f"final {s}" for s in check(final)]
    if short:
        print("SHORT: " + ", ".join(short))
    return 1 if args.check and short else 0


if __name__ == "__main__":
    sys.exit(main())
