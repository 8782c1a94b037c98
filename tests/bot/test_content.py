"""The curated content loads, is complete, and the content check catches mistakes by file and line."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.answers import Answerer
from bot.content import (
    Content,
    ContentError,
    Copy,
    example_rows,
    inspect_content,
    load_content,
    phone_numbers,
    reflow,
)
from bot.dialog import Engine
from bot.judgement import normalise
from bot.messages import Incoming
from tests.conftest import CONTENT_DIR, safetybot

REQUIRED_IDS = """
emergency-999 non-emergency-101 report-hate-crime report-online-true-vision tell-mama
cst-antisemitism third-party-reporting hate-incident-vs-crime evidence-preservation online-hate
victim-support deaf-text-relay terrorism-hotline suspicious-item run-hide-tell
security-funding-schemes security-training-sessions site-security-basics stewards-volunteers
lockdown-procedure martyns-law graffiti-criminal-damage protests-near-premises cyber-security
misinformation community-reassurance personal-safety mental-health-support bot-help
alerts-subscribe data-privacy crisis-support gas-leak radicalisation-concerns offensive-items-left
self-defence-law school-bullying-faith police-complaints hostile-reconnaissance drones
""".split()


def test_real_content_has_no_errors() -> None:
    content, problems = inspect_content(CONTENT_DIR)
    assert content is not None
    assert [str(p) for p in problems if p.error] == []


def test_every_required_entry_exists_with_varied_questions(content: Content) -> None:
    assert sorted(content.faq) == sorted(REQUIRED_IDS)
    for entry in content.faq.values():
        assert len(entry.questions) >= 6, entry.id
        assert len(set(entry.questions)) == len(entry.questions), entry.id
        assert entry.keywords and entry.sources and entry.related and entry.audience


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def test_no_evaluation_question_is_copied_into_the_content(content: Content) -> None:
    """The matcher is measured on questions it has never seen: the content must not hold them."""
    evaluation = [*Path(__file__).parents[1].joinpath("eval").glob("*.tsv")]
    shared = Path(__file__).parents[3] / "shared" / "eval"  # the development set, where it exists
    evaluation += [*shared.glob("*.tsv")] if shared.is_dir() else []
    asked = {
        _plain(line.rpartition("\t")[0])
        for path in evaluation
        for line in path.read_text(encoding="utf-8").splitlines()
        if "\t" in line and not line.startswith("#")
    }
    assert len(asked) > 500
    written = {_plain(q): (entry.id, q) for entry in content.faq.values() for q in entry.questions}
    if content.out_of_scope is not None:
        written |= {_plain(q): ("out-of-scope", q) for q in content.out_of_scope.questions}
    assert sorted(written[q] for q in asked & written.keys()) == []


def test_no_evaluation_message_is_among_the_examples(content: Content) -> None:
    """The models are scored on writers they never saw: no evaluation message may be in examples/."""
    evaluation = Path(__file__).parents[1] / "eval"
    asked = set()
    for path in evaluation.glob("*.tsv"):  # message, label
        lines = path.read_text(encoding="utf-8").splitlines()
        asked |= {normalise(line.rpartition("\t")[0]) for line in lines if "\t" in line and not line.startswith("#")}
    for path in (evaluation / "final").glob("*.tsv"):  # kind, label, message
        asked |= {normalise(row[2]) for _, row in example_rows(path.read_text(encoding="utf-8"))}
    assert len(asked) > 1000
    asked = {a for a in asked if len(a.split()) >= 6}  # "when is eid this year" may be written by anyone
    assert sorted(e.text for e in content.examples if normalise(e.text) in asked) == []
    final = {p.stem for p in (evaluation / "final").glob("*.tsv")}
    assert final and not final & {e.writer for e in content.examples}


def test_every_entry_is_in_the_topic_menu(content: Content) -> None:
    listed = [i for category in content.categories for i in category.entries]
    assert sorted(listed) == sorted(content.faq)


def test_bodies_fit_a_phone_and_number_their_steps(content: Content) -> None:
    for entry in content.faq.values():
        assert len(entry.body) <= 1600, entry.id  # one WhatsApp message
        assert re.search(r"^1\. ", entry.body, re.MULTILINE), f"{entry.id} has no numbered steps"


def test_emergency_copy_leads_with_999(content: Content) -> None:
    assert "999" in content.copy["emergency_lead"][:80]


def test_answers_state_no_unverified_numbers(content: Content) -> None:
    """L facts (numbers FACTS.md could not verify) never appear."""
    for entry in content.faq.values():
        for _, digits, raw in phone_numbers(entry.body):
            assert digits in content.numbers, f"{entry.id}: {raw}"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Call **0800 789 321** now", ["0800789321"]),
        ("call 08 08 16 89 111: free", ["08081689111"]),
        ("press **55** when asked", ["55"]),
        ("text relay on 18001 101", ["18001101"]),
        ("open 10:00–15:00, £29.4 million in 2024, 200 people, 24/7", []),
        ("from 3 April 2025 at least 100 m away", []),
    ],
)
def test_phone_numbers_are_found_in_text(text: str, found: list[str]) -> None:
    assert [digits for _, digits, _ in phone_numbers(text)] == found


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _errors(directory: Path) -> list[str]:
    _, problems = inspect_content(directory, date(2026, 11, 26))
    return [str(p) for p in problems if p.error]


def test_mistyped_phone_number_fails_naming_file_and_line(content_copy: Path) -> None:
    entry = content_copy / "faq" / "terrorism-hotline.md"
    body_line = next(line for line in entry.read_text().split("---")[2].splitlines() if "0800 789 321" in line)
    _edit(entry, body_line, body_line.replace("0800 789 321", "0800 789 312"))
    errors = _errors(content_copy)
    line = _line_of(entry, "0800 789 312")
    assert any(f"terrorism-hotline.md:{line}:" in e and "0800 789 312" in e for e in errors), errors


def test_missing_field_duplicate_id_and_unknown_related_fail(content_copy: Path) -> None:
    faq = content_copy / "faq"
    _edit(faq / "tell-mama.md", "\nkeywords:", "\nnot_keywords:")
    duplicate = faq / "tell-mama-copy.md"
    duplicate.write_text((faq / "cst-antisemitism.md").read_text(encoding="utf-8"), encoding="utf-8")
    _edit(faq / "victim-support.md", "related: [", "related: [no-such-entry, ")
    errors = "\n".join(_errors(content_copy))
    assert "tell-mama.md:2: error: missing required field `keywords`" in errors
    assert "tell-mama-copy.md" in errors and "also used by cst-antisemitism.md" in errors
    line = _line_of(faq / "victim-support.md", "no-such-entry")
    assert f"victim-support.md:{line}: error: related id 'no-such-entry' does not exist" in errors


def test_bad_source_and_bad_date_fail_on_their_lines(content_copy: Path) -> None:
    entry = content_copy / "faq" / "martyns-law.md"
    first_source = next(line for line in entry.read_text().splitlines() if line.startswith("  - http"))
    _edit(entry, first_source, "  - legislation dot gov")
    _edit(entry, "reviewed: 2026-11-26", "reviewed: last spring")
    errors = "\n".join(_errors(content_copy))
    assert f"martyns-law.md:{_line_of(entry, 'legislation dot gov')}: error: source" in errors
    assert f"martyns-law.md:{_line_of(entry, 'last spring')}: error: reviewed" in errors


def test_review_older_than_a_year_warns_but_passes(content_copy: Path) -> None:
    entry = content_copy / "faq" / "cyber-security.md"
    _edit(entry, "reviewed: 2026-11-26", "reviewed: 2025-01-10")
    content, problems = inspect_content(content_copy, date(2026, 11, 26))
    stale = [p for p in problems if "more than 12 months" in p.message]
    assert content is not None and len(stale) == 1 and not stale[0].error
    assert stale[0].line == _line_of(entry, "reviewed:")


def test_broken_yaml_names_the_line(content_copy: Path) -> None:
    _edit(content_copy / "lexicon.yaml", "\nsynonyms:", "\nsynonyms: [unclosed")
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    assert re.search(r"lexicon\.yaml:\d+: error: not valid YAML", str(caught.value))


def test_bad_triage_pattern_fails(content_copy: Path) -> None:
    _edit(content_copy / "triage.yaml", "      - \\b(knife|", "      - \\b((knife|")
    assert any("triage.yaml" in e and "bad pattern" in e for e in _errors(content_copy))


def test_content_check_command_passes_on_real_content(cli_env: dict[str, str]) -> None:
    done = subprocess.run([*safetybot(), "content", "check"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40 FAQ entries, 0 errors" in done.stdout
    assert "call-test" in done.stdout


def test_content_check_command_fails_on_a_bad_number(cli_env: dict[str, str], content_copy: Path) -> None:
    _edit(content_copy / "faq" / "victim-support.md", "08 08 16 89 111", "08 08 16 98 111")
    done = subprocess.run(
        [*safetybot(), "content", "check", "--dir", str(content_copy)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "victim-support.md:" in done.stdout and "08 08 16 98 111" in done.stdout


def test_report_guide_loads_with_its_questions_routes_and_write_up(content: Content) -> None:
    guide = content.report
    assert guide is not None
    assert [q.id for q in guide.questions] == ["kind", "target", "hatred"]
    assert {o.id for o in guide.questions[0].options} == {"violence", "damage", "verbal", "online", "worry"}
    assert {"police", "true-vision", "tell-mama", "cst", "victim-support"} <= {r.id for r in guide.routes}
    assert all(r.sources for r in guide.routes) and guide.tips and guide.tips_sources
    assert "report-hate-crime" in guide.topics and guide.start is not None


def test_report_guide_mistakes_fail_on_their_lines(content_copy: Path) -> None:
    guide = content_copy / "report.yaml"
    _edit(guide, "when: {hatred: [anti-muslim]}", "when: {hatred: [anti-muslin]}")
    _edit(guide, "when: {hatred: [lgbt]}", "when: {feeling: [lgbt]}")
    _edit(guide, "**0800 032 3263**", "**0800 032 3236**")
    _edit(guide, "      - id: damage\n", "      - id: Damage Or Graffiti\n")
    _edit(guide, "  - report-hate-crime\n", "  - no-such-entry\n")
    errors = "\n".join(_errors(content_copy))
    assert f"report.yaml:{_line_of(guide, 'anti-muslin')}: error: 'hatred' has no answer 'anti-muslin'" in errors
    assert f"report.yaml:{_line_of(guide, 'feeling')}: error: `when` names 'feeling'" in errors
    assert "phone number '0800 032 3236' is not in numbers.yaml" in errors
    assert f"report.yaml:{_line_of(guide, 'Damage Or')}: error: id 'Damage Or Graffiti' must be kebab-case" in errors
    assert f"report.yaml:{_line_of(guide, 'no-such-entry')}: error: FAQ id 'no-such-entry' does not exist" in errors


async def test_without_a_report_guide_the_menu_gives_the_reporting_answer(
    content_copy: Path, make_engine: Callable[..., Engine]
) -> None:
    (content_copy / "report.yaml").unlink()
    content = load_content(content_copy)
    assert content.report is None
    engine = make_engine(content=content, answerer=Answerer(content))
    await engine.handle(Incoming("console", "amina", "/menu"))
    reply = await engine.handle(Incoming("console", "amina", choice="menu:report"))
    assert reply.answer == "report-hate-crime"
    assert (await engine.handle(Incoming("console", "amina", "/report"))).answer == "report-hate-crime"


def test_copy_paragraphs_are_reflowed_for_phones() -> None:
    """#14: hard line breaks from copy.yaml showed mid-sentence on phones."""
    assert reflow("one two\n  three four\n\n- a list\n  item goes on\n- next") == (
        "one two three four\n\n- a list item goes on\n- next"
    )
    assert reflow("**Heading**\\\nName: {name}\n{features}\n- more") == "**Heading**\nName: {name}\n{features}\n- more"


def test_no_copy_text_breaks_a_line_mid_sentence(content: Content) -> None:
    first = content.copy["fallback"].split("\n\n")[0]
    assert "\n" not in first and first.startswith("Sorry, I don't have guidance on that. I can help")
    assert content.copy["alerts_request"].count("\n") == 2  # a backslash keeps a line of its own


@pytest.mark.parametrize(
    ("count", "seats", "people"), [(0, "0 seats", "0 people"), (1, "1 seat", "1 person"), (2, "2 seats", "2 people")]
)
def test_counted_phrases_take_their_plural_form(content: Content, count: int, seats: str, people: str) -> None:
    assert content.copy.count("seats_count", count) == seats
    assert content.copy.count("people_count", count) == people
    assert content.copy.format("training_session_cancelled_done", count=count) == f"Cancelled. {people} will be told."


def test_plural_forms_follow_the_language() -> None:
    """Welsh has six forms; the form Babel gives for the number is the one used."""
    forms = {"zero": "dim", "one": "un", "two": "dau", "few": "tri", "many": "chwech", "other": "eraill"}
    welsh = Copy({"n": forms}, locale="cy")
    assert [welsh.format("n", count=n) for n in (0, 1, 2, 3, 6, 4)] == ["dim", "un", "dau", "tri", "chwech", "eraill"]
    with pytest.raises(KeyError):
        welsh["n"]  # a text with forms needs its number


def test_copy_plural_forms_are_checked(content_copy: Path) -> None:
    copy = content_copy / "copy.yaml"
    _edit(copy, 'seats_count:\n  one: "{count} seat"\n  other: "{count} seats"', 'seats_count:\n  one: "{count} seat"')
    _edit(copy, "people_count:\n  one:", "people_count:\n  several:")
    errors = _errors(content_copy)
    assert any("`seats_count` needs plural forms" in e for e in errors), errors
    assert any("`people_count` needs plural forms" in e and f"copy.yaml:{_line_of(copy, 'people_count')}:" in e
               for e in errors), errors  # fmt: skip


def test_places_name_boroughs_from_boroughs_yaml(content: Content, content_copy: Path) -> None:
    assert content.places["whitechapel"] == ("Whitechapel", ("Tower Hamlets",))
    assert content.places["shepherds bush"][1] == ("Hammersmith and Fulham",)  # "Shepherd's Bush"
    places = content_copy / "places.yaml"
    _edit(places, "places:\n", 'places:\n  "Narnia": [Cair Paravel]\n  "Whitechapel2": Tower Hamlets\n')
    errors = _errors(content_copy)
    assert any(f"places.yaml:{_line_of(places, 'Narnia')}:" in e and "not in boroughs.yaml: Cair Paravel" in e
               for e in errors), errors  # fmt: skip
    assert any("Whitechapel2: expected a list of boroughs" in e for e in errors), errors
