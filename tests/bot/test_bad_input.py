"""Whatever people type, the bot answers kindly: no exception, and every reply renders everywhere."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answers import Answerer
from bot.dialog import Engine
from bot.render import Style, render, render_blocks, split_message
from tests.conftest import make_incoming

messages = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(
        [
            "/start",
            "/menu",
            "/cancel",
            "/help",
            "/forget",
            "/privacy",
            "1",
            "2",
            "9",
            "0",
            "-1",
            "yes",
            "no",
            "menu",
            "**",
            "[x](y)",
            "<b>",
            "`",
            "\\",
            "# hi",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(text=messages)
def test_answering_never_raises_and_renders_everywhere(answerer: Answerer, text: str) -> None:
    reply = answerer.reply(answerer.answer(text))
    for style in Style:
        assert render(reply.text, style).strip()
    for limit in (1600, 4096):
        assert all(len(m) <= limit for m in split_message(render_blocks(reply.text, Style.PLAIN), limit))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["amina", "yusuf"]),
            st.one_of(messages.map(lambda t: ("text", t)), st.text(max_size=70).map(lambda c: ("choice", c))),
        ),
        max_size=8,
    )
)
async def test_random_conversations_never_hit_the_error_reply(
    engine: Engine, steps: list[tuple[str, tuple[str, str]]]
) -> None:
    for user, (kind, value) in steps:
        incoming = (
            make_incoming(value, user_id=user) if kind == "text" else make_incoming(None, user_id=user, choice=value)
        )
        reply = await engine.handle(incoming)
        assert reply.text != engine.copy["error"]
        assert reply.choices or reply.text
