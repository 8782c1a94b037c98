"""Benchmark answering: the models' reading + safety net + reply + render, per message.

Run by hand (not in CI):  python bench/answer.py [--messages N] [--synthetic 100]
Reports start-up in a fresh process (training the models into an empty cache, then loading them
from it), messages per second, p50/p99 latency and memory growth on the real content; with
--synthetic N also on an N-entry content set built from the real one, to show how the cost grows
with content size (the intent model's weights grow with the entries: about 1.2 MB each).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.answers import Answerer
from bot.config import default_content_dir, default_model_cache_dir
from bot.content import Content, load_content
from bot.render import Style, render
from bot.text import words

SEED = 20261126


def synthetic(content: Content, size: int, rng: random.Random) -> Content:
    """A content set of `size` entries: the real ones plus look-alikes from the same vocabulary."""
    real = list(content.faq.values())
    vocabulary = sorted({w for e in real for w in words(" ".join((e.title, e.body, *e.questions)))})
    entries = {e.id: e for e in real}
    while len(entries) < size:
        model = rng.choice(real)

        def remix(text: str) -> str:
            return " ".join(rng.choice(vocabulary) if rng.random() < 0.5 else w for w in text.split())

        new_id = f"{model.id}-{len(entries)}"
        entries[new_id] = dataclasses.replace(
            model,
            id=new_id,
            title=remix(model.title),
            questions=tuple(remix(q) for q in model.questions),
            keywords=tuple(remix(k) for k in model.keywords),
            body=remix(model.body),
            related=(),
        )
    return dataclasses.replace(content, faq=entries)


def messages(content: Content, count: int, rng: random.Random) -> list[str]:
    """Realistic messages: example questions with typos, some long, some out of scope, some urgent."""
    questions = [q for e in content.faq.values() for q in e.questions]
    extra = [
        "what time is maghrib",
        "there is a man with a knife outside right now",
        "Assalamu alaikum, sorry to bother you, " * 6 + "how do we report graffiti?",
    ]
    out = []
    for _ in range(count):
        text = rng.choice(questions + extra)
        chars = list(text)
        for _ in range(rng.randint(0, 2)):  # a typo or two
            if len(chars) > 3:
                i = rng.randrange(len(chars) - 1)
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        out.append("".join(chars))
    return out


def measure(content: Content, texts: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    answerer = Answerer(content, default_model_cache_dir())
    answerer.judgement  # noqa: B018 - loaded (or trained) here, not in the first answer
    build = time.perf_counter() - started
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def one(text: str) -> float:
        t0 = time.perf_counter()
        render(answerer.reply(answerer.answer(text)).text, Style.PLAIN)
        return time.perf_counter() - t0

    cold = sorted(one(t) for t in texts)  # first sight of each typo: spelling lookups not cached
    warm = sorted(one(t) for t in texts)
    total = sum(warm)
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024

    def pct(values: list[float], p: float) -> float:
        return 1000 * values[min(len(values) - 1, int(p * len(values)))]

    return {
        "entries": len(content.faq),
        "build_s": build,
        "msgs_per_s": len(texts) / total,
        "p50_ms": pct(warm, 0.50),
        "p99_ms": pct(warm, 0.99),
        "mean_ms": 1000 * statistics.mean(warm),
        "cold_p50_ms": pct(cold, 0.50),
        "cold_p99_ms": pct(cold, 0.99),
        "growth_mib": growth,
    }


STARTUP = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from bot.answers import Answerer
from bot.content import load_content
answerer = Answerer(load_content(Path(sys.argv[1])), Path(sys.argv[2]))
answerer.answer("how do I report graffiti")
print(time.perf_counter() - started)
"""


def startup(content_dir: Path) -> tuple[float, float]:
    """Seconds from a fresh process to its first answer: (training into an empty cache, loading it)."""
    with tempfile.TemporaryDirectory() as cache:
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", STARTUP, str(content_dir), cache], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(2)
        ]
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--content", type=Path, default=default_content_dir())
    parser.add_argument("--synthetic", type=int, default=0, help="also an N-entry content set")
    args = parser.parse_args()
    trained, loaded = startup(args.content)
    print(f"start-up to the first answer: {trained:.1f} s training into an empty cache, {loaded:.2f} s from the cache")
    rng = random.Random(SEED)
    real = load_content(args.content)
    sets = [("real", real)] + (
        [(f"synthetic-{args.synthetic}", synthetic(real, args.synthetic, rng))] if args.synthetic else []
    )
    for label, content in sets:
        result = measure(content, messages(content, args.messages, random.Random(SEED)))
        print(
            f"{label:14} entries={result['entries']:4d} build={result['build_s']:.2f}s "
            f"{result['msgs_per_s']:7.0f} msg/s  p50={result['p50_ms']:.2f}ms "
            f"p99={result['p99_ms']:.2f}ms  (first sight: p50={result['cold_p50_ms']:.2f}ms "
            f"p99={result['cold_p99_ms']:.2f}ms)  memory growth {result['growth_mib']:.0f} MiB"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
