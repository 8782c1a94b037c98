"""Alerts in several languages: a coordinator adds a translation (typed, or a template's own),
the preview counts recipients per language, and each recipient gets their language, else English."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from alerts import AlertStore, Composer, Delivery
from bot.alerts_flow import AlertsFlow
from bot.config import Settings
from bot.content import Content
from bot.dialog import Engine
from bot.store import Database
from tests.alerts.test_flow import COORD, compose, ids, plain, press, say
from tests.conftest import FakeClock, Ran

Cli = Callable[[list[str]], Ran]
BENGALI = "আজ রাতে মসজিদের পাশের দরজা বন্ধ রাখুন। কেউ বিপদে থাকলে 999 নম্বরে কল করুন।"
ENGLISH = "Keep the side doors shut tonight. If anyone is in danger, call 999."


async def leaders(store: AlertStore, db: Database, clock: FakeClock) -> None:
    """Three approved leaders in Newham on the console: one chose Bengali, one Arabic, one nothing."""
    for user, code in (("bn-leader", "bn"), ("ar-leader", "ar"), ("en-leader", None)):
        await store.save_subscriber("console", user, kind="leader", status="approved", boroughs=["Newham"],
                                    name=user, now=clock())  # fmt: skip
        if code:
            await db.set_language("console", user, code)


async def delivered(store: AlertStore, flow: AlertsFlow, clock: FakeClock) -> dict[str, str]:
    """What each recipient would be sent, by user id, as the dispatcher words it."""
    claimed = await store.claim("console", clock() + timedelta(hours=12), 10, timedelta(seconds=30))
    out = {}
    for delivery in claimed:
        alert = await store.alert(delivery.alert_id)
        assert alert is not None
        out[delivery.user_id] = flow.message_for(alert, delivery).text
    return out


async def test_a_typed_translation_reaches_those_who_chose_it_and_the_preview_counts_languages(
    engine: Engine, alert_store: AlertStore, alerts_flow: AlertsFlow, db: Database, clock: FakeClock
) -> None:
    await leaders(alert_store, db, clock)
    await compose(engine, "vigilance", "leaders", "newham")
    preview = await say(engine, ENGLISH, COORD)
    assert "By language: English 1 · العربية 1 · বাংলা 1." in plain(preview.text)
    languages = await press(engine, "alr-tr:add", COORD)
    assert "alr-tr-lang:bn" in ids(languages) and "alr-tr-lang:en" not in ids(languages)
    asked = await press(engine, "alr-tr-lang:bn", COORD)
    assert "Type the alert in বাংলা" in asked.text
    wrong = await say(engine, BENGALI.replace("999", "990"), COORD)
    assert "That didn't work" in wrong.text and "999 missing" in wrong.text  # checked, asked again
    again = await say(engine, BENGALI, COORD)
    assert "English 1 · العربية 1 · বাংলা 1 ✓" in plain(again.text)
    assert BENGALI in plain(again.text)  # the coordinator sees what Bengali readers will get
    await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert alert.translations == {"bn": BENGALI}
    got = await delivered(alert_store, alerts_flow, clock)
    english = "Keep the side doors shut tonight"  # as typed (its full stops escaped, so they stay text)
    assert BENGALI in got["bn-leader"] and english not in got["bn-leader"]
    assert english in got["ar-leader"] and english in got["en-leader"]


async def test_an_arabic_reader_without_a_translation_gets_the_english_with_a_note(
    engine: Engine, alert_store: AlertStore, alerts_flow: AlertsFlow, db: Database, clock: FakeClock,
    content: Content,
) -> None:  # fmt: skip
    await leaders(alert_store, db, clock)
    await compose(engine, "vigilance", "leaders", "newham")
    await say(engine, ENGLISH, COORD)
    await press(engine, "alr-send:go", COORD)
    got = await delivered(alert_store, alerts_flow, clock)
    note = content.translations["ar"].texts["translation_fallback_note"].value
    assert got["ar-leader"].rstrip().endswith(note)
    assert "translation" not in got["en-leader"]


async def test_a_template_brings_its_translations_only_once_they_may_be_shown(
    alert_store: AlertStore, composer: Composer, db: Database, content: Content, clock: FakeClock
) -> None:
    def flow(status: str) -> AlertsFlow:
        shown = content.with_min_status(status)
        return AlertsFlow(alert_store, composer, db, shown.copy, templates=shown.alert_templates,
                          channels=lambda: ("console",), clock=clock, numbers=shown.numbers)  # fmt: skip

    template = content.alert_templates["urgent"]
    assert flow("approved").template_translations(template) == {}  # every translation is a draft
    drafts = flow("draft").template_translations(template)
    assert set(drafts) == {"bn", "ur", "ar", "tr", "so", "pl", "pa"}
    assert drafts["bn"] == content.translations["bn"].alerts["urgent"].value.text


def test_preview_counts_by_language(content: Content) -> None:
    from alerts.compose import Preview
    from alerts.model import Subscriber

    people = [Subscriber(i, "console", str(i), "leader", "approved", "", "", "", ("all",), language=code)
              for i, code in enumerate(["bn", "bn", None, "ar"])]  # fmt: skip
    assert Preview(tuple(people)).by_language == {"bn": 2, "en": 1, "ar": 1}


# --- the command line ------------------------------------------------------------------------------
def _leaders_on_the_console(cli: Cli, tmp_path: Path) -> None:
    rows = ["channel,user_id,name,role,place_of_worship,boroughs",
            "console,bn-leader,Rahima,Imam,East London Mosque,Tower Hamlets",
            "console,en-leader,John,Chair,St Mary's,Tower Hamlets"]  # fmt: skip
    (tmp_path / "leaders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(["leaders", "import", str(tmp_path / "leaders.csv")]).returncode == 0


def test_the_cli_sends_a_translation_and_checks_its_numbers(cli: Cli, tmp_path: Path) -> None:
    _leaders_on_the_console(cli, tmp_path)
    args = ["alerts", "send", "--kind", "vigilance", "--audience", "leaders", "--areas", "Tower Hamlets",
            "--text", ENGLISH]  # fmt: skip
    wrong = cli([*args, "--translation", f"bn={BENGALI.replace('999', '99')}", "--yes"])
    assert wrong.returncode != 0 and "999 missing" in wrong.stderr
    unknown = cli([*args, "--translation", "fr=Fermez les portes. 999", "--yes"])
    assert unknown.returncode != 0 and "'fr' is not a language the bot speaks" in unknown.stderr
    done = cli([*args, "--translation", f"bn={BENGALI}", "--yes", "--json"])
    assert done.returncode == 0, done.stderr
    [listed] = json.loads(cli(["alerts", "list", "--json"]).stdout)
    assert listed["reference"] == json.loads(done.stdout)["reference"]
    audit = json.loads(cli(["alerts", "audit", "--json"]).stdout)
    sent = next(e for e in audit if e["action"] == "alert sent")
    assert sent["details"]["translations"] == {"bn": BENGALI}


def test_the_cli_preview_counts_languages(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    _leaders_on_the_console(cli, tmp_path)
    from bot.store import Database as _Database  # noqa: F401  (the CLI opens its own)

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    shown = cli(["alerts", "send", "--kind", "vigilance", "--audience", "leaders", "--areas", "Tower Hamlets",
                 "--text", ENGLISH, "--translation", f"bn={BENGALI}"])  # fmt: skip
    assert shown.returncode == 1  # not sent
    assert "--- Bengali:" in shown.stderr and BENGALI in shown.stderr
    assert "By language: English 2" in shown.stderr


# --- WhatsApp templates per language --------------------------------------------------------------
def test_template_sids_per_language_are_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, whatsapp_template_sid="HX" + "e" * 32,  # type: ignore[call-arg]
                        whatsapp_template_sids="bn:HX" + "b" * 32 + ", ar:HX" + "a" * 32)  # fmt: skip
    assert settings.template_sids == {"en": "HX" + "e" * 32, "bn": "HX" + "b" * 32, "ar": "HX" + "a" * 32}
    with pytest.raises(ValueError, match="WHATSAPP_TEMPLATE_SIDS"):
        Settings(_env_file=None, whatsapp_template_sids="fr:HX1")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="WHATSAPP_TEMPLATE_SIDS"):
        Settings(_env_file=None, whatsapp_template_sids="bn")  # type: ignore[call-arg]


def test_delivery_knows_the_recipients_language() -> None:
    assert Delivery(1, 1, "console", "x", 1, "bn").language == "bn"


async def test_coordinators_are_told_in_their_own_language_not_the_leaders(
    engine: Engine, db: Database, content: Content
) -> None:
    from tests.alerts.test_flow import notifications, sign_up_leader

    await db.set_language("console", "amina", "bn")  # the leader chose Bengali
    await sign_up_leader(engine)
    [told] = [n for n in await notifications(db) if n.user_id == COORD]
    assert "language" not in told.body  # the coordinator chose nothing: English, no Bengali note
    assert not any("\u0980" <= c <= "\u09ff" for c in told.body["text"])
    await db.set_language("console", COORD, "ar")
    await db.set_language("console", "rahim", "bn")
    await sign_up_leader(engine, user="rahim", name="Rahim Uddin")
    told_ar = [n for n in await notifications(db) if n.user_id == COORD and "rahim" in n.key]
    assert told_ar and told_ar[0].body["language"] == "ar"
    assert content.translations["ar"].texts["translation_fallback_note"].value in told_ar[0].body["text"]
