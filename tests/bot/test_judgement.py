"""The learned judgement: danger now, crisis and which answer, from examples; the net only adds."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.answers import Answerer, Kind
from bot.content import Content, load_content
from bot.judgement import Judgement, dataset, judgement_for, normalise, windows
from bot.render import Style, render
from bot.triage import Triage
from tests.conftest import CONTENT_DIR


def plain(answerer: Answerer, text: str) -> str:
    return render(answerer.reply(answerer.answer(text)).text, Style.PLAIN)


# --- what people see ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "i want to kill myself",
        "I have taken all my tablets and I feel strange",
        "my friend says she is going to end her life tonight",
    ],
)
def test_life_at_risk_gets_999_then_the_crisis_lines(answerer: Answerer, message: str) -> None:
    answer = answerer.answer(message)
    assert answer.kind is Kind.CRISIS and answer.assessment.emergency
    text = plain(answerer, message)
    assert "999" in text[:300]
    assert "116 123" in text and "85258" in text and "111" in text and "0800 1111" in text
    assert "Sorry, I don't have guidance" not in text


def test_thoughts_of_self_harm_get_the_crisis_reply_not_the_fallback(answerer: Answerer) -> None:
    message = "I've been feeling really low for weeks and sometimes I think about hurting myself"
    answer = answerer.answer(message)
    assert answer.kind is Kind.CRISIS
    assert "999" in plain(answerer, message)[:300] and "Samaritans" in plain(answerer, message)


@pytest.mark.parametrize(
    "message",
    [
        "HELP ME PLEASE",
        "🆘",
        "pls hurry",
        "there's a fight outside the mosque",
        "smell of gas in the church hall",
        "مسجد پر حملہ ہو رہا ہے مدد کریں",  # Urdu: the mosque is being attacked, help
        "মসজিদে হামলা হচ্ছে, তাড়াতাড়ি সাহায্য করুন",  # Bengali: the mosque is being attacked, help quickly
    ],
)
def test_danger_now_in_any_words_leads_with_999(answerer: Answerer, message: str) -> None:
    assert answerer.answer(message).assessment.emergency
    assert plain(answerer, message).startswith("If you or anyone else is in danger now, call 999")


def test_gas_gets_its_own_guidance_after_the_999_advice(answerer: Answerer) -> None:
    reply = answerer.reply(answerer.answer("smell of gas in the church hall"))
    assert reply.answer == "gas-leak" and "0800 111 999" in reply.text


def test_danger_at_the_end_of_a_long_message_is_read(answerer: Answerer) -> None:
    story = "We had a lovely iftar at the centre and the children were playing in the hall. " * 52
    message = story + "there is a man with a knife here now"
    assert len(message) > 4077
    answer = answerer.answer(message)
    assert answer.assessment.emergency and answer.truncated
    assert plain(answerer, message).startswith("If you or anyone else is in danger now, call 999")


@pytest.mark.parametrize(
    ("message", "entry"),
    [
        ("someone threw a pig's head at our mosque", "offensive-items-left"),
        ("can i carry pepper spray", "self-defence-law"),
        ("I'm worried my nephew is being radicalised online", "radicalisation-concerns"),
        ("my son is being bullied at school for wearing a turban", "school-bullying-faith"),
        ("the police didn't take my report seriously, how do i complain", "police-complaints"),
        ("a car keeps circling the synagogue and someone was filming the doors last week", "hostile-reconnaissance"),
        ("there was a drone hovering over the gurdwara yesterday", "drones"),
    ],
)
def test_the_gaps_new_users_found_are_answered(answerer: Answerer, message: str, entry: str) -> None:
    answer = answerer.answer(message)
    assert answer.entry is not None and answer.entry.id == entry


def test_every_unsure_or_fallback_reply_says_call_999(answerer: Answerer) -> None:
    for message in ("what's a good biryani recipe", "what time is maghrib"):
        answer = answerer.answer(message)
        assert answer.kind in (Kind.FALLBACK, Kind.DECLINED)
        assert "In danger now? Call 999." in plain(answerer, message)


def test_a_language_it_cannot_read_gets_the_999_line_first_in_english(answerer: Answerer) -> None:
    message = "我的朋友今天在寺庙外面"  # Chinese: no examples are in this script
    answer = answerer.answer(message)
    assert answer.kind is Kind.UNREADABLE and not answer.assessment.emergency
    text = plain(answerer, message)
    assert text.startswith("In danger now? Call 999") and "18000" in text and "55" in text


def test_hard_negatives_are_not_emergencies(answerer: Answerer) -> None:
    for message in (
        "this khutbah is fire",
        "what should our stewards do if a man with a knife comes in",
        "is there funding for fire alarms",
    ):
        assert not answerer.answer(message).assessment.emergency, message


# --- the safety net can only add --------------------------------------------------------------
def test_the_net_adds_an_emergency_the_models_miss(answerer: Answerer, content: Content) -> None:
    deaf = Triage(content.triage, answerer.normaliser, answerer.judgement, {"emergency": 1.01, "crisis": 1.01})
    assessment = deaf.assess("a man with a knife is at the gate")
    assert assessment.emergency and assessment.danger == "weapon" and assessment.guidance == "run-hide-tell"


def test_the_net_never_removes_an_emergency(answerer: Answerer, content: Content) -> None:
    no_net = dataclasses.replace(content.triage, danger=())
    bare = Triage(no_net, answerer.normaliser, answerer.judgement, answerer.thresholds)
    messages = [e.text for e in content.examples if e.kind == "triage"][::7]
    for message in messages:
        alone, both = bare.assess(message), answerer.triage.assess(message)
        assert both.emergency >= alone.emergency, message  # with the net: never fewer emergencies


# --- training -------------------------------------------------------------------------------
def small(content: Content, writers: int = 3) -> Content:
    """The content with the examples of its first few writers only (fast to train)."""
    chosen = sorted({e.writer for e in content.examples})[:writers]
    return dataclasses.replace(content, examples=tuple(e for e in content.examples if e.writer in chosen))


def test_the_fast_reading_is_exactly_scikit_learns(answerer: Answerer) -> None:
    """Features and triage probabilities are computed without scikit-learn's per-call checks:
    the same numbers as its transform and predict_proba, for short, long, empty and other-script
    messages."""
    judgement = answerer.judgement
    texts = ["a man with a knife is at the gate", "how do i report graffiti", "", "!!!", "x" * 900,
             "مسجد پر حملہ ہو رہا ہے مدد کریں", "ধন্যবাদ 🙏", "HELP ME PLEASE"]  # fmt: skip
    ours, theirs = judgement.rows(texts), judgement.vectoriser.transform(texts)
    assert ours.shape == theirs.shape and abs(ours - theirs).max() == 0
    assert np.allclose(judgement.triage_proba(ours), judgement.triage.predict_proba(theirs), rtol=0, atol=1e-12)


def test_training_is_deterministic(content: Content) -> None:
    data = dataset(small(content))
    first, second = Judgement.train(data), Judgement.train(data)
    texts = ["a man with a knife at the gate", "how do I report graffiti", "مدد کریں"]
    for a, b in zip((first.read(t) for t in texts), (second.read(t) for t in texts), strict=True):
        assert a == b
    matrix = first.vectoriser.transform(texts)
    assert np.array_equal(first.intent.predict_proba(matrix), second.intent.predict_proba(matrix))


def test_the_collapsed_intent_model_gives_scikit_learns_probabilities(content: Content) -> None:
    from bot.judgement import LinearOneVsRest, _intent_model

    data = dataset(small(content))
    judgement = Judgement.train(data)
    matrix = judgement.vectoriser.transform(["how do I report graffiti", "مدد کریں", "gas smell in the hall"])
    fitted = _intent_model(8.0).fit(judgement.vectoriser.transform(list(data.intent_texts)), list(data.intent_labels))
    assert np.allclose(LinearOneVsRest.of(fitted).predict_proba(matrix), fitted.predict_proba(matrix))


def test_the_models_are_cached_and_rebuilt_when_the_examples_change(tmp_path: Path, content: Content) -> None:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, folder)
    keep = sorted({e.writer for e in content.examples})[:2]
    for path in (folder / "examples").glob("*.tsv"):
        if path.stem not in keep:
            path.unlink()
    cache = tmp_path / "cache"
    first = judgement_for(load_content(folder), cache)
    saved = list(cache.glob("judgement-*.pickle"))
    assert len(saved) == 1 and first.key.startswith(saved[0].name.removeprefix("judgement-")[:24])
    # An editor adds an example: the next start trains again and replaces the cache file.
    with (folder / "examples" / f"{keep[0]}.tsv").open("a", encoding="utf-8") as handle:
        handle.write("triage\tdanger\tthe hall ceiling is falling on people\n")
    second = judgement_for(load_content(folder), cache)
    assert second.key != first.key
    assert [p.name for p in cache.glob("judgement-*.pickle")] == [f"judgement-{second.key[:24]}.pickle"]
    # A damaged cache file is trained again, not a crash.
    (cache / f"judgement-{second.key[:24]}.pickle").write_bytes(b"not a model")
    from bot import judgement as module

    module._loaded.clear()
    assert judgement_for(load_content(folder), cache).key == second.key


def test_examples_name_known_labels_and_writers(content: Content) -> None:
    writers = {e.writer for e in content.examples}
    assert len(writers) >= 30
    triage = [e for e in content.examples if e.kind == "triage"]
    assert len(triage) >= 3000
    for entry in content.faq:
        asked = [e for e in content.examples if e.kind == "faq" and e.label == entry]
        assert len(asked) + len(content.faq[entry].questions) >= 40, entry


def test_a_bad_example_line_is_a_content_error(tmp_path: Path) -> None:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, folder)
    writer = sorted(p.stem for p in (folder / "examples").glob("*.tsv"))[0]
    with (folder / "examples" / f"{writer}.tsv").open("a", encoding="utf-8") as handle:
        handle.write("faq\tno-such-entry\twhat is this\ntriage\tpanic\thelp\nonly two\tfields\n")
    from bot.content import ContentError

    with pytest.raises(ContentError) as raised:
        load_content(folder)
    found = str(raised.value)
    assert "unknown FAQ id `no-such-entry`" in found and "unknown triage label `panic`" in found
    assert "expected `kind<TAB>label<TAB>message`" in found


def test_reading_helpers() -> None:
    assert normalise("HELPPPP!!! there's a KNIFE 🆘") == "helpp theres a knife 🆘"
    assert normalise("مسجدٌ") == "مسجد"
    long = "One sentence here. " * 100 + "The end."
    parts = windows(long)
    assert len(parts) > 1 and parts[-1].endswith("The end.") and all(len(p) <= 420 for p in parts)
    assert windows("short") == ["short"]
