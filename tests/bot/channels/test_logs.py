"""What a conversation leaves in the logs: what happened, never what was written, by whom or from
which number."""

from __future__ import annotations

import logging

import pytest

from bot.logs import MaskingFilter
from tests.bot.channels.conftest import WhatsApp


async def test_a_whatsapp_conversation_leaves_no_words_names_or_numbers_in_the_logs(
    whatsapp: WhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())
    await whatsapp.say("someone sprayed hateful graffiti on our gurdwara wall", ProfileName="Harjit Zq Singh")
    await whatsapp.say("/forget")
    await whatsapp.say("yes")
    logged = caplog.text
    assert "deleted a whatsapp user's data on request" in logged
    for secret in ("graffiti", "gurdwara", "Harjit", "+447700900123", "447700900123"):
        assert secret not in logged, secret
