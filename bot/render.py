"""Render the bot's Markdown subset for each channel and split it to a platform's length limit.

The subset is what content editors write: paragraphs, bold, italic, links and lists. It is parsed
with markdown-it-py (raw HTML disabled, so it shows as text) and rendered block by block, so a
split never falls inside a tag.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.languages import LRI, PDI, Voice, bidi, isolate_ltr, language, rtl_lines
from bot.messages import Reply


class Wording(Protocol):
    """The bot's own words, as rendering needs them: how to pick a choice, and a translation's notes
    (content's `Copy` is one)."""

    def format(self, key: str, **values: object) -> str: ...

    def english(self, key: str) -> str: ...

    def speaking(self, code: str | None) -> AbstractContextManager[Voice]: ...


_PARSER = MarkdownIt("commonmark", {"html": False}).disable(["image", "heading", "lheading"])


class Style(StrEnum):
    """The output formats the channels need."""

    PLAIN = "plain"
    TELEGRAM_HTML = "telegram_html"
    WHATSAPP = "whatsapp"


def _plain_text(text: str) -> str:
    return text


_ESCAPE: dict[Style, Callable[[str], str]] = {
    Style.PLAIN: _plain_text,
    Style.TELEGRAM_HTML: lambda text: html.escape(text, quote=False),
    Style.WHATSAPP: _plain_text,
}
_MARKS: dict[Style, dict[str, str]] = {
    Style.PLAIN: {"strong": "", "em": ""},
    Style.TELEGRAM_HTML: {"strong_open": "<b>", "strong_close": "</b>", "em_open": "<i>", "em_close": "</i>"},
    Style.WHATSAPP: {"strong": "*", "em": "_"},
}


def _inline(children: Iterable[Token], style: Style, rtl: bool = False) -> str:
    plain_escape = _ESCAPE[style]
    escape = (lambda text: plain_escape(isolate_ltr(text))) if rtl else plain_escape
    marks = _MARKS[style]
    out: list[str] = []
    link_href: list[str] = []
    link_start: list[int] = []
    for tok in children:
        kind = tok.type
        if kind == "text" or kind == "code_inline":
            out.append(escape(tok.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in ("strong_open", "strong_close", "em_open", "em_close"):
            out.append(marks.get(kind, marks.get(kind.rsplit("_", 1)[0], "")))
        elif kind == "link_open":
            href = str(tok.attrs.get("href", ""))
            link_href.append(href)
            link_start.append(len(out))
            if style is Style.TELEGRAM_HTML:
                out.append(f'<a href="{html.escape(href, quote=True)}">')
        elif kind == "link_close" and link_href:
            href = link_href.pop()
            label = "".join(out[link_start.pop() :])
            if style is Style.TELEGRAM_HTML:
                out.append("</a>")
            elif label.strip("*_ ") != href and href.removeprefix("mailto:") != label.strip("*_ "):
                out.append(f" ({LRI}{href}{PDI})" if rtl else f" ({href})")
    return "".join(out)


def render_blocks(markdown: str, style: Style, rtl: bool = False) -> list[str]:
    """Render Markdown as a list of display blocks: paragraphs, and each list as one block.
    `rtl`: for a right-to-left language, each line starts right to left and numbers and links
    inside stay left to right (see `languages.isolate_ltr`)."""
    blocks = _render_blocks(markdown, style, rtl)
    return [rtl_lines(block) for block in blocks] if rtl else list(blocks)


@lru_cache(maxsize=2048)  # the same answers are rendered again and again
def _render_blocks(markdown: str, style: Style, rtl: bool = False) -> tuple[str, ...]:
    blocks: list[str] = []
    lists: list[list[int]] = []  # one counter per open list; -1 marks a bullet list
    items: list[str] = []  # lines of the outermost open list
    prefix = ""
    for tok in _PARSER.parse(markdown):
        if tok.type in ("ordered_list_open", "bullet_list_open"):
            start = int(str(tok.attrs.get("start", 1))) if tok.type == "ordered_list_open" else -1
            lists.append([start])
        elif tok.type in ("ordered_list_close", "bullet_list_close"):
            lists.pop()
            if not lists and items:
                blocks.append("\n".join(items))
                items = []
        elif tok.type == "list_item_open" and lists:
            counter = lists[-1]
            indent = "   " * (len(lists) - 1)
            prefix = f"{indent}• " if counter[0] < 0 else f"{indent}{counter[0]}. "
            counter[0] += 0 if counter[0] < 0 else 1
        elif tok.type == "inline":
            text = prefix + _inline(tok.children or [], style, rtl)
            prefix = ""
            (items if lists else blocks).append(text)
        elif tok.type in ("fence", "code_block"):
            (items if lists else blocks).append(_ESCAPE[style](tok.content.rstrip("\n")))
    return tuple(blocks)


def render(markdown: str, style: Style, rtl: bool = False) -> str:
    """Render Markdown as one string, blocks separated by a blank line."""
    return "\n\n".join(render_blocks(markdown, style, rtl))


def split_message(blocks: list[str], limit: int) -> list[str]:
    """Pack rendered blocks into messages of at most `limit` characters, splitting on paragraphs.

    A block longer than the limit is split on line breaks, then on spaces, then hard.
    """
    pieces: list[str] = []
    for block in blocks:
        pieces.extend(_fit(block, limit))
    messages: list[str] = []
    for piece in pieces:
        if messages and len(messages[-1]) + 2 + len(piece) <= limit:
            messages[-1] += "\n\n" + piece
        else:
            messages.append(piece)
    return messages or [""]


def _fit(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    for separator in ("\n", " "):
        if separator in block:
            parts: list[str] = []
            for part in block.split(separator):
                for fitted in _fit(part, limit):
                    if parts and len(parts[-1]) + len(separator) + len(fitted) <= limit:
                        parts[-1] += separator + fitted
                    else:
                        parts.append(fitted)
            return parts
    return _hard_cut(block, limit)


def _hard_cut(block: str, limit: int) -> list[str]:
    """A block with no line break or space, cut to the limit, never inside an HTML entity or tag
    ("&amp;" cut to "&am" makes Telegram refuse the message)."""
    parts = []
    while len(block) > limit:
        cut = limit
        entity, tag = block.rfind("&", 0, cut), block.rfind("<", 0, cut)
        if entity > block.rfind(";", 0, cut) and cut - entity <= 10:
            cut = entity
        if tag > block.rfind(">", 0, cut):
            cut = min(cut, tag)
        cut = cut if cut > 0 else limit
        parts.append(block[:cut])
        block = block[cut:]
    return [*parts, block]


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def choice_keys(reply: Reply) -> list[str]:
    """What a person types to pick each of a reply's choices: numbers, or letters (A, B…) on a
    message the bot sent first, so they never stand for the options the person is in the middle of."""
    if reply.lettered:
        return list(LETTERS[: len(reply.choices)])
    return [str(n) for n in range(1, len(reply.choices) + 1)]


def choices_prompt(reply: Reply, copy: Wording) -> str:
    """How to pick one of a reply's choices (by number or letter), or type instead."""
    keys = choice_keys(reply)
    if reply.lettered:
        key = "choose_letter"
    else:
        key = "choose_number_typed" if reply.typed else "choose_number"
    return copy.format(key, count=len(keys), first=keys[0], last=keys[-1]) if keys else ""


def in_language(reply: Reply, voice: Voice, copy: Wording) -> Reply:
    """A reply worded in a language other than English, marked with it (so channels set the
    text's direction, and word how to pick a choice in it) and ending with the notes its
    translation needs: that part of it is still English, or that a draft is shown."""
    if voice.english or reply.language is not None:
        return reply
    notes = [voice.note_text(key) or copy.english(key) for key in sorted(voice.notes)]
    text = "\n\n".join([reply.text, *notes]) if reply.text and not reply.silent else reply.text
    return dataclasses.replace(reply, text=text, language=voice.language.code)


def is_rtl(reply: Reply) -> bool:
    """Whether a reply is worded in a right-to-left language."""
    return language(reply.language).rtl


def choices_text(reply: Reply, copy: Wording) -> str:
    """A reply's choices numbered (or lettered), then how to pick one, in the reply's language
    (for channels without buttons)."""
    with copy.speaking(reply.language):
        prompt = choices_prompt(reply, copy)
    text = numbered_choices([c.label for c in reply.choices], prompt, choice_keys(reply))
    return bidi(text, is_rtl(reply))


def numbered_choices(labels: list[str], prompt: str, keys: list[str] | None = None) -> str:
    """Choices as a numbered (or lettered: `keys`) list for channels without buttons, then how to pick one."""
    keys = keys or [str(n) for n in range(1, len(labels) + 1)]
    lines = [f"{key}. {label}" for key, label in zip(keys, labels, strict=True)]
    return "\n".join([*lines, "", prompt]) if lines else ""


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>#+\-.!|~&])")  # & too, or "&amp;" would show as "&"


def escape_markdown(text: str) -> str:
    """Someone's own words, safe to put inside the bot's Markdown: nothing in them formats."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
