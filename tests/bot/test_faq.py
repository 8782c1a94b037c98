"""Questions in people's own words find the right sourced answer; others get suggestions or a kind no."""

from __future__ import annotations

import pytest

from bot.answers import Answerer, Kind, without_repeats
from bot.content import Content
from bot.render import Style, render

PARAPHRASES = [
    ("how can i make a report about a hate crime", "report-hate-crime"),
    ("wat is tel mama", "tell-mama"),  # misspelt
    ("jewish community security trust phone number", "cst-antisemitism"),
    ("can i report it without giving my name", "third-party-reporting"),
    # The brief's example: "after Friday prayers" says when it happened, not what it is about.
    ("how do I report what happened after Friday prayers?", "report-hate-crime"),
    ("grafitti sprayed on our masjid wall", "graffiti-criminal-damage"),  # misspelt, synonym
    ("martyns law does it apply to a small mosque", "martyns-law"),
    ("someone hacked our facebook page", "cyber-security"),
    ("a fake video about our gurdwara is going round on whatsapp", "misinformation"),
    ("is there a grant to pay for cctv at our church", "security-funding-schemes"),
    ("unattended rucksack found in the car park what is the procedure", "suspicious-item"),
    ("my deaf brother needs to contact the police", "deaf-text-relay"),
    ("does this bot store my personal information", "data-privacy"),
]

OUT_OF_SCOPE = [
    "what time is fajr tomorrow",
    "can you recommend a good curry house",
    "how do I renew my passport",
    "who will win the premier league",
    "ماذا تفعل",
]


@pytest.mark.parametrize(("question", "expected"), PARAPHRASES)
def test_paraphrases_find_their_answer(answerer: Answerer, question: str, expected: str) -> None:
    answer = answerer.answer(question)
    assert answer.kind is Kind.ANSWER, [e.id for e in answer.suggestions]
    assert answer.entry is not None and answer.entry.id == expected


def test_fear_after_the_riots_reaches_mental_health_support(answerer: Answerer) -> None:
    """Read as a plain question it is answered with the entry; read as a crisis (the models give
    it about a 0.3 chance of life at risk now) the crisis lines come first and the entry is the
    first choice offered after them. Either way the person reaches it in one step."""
    answer = answerer.answer("i cant stop feeling scared after the riots")
    if answer.kind is Kind.CRISIS:
        assert [e.id for e in answer.suggestions][:1] == ["mental-health-support"]
    else:
        assert answer.kind is Kind.ANSWER and answer.entry is not None
        assert answer.entry.id == "mental-health-support"


@pytest.mark.parametrize("question", OUT_OF_SCOPE)
def test_out_of_scope_gets_a_kind_fallback_with_the_menu(answerer: Answerer, question: str) -> None:
    answer = answerer.answer(question)
    assert answer.kind in (Kind.FALLBACK, Kind.DECLINED, Kind.SUGGEST)
    if answer.kind is not Kind.SUGGEST:
        reply = answerer.reply(answer)
        opening = "That isn't something I can help with" if answer.kind is Kind.DECLINED else "Sorry"
        assert reply.text.startswith(opening) and "In danger now? Call 999." in render(reply.text, Style.PLAIN)
        assert "menu:report" in {c.id for c in reply.choices}


def test_confident_answer_has_sources_and_related_topics(answerer: Answerer, content: Content) -> None:
    reply = answerer.reply(answerer.answer("how do i report online hate speech"))
    entry = content.faq[reply.answer or ""]
    assert entry.id == "online-hate"
    assert "Sources:" in reply.text and all(url in reply.text for url in entry.sources)
    offered = {c.id for c in reply.choices}
    assert {f"faq:{related}" for related in entry.related} <= offered
    assert "menu:main" in offered


@pytest.mark.parametrize("vague", ["police", "report", "security"])
def test_one_general_word_offers_three_suggestions(answerer: Answerer, vague: str) -> None:
    assert answerer.answer(vague).kind is Kind.SUGGEST
    reply = answerer.reply(answerer.answer(vague))
    assert reply.answer is None and len(reply.suggestions) == 3
    assert [c.id for c in reply.choices[:3]] == [f"faq:{i}" for i in reply.suggestions]
    assert reply.choices[-1].id == "menu:none"


def test_synonyms_come_from_content(answerer: Answerer) -> None:
    terms = answerer.normaliser.terms
    assert terms("masjid") == terms("mosque")
    assert terms("jummah") == terms("friday prayers")


def test_misspellings_are_corrected_towards_content_words(answerer: Answerer) -> None:
    assert answerer.normaliser.corrected_words("polise reprot") == ["police", "report"]
    # a real English word is not "corrected" into a content word
    assert answerer.normaliser.corrected_words("match") == ["match"]


@pytest.mark.parametrize("question", ["what can u do", "who are you?", "what are you for"])
def test_questions_about_the_bot_itself(answerer: Answerer, question: str) -> None:
    answer = answerer.answer(question)
    if question == "who are you?" and answer.entry is None:  # reads as much like a greeting as a question
        said = answerer.reply(answer).text
        assert "I can help with safety for places of worship" in said
        assert answer.kind in (Kind.FALLBACK, Kind.DECLINED)
    else:
        assert answer.entry.id == "bot-help"


@pytest.mark.parametrize(
    "question", ["when is iftar today", "can I book the hall for my sister's nikah", "any jobs at the centre"]
)
def test_things_the_bot_declines_are_out_of_scope(answerer: Answerer, question: str) -> None:
    """Closer to content/out_of_scope.yaml than to any answer: declined, not guessed, and sent to
    their place of worship."""
    answer = answerer.answer(question)
    assert answer.kind is Kind.DECLINED
    assert "ask" in answerer.reply(answer).text and "place of worship" in answerer.reply(answer).text


def test_a_long_message_is_answered_by_its_question(answerer: Answerer) -> None:
    message = (
        "Salaam everyone, hope you are all keeping well. I volunteer at our centre on weekends and "
        "the committee asked me to look into a few things after a difficult month for the community. "
        "Several elders were upset by what happened at the bus stop last Tuesday and we are still "
        "talking about it. Where can people get emotional support after a crime like this?"
    )
    answer = answerer.answer(message)
    assert answer.kind is Kind.ANSWER and answer.entry is not None
    assert answer.entry.id == "victim-support"


def test_under_the_999_advice_an_answer_does_not_repeat_its_lines(answerer: Answerer, content: Content) -> None:
    """#14: "press 55" and "text relay 18000" came twice in a reply leading with 999."""
    entry = content.faq["emergency-999"]
    alone = render(answerer.entry_reply(entry).text, Style.PLAIN)
    assert alone.count("press 55") == 1 and alone.count("18000") == 1  # the page on its own keeps its steps
    reply = render(answerer.emergency_reply(entry).text, Style.PLAIN)
    assert reply.count("press 55") == 1 and reply.count("Text relay") == 1
    assert "4. Say what is happening" in reply and "5." not in reply.split("When you are safe")[1]
    assert "2. Ask for police, ambulance or fire." in reply  # the rest numbered as before


def test_a_step_that_adds_advice_is_kept() -> None:
    above = "**Call 999** now.\n\n- Can't speak? Press **55** when asked."
    body = "Intro.\n\n1. Can't speak? Press **55** when asked.\n2. Head for a busy shop, tell staff, then press 55."
    body += "\n3. Wait."
    assert without_repeats(body, above) == "Intro.\n\n1. Head for a busy shop, tell staff, then press 55.\n2. Wait."


@pytest.mark.parametrize(
    ("message", "guidance"),
    [
        ("my uncle fainted by the shoe racks and won't wake up", "emergency-999"),  # was "suspicious-item"
        ("there's a man with a knife at the gate", "run-hide-tell"),
    ],
)
def test_under_the_999_advice_only_guidance_the_message_is_about(
    answerer: Answerer, message: str, guidance: str
) -> None:
    """An emergency no entry is about (more likely out of scope than the best entry) gets When to
    call 999, not the nearest page however weak: "someone collapsed" is no page's question."""
    answer = answerer.answer(message)
    assert answer.kind is Kind.EMERGENCY and answer.entry is not None and answer.entry.id == guidance
