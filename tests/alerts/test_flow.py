"""Alerts in the chat: signing up, coordinators checking leaders and sending alerts, and answering one."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts import Alert, AlertError, AlertStore, Composer, Delivery, Subscriber
from alerts.dispatch import Dispatcher
from bot.alerts_flow import AlertsFlow
from bot.channels import as_reply
from bot.channels.console import ConsoleSender
from bot.content import Content
from bot.dialog import Engine
from bot.messages import Choice, Reply
from bot.notify import Notifier
from bot.render import Style, render
from bot.store import Database, Notification
from bot.training import Training
from tests.conftest import ALERT_CHANNELS, SESSION, FakeClock, Outbox, make_incoming

COORD = "coord"
NOT_ALLOWED = "Only coordinators can do that."
EXPIRED = "That menu has expired."


def ids(reply: Reply) -> list[str]:
    return [c.id for c in reply.choices]


def labels(reply: Reply) -> list[str]:
    return [c.label for c in reply.choices]


def plain(text: str) -> str:
    """What a person reads on a plain-text channel (no Markdown marks or escapes)."""
    return render(text, Style.PLAIN)


async def say(engine: Engine, text: str | None = None, user: str = "amina", **kw: Any) -> Reply:
    return await engine.handle(make_incoming(text, user_id=user, **kw))


async def press(engine: Engine, choice: str, user: str = "amina") -> Reply:
    return await say(engine, None, user, choice=choice)


async def notifications(db: Database) -> list[Notification]:
    return await db.pending_notifications(list(ALERT_CHANNELS))


async def sign_up_leader(
    engine: Engine, user: str = "amina", name: str = "Amina Khan", areas: str = "tower hamlets, newhm"
) -> Reply:
    """A faith leader's whole sign-up, with the role chosen from the buttons; the last reply."""
    assert "alr:leader" in ids(await say(engine, "/subscribe", user))
    assert "What is your name?" in (await press(engine, "alr:leader", user)).text
    role = await say(engine, name, user)
    assert "What is your role?" in role.text and "alr-role:0" in ids(role)
    assert "Which place of worship" in (await press(engine, "alr-role:0", user)).text  # Imam
    assert "Which areas" in (await say(engine, "Masjid an-Noor, 12 Green Street", user)).text
    consent = await say(engine, areas, user)
    assert "coordinators will see your name, role, place of worship" in plain(consent.text)
    return await press(engine, "alr-ok:yes", user)


async def sign_up_community(engine: Engine, areas: str | None = None, user: str = "amina") -> Reply:
    """A community member's sign-up: typed areas, or All of London; the last reply."""
    await say(engine, "/alerts", user)
    await press(engine, "alr:community", user)
    await (say(engine, areas, user) if areas else press(engine, "alr-all:all", user))
    return await press(engine, "alr-ok:yes", user)


async def subscriber(store: AlertStore, user: str = "amina", channel: str = "console") -> Subscriber | None:
    return await store.subscriber(channel, user)


# --- faith leaders signing up ------------------------------------------------------------------------------------


async def test_a_faith_leader_signs_up_and_a_coordinator_is_asked_to_check(
    engine: Engine, alert_store: AlertStore, db: Database
) -> None:
    intro = await say(engine, "/alerts")
    assert "Safety alerts" in plain(intro.text)
    assert [c for c in intro.choices if c.id == "alr:leader"] == [Choice("alr:leader", "I'm a faith leader")]
    done = await sign_up_leader(engine)
    assert "A coordinator will check your request" in done.text

    me = await subscriber(alert_store)
    assert me is not None
    assert (me.kind, me.status, me.name, me.role) == ("leader", "pending", "Amina Khan", "Imam")
    assert me.place == "Masjid an-Noor, 12 Green Street"
    assert me.boroughs == ("Tower Hamlets", "Newham")  # "newhm" understood

    [note] = await notifications(db)
    assert (note.channel, note.user_id) == ("console", COORD)
    text = plain(note.body["text"])
    assert "Faith leader asking for alerts" in text
    assert "Amina Khan, Imam, Masjid an-Noor, 12 Green Street" in text
    assert "Areas: Tower Hamlets, Newham · on console" in text
    assert note.body["choices"] == [[f"alr-review:{me.id}", "Check this request"]]
    assert ("console:amina", "subscribed (leader)") in [(a, b) for _, a, b, _ in await alert_store.audit_log()]


async def test_a_role_can_be_typed_or_picked_by_number(engine: Engine, alert_store: AlertStore) -> None:
    await say(engine, "/subscribe")
    await press(engine, "alr:leader")
    await say(engine, "Amina Khan")
    assert "What is your role?" in (await say(engine, "x")).text  # too short: the question again
    assert "Which place of worship" in (await say(engine, "Youth worker")).text
    await say(engine, "St Mary's Church")
    await say(engine, "Hackney")
    await press(engine, "alr-ok:yes")
    me = await subscriber(alert_store)
    assert me is not None and (me.role, me.place, me.boroughs) == ("Youth worker", "St Mary's Church", ("Hackney",))

    await say(engine, "/subscribe", "bilal")
    await press(engine, "alr:leader", "bilal")
    await say(engine, "Bilal Ahmed", "bilal")
    assert "Which place of worship" in (await say(engine, "2", "bilal")).text  # the second button
    await say(engine, "Masjid", "bilal")
    await press(engine, "alr-all:all", "bilal")
    await say(engine, "yes", "bilal")  # "Yes, sign me up"
    bilal = await subscriber(alert_store, "bilal")
    assert bilal is not None and (bilal.role, bilal.boroughs, bilal.status) == (
        "Rabbi",
        ("all",),
        "pending",
    )  # roles in content/copy.yaml


async def test_bad_answers_get_a_kind_question_again(engine: Engine, alert_store: AlertStore, db: Database) -> None:
    await say(engine, "/alerts")
    await press(engine, "alr:leader")
    for bad in ("x", "🙂", "a" * 81):
        assert "Please send your name (2 to 80 characters)" in (await say(engine, bad)).text
    await say(engine, "Amina Khan")
    await press(engine, "alr-role:2")
    assert "Please send the name of your place of worship" in (await say(engine, "x")).text
    await say(engine, "Masjid an-Noor")
    problem = await say(engine, "Narnia")
    assert 'I don\'t know a London borough called "Narnia"' in plain(problem.text)
    assert "Please type London boroughs separated by commas" in problem.text and "alr-all:all" in ids(problem)
    problem = await say(engine, "Newham, Atlantis")
    assert 'called "Atlantis"' in plain(problem.text)
    assert "coordinators will see" in (await say(engine, "Newham")).text
    assert await subscriber(alert_store) is None  # nothing stored before consent
    assert await notifications(db) == []


async def test_an_empty_name_keeps_the_form_going(engine: Engine) -> None:
    await say(engine, "/alerts")
    await press(engine, "alr:leader")
    await say(engine, "   ")
    assert "What is your role?" in (await say(engine, "Amina Khan")).text


async def test_cancel_stops_the_sign_up_and_keeps_nothing(
    engine: Engine, alert_store: AlertStore, db: Database
) -> None:
    await say(engine, "/subscribe")
    await press(engine, "alr:leader")
    await say(engine, "Amina Khan")
    await press(engine, "alr-role:1")
    stopped = await say(engine, "/cancel")
    assert "OK, stopped. Nothing was kept." in stopped.text
    after = await say(engine, "Masjid an-Noor")  # no longer read as the place of worship
    assert "Which areas" not in after.text
    assert await subscriber(alert_store) is None
    assert await notifications(db) == []


async def test_danger_mid_sign_up_still_leads_with_999(engine: Engine, alert_store: AlertStore) -> None:
    await say(engine, "/alerts")
    await press(engine, "alr:leader")
    await say(engine, "Amina Khan")
    await press(engine, "alr-role:0")
    reply = await say(engine, "a man with a knife is at the gate")  # asked for the place of worship
    assert reply.emergency and "999" in reply.text
    assert await subscriber(alert_store) is None


async def test_a_borough_with_and_in_its_name_can_be_typed(engine: Engine, alert_store: AlertStore) -> None:
    await say(engine, "/alerts")
    await press(engine, "alr:community")
    consent = await say(engine, "Kensington and Chelsea")
    assert "alr-ok:yes" in ids(consent), consent.text
    await press(engine, "alr-ok:yes")
    me = await subscriber(alert_store)
    assert me is not None and me.boroughs == ("Kensington and Chelsea",)


# --- coordinators checking faith leaders -------------------------------------------------------------------------


async def test_a_coordinator_approves_a_leader_in_chat(engine: Engine, alert_store: AlertStore, db: Database) -> None:
    await sign_up_leader(engine)
    me = await subscriber(alert_store)
    assert me is not None
    home = await say(engine, "/alerts", COORD)
    assert Choice("alr:pending", "Leaders waiting for checks (1)") in home.choices
    waiting = await press(engine, "alr:pending", COORD)
    assert waiting.text.startswith("Faith leaders waiting for checks")
    assert Choice(f"alr-review:{me.id}", "Amina Khan (Masjid an-Noor, 12 Green Street)") in waiting.choices
    review = await press(engine, f"alr-review:{me.id}", COORD)
    assert "Amina Khan, Imam" in plain(review.text) and "Waiting for your check." in review.text
    assert "your request" not in review.text  # #14: the coordinator read "your request"
    assert ids(review)[:2] == [f"alr-approve:{me.id}", f"alr-reject:{me.id}"]
    after = await press(engine, f"alr-approve:{me.id}", COORD)
    assert plain(after.text).startswith("Approved: Amina Khan, Imam, Masjid an-Noor, 12 Green Street. I've told them.")
    assert "No faith leaders are waiting for checks." in after.text

    approved = await subscriber(alert_store)
    assert approved is not None and approved.status == "approved"
    told = [n for n in await notifications(db) if n.user_id == "amina"]
    assert len(told) == 1 and told[0].channel == "console"
    assert "You're approved for safety alerts." in plain(told[0].body["text"])
    # One entry for the decision, none for the screens on the way
    assert [(a, b, c) for _, a, b, c in await alert_store.audit_log() if a == "console:coord"] == [
        ("console:coord", "leader approved", {"subscriber": me.id, "name": "Amina Khan", "reason given": False})
    ]
    mine = await say(engine, "/alerts")
    assert "faith leader, checked." in plain(mine.text)
    assert "alr:change" in ids(mine) and "alr:leader" not in ids(mine)


async def test_a_coordinator_rejects_a_leader_with_a_reason_and_they_can_ask_the_team(
    engine: Engine, alert_store: AlertStore, db: Database
) -> None:
    """#14: rejection takes an optional reason told to the person, with a way to reach the team."""
    await sign_up_leader(engine)
    [note] = await notifications(db)
    request = Reply(note.body["text"], tuple(Choice(*c) for c in note.body["choices"]))
    await engine.remember_choices("console", COORD, request)  # what the notifier does when it sends it
    review = await say(engine, "A", COORD)  # "A. Check this request"
    [reject] = [c.id for c in review.choices if c.label == "Reject"]
    asked = await press(engine, reject, COORD)
    assert "Type a short reason to tell them" in plain(asked.text) and "Reject without a reason" in labels(asked)
    assert "between 2 and 300" in (await say(engine, "x", COORD)).text
    done = await say(engine, "We couldn't confirm your role with Masjid an-Noor.", COORD)
    assert plain(done.text).startswith("Rejected: Amina Khan, Imam")

    me = await subscriber(alert_store)
    assert me is not None and me.status == "rejected"
    [told] = [n for n in await notifications(db) if n.user_id == "amina"]
    assert "was not approved" in told.body["text"]
    assert "The reason given: We couldn't confirm your role with Masjid an-Noor." in plain(told.body["text"])
    assert told.body["choices"] == [[f"alr-ask:{me.id}", "Ask the team about this"]]
    assert [b for _, a, b, _ in await alert_store.audit_log() if a == "console:coord"] == ["leader rejected"]
    assert "your faith leader request was not approved" in (await say(engine, "/alerts")).text

    # Amina asks the team, from the message: the coordinators are told once, with how to reach her.
    await engine.remember_choices("console", "amina", Reply(told.body["text"], (Choice(*told.body["choices"][0]),)))
    thanks = await say(engine, "A")
    assert "I've asked the team" in thanks.text
    await press(engine, f"alr-ask:{me.id}")  # pressed again
    asks = [n for n in await notifications(db) if n.user_id == COORD and "asks about" in n.body["text"]]
    assert len(asks) == 1 and "Contact on console: amina" in plain(asks[0].body["text"])
    # Nobody else can ask about her request.
    assert "no longer exists" in (await say(engine, None, "bilal", choice=f"alr-ask:{me.id}")).text


async def test_rejecting_without_a_reason(engine: Engine, alert_store: AlertStore, db: Database) -> None:
    await sign_up_leader(engine)
    me = await subscriber(alert_store)
    assert me is not None
    await say(engine, "/alerts", COORD)
    await press(engine, "alr:pending", COORD)
    await press(engine, f"alr-review:{me.id}", COORD)
    await press(engine, f"alr-reject:{me.id}", COORD)
    await press(engine, f"alr-reject-now:{me.id}", COORD)
    [told] = [n for n in await notifications(db) if n.user_id == "amina"]
    assert "reason" not in told.body["text"] and told.body["choices"]


async def test_a_withdrawn_request_says_so(engine: Engine, alert_store: AlertStore, db: Database) -> None:
    await sign_up_leader(engine)
    me = await subscriber(alert_store)
    assert me is not None
    await say(engine, "/unsubscribe")
    [note] = await notifications(db)
    await engine.remember_choices("console", COORD, Reply(note.body["text"], (Choice(*note.body["choices"][0]),)))
    assert "That request no longer exists" in (await press(engine, f"alr-review:{me.id}", COORD)).text


# --- community members, and people's own subscription -------------------------------------------------------------


async def test_a_community_member_is_signed_up_straight_away(
    engine: Engine, alert_store: AlertStore, db: Database
) -> None:
    await say(engine, "/alerts")
    assert "Which areas" in (await press(engine, "alr:community")).text
    consent = await press(engine, "alr-all:all")
    assert "We'll keep your areas and your Console account" in consent.text
    done = await press(engine, "alr-ok:yes")
    assert "You're signed up for community messages for: All of London." in done.text
    me = await subscriber(alert_store)
    assert me is not None and (me.kind, me.status, me.boroughs) == ("community", "approved", ("all",))
    assert await notifications(db) == []  # nobody needs to check a community member


async def test_people_see_change_and_stop_their_alerts(engine: Engine, alert_store: AlertStore) -> None:
    await sign_up_leader(engine)
    mine = await say(engine, "/alerts")
    text = plain(mine.text)
    assert "Your alerts: faith leader, waiting for a coordinator to check your request." in text
    assert "Areas: Tower Hamlets, Newham" in text
    assert ids(mine)[:3] == ["alr:change", "alr:prefs", "alr:stop"]

    assert "Which areas" in (await press(engine, "alr:change")).text
    assert 'called "Narnia"' in plain((await say(engine, "Narnia")).text)
    changed = await say(engine, "Hackney; Camden")
    assert "Done. You now get alerts for: Hackney, Camden" in changed.text
    me = await subscriber(alert_store)
    assert me is not None and me.boroughs == ("Hackney", "Camden") and me.status == "pending"
    await say(engine, "/alerts")
    await press(engine, "alr:change")
    await press(engine, "alr-all:all")
    assert "Areas: All of London" in plain((await say(engine, "/alerts")).text)

    await say(engine, "/alerts")
    confirm = await press(engine, "alr:stop")
    assert "Stop all alerts and delete your sign-up details?" in confirm.text
    stopped = await say(engine, "yes")  # "Yes, stop them"
    assert "You won't get any more alerts, and your sign-up details have been deleted." in stopped.text
    assert await subscriber(alert_store) is None
    assert "alr:leader" in ids(await say(engine, "/alerts"))


async def test_unsubscribe_deletes_the_sign_up(engine: Engine, alert_store: AlertStore) -> None:
    nothing = await say(engine, "/unsubscribe")
    assert "You're not signed up for alerts, so there's nothing to stop." in nothing.text
    await sign_up_community(engine, "Newham")
    assert await subscriber(alert_store) is not None
    assert "your sign-up details have been deleted" in (await say(engine, "/unsubscribe")).text
    assert await subscriber(alert_store) is None
    assert "console:amina" in [a for _, a, b, _ in await alert_store.audit_log() if b == "unsubscribed"]


async def test_forget_deletes_the_subscription_and_keeps_deliveries_only_as_counts(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database
) -> None:
    await sign_up_leader(engine)
    me = await subscriber(alert_store)
    assert me is not None
    await alert_store.set_status(me.id, "approved", datetime(2026, 11, 26, 9, tzinfo=UTC))
    await composer.send(
        kind="reassurance", audience="leaders", areas=["Newham"], text="Hello", created_by="console:coord",
        channels=ALERT_CHANNELS,
    )  # fmt: skip
    assert await db.query("SELECT user_id FROM alert_deliveries") == [("amina",)]
    await say(engine, "/forget")
    assert "Everything linked to you has been deleted" in (await say(engine, "yes")).text
    assert await subscriber(alert_store) is None
    # the alert's totals stay right; the row no longer says who, and it will not be sent
    assert await db.query("SELECT user_id, status, reason FROM alert_deliveries") == [
        ("forgotten:1", "failed", "forgotten")
    ]


async def test_forget_leaves_nothing_that_names_the_person(engine: Engine, db: Database) -> None:
    await sign_up_community(engine, "Newham")
    await say(engine, "/forget")
    await say(engine, "yes")
    rows = await db.scan()
    assert not any("amina" in str(row).lower() for row in rows["audit_log"])


# --- only coordinators -------------------------------------------------------------------------------------------

FULL_FORM = {"kind": "urgent", "audience": "all", "areas": ["all"], "text": "Stay inside"}
COORDINATOR_CHOICES = [
    "alr:compose",
    "alr:pending",
    "alr:recent",
    "alr-review:1",
    "alr-approve:1",
    "alr-reject:1",
    "alr-kind:urgent",
    "alr-aud:all",
    "alr-areas:all",
    "alr-tpl:urgent",
    "alr-send:go",
    "alr-later:at",
    "alr-status:1",
]


async def people_and_an_alert(alert_store: AlertStore, composer: Composer, clock: FakeClock) -> Alert:
    await alert_store.save_subscriber(
        "telegram", "101", kind="leader", status="pending", name="Yusuf", boroughs=["Newham"], now=clock()
    )
    await alert_store.save_subscriber(
        "whatsapp", "+447700900001", kind="leader", status="approved", name="Ruth", boroughs=["all"], now=clock()
    )
    return await composer.send(
        kind="vigilance", audience="leaders", areas=["all"], text="Be alert", created_by="console:coord",
        channels=ALERT_CHANNELS,
    )  # fmt: skip


async def unchanged(alert_store: AlertStore, db: Database, alert: Alert) -> None:
    statuses = [(s.user_id, s.status) for s in await alert_store.subscribers()]
    assert statuses == [("101", "pending"), ("+447700900001", "approved")]
    assert [a.id for a in await alert_store.alerts()] == [alert.id]
    assert await db.query("SELECT count(*) FROM alert_deliveries") == [(1,)]
    assert await notifications(db) == []


async def test_coordinator_buttons_are_not_shown_to_others(engine: Engine) -> None:
    coordinator_only = {"alr:compose", "alr:pending", "alr:recent"}
    assert not coordinator_only & set(ids(await say(engine, "/alerts")))
    await say(engine, "/menu")
    assert not coordinator_only & set(ids(await press(engine, "menu:alerts")))
    assert coordinator_only <= set(ids(await say(engine, "/alerts", COORD)))


@pytest.mark.parametrize("choice", COORDINATOR_CHOICES)
async def test_a_coordinator_button_never_offered_is_an_expired_menu(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock, choice: str
) -> None:
    alert = await people_and_an_alert(alert_store, composer, clock)
    await say(engine, "/alerts")
    reply = await press(engine, choice)
    # Buttons on messages the bot sends coordinators first (a request to check, a progress
    # report) are accepted without having been offered, and refused to anyone else.
    opened = choice.startswith(("alr-review:", "alr-status:"))
    assert reply.text.startswith("Only coordinators can do that." if opened else EXPIRED)
    await unchanged(alert_store, db, alert)


@pytest.mark.parametrize("choice", COORDINATOR_CHOICES)
async def test_a_forged_coordinator_button_is_refused(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock, choice: str
) -> None:
    alert = await people_and_an_alert(alert_store, composer, clock)
    # As if the button had been offered, with a whole alert ready to send in the form.
    await db.save_dialog("console", "amina", "alr_preview", {"choices": [[choice, "x"]], "form": FULL_FORM}, clock())
    reply = await say(engine, "1")
    assert reply.text == NOT_ALLOWED
    assert alert.reference not in reply.text and "Yusuf" not in reply.text
    await unchanged(alert_store, db, alert)
    assert ("console:amina", "refused") in [(a, b) for _, a, b, _ in await alert_store.audit_log()]


@pytest.mark.parametrize(
    ("state", "text"),
    [("alr_compose_areas", "Newham"), ("alr_text", "Extra patrols this weekend"), ("alr_at", "2026-11-26 18:30")],
)
async def test_typed_coordinator_answers_are_refused(
    engine: Engine,
    alert_store: AlertStore,
    composer: Composer,
    db: Database,
    clock: FakeClock,
    state: str,
    text: str,
) -> None:
    alert = await people_and_an_alert(alert_store, composer, clock)
    await db.save_dialog("console", "amina", state, {"choices": [], "form": FULL_FORM}, clock())
    reply = await say(engine, text)
    assert reply.text == NOT_ALLOWED
    await unchanged(alert_store, db, alert)


# --- coordinators composing and sending ----------------------------------------------------------------------------


async def audience(store: AlertStore, clock: FakeClock) -> None:
    """Approved leaders in Newham on each channel, others elsewhere or not yet checked, community members."""
    people = [
        ("console", "lead-newham", "leader", "approved", ["Newham"]),
        ("telegram", "101", "leader", "approved", ["Hackney", "Newham"]),
        ("whatsapp", "+447700900001", "leader", "approved", ["all"]),
        ("whatsapp", "+447700900004", "leader", "approved", ["Newham"]),
        ("whatsapp", "+447700900002", "leader", "approved", ["Tower Hamlets"]),
        ("telegram", "102", "leader", "pending", ["Newham"]),
        ("telegram", "103", "leader", "rejected", ["Newham"]),
        ("whatsapp", "+447700900003", "community", "approved", ["Newham"]),
        ("console", "member-camden", "community", "approved", ["Camden"]),
    ]
    for channel, user_id, kind, status, boroughs in people:
        await store.save_subscriber(
            channel, user_id, kind=kind, status=status, boroughs=boroughs, name=f"Name {user_id}", now=clock()
        )


ALL_KINDS = ("reassurance", "vigilance", "urgent")


async def compose_to_areas(engine: Engine, kind: str, audience: str) -> None:
    """A coordinator's alert up to "Which areas?"."""
    home = await say(engine, "/alerts", COORD)
    assert Choice("alr:compose", "Send an alert") in home.choices
    kinds = await press(engine, "alr:compose", COORD)
    assert "New alert." in plain(kinds.text) and ids(kinds)[:3] == [f"alr-kind:{k}" for k in ALL_KINDS]
    audiences = await press(engine, f"alr-kind:{kind}", COORD)
    assert "Who is it for?" in audiences.text
    assert "Which areas?" in (await press(engine, f"alr-aud:{audience}", COORD)).text


async def compose(engine: Engine, kind: str, audience: str, areas: str | None) -> Reply:
    """A coordinator's alert up to "type the text"; `areas` typed, or None for All of London."""
    await compose_to_areas(engine, kind, audience)
    ask = await press(engine, "alr-areas:all", COORD) if areas is None else await say(engine, areas, COORD)
    assert "Type the alert's text, or choose a ready-made one." in ask.text
    return ask


async def deliveries(db: Database) -> list[tuple[Any, ...]]:
    return await db.query("SELECT channel, user_id, not_before, status FROM alert_deliveries ORDER BY id")


async def test_a_coordinator_sends_a_template_to_leaders_in_newham(
    engine: Engine,
    alert_store: AlertStore,
    alerts_flow: AlertsFlow,
    content: Content,
    db: Database,
    clock: FakeClock,
) -> None:
    await audience(alert_store, clock)
    ask = await compose(engine, "reassurance", "leaders", "newham")
    assert Choice("alr-tpl:reassurance", "Use: Police aware and patrolling") in ask.choices
    assert "alr-tpl:urgent" not in ids(ask)  # only this kind's templates
    preview = await press(engine, "alr-tpl:reassurance", COORD)
    summary = plain(preview.text)
    assert "Preview: Reassurance alert for Verified faith leaders in Newham" in summary
    assert "Recipients: 4 (console 1, telegram 1, whatsapp 2). Sending: now." in summary
    body = alerts_flow.fill(content.alert_templates["reassurance"].text, ["Newham"], clock())
    assert "Reassurance for Newham" in body
    assert preview.text.endswith(alerts_flow.message_text(body, "A-????", "reassurance"))
    assert ids(preview)[:5] == ["alr-send:go", "alr-later:at", "alr-tr:add", "alr-esc:on", "alr:home"]
    assert await alert_store.alerts() == []  # nothing goes before "Send it"

    sent = await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert f"Sending: alert {alert.reference} to 4 recipients." in plain(sent.text)
    assert (alert.kind, alert.audience, alert.areas, alert.total) == ("reassurance", "leaders", ("Newham",), 4)
    assert alert.text == body.strip() and (alert.report_channel, alert.report_user) == ("console", COORD)
    progress = await alert_store.progress(alert)
    assert progress.by_channel == {"console": 1, "telegram": 1, "whatsapp": 2} and progress.pending == 4
    rows = await deliveries(db)
    assert {r[1] for r in rows} == {"lead-newham", "101", "+447700900001", "+447700900004"}
    assert {r[2] for r in rows} == {clock().isoformat()} and {r[3] for r in rows} == {"pending"}
    assert any(b == "alert sent" for _, a, b, _ in await alert_store.audit_log() if a == "console:coord")

    status = await press(engine, f"alr-status:{alert.id}", COORD)
    assert f"Alert {alert.reference}: sending" in plain(status.text) and "Still to send: 4." in status.text
    again = await press(engine, "alr-send:go", COORD)  # a second press of the old button sends nothing more
    assert again.text.startswith(EXPIRED) and len(await alert_store.alerts()) == 1
    await say(engine, "/alerts", COORD)
    recent = await press(engine, "alr:recent", COORD)
    label = f"{alert.reference} · Reassurance · Thu 26 Nov 2026 · 4 recipients"  # #14: "· 4" said nothing
    assert Choice(f"alr-status:{alert.id}", label) in recent.choices


@pytest.mark.parametrize(
    ("who", "areas", "goes_to"),
    [
        ("leaders", "Newham", "4 (console 1, telegram 1, whatsapp 2)"),
        ("leaders", None, "5 (console 1, telegram 1, whatsapp 3)"),
        ("leaders", "Camden", "1 (whatsapp 1)"),  # the leader for every area only
        ("community", "Newham", "1 (whatsapp 1)"),
        ("community", None, "2 (console 1, whatsapp 1)"),
        ("all", "Newham", "5 (console 1, telegram 1, whatsapp 3)"),
        ("all", None, "7 (console 2, telegram 1, whatsapp 4)"),
        ("all", "Tower Hamlets, Camden", "3 (console 1, whatsapp 2)"),
        ("community", "Barnet", "0 (-)"),
    ],
)
async def test_the_preview_counts_exactly_who_it_reaches(
    engine: Engine,
    alert_store: AlertStore,
    clock: FakeClock,
    who: str,
    areas: str | None,
    goes_to: str,
) -> None:
    await audience(alert_store, clock)
    await compose(engine, "urgent", who, areas)
    preview = await press(engine, "alr-tpl:urgent", COORD)
    total = int(goes_to.split()[0])
    if total == 0:  # #14: nobody to send it to: said at the preview, which can't go on to sending
        assert plain(preview.text).startswith("Nobody would get this alert.")
        assert "alr-send:go" not in ids(preview) and "alr-later:at" not in ids(preview)
        assert ids(preview)[:2] == [f"alr-aud:{who}", "alr-kind:urgent"]  # other areas, another audience
        assert "expired" in (await press(engine, "alr-send:go", COORD)).text and await alert_store.alerts() == []
        return
    assert f"Recipients: {goes_to}. Sending: now." in plain(preview.text)
    await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert alert.total == total and (await alert_store.progress(alert)).pending == total


async def test_the_preview_leaves_out_people_who_sent_stop(
    engine: Engine, alert_store: AlertStore, db: Database, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await db.set_opted_out("whatsapp", "+447700900004", clock())
    await compose(engine, "urgent", "leaders", "Newham")
    assert "Recipients: 3 (console 1, telegram 1, whatsapp 1)" in plain(
        (await press(engine, "alr-tpl:urgent", COORD)).text
    )


async def test_typed_text_is_sent_exactly_as_typed(
    engine: Engine, alert_store: AlertStore, alerts_flow: AlertsFlow, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose(engine, "vigilance", "all", "Newham")
    problem = await say(engine, "x" * 1201, COORD)
    assert "That didn't work: text: keep an alert under 1200 characters." in problem.text
    typed = "Prayers go ahead tonight. Stewards at the *side* doors from 18:00 - thank you!"
    preview = await say(engine, typed, COORD)
    assert "Vigilance alert for Faith leaders and community members in Newham" in plain(preview.text)
    assert plain(preview.text).endswith(f"{typed}\n\nTo check this alert is genuine, send CHECK A-???? to this bot.")
    await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert plain(alert.text) == typed  # their words, never formatting
    assert alert.total == 5


async def test_a_misspelt_or_unknown_area_when_composing(
    engine: Engine, alert_store: AlertStore, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose_to_areas(engine, "urgent", "leaders")
    problem = await say(engine, "Narnia", COORD)
    assert 'I don\'t know a London borough called "Narnia"' in plain(problem.text)
    assert "alr-areas:all" in ids(problem)
    assert "Type the alert's text" in (await say(engine, "Tower Hamlts", COORD)).text
    preview = await press(engine, "alr-tpl:urgent", COORD)
    assert "Urgent alert for Verified faith leaders in Tower Hamlets" in plain(preview.text)


async def test_discard_sends_nothing(engine: Engine, alert_store: AlertStore, clock: FakeClock) -> None:
    await audience(alert_store, clock)
    await compose(engine, "reassurance", "all", None)
    await press(engine, "alr-tpl:reassurance", COORD)
    home = await press(engine, "alr:home", COORD)  # "Discard"
    assert "alr:compose" in ids(home)
    assert await alert_store.alerts() == []


async def test_send_later_at_a_typed_local_time(
    engine: Engine, alert_store: AlertStore, db: Database, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose(engine, "reassurance", "leaders", "Newham")
    await press(engine, "alr-tpl:reassurance", COORD)
    assert "When should it go?" in (await press(engine, "alr-later:at", COORD)).text
    past = await say(engine, "2026-11-26 08:00", COORD)  # an hour ago (London is on UTC in November)
    assert "That didn't work: that time has already passed." in past.text
    assert "is not a date and time" in (await say(engine, "tomorrow evening", COORD)).text
    assert await alert_store.alerts() == []

    preview = await say(engine, "2026-11-26 18:30", COORD)
    assert "Recipients: 4 (console 1, telegram 1, whatsapp 2). Sending: Thu 26 Nov 2026, 18:30." in plain(preview.text)
    scheduled = await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert f"Scheduled: alert {alert.reference} for Thu 26 Nov 2026, 18:30, to 4 recipients." in plain(scheduled.text)
    assert alert.send_at == datetime(2026, 11, 26, 18, 30, tzinfo=UTC) > clock()
    assert {r[2] for r in await deliveries(db)} == {"2026-11-26T18:30:00+00:00"}
    assert await alert_store.claim("whatsapp", clock(), 10, clock() - clock()) == []  # not due yet


async def test_send_later_in_summer_is_london_time(engine: Engine, alert_store: AlertStore, clock: FakeClock) -> None:
    await audience(alert_store, clock)
    await compose(engine, "urgent", "leaders", "Newham")
    await press(engine, "alr-tpl:urgent", COORD)
    await press(engine, "alr-later:at", COORD)
    await say(engine, "2027-06-01 18:30", COORD)
    await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert alert.send_at == datetime(2027, 6, 1, 17, 30, tzinfo=UTC)  # BST


async def test_a_coordinator_can_type_an_urgent_alert_about_a_weapon(
    engine: Engine, alert_store: AlertStore, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose(engine, "urgent", "leaders", "Newham")
    text = "A man with a knife is outside Green Street mosque now. Keep people inside and lock the doors."
    preview = await say(engine, text, COORD)
    assert not preview.emergency and "alr-send:go" in ids(preview)


async def test_a_request_arriving_mid_compose_keeps_the_alert(
    engine: Engine, alert_store: AlertStore, db: Database, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose(engine, "urgent", "leaders", "Newham")
    await press(engine, "alr-tpl:urgent", COORD)
    await sign_up_leader(engine)  # the coordinator is told at once
    console = Outbox()
    assert await Notifier(db, engine, {"console": console}, clock).send_pending() == 1
    assert [user for user, _ in console.sent] == [COORD]
    await press(engine, "alr-send:go", COORD)
    assert len(await alert_store.alerts()) == 1


# --- people answering an alert, and checking one -------------------------------------------------------------------


async def an_alert_to_amina(alert_store: AlertStore, composer: Composer, clock: FakeClock) -> Alert:
    await alert_store.save_subscriber(
        "console", "amina", kind="leader", status="approved", name="Amina Khan", role="Imam",
        place="Masjid an-Noor", boroughs=["Newham", "Hackney"], now=clock(),
    )  # fmt: skip
    await alert_store.save_subscriber(
        "telegram", "101", kind="leader", status="approved", name="Yusuf", boroughs=["Newham"], now=clock()
    )
    return await composer.send(
        kind="urgent", audience="leaders", areas=["Newham"], text="Keep people inside.", created_by="console:coord",
        channels=ALERT_CHANNELS, report_to=("console", COORD),
    )  # fmt: skip


async def delivery_of(db: Database, user_id: str) -> Delivery:
    [(delivery_id, alert_id, channel)] = await db.query(
        "SELECT id, alert_id, channel FROM alert_deliveries WHERE user_id = ?", (user_id,)
    )
    return Delivery(int(delivery_id), int(alert_id), channel, user_id, 1)


async def test_the_alert_message_tells_people_how_to_check_it(
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, db: Database, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    delivery = await delivery_of(db, "amina")
    message = alerts_flow.message_for(alert, delivery)
    text = plain(message.text)
    assert text.startswith(f"Urgent alert ({alert.reference})")
    assert "Keep people inside." in text
    assert f"To check this alert is genuine, send CHECK {alert.reference} to this bot." in text
    assert message.choices == ((f"alr-ack:{delivery.id}", "Received"), (f"alr-help:{delivery.id}", "Need help"))


async def test_received_is_counted(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, db: Database, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    [received, _] = alerts_flow.message_for(alert, await delivery_of(db, "amina")).choices
    reply = await press(engine, received[0])  # a button on a message the bot sent first
    assert reply.text == "Thank you, we've noted that you received it."
    progress = await alert_store.progress(alert)
    assert (progress.acknowledged, progress.need_help) == (1, 0)
    assert await notifications(db) == []
    await say(engine, "/alerts", COORD)
    await press(engine, "alr:recent", COORD)
    status = await press(engine, f"alr-status:{alert.id}", COORD)
    assert "acknowledged 1 (need help 0) of 2" in plain(status.text)


async def test_need_help_tells_the_coordinators_at_once(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    delivery = await delivery_of(db, "amina")
    reply = await press(engine, f"alr-help:{delivery.id}")
    assert "We've told the coordinators; someone will contact you." in plain(reply.text)
    assert "If anyone is in danger right now, call 999." in plain(reply.text)
    [note] = await notifications(db)
    assert (note.channel, note.user_id) == ("console", COORD)
    text = plain(note.body["text"])
    assert f"Help needed (alert {alert.reference})" in text
    assert "Amina Khan, Imam, Masjid an-Noor" in text
    assert "Areas: Newham, Hackney · contact on console: amina" in text
    progress = await alert_store.progress(alert)
    assert (progress.acknowledged, progress.need_help) == (1, 1)
    await press(engine, f"alr-help:{delivery.id}")  # pressed twice: coordinators told once
    assert len(await notifications(db)) == 1
    assert ("console:amina", "asked for help") in [(a, b) for _, a, b, _ in await alert_store.audit_log()]


async def test_received_after_need_help_still_counts_the_help(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    delivery = await delivery_of(db, "amina")
    await press(engine, f"alr-help:{delivery.id}")
    await press(engine, f"alr-ack:{delivery.id}")
    assert (await alert_store.progress(alert)).need_help == 1


@pytest.mark.parametrize("answer", ["alr-ack", "alr-help"])
async def test_nobody_can_answer_someone_elses_alert(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock, answer: str
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    theirs = await delivery_of(db, "101")
    for forged in (f"{answer}:{theirs.id}", f"{answer}:999", f"{answer}:x"):
        assert (await press(engine, forged)).text == "Sorry, I can't find that alert."
    # The same delivery id from another channel is not theirs either.
    assert (await say(engine, None, "101", choice=f"{answer}:{theirs.id}")).text == "Sorry, I can't find that alert."
    assert await db.query("SELECT acknowledged FROM alert_deliveries") == [(None,), (None,)]
    assert await notifications(db) == []
    assert (await alert_store.progress(alert)).acknowledged == 0


async def test_check_says_whether_an_alert_is_genuine(
    engine: Engine, alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    genuine = f"{alert.reference} is genuine. Urgent alert from the community safety team, sent Thu 26 Nov 2026, 09:00."
    for typed in (f"CHECK {alert.reference}", f"check {alert.reference.lower()}", f"  Check   {alert.reference} "):
        assert plain((await say(engine, typed)).text) == genuine
    assert plain((await say(engine, f"/start check-{alert.reference}")).text) == genuine  # a shared link
    fake = await say(engine, "CHECK A-1111")  # 1 is never used in a reference
    assert plain(fake.text).startswith("A-1111 is not an alert from this bot. Don't forward it or act on it.")
    for asked in (f"is alert {alert.reference} real?", alert.reference, f"got a msg {alert.reference.lower()} legit??"):
        assert plain((await say(engine, asked)).text) == genuine, asked
    assert plain((await say(engine, "is A-1111 real")).text).startswith("A-1111 is not an alert from this bot.")


async def test_check_works_in_the_middle_of_a_sign_up(
    engine: Engine, alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await alert_store.save_subscriber("console", "zara", kind="community", status="approved", boroughs=["all"],
                                      now=clock())  # fmt: skip
    alert = await composer.send(
        kind="reassurance", audience="all", areas=["all"], text="Hello", created_by="console:coord",
        channels=ALERT_CHANNELS,
    )  # fmt: skip
    await say(engine, "/alerts", "bilal")
    await press(engine, "alr:leader", "bilal")
    assert "is genuine" in plain((await say(engine, f"CHECK {alert.reference}", "bilal")).text)


# --- small things people type ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("richmond, kingston", ("Richmond upon Thames", "Kingston upon Thames")),
        ("Newham and Hackney", ("Newham", "Hackney")),
        ("barking", ("Barking and Dagenham",)),
        ("all of london", ("all",)),
    ],
)
async def test_boroughs_are_understood_as_people_type_them(
    engine: Engine, alert_store: AlertStore, typed: str, stored: tuple[str, ...]
) -> None:
    await say(engine, "/alerts")
    await press(engine, "alr:community")
    consent = await say(engine, typed)
    assert "alr-ok:yes" in ids(consent), consent.text
    await press(engine, "alr-ok:yes")
    me = await subscriber(alert_store)
    assert me is not None and me.boroughs == stored


async def test_unsubscribe_typed_as_a_word_stops_alerts(engine: Engine, alert_store: AlertStore) -> None:
    await sign_up_community(engine)
    reply = await say(engine, "unsubscribe")
    assert "You won't get any more alerts" in reply.text and await subscriber(alert_store) is None


async def test_after_stop_alerts_say_they_are_paused(engine: Engine, alert_store: AlertStore) -> None:
    await sign_up_community(engine)
    await say(engine, "STOP")
    assert "Paused: you sent STOP" in (await say(engine, "/alerts")).text
    await say(engine, "START")
    assert "Paused" not in (await say(engine, "/alerts")).text


async def test_a_scheduled_alert_reports_as_scheduled(
    alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, clock: FakeClock
) -> None:
    await alert_store.save_subscriber("console", "zara", kind="community", status="approved", boroughs=["all"],
                                      now=clock())  # fmt: skip
    later = datetime(2026, 12, 1, 12, tzinfo=UTC)
    alert = await composer.send(kind="reassurance", audience="community", areas=["all"], text="Later",
                                created_by="cli", channels=ALERT_CHANNELS, send_at=later)  # fmt: skip
    text = alerts_flow.progress_text(alert, await alert_store.progress(alert))
    assert plain(text) == f"Alert {alert.reference}: scheduled for Tue 1 Dec 2026, 12:00, to 1 recipient."


async def test_a_rejected_leader_signing_up_again_and_again_sends_coordinators_one_notice_a_day(
    engine: Engine, db: Database, alert_store: AlertStore, clock: FakeClock
) -> None:
    for _ in range(3):  # signed up, rejected, stopped, and again
        await sign_up_leader(engine)
        me = await subscriber(alert_store)
        assert me is not None
        await alert_store.set_status(me.id, "rejected", clock())
        await say(engine, "/unsubscribe")
    assert len([n for n in await notifications(db) if n.user_id == COORD]) == 1
    clock.advance(days=1)
    await sign_up_leader(engine)
    assert len([n for n in await notifications(db) if n.user_id == COORD]) == 2


async def test_an_alert_in_the_middle_of_a_booking_never_takes_its_numbers(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, training: Training,
    db: Database, clock: FakeClock,
) -> None:  # fmt: skip
    """#14: at the role question "6" asked the role again, and at the consent step "1" answered
    the alert and lost the booking. The alert's answers are lettered; the booking's numbers stay."""
    session_id = await training.add(SESSION)
    screen = io.StringIO()
    window = ConsoleSender(engine.copy, screen, None, engine=engine, user="amina")
    dispatcher = Dispatcher(alert_store, {"console": window}, clock, alerts_flow.message_for, only_user="amina")

    async def alert_arrives() -> str:
        screen.seek(0), screen.truncate()
        await an_alert_to_amina(alert_store, composer, clock)
        await dispatcher.send_due("console")
        return screen.getvalue()

    role = await book_to_the_role_question(engine, session_id)
    sixth = role.choices[5].label
    printed = await alert_arrives()
    assert "A. Received\nB. Need help\n\nReply with a letter (A–B)." in printed
    seats = await say(engine, "6")
    assert "How many seats" in seats.text  # the sixth role, not the alert's "6"
    await say(engine, "1")
    consent = await say(engine, "none")
    assert "trn-consent:yes" in ids(consent)
    latest = await alert_arrives()
    summary = await say(engine, "1")  # Yes, that's OK: the booking's 1, not the alert's
    assert "Amina Khan" in plain(summary.text) and sixth in plain(summary.text)

    # The latest alert answered by its letter, then the booking carries on where it was.
    received = await say(engine, "a")
    thanked = "Thank you, we've noted that you received it.\n\nNow, back to where you were:"
    assert plain(received.text).startswith(thanked)
    assert "Amina Khan" in plain(received.text) and ids(received) == ids(summary)
    booked = await say(engine, "1")
    assert "You're booked on" in booked.text
    [registration] = await db.attendees(session_id)
    assert (registration.name, registration.role) == ("Amina Khan", sixth)
    answered = await alert_store.alert_by_reference(_reference(latest))
    assert answered is not None and (await alert_store.progress(answered)).acknowledged == 1


async def test_an_alert_button_pressed_mid_booking_keeps_the_booking(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, training: Training,
    db: Database, clock: FakeClock,
) -> None:  # fmt: skip
    """The same on Telegram, where the alert's answers are buttons: pressing "Need help" in the
    middle of a booking answers the alert and carries the booking on."""
    session_id = await training.add(SESSION)
    alert = await an_alert_to_amina(alert_store, composer, clock)
    delivery = await delivery_of(db, "amina")
    await engine.remember_choices("console", "amina", as_reply(alerts_flow.message_for(alert, delivery)))
    asked = await book_to_the_role_question(engine, session_id)
    assert "role" in asked.text
    helped = await press(engine, f"alr-help:{delivery.id}")
    assert "We've told the coordinators" in plain(helped.text) and asked.text in helped.text
    assert ids(helped) == ids(asked)
    assert "How many seats" in (await say(engine, "1")).text  # the first role, not the alert's


async def test_alerts_remembered_as_a_batch_are_answered_as_if_remembered_one_by_one(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, training: Training,
    db: Database, clock: FakeClock,
) -> None:  # fmt: skip
    """WhatsApp records the answers a batch of alerts offers all at once after the batch
    (Engine.remember_choices_of): two alerts to the same person mid-booking leave her exactly
    where one by one would, the latest's letters first and the booking's numbers kept."""
    session_id = await training.add(SESSION)
    first = await an_alert_to_amina(alert_store, composer, clock)
    second = await composer.send(kind="urgent", audience="leaders", areas=["Newham"], text="Still inside.",
                                 created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    ids_ = [int(r[0]) for r in await db.query("SELECT id FROM alert_deliveries WHERE user_id = 'amina' ORDER BY id")]
    messages = [as_reply(alerts_flow.message_for(alert, Delivery(delivery_id, alert.id, "console", "amina", 1)))
                for delivery_id, alert in zip(ids_, (first, second), strict=True)]  # fmt: skip
    asked = await book_to_the_role_question(engine, session_id)
    before = await db.load_dialog("console", "amina")
    assert before is not None
    for message in messages:
        await engine.remember_choices("console", "amina", message)
    one_by_one = await db.load_dialog("console", "amina")
    await db.save_dialog("console", "amina", before.state, before.data, before.updated_at)
    await engine.remember_choices_of("console", [("amina", message) for message in messages])
    assert await db.load_dialog("console", "amina") == one_by_one
    helped = await say(engine, "b")  # the latest alert's Need help
    assert "We've told the coordinators" in plain(helped.text) and ids(helped) == ids(asked)
    assert (await alert_store.progress(second)).need_help == 1 and (await alert_store.progress(first)).need_help == 0
    assert "How many seats" in (await say(engine, "1")).text  # the booking's first role


async def book_to_the_role_question(engine: Engine, session_id: int) -> Reply:
    """Amina books a seat, up to "What is your role there?"."""
    await say(engine, "/menu")
    await press(engine, "menu:training")
    await press(engine, f"trn:{session_id}")
    await press(engine, f"trn-reg:{session_id}")
    await say(engine, "Amina Khan")
    return await say(engine, "Masjid an-Noor")


def _reference(printed: str) -> str:
    match = re.search(r"A-[A-Z0-9]{4}", printed)
    assert match is not None
    return match.group(0)


async def test_need_help_from_a_community_member_reads_well(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    """#14: a community member's Need help showed "alice, ," (no role, no place)."""
    await alert_store.save_subscriber("console", "alice", kind="community", status="approved", boroughs=["Newham"],
                                      now=clock())  # fmt: skip
    await composer.send(kind="reassurance", audience="community", areas=["Newham"], text="Patrols tonight.",
                        created_by="console:coord", channels=ALERT_CHANNELS)  # fmt: skip
    delivery = await delivery_of(db, "alice")
    await say(engine, None, "alice", choice=f"alr-help:{delivery.id}")
    [note] = await notifications(db)
    text = plain(note.body["text"])
    assert "(no name given) (community member)\nAreas: Newham · contact on console: alice" in text
    assert ", ," not in text


async def test_a_place_or_postcode_suggests_its_borough_at_sign_up(
    engine: Engine, alert_store: AlertStore, db: Database
) -> None:
    """#14: areas typed as a place ("whitechapel", "E1") suggest the borough."""
    await say(engine, "/subscribe")
    await press(engine, "alr:community")
    for typed, said in [
        ("whitechapel", "Whitechapel is in Tower Hamlets."),
        ("e1 6an", "E1 is in Tower Hamlets and Hackney."),
        ("Southal, newham", "Southall is in Ealing."),
    ]:
        suggestion = await say(engine, typed)
        assert plain(suggestion.text).startswith(said), (typed, suggestion.text)
        assert "Alerts go by London borough" in suggestion.text
        assert ids(suggestion)[:2] == ["alr-all:suggested", "alr-all:all"]
    assert labels(suggestion)[0] == "Yes: Ealing, Newham"
    consent = await press(engine, "alr-all:suggested")
    assert "alr-ok:yes" in ids(consent)
    await press(engine, "alr-ok:yes")
    me = await alert_store.subscriber("console", "amina")
    assert me is not None and me.boroughs == ("Ealing", "Newham")
    # A place nobody lists is still "not a borough I know"
    await say(engine, "/alerts")
    await press(engine, "alr:change")
    assert "I don't know a London borough called" in plain((await say(engine, "Atlantis")).text)


async def test_a_coordinator_typing_a_place_is_offered_its_borough(
    engine: Engine, alert_store: AlertStore, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    await compose_to_areas(engine, "urgent", "leaders")
    suggestion = await say(engine, "Stratford", COORD)
    assert plain(suggestion.text).startswith("Stratford is in Newham.")
    asked = await press(engine, "alr-areas:suggested", COORD)
    assert "Type the alert's text" in asked.text
    preview = await press(engine, "alr-tpl:urgent", COORD)
    assert "Urgent alert for Verified faith leaders in Newham" in plain(preview.text)


async def test_check_says_an_alert_was_withdrawn(
    engine: Engine, alert_store: AlertStore, composer: Composer, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    alert = await composer.send(kind="vigilance", audience="leaders", areas=("Newham",), text="Stay alert",
                                created_by="cli", channels=("console",))  # fmt: skip
    assert f"{alert.reference} is genuine" in plain((await say(engine, f"CHECK {alert.reference}")).text)
    await alert_store.cancel(alert, "cli", clock())
    checked = plain((await say(engine, f"CHECK {alert.reference}")).text)
    assert f"{alert.reference} was withdrawn" in checked and "Don't act on it" in checked


# --- after sending: withdraw, correct, all clear ------------------------------------------------------
async def reached(alert_store: AlertStore, alert: Alert, *users: str, failed: str = "") -> None:
    """Record the alert as taken by the platform for `users`, and as failed for `failed`."""
    rows = await alert_store.recipients_of(alert)
    ids_of = await alert_store.db.query("SELECT id, user_id FROM alert_deliveries WHERE alert_id = ?", (alert.id,))
    by_user = {user_id: int(delivery_id) for delivery_id, user_id in ids_of}
    assert {r["user_id"] for r in rows} >= {*users, *([failed] if failed else [])}
    results: list[tuple[int, str, dict[str, Any]]] = [(by_user[u], "sent", {"sent_at": "2026-11-26T09:00:00+00:00"})
                                                      for u in users]  # fmt: skip
    if failed:
        results.append((by_user[failed], "failed", {"reason": "blocked the bot"}))
    await alert_store.finish(results)


async def test_a_coordinator_withdraws_an_alert_from_its_status_page(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    alert = await composer.send(kind="vigilance", audience="leaders", areas=("Newham",), text="Stay alert",
                                created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    await reached(alert_store, alert, "lead-newham")
    page = await press(engine, f"alr-status:{alert.id}", COORD)
    assert f"alr-wd:{alert.id}" in ids(page) and f"alr-fix:{alert.id}" in ids(page)
    asked = await press(engine, f"alr-wd:{alert.id}", COORD)
    assert plain(asked.text).startswith(f"Withdraw alert {alert.reference}? 3 not yet sent will never be sent; 1")
    assert ids(asked)[:2] == [f"alr-wd-yes:{alert.id}", f"alr-status:{alert.id}"]
    assert (await alert_store.progress(alert)).cancelled == 0  # asking changes nothing
    done = await press(engine, f"alr-wd-yes:{alert.id}", COORD)
    assert f"{alert.reference} withdrawn. 3 not sent." in plain(done.text)
    progress = await alert_store.progress(alert)
    assert (progress.cancelled, progress.sent, progress.pending) == (3, 1, 0)
    again = await press(engine, f"alr-status:{alert.id}", COORD)
    assert "Withdrawn" in plain(again.text) and f"alr-wd:{alert.id}" not in ids(again)
    assert "was withdrawn" in plain((await say(engine, f"CHECK {alert.reference}")).text)
    [(who, details)] = [(a[1], a[3]) for a in await alert_store.audit_log() if a[2] == "alert withdrawn"]
    assert who == f"console:{COORD}" and details == {"reference": alert.reference, "not sent": 3}


async def test_a_correction_reaches_exactly_those_who_received_the_alert(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, db: Database,
    clock: FakeClock,
) -> None:  # fmt: skip
    await audience(alert_store, clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Avoid Green Street",
                                created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    assert alert.total == 4
    await reached(alert_store, alert, "lead-newham", "+447700900001", failed="+447700900004")  # "101": still queued
    await press(engine, f"alr-status:{alert.id}", COORD)
    asked = await press(engine, f"alr-fix:{alert.id}", COORD)
    assert f"Type the correction to alert {alert.reference}. It goes to the 2 recipients" in plain(asked.text)
    clock.advance(minutes=10)
    preview = await say(engine, "It is *Upton Lane*, not Green Street.", COORD)  # typed: read as typed
    shown = plain(preview.text)
    assert f"to the 2 recipients who received alert {alert.reference}" in shown
    assert f"Correction to alert {alert.reference}" in shown and "It is *Upton Lane*, not Green Street." in shown
    assert (await alert_store.follow_ups(alert)) == []  # a preview sends nothing
    queued = await press(engine, "alr-fu-send:go", COORD)
    [correction] = await alert_store.follow_ups(alert)
    assert f"Sending: {correction.reference} to 2 recipients" in plain(queued.text)
    assert correction.reference == f"{alert.reference}-1" and correction.shown_reference == alert.reference
    assert (correction.kind, correction.follow_up, correction.total) == ("urgent", "correction", 2)
    to = await db.query("SELECT user_id, not_before FROM alert_deliveries WHERE alert_id = ? ORDER BY id",
                        (correction.id,))  # fmt: skip
    assert [u for u, _ in to] == ["lead-newham", "+447700900001"]  # not the failed one, not the one still queued
    assert all(datetime.fromisoformat(due) == clock() for _, due in to)  # urgent: at once, whatever the hour
    # What they get carries the original's reference, and answers as an alert does.
    delivery = Delivery(0, correction.id, "console", "lead-newham", 1)
    message = alerts_flow.message_for(correction, delivery)
    assert plain(message.text).startswith(f"Correction to alert {alert.reference}")
    assert f"CHECK {alert.reference}" in plain(message.text) and f"{alert.reference}-1" not in message.text
    assert [c[0] for c in message.choices] == ["alr-ack:0", "alr-help:0"]
    # CHECK on the original says it was corrected, and with what; the status page lists it.
    checked = plain((await say(engine, f"CHECK {alert.reference}")).text)
    assert f"{alert.reference} is genuine" in checked and "It was corrected" in checked and "Upton Lane" in checked
    page = plain((await press(engine, f"alr-status:{alert.id}", COORD)).text)
    assert f"Correction {correction.reference} sent" in page and "to 2 recipients" in page
    [entry] = [a for a in await alert_store.audit_log() if a[2] == "correction sent"]
    assert entry[1] == f"console:{COORD}" and entry[3]["follows"] == alert.reference
    # A second follow-up (the all clear) is numbered on, and also goes to the original's recipients.
    await press(engine, f"alr-status:{alert.id}", COORD)
    await press(engine, f"alr-clear:{alert.id}", COORD)
    await say(engine, "Police have left; services as normal.", COORD)
    await press(engine, "alr-fu-send:go", COORD)
    clear = (await alert_store.follow_ups(alert))[-1]
    assert (clear.reference, clear.follow_up, clear.total) == (f"{alert.reference}-2", "all-clear", 2)
    checked = plain((await say(engine, f"CHECK {alert.reference}-2")).text)  # a follow-up's own: the original's
    assert "It was corrected" in checked and "The all clear was given" in checked


async def test_follow_ups_respect_quiet_hours_and_need_someone_who_received_it(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    await audience(alert_store, clock)
    alert = await composer.send(kind="reassurance", audience="leaders", areas=("Newham",), text="All calm",
                                created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    page = await press(engine, f"alr-status:{alert.id}", COORD)
    assert f"alr-fix:{alert.id}" not in ids(page) and f"alr-clear:{alert.id}" not in ids(page)  # nobody has it yet
    with pytest.raises(AlertError, match=r"nobody has received .* withdraw it instead"):
        await composer.follow_up(alert, kind="correction", text="x", created_by="cli")
    await reached(alert_store, alert, "lead-newham")
    await press(engine, f"alr-status:{alert.id}", COORD)
    leader = await alert_store.subscriber("console", "lead-newham")
    assert leader is not None
    await alert_store.set_status(leader.id, "rejected", clock())  # no longer a verified leader: not followed up
    assert "Nobody has received alert" in plain((await press(engine, f"alr-fix:{alert.id}", COORD)).text)
    await alert_store.set_status(leader.id, "approved", clock())
    clock.now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # 23:30 in London: quiet hours
    clear = await composer.follow_up(alert, kind="all-clear", text="Still calm", created_by="cli")
    [(due,)] = await db.query("SELECT not_before FROM alert_deliveries WHERE alert_id = ?", (clear.id,))
    assert datetime.fromisoformat(due) == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # a reassurance waits till 07:00
    with pytest.raises(AlertError, match="correction or all-clear"):
        await composer.follow_up(alert, kind="retraction", text="x", created_by="cli")
    with pytest.raises(AlertError, match="no text"):
        await composer.follow_up(alert, kind="correction", text="  ", created_by="cli")


# --- a second approver (ALERT_APPROVALS=2) -------------------------------------------------------------
async def compose_and_send(engine: Engine, kind: str = "vigilance") -> Reply:
    await compose(engine, kind, "leaders", "newham")
    await say(engine, "Extra patrols at Friday prayers", COORD)
    return await press(engine, "alr-send:go", COORD)


async def test_an_alert_waits_for_a_second_coordinator_who_approves_it(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    composer.approvals = 2
    await audience(alert_store, clock)
    assert await db.set_coordinator("telegram", "555", True, clock())
    waiting = await compose_and_send(engine)
    assert "is waiting for a second coordinator" in plain(waiting.text)
    [alert] = await alert_store.alerts()
    assert alert.awaiting and alert.total == 4 and await deliveries(db) == []  # queued for nobody yet
    assert "waiting for approval" in plain((await press(engine, f"alr-status:{alert.id}", COORD)).text)
    assert f"{alert.reference} is genuine" not in plain((await say(engine, f"CHECK {alert.reference}")).text)
    # The other coordinator is asked, with the text and the count; not whoever composed it.
    asked = [n for n in await notifications(db) if n.key.startswith(f"alert-approval:{alert.id}:")]
    assert [(n.channel, n.user_id) for n in asked] == [("telegram", "555")]
    assert "needs your approval" in asked[0].body["text"] and "Extra patrols" in asked[0].body["text"]
    assert [c[0] for c in asked[0].body["choices"]] == [f"alr-appr:{alert.id}", f"alr-refuse:{alert.id}"]
    # Whoever composed it can't approve it themselves (the button is open: it arrives on a notice).
    mine = await press(engine, f"alr-appr:{alert.id}", COORD)
    assert "another coordinator must approve it" in plain(mine.text) and await deliveries(db) == []
    clock.advance(minutes=3)
    approved = await engine.handle(
        make_incoming(None, channel="telegram", user_id="555", choice=f"alr-appr:{alert.id}")
    )
    assert "Approved: alert" in plain(approved.text) and "on its way to 4 recipients" in plain(approved.text)
    decided = await alert_store.alert(alert.id)
    assert decided is not None and (decided.approval, decided.decided_by) == ("approved", "telegram:555")
    assert len(await deliveries(db)) == 4
    assert all(datetime.fromisoformat(due) >= clock() for _, _, due, _ in await deliveries(db))
    assert not [n for n in await notifications(db) if n.key.startswith(f"alert-approval:{alert.id}:")]
    told = [n for n in await notifications(db) if n.key == f"alert-decided:{alert.id}"]
    assert told and told[0].user_id == COORD and "was approved by another coordinator" in told[0].body["text"]
    again = await engine.handle(make_incoming(None, channel="telegram", user_id="555", choice=f"alr-appr:{alert.id}"))
    assert "was already approved" in plain(again.text) and len(await deliveries(db)) == 4  # not queued twice
    actions = [(who, what) for _, who, what, _ in reversed(await alert_store.audit_log())]
    assert ("console:coord", "alert awaiting approval") in actions and ("telegram:555", "alert approved") in actions


async def test_a_refused_alert_never_goes_and_urgent_ones_may_go_alone_where_allowed(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    composer.approvals = 2
    await audience(alert_store, clock)
    assert await db.set_coordinator("console", "coord2", True, clock())
    await compose_and_send(engine, "urgent")
    [alert] = await alert_store.alerts()
    assert alert.awaiting  # by default urgent alerts need the second coordinator too
    refused = await press(engine, f"alr-refuse:{alert.id}", "coord2")
    assert "Refused: alert" in plain(refused.text)
    assert "refused by a second coordinator" in plain((await press(engine, f"alr-status:{alert.id}", COORD)).text)
    assert "was refused" in plain((await press(engine, f"alr-appr:{alert.id}", "coord2")).text)
    assert await deliveries(db) == [] and f"{alert.reference} is genuine" not in plain(
        (await say(engine, f"CHECK {alert.reference}")).text
    )
    told = [n for n in await notifications(db) if n.key == f"alert-decided:{alert.id}"]
    assert "was refused" in told[0].body["text"]
    # ALERT_URGENT_ONE_COORDINATOR: an urgent alert goes at once; others still wait.
    composer.urgent_alone = True
    assert "Sending: alert" in plain((await compose_and_send(engine, "urgent")).text)
    assert "waiting for a second coordinator" in plain((await compose_and_send(engine, "vigilance")).text)
    # A withdrawn alert can't be approved afterwards.
    waiting = (await alert_store.alerts())[0]
    await alert_store.cancel(waiting, "console:coord", clock())
    assert "was withdrawn" in plain((await press(engine, f"alr-appr:{waiting.id}", "coord2")).text)


async def test_a_correction_waits_for_the_second_coordinator_too_then_reaches_those_who_had_the_alert(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, db: Database,
    clock: FakeClock,
) -> None:  # fmt: skip
    await audience(alert_store, clock)
    alert = await composer.send(kind="urgent", audience="leaders", areas=("Newham",), text="Avoid Green Street",
                                created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    await reached(alert_store, alert, "lead-newham")
    composer.approvals = 2
    assert await db.set_coordinator("console", "coord2", True, clock())
    await press(engine, f"alr-status:{alert.id}", COORD)
    await press(engine, f"alr-fix:{alert.id}", COORD)
    await say(engine, "It is Upton Lane, not Green Street.", COORD)
    waiting = await press(engine, "alr-fu-send:go", COORD)
    assert "is waiting for a second coordinator" in plain(waiting.text)
    [correction] = await alert_store.follow_ups(alert)
    assert correction.awaiting and correction.total == 1
    assert await db.query("SELECT 1 FROM alert_deliveries WHERE alert_id = ?", (correction.id,)) == []
    # Nobody hears of it yet: CHECK doesn't mention it; the status page says it waits.
    assert "corrected" not in plain((await say(engine, f"CHECK {alert.reference}")).text)
    page = plain((await press(engine, f"alr-status:{alert.id}", COORD)).text)
    assert f"Alert {correction.reference}: waiting for approval" in page
    # The other coordinator is asked, and sees it as the correction it is.
    [asked] = [n for n in await notifications(db) if n.key.startswith(f"alert-approval:{correction.id}:")]
    assert asked.user_id == "coord2" and f"Correction to alert {alert.reference}" in plain(asked.body["text"])
    assert "another coordinator must approve it" in plain(
        (await press(engine, f"alr-appr:{correction.id}", COORD)).text
    )
    # Meanwhile another leader received the alert: the approved correction reaches them too.
    await reached(alert_store, alert, "+447700900001")
    approved = await press(engine, f"alr-appr:{correction.id}", "coord2")
    assert "on its way to 2 recipients" in plain(approved.text)
    to = await db.query("SELECT user_id FROM alert_deliveries WHERE alert_id = ? ORDER BY id", (correction.id,))
    assert to == [("lead-newham",), ("+447700900001",)]
    assert "It was corrected" in plain((await say(engine, f"CHECK {alert.reference}")).text)
    actions = [(who, what) for _, who, what, _ in reversed(await alert_store.audit_log())]
    assert (f"console:{COORD}", "correction awaiting approval") in actions
    assert ("console:coord2", "alert approved") in actions
    # A refused all clear never goes; an escalation's reminder repeats an approved alert: it needn't wait.
    await press(engine, f"alr-status:{alert.id}", COORD)
    await press(engine, f"alr-clear:{alert.id}", COORD)
    await say(engine, "All clear.", COORD)
    await press(engine, "alr-fu-send:go", COORD)
    clear = (await alert_store.follow_ups(alert))[-1]
    await press(engine, f"alr-refuse:{clear.id}", "coord2")
    assert await db.query("SELECT 1 FROM alert_deliveries WHERE alert_id = ?", (clear.id,)) == []
    assert "all clear" not in plain((await say(engine, f"CHECK {alert.reference}")).text).lower()
    reminder = await composer.follow_up(alert, kind="reminder", text=alert.text, created_by="escalation",
                                        recipients=await alert_store.received(alert))  # fmt: skip
    assert not reminder.awaiting and reminder.total == 2


# --- escalation, and calls for help taken on ------------------------------------------------------------
async def test_unacknowledged_leaders_get_one_reminder_and_coordinators_the_places_not_reached(
    engine: Engine, alert_store: AlertStore, composer: Composer, alerts_flow: AlertsFlow, db: Database,
    clock: FakeClock,
) -> None:  # fmt: skip
    await audience(alert_store, clock)
    await alert_store.save_subscriber("console", "member-newham", kind="community", status="approved",
                                      boroughs=["Newham"], now=clock())  # fmt: skip
    alert = await composer.send(kind="urgent", audience="all", areas=("Newham",), text="Doors shut",
                                created_by="console:coord", channels=ALERT_CHANNELS,
                                escalate_after=timedelta(minutes=15))  # fmt: skip
    # lead-newham answers; +447700900001 was reached and hasn't; +447700900004 failed; 101 still queued
    await reached(alert_store, alert, "lead-newham", "+447700900001", "member-newham", failed="+447700900004")
    answered = await delivery_of_alert(db, alert, "lead-newham")
    await press(engine, f"alr-ack:{answered}", "lead-newham")
    clock.advance(minutes=14)
    await alerts_flow.escalate_due()
    assert await alert_store.follow_ups(alert) == [] and not await escalations(db)  # not yet
    clock.advance(minutes=1)
    await alerts_flow.escalate_due()
    [reminder] = await alert_store.follow_ups(alert)
    assert (reminder.follow_up, reminder.total, reminder.reference) == ("reminder", 1, f"{alert.reference}-1")
    to = await db.query("SELECT user_id FROM alert_deliveries WHERE alert_id = ?", (reminder.id,))
    assert to == [("+447700900001",)]  # reached and silent: not who answered, failed, or a community member
    [note] = await escalations(db)
    text = plain(note.body["text"])
    assert f"Alert {alert.reference}: 3 faith leaders have not acknowledged it after 15 min" in text
    assert "A reminder went to 1." in text
    assert "whatsapp +447700900001 · sent, no answer" in text
    assert "whatsapp +447700900004 · failed (blocked the bot)" in text and "telegram 101 · not sent yet" in text
    assert "lead-newham" not in text and "member-newham" not in text
    await alerts_flow.escalate_due()  # once
    assert len(await alert_store.follow_ups(alert)) == 1 and len(await escalations(db)) == 1
    # The reminder carries the original's reference; answering it answers the alert.
    delivery = await delivery_of_alert(db, reminder, "+447700900001")
    message = alerts_flow.message_for(reminder, Delivery(delivery, reminder.id, "whatsapp", "+447700900001", 1))
    assert plain(message.text).startswith(f"Reminder: alert {alert.reference}") and "Doors shut" in message.text
    await engine.handle(make_incoming(None, channel="whatsapp", user_id="+447700900001", choice=f"alr-ack:{delivery}"))
    assert (await alert_store.progress(alert)).acknowledged == 2
    assert "Reminder" in plain((await press(engine, f"alr-status:{alert.id}", COORD)).text)
    assert "Reminder" not in plain((await say(engine, f"CHECK {alert.reference}")).text)  # only corrections


async def delivery_of_alert(db: Database, alert: Alert, user_id: str) -> int:
    [(delivery_id,)] = await db.query(
        "SELECT id FROM alert_deliveries WHERE alert_id = ? AND user_id = ?", (alert.id, user_id)
    )
    return int(delivery_id)


async def escalations(db: Database) -> list[Notification]:
    return [n for n in await notifications(db) if n.key.startswith("alert-escalation:")]


async def test_the_chat_can_set_an_alert_to_escalate(engine: Engine, alert_store: AlertStore, clock: FakeClock) -> None:
    await audience(alert_store, clock)
    await compose(engine, "vigilance", "leaders", "newham")
    await say(engine, "Stay alert", COORD)
    on = await press(engine, "alr-esc:on", COORD)
    assert "Escalation: leaders who haven't acknowledged it after 15 min get one reminder" in plain(on.text)
    assert "alr-esc:off" in ids(on)
    assert "Escalation" not in plain((await press(engine, "alr-esc:off", COORD)).text)
    await press(engine, "alr-esc:on", COORD)
    await press(engine, "alr-send:go", COORD)
    [alert] = await alert_store.alerts()
    assert alert.escalate_after == timedelta(minutes=15)


async def test_need_help_asks_what_is_wrong_and_a_coordinator_takes_it_on(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    alert = await an_alert_to_amina(alert_store, composer, clock)
    assert await db.set_coordinator("console", "coord2", True, clock())
    delivery = await delivery_of(db, "amina")
    asked = await press(engine, f"alr-help:{delivery.id}")
    assert "What's wrong, and where?" in plain(asked.text) and f"alr-callme:{delivery.id}" in ids(asked)
    thanks = await say(engine, "Window smashed at the back, Green Street entrance")
    assert "The coordinators have your message" in plain(thanks.text) and not thanks.emergency
    details = [n for n in await notifications(db) if ":details-" in n.key]
    assert {n.user_id for n in details} == {COORD, "coord2"}
    assert "Window smashed at the back" in plain(details[0].body["text"]) and alert.reference in details[0].body["text"]
    assert [c[0] for c in details[0].body["choices"]] == [f"alr-onit:{delivery.id}"]
    # "I'm on it": the others see it is taken, and the person that someone is dealing with it.
    taken = await press(engine, f"alr-onit:{delivery.id}", COORD)
    assert "You're on it" in plain(taken.text) and "console: amina" in plain(taken.text)
    told = [n for n in await notifications(db) if n.key.startswith(f"help-taken:{delivery.id}")]
    assert {(n.user_id, "is dealing with" in n.body["text"] or "has seen" in n.body["text"]) for n in told} == {
        ("coord2", True), ("amina", True)
    }  # fmt: skip
    late = await press(engine, f"alr-onit:{delivery.id}", "coord2")
    assert "is already dealing with it" in plain(late.text)
    assert ("console:coord", "took on a call for help") in [(a, b) for _, a, b, _ in await alert_store.audit_log()]
    refused = await press(engine, f"alr-onit:{delivery.id}", "amina")
    assert refused.text == NOT_ALLOWED


async def test_danger_typed_after_need_help_gets_999_first_and_still_reaches_the_coordinators(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    await an_alert_to_amina(alert_store, composer, clock)
    delivery = await delivery_of(db, "amina")
    await press(engine, f"alr-help:{delivery.id}")
    reply = await say(engine, "a man with a knife is at the gate right now")
    assert reply.emergency and "999" in plain(reply.text).split("\n")[0]
    assert any("a man with a knife" in n.body["text"] for n in await notifications(db) if ":details-" in n.key)
    await press(engine, f"alr-help:{delivery.id}")  # again, and "Call me" this time
    call = await press(engine, f"alr-callme:{delivery.id}")
    assert "The coordinators have your message" in plain(call.text) and not call.emergency
    assert any("Please call me" in n.body["text"] for n in await notifications(db) if ":details-" in n.key)


# --- a subscriber's preferences --------------------------------------------------------------------
async def test_a_leader_chooses_the_kinds_they_get_and_their_quiet_hours(
    engine: Engine, alert_store: AlertStore, composer: Composer, db: Database, clock: FakeClock
) -> None:
    await alert_store.save_subscriber("console", "amina", kind="leader", status="approved", name="Amina",
                                      boroughs=["Newham"], now=clock())  # fmt: skip
    home = await say(engine, "/alerts")
    page = await press(engine, "alr:prefs")
    assert "You get: Urgent, Vigilance, Reassurance." in plain(page.text) and "Quiet hours: 22:00–07:00" in plain(
        page.text
    )
    assert "alr:prefs" in ids(home) and ids(page)[:3] == [
        "alr-pref:vigilance",
        "alr-pref:reassurance",
        "alr-pref:quiet",
    ]
    off = await press(engine, "alr-pref:vigilance")
    assert "You get: Urgent, Reassurance." in plain(off.text) and "✗ Vigilance: off" in labels(off)
    for kind, reaches in (("vigilance", False), ("reassurance", True), ("urgent", True)):
        preview = await composer.preview("leaders", ("Newham",), ALERT_CHANNELS, kind)
        assert ("amina" in {s.user_id for s in preview.recipients}) is reaches, kind
    await press(engine, "alr-pref:quiet")
    again = await say(engine, "after dinner")
    assert "didn't understand those hours" in plain(again.text)
    set_ = await say(engine, "23:00 to 6")
    assert "Quiet hours: 23:00–06:00" in plain(set_.text)
    clock.now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    calm = await composer.send(kind="reassurance", audience="leaders", areas=("Newham",), text="All calm",
                               created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    [(due,)] = await db.query("SELECT not_before FROM alert_deliveries WHERE alert_id = ?", (calm.id,))
    assert datetime.fromisoformat(due) == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    await press(engine, "alr-pref:quiet")
    none = await press(engine, "alr-pref:no-quiet")
    assert "Quiet hours: none" in plain(none.text)
    later = await composer.send(kind="reassurance", audience="leaders", areas=("Newham",), text="Still calm",
                                created_by="cli", channels=ALERT_CHANNELS)  # fmt: skip
    [(due,)] = await db.query("SELECT not_before FROM alert_deliveries WHERE alert_id = ?", (later.id,))
    assert datetime.fromisoformat(due) == clock()
