"""Choosing a language, and what someone who chose one reads: the translation where it may be
shown (TRANSLATION_MIN_STATUS), English with a one-line note where not, the 999 advice in both."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import dates, languages
from bot.answers import Answerer
from bot.content import Content, inspect_content, load_content
from bot.dialog import Engine
from bot.languages import LANGUAGES, LRI, PDI, RLM, source_hash
from bot.messages import Reply
from bot.render import Style, render
from bot.store import Database
from bot.training import Person, Training
from bot.translations import facts
from tests.conftest import SESSION, FakeClock, Ran, make_incoming

NAMES = ["English", "বাংলা", "اردو", "العربية", "Türkçe", "Soomaali", "Polski", "ਪੰਜਾਬੀ"]
KNIFE = "there is a man with a knife at the gate right now"


def text_of(content: Content, code: str, key: str) -> str:
    """A translated text as the bot shows it."""
    value = content.translations[code].texts[key].value
    assert isinstance(value, str)
    return value


@pytest.fixture
def drafts(content: Content) -> Content:
    """The content as a deployment with TRANSLATION_MIN_STATUS=draft shows it."""
    return content.with_min_status("draft")


@pytest.fixture
def draft_engine(make_engine: Callable[..., Engine], drafts: Content, answerer: Answerer) -> Engine:
    return make_engine(content=drafts, answerer=Answerer(drafts, judgement=answerer.judgement))


async def choose(engine: Engine, code: str, user: str = "amina") -> Reply:
    await engine.handle(make_incoming("/language", user_id=user))
    return await engine.handle(make_incoming(choice=f"lang:{code}", user_id=user))


# --- choosing ---------------------------------------------------------------------------------
async def test_the_language_menu_lists_each_language_in_its_own_name(engine: Engine) -> None:
    reply = await engine.handle(make_incoming("/language"))
    assert [c.label for c in reply.choices] == NAMES
    assert [c.id for c in reply.choices][1] == "lang:bn"


@pytest.mark.parametrize("word", ["language", "ভাষা", "زبان", "اللغة", "dil", "luqadda", "Język", "ਭਾਸ਼ਾ", "Language?"])
async def test_the_word_language_in_any_language_opens_the_menu(engine: Engine, word: str) -> None:
    reply = await engine.handle(make_incoming(word))
    assert [c.label for c in reply.choices] == NAMES


async def test_first_contact_names_every_language_and_offers_the_menu(engine: Engine, db: Database) -> None:
    reply = await engine.handle(make_incoming("/start"))
    for name in NAMES[1:]:
        assert name in reply.text
    assert reply.choices[-1].id == "menu:language"
    assert reply.text.index("999") < reply.text.index("বাংলা")  # the 999 line stays first
    await choose(engine, "en")
    again = await engine.handle(make_incoming("/start"))
    assert "বাংলা" not in again.text  # chosen: not asked at every /start


async def test_the_choice_is_stored_shown_in_mydata_and_removed_by_forget(
    draft_engine: Engine, db: Database, drafts: Content
) -> None:
    chosen = await choose(draft_engine, "bn")
    assert chosen.text.startswith(text_of(drafts, "bn", "language_chosen"))
    assert chosen.language == "bn"
    assert await db.language_of("console", "amina") == "bn"
    mine = await draft_engine.handle(make_incoming("/mydata"))
    assert "বাংলা" in mine.text
    assert json.loads(mine.document.content)["contact"]["language"] == "bn"  # type: ignore[union-attr]
    await draft_engine.handle(make_incoming("/forget"))
    await draft_engine.handle(make_incoming(choice="forget:yes"))
    assert await db.language_of("console", "amina") is None
    after = await draft_engine.handle(make_incoming("/start"))
    assert after.text.startswith("Hello, and welcome") and after.language is None


async def test_typing_a_language_name_alone_chooses_it(draft_engine: Engine, db: Database) -> None:
    await draft_engine.handle(make_incoming("Polski"))
    assert await db.language_of("console", "amina") == "pl"
    await draft_engine.handle(make_incoming("English"))
    assert await db.language_of("console", "amina") == "en"


async def test_a_name_typed_into_a_form_is_a_name_not_a_language(engine: Engine, db: Database) -> None:
    await engine.handle(make_incoming("/subscribe"))
    await engine.handle(make_incoming(choice="alr:leader"))
    asked = await engine.handle(make_incoming("Dil"))  # a name, and Turkish for "language"
    assert asked.choices and all(c.id.startswith("alr-role:") for c in asked.choices[:3])  # next: the role
    assert await db.language_of("console", "amina") is None


async def test_a_message_in_bengali_script_is_offered_bengali_but_never_switched(
    engine: Engine, db: Database, content: Content
) -> None:
    reply = await engine.handle(make_incoming("আমাদের মসজিদের দেয়ালে কেউ ঘৃণাসূচক কথা লিখে গেছে, কী করব?"))
    assert reply.choices[0].id == "lang:bn" and reply.choices[0].label == "বাংলা"
    assert text_of(content, "bn", "language_offer") in reply.text
    assert reply.language is None  # answered in English: nothing switched
    assert await db.language_of("console", "amina") is None
    taken = await engine.handle(make_incoming(choice="lang:bn"))
    assert taken.language == "bn" and await db.language_of("console", "amina") == "bn"


async def test_danger_in_bengali_script_gets_the_english_999_advice_first_then_bengali(
    engine: Engine, content: Content
) -> None:
    reply = await engine.handle(make_incoming("একজন লোক ছুরি নিয়ে মসজিদের গেটে দাঁড়িয়ে আছে, এখনই সাহায্য দরকার"))
    assert reply.emergency
    english = content.copy.english("emergency_lead")
    assert reply.text.startswith(english)
    assert reply.text[len(english) :].lstrip().startswith(text_of(content, "bn", "emergency_lead"))


def test_script_detection_is_only_confident_on_whole_native_script_messages() -> None:
    assert languages.detect("আমাদের মসজিদে হামলা হয়েছে") == "bn"
    assert languages.detect("ਗੁਰਦੁਆਰੇ ਦੇ ਬਾਹਰ ਕੋਈ ਖੜ੍ਹਾ ਹੈ") == "pa"
    assert languages.detect("مسجد کے باہر ایک آدمی کھڑا ہے") == "ur"
    assert languages.detect("يوجد رجل يحمل سكينا عند الباب") == "ar"
    assert languages.detect("masjid ke bahar koi khara hai") is None  # romanised: not a script
    assert languages.detect("مسجد") is None  # too short to tell
    assert languages.detect("help আমাদের mosque এ attack হয়েছে please") is None  # mixed


async def test_telegram_app_language_puts_that_language_first(engine: Engine, content: Content) -> None:
    reply = await engine.handle(make_incoming("/start", channel="telegram", user_id="5", language_hint="bn-BD"))
    assert reply.choices[0].id == "lang:bn"
    assert reply.text.startswith("🌐 " + text_of(content, "bn", "language_offer"))
    unknown = await engine.handle(make_incoming("/start", channel="telegram", user_id="6", language_hint="fr"))
    assert unknown.choices[0].id == "menu:help-now"


# --- what is shown --------------------------------------------------------------------------
async def test_a_draft_is_shown_with_its_one_line_note(draft_engine: Engine, drafts: Content) -> None:
    await choose(draft_engine, "bn")
    reply = await draft_engine.handle(make_incoming("how do I report a hate crime to the police?"))
    entry = drafts.translations["bn"].faq["report-hate-crime"].value
    assert reply.answer == "report-hate-crime" and reply.language == "bn"
    assert reply.text.startswith(f"**{entry.title}**")
    assert reply.text.rstrip().endswith(text_of(drafts, "bn", "translation_draft_note"))
    menu = await draft_engine.handle(make_incoming("/menu"))
    assert menu.choices[0].label == text_of(drafts, "bn", "menu_help_now")


async def test_the_topic_menu_is_in_the_language(draft_engine: Engine, drafts: Content) -> None:
    await choose(draft_engine, "tr")
    topics = await draft_engine.handle(make_incoming(choice="menu:topics"))
    labels = [c.label for c in topics.choices[:-1]]
    assert labels == [text_of(drafts, "tr", f"topic:{c.id}") for c in drafts.categories]
    entries = await draft_engine.handle(make_incoming(choice="cat:report"))
    title = drafts.translations["tr"].faq["report-hate-crime"].value.title
    assert title in [c.label for c in entries.choices]
    assert text_of(drafts, "tr", "topic:report") in entries.text


async def test_below_the_status_english_is_shown_with_a_note_in_their_language(
    engine: Engine, content: Content
) -> None:
    await choose(engine, "bn")  # TRANSLATION_MIN_STATUS=approved, and every translation is a draft
    reply = await engine.handle(make_incoming("how do I report a hate crime to the police?"))
    assert reply.text.startswith("**Report a hate crime or hate incident**")
    assert reply.text.rstrip().endswith(text_of(content, "bn", "translation_fallback_note"))
    assert text_of(content, "bn", "translation_draft_note") not in reply.text


@pytest.mark.parametrize("code", [lang.code for lang in LANGUAGES if lang.code != "en"])
async def test_danger_first_in_every_language_then_english(engine: Engine, content: Content, code: str) -> None:
    await choose(engine, code, user=f"u-{code}")
    reply = await engine.handle(make_incoming(KNIFE, user_id=f"u-{code}"))
    theirs = text_of(content, code, "emergency_lead")
    assert reply.emergency and reply.text.startswith(theirs)
    assert "999" in reply.text[:300]
    assert content.copy.english("emergency_lead") in reply.text  # for whoever they hand the phone to


@pytest.mark.parametrize("code", ["bn", "ar"])
async def test_crisis_replies_in_the_language_with_the_english_crisis_lines(
    engine: Engine, content: Content, code: str
) -> None:
    await choose(engine, code)
    reply = await engine.handle(make_incoming("I can't go on, I want to end my life tonight"))
    entry = content.translations[code].faq["crisis-support"].value
    assert reply.answer == "crisis-support" and reply.text.startswith(f"**{entry.title}**")
    assert "999" in reply.text[:300]
    assert content.copy.english("crisis_lead") in reply.text


async def test_a_stale_translation_is_not_shown(
    content_copy: Path, make_engine: Callable[..., Engine], answerer: Answerer
) -> None:
    entry = content_copy / "faq" / "report-hate-crime.md"
    entry.write_text(entry.read_text(encoding="utf-8").rstrip() + "\n\nA new last line.\n", encoding="utf-8")
    changed, problems = inspect_content(content_copy)
    assert changed is not None and changed.translations["bn"].faq["report-hate-crime"].stale
    assert any("stale" in p.message and "faq/report-hate-crime.md" in p.message for p in problems)
    drafts = changed.with_min_status("draft")
    engine = make_engine(content=drafts, answerer=Answerer(drafts, judgement=answerer.judgement))
    await choose(engine, "bn")
    reply = await engine.handle(make_incoming("how do I report a hate crime to the police?"))
    assert reply.text.startswith("**Report a hate crime or hate incident**")
    assert "A new last line." in reply.text
    assert text_of(drafts, "bn", "translation_fallback_note") in reply.text


# --- the content check ------------------------------------------------------------------------
def _errors(directory: Path) -> list[str]:
    return [str(p) for p in inspect_content(directory)[1] if p.error]


def test_the_real_translations_have_no_errors_and_their_drafts_are_listed(content_copy: Path) -> None:
    _, problems = inspect_content(content_copy)
    assert not [p for p in problems if p.error]
    listed = [p.message for p in problems if not p.error and "drafts, not yet checked" in p.message]
    assert len(listed) == len(LANGUAGES) - 1


def test_every_translation_keeps_the_english_phone_numbers_links_and_placeholders(content: Content) -> None:
    english_copy = {key: content.copy.source(key) for key in content.copy.keys()}
    for code, translation in content.translations.items():
        for key, found in translation.texts.items():
            if key == "roles" or key.startswith("topic:") or found.stale:
                continue
            ours, theirs = english_copy[key], found.value
            flat = lambda v: v if isinstance(v, str) else "\n".join(v.values())  # noqa: E731
            assert facts(flat(ours), content.numbers) == facts(flat(theirs), content.numbers), (code, key)
        for entry_id, found in translation.faq.items():
            english = content.faq[entry_id]
            assert facts(english.body, content.numbers) == facts(found.value.body, content.numbers), (code, entry_id)


def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_changed_emergency_number_fails_the_check(content_copy: Path) -> None:
    copy = content_copy / "translations" / "bn" / "copy.yaml"
    lines = copy.read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("  emergency_lead: |"))
    lines[start + 1] = lines[start + 1].replace("999", "990", 1)
    copy.write_text("\n".join(lines), encoding="utf-8")
    errors = _errors(content_copy)
    assert any("`emergency_lead`" in e and "999 missing" in e for e in errors), errors


def test_press_55_and_text_18000_must_stay(content_copy: Path) -> None:
    entry = content_copy / "translations" / "ar" / "faq" / "emergency-999.md"
    text = entry.read_text(encoding="utf-8")
    entry.write_text(text.replace("55", "5").replace("18000", "1800"), encoding="utf-8")
    errors = [e for e in _errors(content_copy) if "emergency-999" in e]
    assert errors and "55" in errors[0] and "18000" in errors[0]


def test_numbers_in_other_digits_and_changed_links_fail_the_check(content_copy: Path) -> None:
    entry = content_copy / "translations" / "bn" / "faq" / "report-hate-crime.md"
    _replace_in(entry, "101", "১০১")
    _replace_in(entry, "https://www.report-it.org.uk/", "https://report-it.example/")
    errors = [e for e in _errors(content_copy) if "report-hate-crime" in e]
    assert any("phone numbers" in e and "101 missing" in e for e in errors), errors
    assert any("web or e-mail addresses" in e for e in errors), errors


def test_a_wrong_placeholder_fails_the_check(content_copy: Path) -> None:
    copy = content_copy / "translations" / "pl" / "copy.yaml"
    text = copy.read_text(encoding="utf-8")
    assert "{title}" in text
    copy.write_text(text.replace("{title}", "{tytul}", 1), encoding="utf-8")
    assert any("placeholders" in e and "{tytul} added" in e for e in _errors(content_copy))


def test_a_reviewed_translation_names_its_reviewer_and_a_missing_one_is_listed(content_copy: Path) -> None:
    entry = content_copy / "translations" / "tr" / "faq" / "tell-mama.md"
    _replace_in(entry, "status: draft", "status: reviewed")
    (content_copy / "translations" / "so" / "faq" / "victim-support.md").unlink()
    _, problems = inspect_content(content_copy)
    assert any("names its `reviewer`" in str(p) and p.error for p in problems)
    assert any("Somali" in p.message and "faq/victim-support.md" in p.message and not p.error for p in problems)


def test_an_approved_translation_is_shown_at_the_default_status(content_copy: Path) -> None:
    entry = content_copy / "translations" / "tr" / "faq" / "tell-mama.md"
    _replace_in(entry, "status: draft", "status: approved")
    _replace_in(entry, "reviewer: ''", "reviewer: Ayşe Demir (Turkish community centre)")
    approved = load_content(content_copy)
    with approved.speaking("tr") as voice:
        from bot.content import shown_entry

        shown = shown_entry(approved.faq["tell-mama"])
    assert shown.title == approved.translations["tr"].faq["tell-mama"].value.title
    assert not voice.notes  # approved: no note


def test_translation_hashes_follow_the_english() -> None:
    assert source_hash(" text \n") == source_hash("text")
    assert source_hash({"one": "a", "other": "b"}) == source_hash({"other": "b", "one": "a"})
    assert source_hash("text") != source_hash("text.")


# --- words, plurals, dates and direction -------------------------------------------------------
def test_plurals_follow_each_languages_rules(drafts: Content) -> None:
    copy = drafts.copy
    forms = drafts.translations["pl"].texts["seats_count"].value
    with copy.speaking("pl"):
        assert [copy.count("seats_count", n) for n in (1, 2, 5, 22)] == [
            forms["one"].format(count=1),
            forms["few"].format(count=2),
            forms["many"].format(count=5),
            forms["few"].format(count=22),
        ]
    arabic = drafts.translations["ar"].texts["seats_count"].value
    with copy.speaking("ar"):
        assert copy.count("seats_count", 2) == arabic["two"].format(count=2)
        assert copy.count("seats_count", 11) == arabic["many"].format(count=11)
    assert copy.count("seats_count", 2) == "2 seats"  # outside: English


def test_dates_are_in_the_language_and_london_time_with_digits_people_dial(drafts: Content) -> None:
    moment = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    london = ZoneInfo("Europe/London")
    with drafts.copy.speaking("bn"):
        assert dates.friendly(moment, london) == "শনি 5 ডিসে 2026, 10:00"
    with drafts.copy.speaking("ar"):
        assert dates.day(moment, london) == "السبت 5 ديسمبر 2026"
    assert dates.friendly(moment, london) == "Sat 5 Dec 2026, 10:00"


def test_right_to_left_text_keeps_numbers_and_links_readable() -> None:
    text = "اتصل على **0800 138 1625** أو [الموقع](https://www.report-it.org.uk/) قبل 19:30\n\n1. اتصل بالرقم 999"
    plain = render(text, Style.PLAIN, rtl=True)
    lines = [line for line in plain.split("\n") if line.strip()]
    assert all(line.startswith(RLM) for line in lines)
    assert f"{LRI}0800 138 1625{PDI}" in plain
    assert f"{LRI}https://www.report-it.org.uk/{PDI}" in plain
    assert f"{LRI}999{PDI}" in plain
    assert f"{LRI}19:30{PDI}" in plain  # a time stays one run: "30:19" otherwise
    html = render(text, Style.TELEGRAM_HTML, rtl=True)
    assert '<a href="https://www.report-it.org.uk/">' in html  # the link itself is untouched
    assert render(text, Style.PLAIN) == re.sub(f"[{RLM}{LRI}{PDI}]", "", plain)  # only marks were added


# --- notices and the CLI -----------------------------------------------------------------------
async def test_a_reminder_goes_in_the_language_the_person_chose(
    db: Database, drafts: Content, clock: FakeClock
) -> None:
    training = Training(db, drafts.copy, ZoneInfo("Europe/London"), clock=clock, offer_for=timedelta(hours=24),
                        boroughs=drafts.boroughs)  # fmt: skip
    session_id = await training.add(SESSION)
    await db.set_language("console", "amina", "bn")
    await training.register(session_id, Person("console", "amina", "Amina", "Al Manaar", "Volunteer", 1))
    clock.now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)
    await training.run_due()
    notes = await db.claim_notifications(["console"], clock(), timedelta(seconds=30), limit=10)
    body = next(n.body for n in notes if n.key.startswith("reminder:"))
    assert body["language"] == "bn"
    assert "শনি 5 ডিসে 2026, 10:00" in body["text"]  # the session's day, in Bengali and London time


def test_ask_json_with_lang_answers_as_someone_who_chose_it(
    cli: Callable[[list[str]], Ran], monkeypatch: pytest.MonkeyPatch, content: Content
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{KNIFE}\nhow do I report a hate crime?\n"))
    ran = cli(["ask", "--json", "--lang", "bn"])
    assert ran.returncode == 0, ran.stderr
    danger, question = (json.loads(line) for line in ran.stdout.splitlines())
    assert danger["language"] == "bn" and danger["emergency"] is True
    assert danger["reply"].startswith(render(text_of(content, "bn", "emergency_lead"), Style.PLAIN)[:40])
    assert question["answer"] == "report-hate-crime" and question["language"] == "bn"
    english = cli(["ask", "--json"])
    assert english.returncode == 0


def test_ask_refuses_a_language_it_does_not_speak(cli: Callable[[list[str]], Ran]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli(["ask", "--json", "--lang", "fr"])
    assert raised.value.code == 2
