"""Danger now leads with 999; talk about danger in general, in the past or in plans does not."""

from __future__ import annotations

import pytest

from bot.answers import Answerer

DANGER_NOW = [
    "theres a guy with a machete in the car park",
    "SOMEONE IS STABBING PEOPLE IN THE HALL",
    "a man with a knif is at the door",  # misspelt
    "they're kicking the door in",
    "my uncle collapsed and isnt breathing",
    "smoke is pouring out of the kitchen",
    "these lads have been following me since the station",
    "someone is throwing rocks at the windows while we pray",
    "hes threatening to stab the imam",
    "there is a crowd outside trying to get in",
    "we found a suspicious bag by the entrance and nobody knows whose it is",
    "Help!! they are attacking us",
    "he is bleeding a lot, how do i stop it",
    "a gang is waiting outside the gate for the sisters",
    "i am hiding in the storeroom, he is still shouting in the hall",
    "opened an envelope and there is white powder on my desk",
    "two masked men walking round the car park",
    "someone call an ambulance uncle fell and hit his head theres blood",
]

NOT_NOW = [
    "what should our stewards do if someone attacks during eid",
    "a man shouted at me near the mosque last month",
    "we need a policy for knife crime",
    "is there funding to replace our fire doors",
    "how do we report damage to the windows from last week",
    "what is the anti terrorist hotline number",
    "someone pushed my dad outside the shop on Tuesday",
    "what happens if we find a suspicious package",
    "where can we get training on what to do in an attack",
    "they set fire to the bins last year",
    "there was a fire at the centre in 2021 and now we want to rebuild",
    "the group chat says they will attack mosques tonight, is it true",
    "can I call 999 about a break in from last night, nobody is there now",
    "what number do I ring if someone is bleeding",
]


@pytest.mark.parametrize("message", DANGER_NOW)
def test_danger_now_is_an_emergency(answerer: Answerer, message: str) -> None:
    reply = answerer.reply(answerer.answer(message))
    assert reply.emergency
    assert reply.text.index("999") < 80, "the 999 advice must come first"


def test_mentions_questions_and_the_past_are_not(answerer: Answerer) -> None:
    """A learned judgement leans to safety and has a false-alarm rate (about 6% on English writers it
    never saw, bench/judgement.py): of these fourteen, at most one may be taken for danger now."""
    alarms = [m for m in NOT_NOW if answerer.answer(m).assessment.emergency]
    assert len(alarms) <= 1, alarms


def test_emergency_reply_tells_how_to_call_silently_and_by_text(answerer: Answerer) -> None:
    text = answerer.reply(answerer.answer("a man has a gun outside")).text
    lead = text[: text.index("When you are safe")]
    assert "999" in lead and "112" in lead and "55" in lead and "18000" in lead


def test_weapon_adds_run_hide_tell_guidance(answerer: Answerer) -> None:
    reply = answerer.reply(answerer.answer("man with a knife at the gate"))
    assert reply.answer == "run-hide-tell"
    assert "Run, Hide, Tell" in reply.text


def test_being_followed_adds_personal_safety_guidance(answerer: Answerer) -> None:
    assert answerer.answer("someone keeps following me home rn").entry.id == "personal-safety"


def test_fire_adds_the_999_guidance(answerer: Answerer) -> None:
    assert answerer.answer("the hall is on fire").entry.id == "emergency-999"
