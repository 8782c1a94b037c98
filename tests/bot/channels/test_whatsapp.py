"""The bot on WhatsApp over real HTTP: Twilio-signed webhooks posted to the running web app, and
the real twilio client sending through a fake Twilio REST server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from bot.messages import Delivery, Reply
from bot.phone import e164
from bot.store import Database
from tests.bot.channels.conftest import NUMBER, PUBLIC, TEMPLATE, WhatsApp
from tests.conftest import FakeClock
from tests.fakes.twilio_api import AUTH_TOKEN, SENDER, FakeTwilioApi


async def test_a_question_gets_its_answer_with_numbered_choices(whatsapp: WhatsApp) -> None:
    messages = await whatsapp.say("how do I report a hate crime")
    answer = "\n\n".join(messages)
    assert answer.startswith("*Report a hate crime or hate incident*")
    assert "<b>" not in answer and "\n1. " in answer and messages[-1].endswith(") or type a question.")


async def test_danger_now_leads_with_999(whatsapp: WhatsApp) -> None:
    first = (await whatsapp.say("there is a man with a knife at the gate"))[0]
    assert first.startswith("*If you or anyone else is in danger now, call 999*")


async def test_numbers_and_keywords_pick_options(whatsapp: WhatsApp) -> None:
    [menu] = await whatsapp.say("MENU")
    assert "1. Get help now" in menu and "2. Report a hate crime" in menu
    answer = await whatsapp.say("2")
    assert "First: *are you safe right now?*" in answer[0]
    help_text = await whatsapp.say("help")
    # "help" alone may be a plea: the 999 advice first, then what the bot can do.
    assert help_text[0].startswith("*If you or anyone else is in danger now, call 999*")
    assert "*What this bot can do*" in "\n".join(help_text)


async def test_the_number_is_stored_in_e164(whatsapp: WhatsApp, db: Database) -> None:
    await whatsapp.say("hello")
    assert (await db.contact("whatsapp", NUMBER)).last_inbound_at is not None
    assert e164("whatsapp:+44 7700 900123") == NUMBER and e164("whatsapp:not-a-number") is None


async def test_long_answers_are_split_under_1600_characters(whatsapp: WhatsApp) -> None:
    long = Reply("\n\n".join("Paragraph. " + "word " * 200 for _ in range(6)))
    parts = whatsapp.channel.render(long)
    assert len(parts) > 1 and all(len(part) <= 1600 for part in parts)


@pytest.mark.parametrize("signature", [None, "", "bm90LXRoZS1zaWduYXR1cmU="])
async def test_unsigned_or_forged_requests_are_refused_without_touching_state(
    whatsapp: WhatsApp, db: Database, signature: str | None
) -> None:
    params = {"From": f"whatsapp:{NUMBER}", "Body": "STOP"}
    assert (await whatsapp.post("/whatsapp/inbound", params, signature=signature)).status_code == 403
    assert await db.contact("whatsapp", NUMBER) == await db.contact("whatsapp", "+440000000000")
    assert await db.load_dialog("whatsapp", NUMBER) is None


async def test_a_signature_replayed_with_a_changed_body_is_refused(whatsapp: WhatsApp, db: Database) -> None:
    signed = {"From": f"whatsapp:{NUMBER}", "Body": "hello"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/whatsapp/inbound", signed)
    changed = {**signed, "Body": "STOP"}
    assert (await whatsapp.post("/whatsapp/inbound", changed, signature=signature)).status_code == 403
    assert (await db.contact("whatsapp", NUMBER)).opted_out_at is None


async def test_stop_and_start(whatsapp: WhatsApp, twilio_api: FakeTwilioApi) -> None:
    [confirmation, *_] = await whatsapp.say("stop")
    assert "START" in confirmation
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Vigilance alert")) is Delivery.OPTED_OUT
    assert twilio_api.messages == []
    welcome = await whatsapp.say("START")
    assert welcome[0].startswith("Welcome back")
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Vigilance alert")) is Delivery.SENT


async def test_proactive_messages_are_free_form_inside_the_window(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database
) -> None:
    await whatsapp.say("hello")
    delivery = await whatsapp.channel.send_proactive(NUMBER, Reply("**Reassurance:** police are patrolling."))
    assert delivery is Delivery.SENT
    [message] = twilio_api.messages
    assert message["To"] == f"whatsapp:{NUMBER}" and message["From"] == SENDER
    assert message["Body"] == "*Reassurance:* police are patrolling."
    assert message["StatusCallback"] == f"{PUBLIC}/whatsapp/status"
    assert await db.outgoing(message["Sid"]) == ("queued", None)


async def test_outside_the_window_a_template_goes_and_the_text_waits_for_view(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, clock: FakeClock
) -> None:
    await whatsapp.say("hello")
    clock.advance(hours=25)
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Vigilance: be alert tonight.")) is Delivery.TEMPLATE
    [template] = twilio_api.messages
    assert template["ContentSid"] == TEMPLATE and "Body" not in template
    assert template["ContentVariables"] == '{"1": "community safety team"}'
    assert await whatsapp.say("view") == []  # the held text goes by REST, so Twilio's record says it went
    assert [m.get("Body") for m in twilio_api.messages[1:]] == ["Vigilance: be alert tonight."]
    assert await whatsapp.say("view") != ["Vigilance: be alert tonight."]  # delivered once
    assert len(twilio_api.messages) == 2


async def test_held_text_survives_a_view_whose_answer_was_never_read(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, clock: FakeClock
) -> None:
    await whatsapp.say("hello")
    clock.advance(hours=25)
    await whatsapp.channel.send_proactive(NUMBER, Reply("Urgent: stay inside."))
    params = {"From": f"whatsapp:{NUMBER}", "To": SENDER, "Body": "VIEW", "NumMedia": "0", "MessageSid": "SMview"}
    await post_and_hang_up(whatsapp.base, "/whatsapp/inbound", params)  # the connection drops
    held = await twilio_api.posted(lambda m: m.get("Body") == "Urgent: stay inside.")
    assert held["To"] == f"whatsapp:{NUMBER}"


async def test_held_text_twilio_did_not_take_waits_for_the_next_message(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database, clock: FakeClock
) -> None:
    await whatsapp.say("hello")
    clock.advance(hours=25)
    await whatsapp.channel.send_proactive(NUMBER, Reply("Urgent: stay inside."))
    twilio_api.fail("status", 500, times=4)  # every try of the held text fails
    await whatsapp.say("VIEW")
    assert [text for _, text in await db.held_messages("whatsapp", NUMBER)] == ["Urgent: stay inside."]
    await whatsapp.say("VIEW")
    assert await db.held_messages("whatsapp", NUMBER) == []
    assert [m.get("Body") for m in twilio_api.messages].count("Urgent: stay inside.") == 1


async def test_a_message_posted_twice_is_handled_once(whatsapp: WhatsApp, db: Database) -> None:
    first = await whatsapp.say("how do I report a hate crime?", MessageSid="SMsame")
    again = await whatsapp.say("how do I report a hate crime?", MessageSid="SMsame")
    assert first and again == []
    [(channel, key, handled, payload)] = await db.query("SELECT channel, key, handled_at, payload FROM inbox")
    assert (channel, key, payload) == ("whatsapp", "SMsame", None) and handled is not None  # no text kept


async def test_a_replayed_stop_does_not_opt_the_person_out_again(whatsapp: WhatsApp, db: Database) -> None:
    await whatsapp.say("STOP", MessageSid="SMstop")
    await whatsapp.say("START", MessageSid="SMstart")
    assert await whatsapp.say("STOP", MessageSid="SMstop") == []  # a captured request, signed, sent again
    assert (await db.contact("whatsapp", NUMBER)).opted_out_at is None


async def test_a_message_a_crash_interrupted_is_answered_on_start(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database, clock: FakeClock
) -> None:
    await whatsapp.say("hello")
    # Written to the inbox, then the process was killed before handling it.
    params = {"From": f"whatsapp:{NUMBER}", "To": SENDER, "Body": "how do I report a hate crime?", "NumMedia": "0",
              "MessageSid": "SMlost"}  # fmt: skip
    await db.receive("whatsapp", "SMlost", json.dumps(params), clock())
    await whatsapp.channel.stop()
    await whatsapp.channel.start()  # the next start
    answer = await twilio_api.posted(lambda m: "report" in m.get("Body", "").lower())
    assert answer["To"] == f"whatsapp:{NUMBER}"
    assert await db.unhandled("whatsapp") == []


async def post_and_hang_up(base: str, path: str, params: dict[str, str]) -> None:
    """POST a signed form over a raw connection and close it without reading the answer."""
    body = urlencode(params).encode()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, params)
    host, port = base.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    writer.write(head.encode() + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_window_closed_error_falls_back_to_the_template(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database
) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("code", 63016)
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Alert")) is Delivery.TEMPLATE
    assert [m.get("ContentSid") for m in twilio_api.messages] == [TEMPLATE]
    assert (await db.contact("whatsapp", NUMBER)).window_closed_at is not None


async def test_rate_limits_and_server_errors_are_retried(whatsapp: WhatsApp, twilio_api: FakeTwilioApi) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("status", 429)
    twilio_api.fail("status", 500)
    twilio_api.fail("drop")
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Alert")) is Delivery.SENT
    assert twilio_api.refused == 3 and len(twilio_api.messages) == 1
    assert twilio_api.lookups == 1  # after the dropped connection: Twilio had not taken it


async def test_a_message_twilio_took_whose_answer_was_lost_is_not_sent_again(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database
) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("lost_answer")  # taken, then the connection closed before the answer
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Reminder")) is Delivery.SENT
    [taken] = [m for m in twilio_api.messages if m.get("Body") == "Reminder"]  # once
    assert twilio_api.lookups == 1  # Twilio's list of messages said it had it
    assert await db.outgoing(taken["Sid"]) == ("queued", None)  # recorded as if answered


async def test_a_message_twilio_never_took_is_sent_again_after_a_look(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi
) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("drop")  # closed before Twilio took anything
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Reminder")) is Delivery.SENT
    assert [m["Body"] for m in twilio_api.messages if m.get("Body") == "Reminder"] == ["Reminder"]
    assert twilio_api.lookups == 1


async def test_when_twilio_cannot_say_only_a_call_for_help_is_sent_again(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database
) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("lost_answer")
    twilio_api.fail_lookups()
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Reminder")) is Delivery.UNCONFIRMED
    assert [m["Body"] for m in twilio_api.messages if m.get("Body") == "Reminder"] == ["Reminder"]
    outgoing = (await db.scan())["outgoing_messages"]
    assert [row[4] for row in outgoing if str(row[0]).startswith("unconfirmed-")] == ["unconfirmed"]
    twilio_api.fail("lost_answer")
    twilio_api.fail_lookups()
    help_key = "need-help:9:whatsapp:" + NUMBER
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Need help"), about=help_key) is Delivery.SENT
    assert [m["Body"] for m in twilio_api.messages if m.get("Body") == "Need help"] == ["Need help"] * 2


async def test_failures_are_recorded_never_lost(whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database) -> None:
    await whatsapp.say("hello")
    twilio_api.fail("code", 21610)  # Twilio: the recipient unsubscribed
    assert await whatsapp.channel.send_proactive(NUMBER, Reply("Alert")) is Delivery.OPTED_OUT
    outgoing = (await db.scan())["outgoing_messages"]
    assert [(row[2], row[4], row[5]) for row in outgoing] == [(NUMBER, "failed", 21610)]


async def test_no_template_configured_means_nothing_is_sent(whatsapp: WhatsApp, twilio_api: FakeTwilioApi) -> None:
    whatsapp.channel.template_sids = {}
    assert await whatsapp.channel.send_proactive("+447700900999", Reply("Alert")) is Delivery.NO_TEMPLATE
    assert twilio_api.messages == []


async def test_delivery_reports_are_recorded(whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database) -> None:
    await whatsapp.say("hello")
    await whatsapp.channel.send_proactive(NUMBER, Reply("Alert"))
    sid = twilio_api.messages[0]["Sid"]
    report = {"MessageSid": sid, "MessageStatus": "delivered", "To": f"whatsapp:{NUMBER}"}
    assert (await whatsapp.post("/whatsapp/status", report)).status_code == 204
    assert await db.outgoing(sid) == ("delivered", None)
    failed = {**report, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    assert (await whatsapp.post("/whatsapp/status", failed, signature="forged")).status_code == 403
    assert (await whatsapp.post("/whatsapp/status", failed)).status_code == 204
    assert await db.outgoing(sid) == ("undelivered", 63016)
    assert (await db.contact("whatsapp", NUMBER)).window_closed_at is not None


async def test_a_slow_answer_follows_through_the_rest_api(whatsapp: WhatsApp, twilio_api: FakeTwilioApi) -> None:
    whatsapp.channel.reply_deadline = 0  # answering always takes longer than this
    assert await whatsapp.say("what is true vision") == []  # Twilio gets its answer at once
    message = await twilio_api.posted()
    assert message["Body"].startswith("*Report hate crime online with True Vision*")


async def test_a_photo_without_words_gets_a_kind_reply(whatsapp: WhatsApp) -> None:
    reply = await whatsapp.say("", NumMedia="1", MediaUrl0="https://example.org/p.jpg")
    assert "text" in reply[0]


async def test_forget_leaves_nothing_that_identifies_the_number(
    whatsapp: WhatsApp, twilio_api: FakeTwilioApi, db: Database, clock: FakeClock
) -> None:
    await whatsapp.say("hello")
    await whatsapp.channel.send_proactive(NUMBER, Reply("Alert"))
    clock.advance(hours=30)
    await whatsapp.channel.send_proactive(NUMBER, Reply("Held alert"))  # held until VIEW
    await whatsapp.say("/forget")
    await whatsapp.say("1")  # yes, delete it
    rows = await db.scan()
    assert not any(NUMBER in str(row) for table in rows.values() for row in table), rows


async def test_a_delivery_report_with_an_absurd_error_code_is_taken_not_a_500(whatsapp: WhatsApp) -> None:
    report = {"MessageSid": "SMx", "MessageStatus": "failed", "ErrorCode": "9" * 40}
    assert (await whatsapp.post("/whatsapp/status", report)).status_code == 204
