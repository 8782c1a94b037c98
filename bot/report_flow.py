"""Guided reporting: "Report a hate crime or incident", step by step, on every channel.

Safety first ("are you safe right now?"; no → the 999 advice), then what happened and who or
what it was aimed at, then the routes that fit (police, True Vision, community organisations,
support), then, if the person wants, help writing it down: short questions, each skippable, and a
numbered summary to copy into a form or read out on the phone. The questions, the routes and the
rules that pick them are content (content/report.yaml, `ReportGuide`).

    choice prefix   value               does
    rep             start               begin (also: the menu item, /report, REPORT, a button on
                                        answers about reporting, "I want to report…")
    rep-safe        yes|no              safe right now? no → the 999 advice, then carry on when safe
    rep-ans         QUESTION=OPTION     an answer about what happened
    rep-write       yes|no              the write-up, or not
    rep-skip        QUESTION            skip a write-up question
    rep-end         -                   finish the write-up now: the summary

    state (typed)   report_safe report_ask report_offer   a nudge to choose an option
                    report_write                          one answer of the write-up

Privacy: what someone writes lives only in their dialog form. The summary step keeps none of it,
and every state here starts with "report", which the engine drops after REPORT_EXPIRY_MINUTES
without a message (`Expiry`), telling whoever comes back later. Nothing is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.answers import MAIN_MENU, faq_choice, site_name
from bot.content import Copy, FaqEntry, ReportGuide, ReportQuestion, applies, shown_report
from bot.dialog import Expiry, Flow, Handler, Intent, Step, Turn
from bot.messages import Choice, Reply
from bot.render import escape_markdown
from bot.text import clean

SAFE, ASK, OFFER, WRITE = "report_safe", "report_ask", "report_offer", "report_write"
EVIDENCE_ENTRY = "evidence-preservation"


def tidy(text: str) -> str:
    """Someone's answer as it will be shown: control characters gone, each line trimmed, no
    blank lines (the summary keeps one answer to one numbered item)."""
    lines = (line.strip() for line in clean(text).splitlines())
    return "\n".join(line for line in lines if line)


def _heading(title: str) -> str:
    """A title leading its item: "Police:", but "Rather not give your name?" as it is."""
    return title if title.endswith(("?", "!", ":", ".")) else f"{title}:"


class ReportFlow:
    """Builds the `Flow` for guided reporting."""

    def __init__(
        self,
        guide: ReportGuide,
        copy: Copy,
        *,
        expiry: timedelta,
        emergency: Callable[[], Reply],
        danger: Callable[[str], bool],
        evidence: FaqEntry | None = None,
    ) -> None:
        self._guide = guide  # in English; `guide` is as the person being answered reads it
        self.copy = copy
        self.expiry = expiry
        self.minutes = max(1, int(expiry.total_seconds() // 60))
        self.emergency = emergency  # the 999 advice
        # Does an answer say someone is in danger now? They have said they are safe and are
        # describing what happened, so it takes words saying it is happening now ("still here").
        self.danger = danger
        self._evidence = evidence  # the FAQ answer about keeping evidence, offered after the summary

    @property
    def guide(self) -> ReportGuide:
        """The guide in the language being written in (its translation where one may be shown)."""
        return shown_report(self._guide)

    @property
    def questions(self) -> dict[str, ReportQuestion]:
        return {q.id: q for q in self.guide.questions}

    @property
    def notes(self) -> dict[str, ReportQuestion]:
        return {q.id: q for q in self.guide.writeup}

    @property
    def evidence(self) -> Choice | None:
        return faq_choice(self._evidence) if self._evidence is not None else None

    def flow(self) -> Flow:
        choices: dict[str, Handler] = {
            "rep": self._start,
            "rep-safe": self._on_safe,
            "rep-ans": self._on_answer,
            "rep-write": self._on_write,
            "rep-skip": self._on_skip,
            "rep-end": self._on_end,
        }
        offer = Choice("rep:start", self.copy["report_offer"])
        return Flow(
            choices=choices,
            texts={SAFE: self._nudge, ASK: self._nudge, OFFER: self._nudge, WRITE: self._on_note},
            menu={"report": self._start},
            commands={"report": self._start},
            intents=(Intent(self.guide.start, self.guide.topics, offer, self._start),),
            # The write-up reads danger itself, so an account of an attack isn't lost to the 999 advice.
            triaged=frozenset({WRITE}),
            expiry=Expiry("report", self.expiry, self.copy.format("report_expired", minutes=self.minutes)),
            privacy=self.copy.format("privacy_report", minutes=self.minutes),
        )

    # --- helpers ------------------------------------------------------------------------------
    def _main(self) -> Choice:
        return Choice(MAIN_MENU, self.copy["main_menu"])

    def _expired(self) -> Step:
        return Step(Reply(self.copy["expired_menu"], (Choice("rep:start", self.copy["report_offer"]), self._main())))

    @staticmethod
    def _answers(form: Mapping[str, Any]) -> dict[str, str]:
        answers = form.get("answers")
        return {str(k): str(v) for k, v in answers.items()} if isinstance(answers, dict) else {}

    @staticmethod
    def _written(form: Mapping[str, Any]) -> dict[str, str]:
        notes = form.get("notes")
        return {str(k): str(v) for k, v in notes.items()} if isinstance(notes, dict) else {}

    def _writeup(self, answers: Mapping[str, str]) -> list[ReportQuestion]:
        return [q for q in self.guide.writeup if applies(q.when, answers)]

    # --- are you safe? --------------------------------------------------------------------------
    def _safe_choices(self, yes: str) -> tuple[Choice, ...]:
        return Choice("rep-safe:yes", self.copy[yes]), Choice("rep-safe:no", self.copy["report_safe_no"]), self._main()

    async def _start(self, turn: Turn, _value: str) -> Step:
        if not turn.incoming.private:  # in a group everyone would read what happened to them
            return Step(Reply(self.copy["report_private"], (self._main(),)))
        return Step(Reply(self.copy["report_start"], self._safe_choices("report_safe_yes")), SAFE)

    async def _on_safe(self, turn: Turn, answer: str) -> Step:
        if answer == "no":
            advice = self.emergency()
            reply = Reply(advice.text, self._safe_choices("report_safe_again"), emergency=True, answer=advice.answer)
            return Step(reply, SAFE)
        return self._ask(self.guide.questions[0], {})

    # --- what happened --------------------------------------------------------------------------
    def _ask(self, question: ReportQuestion, answers: dict[str, str], nudge: bool = False) -> Step:
        options = tuple(Choice(f"rep-ans:{question.id}={o.id}", o.label) for o in question.options)
        text = f"{self.copy['report_choose']}\n\n{question.text}" if nudge else question.text
        return Step(Reply(text, (*options, self._main())), ASK, {"answers": answers, "asking": question.id})

    async def _on_answer(self, turn: Turn, value: str) -> Step:
        question_id, _, option_id = value.partition("=")
        question = self.questions.get(question_id)
        if question is None or turn.form.get("asking") != question_id:
            return self._expired()
        if option_id not in {o.id for o in question.options}:
            return self._expired()
        answers = {**self._answers(turn.form), question_id: option_id}
        following = [q for q in self.guide.questions if q.id not in answers]
        if following:
            return self._ask(following[0], answers)
        return Step(self._routes(answers), OFFER, {"answers": answers})

    def _routes(self, answers: dict[str, str]) -> Reply:
        routes = [r for r in self.guide.routes if applies(r.when, answers)]
        # Bullets, not numbers: on WhatsApp and the console the options below are numbered.
        items = "\n".join(f"- **{_heading(r.title)}** {r.text}" for r in routes)
        sources = list(dict.fromkeys(url for r in routes for url in r.sources))
        cited = ", ".join(f"[{site_name(url)}]({url})" for url in sources)
        text = f"{self.copy['report_routes']}\n\n{items}\n\n{self.copy['sources']} {cited}"
        return self._offer(answers, text)

    def _offer(self, answers: dict[str, str], before: str) -> Reply:
        """ "Would you like help writing down what happened?", after `before`."""
        offer = self.copy.format("report_write_offer", count=len(self._writeup(answers)), minutes=self.minutes)
        choices = (
            Choice("rep-write:yes", self.copy["report_write_yes"]),
            Choice("rep-write:no", self.copy["report_write_no"]),
            self._main(),
        )
        return Reply(f"{before}\n\n{offer}", choices)

    async def _nudge(self, turn: Turn, _text: str) -> Step:
        """Typed words where an option was expected: ask again, keeping the place."""
        answers = self._answers(turn.form)
        asking = self.questions.get(str(turn.form.get("asking", "")))
        if asking is not None and asking.id not in answers:
            return self._ask(asking, answers, nudge=True)
        if answers and all(q.id in answers for q in self.guide.questions):
            return Step(self._offer(answers, self.copy["report_choose"]), OFFER, {"answers": answers})
        text = f"{self.copy['report_choose']}\n\n{self.copy['report_start']}"
        return Step(Reply(text, self._safe_choices("report_safe_yes")), SAFE)

    # --- the write-up ---------------------------------------------------------------------------
    async def _on_write(self, turn: Turn, answer: str) -> Step:
        answers = self._answers(turn.form)
        if answer != "yes":
            choices = (*((self.evidence,) if self.evidence else ()), self._main())
            return Step(Reply(self.copy["report_write_declined"], choices))
        return self._next(answers, {}, None)

    def _next(self, answers: dict[str, str], notes: dict[str, str], after: str | None, lead: str = "") -> Step:
        """The write-up question after `after` (the first if None), or the summary after the last."""
        ids = [q.id for q in self._writeup(answers)]
        return self._question(answers, notes, ids.index(after) + 1 if after in ids else 0, lead)

    def _again(self, answers: dict[str, str], notes: dict[str, str], asking: str, lead: str = "") -> Step:
        """The same write-up question again, after `lead`."""
        ids = [q.id for q in self._writeup(answers)]
        return self._question(answers, notes, ids.index(asking) if asking in ids else 0, lead, emergency=False)

    def _question(
        self, answers: dict[str, str], notes: dict[str, str], index: int, lead: str, *, emergency: bool = True
    ) -> Step:
        questions = self._writeup(answers)
        if index >= len(questions):
            return self._summary(notes, lead)
        question = questions[index]
        text = self.copy.format("report_question", number=index + 1, count=len(questions), text=question.text)
        choices = (
            Choice(f"rep-skip:{question.id}", self.copy["report_skip"]),
            Choice("rep-end:", self.copy["report_finish"]),
        )
        reply = Reply(f"{lead}\n\n{text}" if lead else text, choices, emergency=emergency and bool(lead), typed=True)
        return Step(reply, WRITE, {"answers": answers, "notes": notes, "asking": question.id})

    async def _on_note(self, turn: Turn, text: str) -> Step:
        answers, notes = self._answers(turn.form), self._written(turn.form)
        question = self.notes.get(str(turn.form.get("asking", "")))
        if question is None:
            return self._expired()
        note = tidy(text)
        if not note:
            return self._again(answers, notes, question.id)
        if len(note) > question.max_chars:
            too_long = self.copy.format("report_too_long", most=question.max_chars, length=len(note))
            return self._again(answers, notes, question.id, too_long)
        lead = ""
        if self.danger(note):  # "he's still outside": 999 first, and the answer is kept
            lead = f"{self.copy['emergency_lead']}\n\n{self.copy['report_danger_noted']}"
        return self._next(answers, {**notes, question.id: note}, question.id, lead)

    async def _on_skip(self, turn: Turn, question_id: str) -> Step:
        if turn.form.get("asking") != question_id:
            return self._expired()
        return self._next(self._answers(turn.form), self._written(turn.form), question_id)

    async def _on_end(self, turn: Turn, _value: str) -> Step:
        return self._summary(self._written(turn.form))

    def _summary(self, notes: dict[str, str], lead: str = "") -> Step:
        """The numbered notes, the evidence tips, and then nothing kept: the state goes back to idle
        with an empty form, so the answers leave the database as this reply is sent."""
        answered = [(q.label, notes[q.id]) for q in self.guide.writeup if q.id in notes]
        tips_cited = ", ".join(f"[{site_name(url)}]({url})" for url in self.guide.tips_sources)
        tips = f"{self.guide.tips}\n\n{self.copy['sources']} {tips_cited}"
        if answered:
            items = "\n".join(
                f"{n}. **{escape_markdown(_heading(label))}** " + escape_markdown(text).replace("\n", "\n    ")
                for n, (label, text) in enumerate(answered, 1)
            )
            text = f"{self.copy['report_summary']}\n\n{items}\n\n{tips}\n\n{self.copy['report_deleted']}"
        else:
            text = f"{self.copy['report_summary_empty']}\n\n{tips}"
        if lead:
            text = f"{lead}\n\n{text}"
        choices = (*((self.evidence,) if self.evidence else ()), self._main())
        return Step(Reply(text, choices, emergency=bool(lead)))
