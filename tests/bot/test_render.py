"""The Markdown subset renders for every channel and splits on paragraph boundaries."""

from __future__ import annotations

import dataclasses

from bot.content import Content
from bot.messages import Choice, Reply
from bot.render import Style, choices_prompt, numbered_choices, render, render_blocks, split_message

SAMPLE = """Call **999** if you are _in danger_ now. See [the Met](https://www.met.police.uk/).

1. **Call 999.**
2. Say <where> & what.

- one
- two"""


def test_plain_drops_marks_and_shows_link_addresses() -> None:
    text = render(SAMPLE, Style.PLAIN)
    assert text.startswith("Call 999 if you are in danger now. See the Met (https://www.met.police.uk/).")
    assert "1. Call 999.\n2. Say <where> & what." in text
    assert "• one\n• two" in text


def test_telegram_html_escapes_everything_it_did_not_write() -> None:
    text = render(SAMPLE, Style.TELEGRAM_HTML)
    assert "<b>999</b>" in text and "<i>in danger</i>" in text
    assert '<a href="https://www.met.police.uk/">the Met</a>' in text
    assert "Say &lt;where&gt; &amp; what." in text
    assert "<script>" not in render("<script>alert(1)</script>", Style.TELEGRAM_HTML)


def test_whatsapp_uses_its_own_marks() -> None:
    text = render(SAMPLE, Style.WHATSAPP)
    assert "*999*" in text and "_in danger_" in text and "<b>" not in text


def test_split_keeps_paragraphs_whole_and_under_the_limit() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 40 for i in range(30)]
    messages = split_message(render_blocks("\n\n".join(paragraphs), Style.PLAIN), 1600)
    assert len(messages) > 1 and all(len(m) <= 1600 for m in messages)
    assert all(m.startswith("Paragraph") for m in messages)
    assert sum(m.count("Paragraph") for m in messages) == 30


def test_a_block_longer_than_the_limit_is_split_on_words() -> None:
    messages = split_message(["word " * 1000], 100)
    assert all(len(m) <= 100 for m in messages)
    assert " ".join(messages).split() == ["word"] * 1000


def test_numbered_choices() -> None:
    assert numbered_choices(["Yes", "No"], "Reply 1 or 2") == "1. Yes\n2. No\n\nReply 1 or 2"


def test_one_choice_is_not_a_range(content: Content) -> None:
    """#14: "Reply with a number (1–1)"."""
    one = Reply("x", (Choice("menu:main", "Main menu"),))
    assert choices_prompt(one, content.copy) == "Reply with 1 or type a question."
    two = Reply("x", (Choice("a", "A"), Choice("b", "B")), lettered=True)
    assert choices_prompt(two, content.copy) == "Reply with a letter (A–B)."
    assert choices_prompt(dataclasses.replace(two, choices=two.choices[:1]), content.copy) == "Reply with A for that."
