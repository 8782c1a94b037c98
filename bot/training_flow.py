"""The training sessions part of the conversation: find a session, register in a few steps,
see and cancel registrations, take an offered seat; and, for coordinators, manage sessions.

    choice prefix        value              does
    trn                  list|my|manage|ID  the session list, my registrations, management, details
    trn-reg              ID                 start registering for session ID
    trn-role|trn-seats|trn-access|trn-consent|trn-confirm      answers in the registration form
    trn-myreg|trn-cancel|trn-cancel-yes|trn-accept|trn-decline REG   one of my registrations
    trn-admin|trn-admin-edit|trn-admin-cancel|trn-admin-cancel-yes   ID   coordinators only
    trn-admin-new        -                  coordinators only: a new session
    trn-checkin          REG                coordinators only: mark attended (on the session's day)
    trn-uncheckin        REG                coordinators only: undo a check-in (back to booked)

    state (typed text)   trn_name trn_org trn_role trn_seats trn_access; trn_new trn_edit

Every coordinator action is checked here, whatever button or link asked for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot import dates
from bot.content import Copy
from bot.dialog import Flow, Handler, Step, Turn, coordinators_only
from bot.messages import Choice, Document, Reply
from bot.render import escape_markdown
from bot.roles import ROLES, shown_roles
from bot.store import Registration, TrainingSession
from bot.text import clean, number
from bot.training import (
    MAX_SEATS,
    OPTIONAL,
    REQUIRED,
    Person,
    Training,
    TrainingError,
    when,
)

_FIELD_LINE = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$")
FORM_LIMITS = {"name": (2, 80), "organisation": (2, 120), "role": (2, 60), "accessibility": (0, 200)}


# Adding a session in the chat asks for these one by one (provider and description can be skipped).
NEW_STEPS = ("title", "venue", "address", "borough", "starts", "ends", "capacity", "provider", "description")
_TIME_ONLY = re.compile(r"\d{1,2}:\d{2}")


def parse_fields(text: str) -> dict[str, str]:
    """`key: value` lines, as coordinators type a session into the chat."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        match = _FIELD_LINE.match(line)
        if match:
            fields[match.group(1).lower()] = match.group(2)
    return fields


class TrainingFlow:
    """Builds the `Flow` for training sessions."""

    def __init__(self, training: Training, copy: Copy, *, retention: timedelta, roles: Sequence[str] = ()) -> None:
        self.training = training
        self.copy = copy
        self.retention = retention
        self.roles = tuple(roles) or ROLES  # content/copy.yaml's `roles`

    def flow(self) -> Flow:
        choices: dict[str, Handler] = {
            "trn": self._on_trn,
            "trn-reg": self._on_register,
            "trn-role": self._on_role_choice,
            "trn-seats": self._on_seats_choice,
            "trn-access": self._on_access_choice,
            "trn-consent": self._on_consent,
            "trn-confirm": self._on_confirm,
            "trn-myreg": self._on_my_registration,
            "trn-cancel": self._on_cancel_registration,
            "trn-cancel-yes": self._on_cancel_registration_yes,
            "trn-accept": self._on_accept,
            "trn-decline": self._on_decline,
            "trn-admin": self._coordinator(self._on_admin, audited=False),
            "trn-admin-new": self._coordinator(self._on_admin_new, audited=False),
            "trn-admin-edit": self._coordinator(self._on_admin_edit, audited=False),
            "trn-admin-cancel": self._coordinator(self._on_admin_cancel, audited=False),
            "trn-admin-cancel-yes": self._coordinator(self._on_admin_cancel_yes),
            "trn-new-skip": self._coordinator(self._on_new_skip, audited=False),
            "trn-checkin": self._coordinator(self._on_checkin),
            "trn-uncheckin": self._coordinator(self._on_uncheckin),
        }
        texts: dict[str, Handler] = {
            "trn_name": self._on_name,
            "trn_org": self._on_organisation,
            "trn_role": self._on_role_text,
            "trn_seats": self._on_seats_text,
            "trn_access": self._on_access_text,
            "trn_new": self._coordinator(self._on_new_text, typed=True),
            "trn_edit": self._coordinator(self._on_edit_text, typed=True),
        }
        return Flow(
            choices=choices,
            texts=texts,
            menu={"training": self._on_menu},
            links={"register": self._on_link},
            forget=self._forget,
            privacy=self.copy.format("privacy_training", days=self.retention.days),
            numeric=frozenset({"trn_seats", "trn_new"}),  # seats, and a new session's capacity
        )

    async def _forget(self, channel: str, user_id: str) -> None:
        """Before someone's data goes: give their booked seats to the people waiting, and take
        their name off coordinators' check-in buttons."""
        db = self.training.db
        for registration in await db.registrations_of(channel, user_id):
            await self.training.cancel_registration(registration.id)
        mine = await db.registration_ids_of(channel, user_id)
        await db.drop_choices(f"{prefix}:{number}" for number in mine for prefix in ("trn-checkin", "trn-uncheckin"))

    # --- helpers ------------------------------------------------------------------------------
    def _main(self) -> Choice:
        return Choice("menu:main", self.copy["main_menu"])

    def _back(self) -> Choice:
        return Choice("trn:list", self.copy["back"])

    def _say(self, key: str, *choices: Choice, **values: object) -> Reply:
        text = self.copy.format(key, **values) if values else self.copy[key]
        return Reply(text, (*choices, self._main()))

    def _coordinator(self, handler: Handler, *, typed: bool = False, audited: bool = True) -> Handler:
        """Coordinators only: checked on arrival and audited (`coordinators_only`)."""
        wrap = coordinators_only(self.training.db, lambda: self._say("training_not_allowed"))
        return wrap(handler, typed=typed, audited=audited)

    def _when(self, session: TrainingSession) -> str:
        return when(session, self.training.tz)

    def _label(self, session: TrainingSession) -> str:
        return self._marked(session, f"{dates.day(session.starts_at, self.training.tz)}: {session.title}")

    def _marked(self, session: TrainingSession, label: str) -> str:
        """A session's label, with "(cancelled)" or "(full, waiting list)" if it is."""
        if session.status == "cancelled":
            return f"{label} ({self.copy['training_cancelled_mark']})"
        return label if session.seats_left else f"{label} ({self.copy['training_full_mark']})"

    async def _session(self, value: str) -> TrainingSession | None:
        wanted = number(value)
        if wanted is None:
            return None
        try:
            return await self.training.get(wanted)
        except TrainingError:
            return None

    async def _own(self, turn: Turn, value: str) -> Registration | None:
        """One of the person's own registrations (someone else's id is treated as unknown)."""
        wanted = number(value)
        if wanted is None:
            return None
        registration = await self.training.db.registration(wanted)
        incoming = turn.incoming
        if registration is None or (registration.channel, registration.user_id) != (
            incoming.channel,
            incoming.user_id,
        ):
            return None
        return registration

    def _document(self, session: TrainingSession, registration: Registration) -> Document:
        return self.training.document(session, registration)

    # --- finding a session --------------------------------------------------------------------
    async def _on_menu(self, turn: Turn, _item: str) -> Step:
        sessions = await self.training.upcoming()
        choices = [Choice(f"trn:{s.id}", self._label(s)) for s in sessions[:20]]
        choices.append(Choice("trn:my", self.copy["training_my"]))
        if turn.coordinator:
            choices.append(Choice("trn:manage", self.copy["training_manage"]))
        key = "training_intro" if sessions else "training_none"
        return Step(Reply(self.copy[key], (*choices, self._main())))

    async def _on_trn(self, turn: Turn, value: str) -> Step:
        if value == "list":
            return await self._on_menu(turn, value)
        if value == "my":
            return await self._my_registrations(turn)
        if value == "manage":
            return await self._coordinator(self._on_manage, audited=False)(turn, value)
        session = await self._session(value)
        if session is None:
            return Step(self._say("training_no_such_session"))
        return Step(await self._details(turn, session))

    async def _details(self, turn: Turn, session: TrainingSession) -> Reply:
        left = session.seats_left
        seats = (
            self.copy.format("training_seats_left", left=left, capacity=session.capacity)
            if left
            else self.copy.format("training_full", waiting=session.waiting)
        )
        text = self.copy.format(
            "training_details",
            title=escape_markdown(session.title),
            when=self._when(session),
            venue=escape_markdown(session.venue),
            address=escape_markdown(session.address),
            borough=escape_markdown(session.borough),
            provider=escape_markdown(session.provider or "-"),
            seats=seats,
            description=escape_markdown(session.description),
        ).strip()
        if session.status == "cancelled":
            return Reply(f"{text}\n\n{self.copy['training_is_cancelled']}", (self._back(), self._main()))
        mine = [r for r in await self.training.db.registrations_of(turn.incoming.channel, turn.incoming.user_id)]
        if any(r.session_id == session.id for r in mine):
            return Reply(f"{text}\n\n{self.copy['training_already']}", (Choice("trn:my", self.copy["training_my"]),
                                                                         self._back(), self._main()))  # fmt: skip
        action = self.copy["training_register" if left else "training_join_waiting"]
        return Reply(text, (Choice(f"trn-reg:{session.id}", action), self._back(), self._main()))

    async def _on_link(self, turn: Turn, value: str) -> Step:
        """`/start register-12` or `REGISTER 12`: open that session."""
        session = await self._session(value)
        if session is None:
            return Step(self._say("training_no_such_session"))
        return Step(await self._details(turn, session))

    # --- the registration form ----------------------------------------------------------------
    async def _on_register(self, turn: Turn, value: str) -> Step:
        session = await self._session(value)
        if session is None or session.status != "scheduled" or session.starts_at <= turn.now:
            return Step(self._say("training_closed"))
        if not turn.incoming.private:  # a group would read their name and needs
            return Step(self._say("private_only"))
        form = {"session": session.id}
        return Step(self._say("training_ask_name", title=escape_markdown(session.title)), "trn_name", form)

    def _text_answer(self, field: str, text: str) -> str | None:
        value = " ".join(clean(text).split())
        low, high = FORM_LIMITS[field]
        return value if low <= len(value) <= high else None

    async def _on_name(self, turn: Turn, text: str) -> Step:
        name = self._text_answer("name", text)
        if name is None:
            return Step(self._say("training_bad_name"), "trn_name", turn.form)
        return Step(self._say("training_ask_org"), "trn_org", {**turn.form, "name": name})

    async def _on_organisation(self, turn: Turn, text: str) -> Step:
        organisation = self._text_answer("organisation", text)
        if organisation is None:
            return Step(self._say("training_bad_org"), "trn_org", turn.form)
        return self._ask_role({**turn.form, "organisation": organisation})

    def _ask_role(self, form: Mapping[str, Any]) -> Step:
        roles = tuple(Choice(f"trn-role:{i}", role) for i, role in enumerate(shown_roles(self.roles)))
        return Step(self._say("training_ask_role", *roles), "trn_role", form)

    async def _on_role_choice(self, turn: Turn, value: str) -> Step:
        index = number(value)
        if index is None or index >= len(self.roles):
            return self._ask_role(turn.form)
        return await self._ask_seats(turn, {**turn.form, "role": self.roles[index]})

    async def _on_role_text(self, turn: Turn, text: str) -> Step:
        role = self._text_answer("role", text)
        if role is None:
            return self._ask_role(turn.form)
        return await self._ask_seats(turn, {**turn.form, "role": role})

    async def _most_seats(self, form: Mapping[str, Any]) -> int:
        session = await self.training.get(int(form["session"]))
        left = session.seats_left
        return min(MAX_SEATS, left or session.capacity)  # full: they may wait for up to 5 seats

    async def _ask_seats(self, turn: Turn, form: Mapping[str, Any]) -> Step:
        most = await self._most_seats(form)
        seats = tuple(Choice(f"trn-seats:{n}", str(n)) for n in range(1, most + 1))
        return Step(self._say("training_ask_seats", *seats, most=most), "trn_seats", form)

    async def _on_seats_choice(self, turn: Turn, value: str) -> Step:
        return await self._seats(turn, value)

    async def _on_seats_text(self, turn: Turn, text: str) -> Step:
        return await self._seats(turn, text)

    async def _seats(self, turn: Turn, value: str) -> Step:
        most = await self._most_seats(turn.form)
        seats = number(value)
        if seats is None or not 1 <= seats <= most:
            step = await self._ask_seats(turn, turn.form)
            return Step(Reply(self.copy.format("training_bad_seats", most=most), step.reply.choices), step.state,
                        step.form)  # fmt: skip
        form = {**turn.form, "seats": seats}
        none = Choice("trn-access:none", self.copy["training_none_needed"])
        return Step(self._say("training_ask_access", none), "trn_access", form)

    async def _on_access_choice(self, turn: Turn, _value: str) -> Step:
        return self._ask_consent({**turn.form, "accessibility": ""})

    async def _on_access_text(self, turn: Turn, text: str) -> Step:
        accessibility = self._text_answer("accessibility", text)
        if accessibility is None:
            return Step(self._say("training_bad_access", Choice("trn-access:none", self.copy["training_none_needed"])),
                        "trn_access", turn.form)  # fmt: skip
        return self._ask_consent({**turn.form, "accessibility": accessibility})

    def _ask_consent(self, form: Mapping[str, Any]) -> Step:
        choices = (
            Choice("trn-consent:yes", self.copy["training_consent_yes"]),
            Choice("trn-consent:no", self.copy["training_consent_no"]),
        )
        reply = self._say("training_consent", *choices, days=self.retention.days)
        return Step(reply, "trn_consent", form)

    async def _on_consent(self, turn: Turn, value: str) -> Step:
        if value != "yes" or "seats" not in turn.form:
            return Step(self._say("training_consent_refused"))
        form = turn.form
        session = await self.training.get(int(form["session"]))
        text = self.copy.format(
            "training_summary",
            title=escape_markdown(session.title),
            when=self._when(session),
            name=escape_markdown(form["name"]),
            organisation=escape_markdown(form["organisation"]),
            role=escape_markdown(form["role"]),
            seats=form["seats"],
            accessibility=escape_markdown(form["accessibility"] or self.copy["training_none_needed"]),
        )
        choices = (
            Choice("trn-confirm:yes", self.copy["training_confirm"]),
            Choice("trn-confirm:no", self.copy["training_stop"]),
        )
        return Step(Reply(text, choices), "trn_confirm", form)

    async def _on_confirm(self, turn: Turn, value: str) -> Step:
        form = turn.form
        if value != "yes" or "seats" not in form:
            return Step(self._say("training_consent_refused"))
        incoming = turn.incoming
        person = Person(
            incoming.channel, incoming.user_id, form["name"], form["organisation"], form["role"], int(form["seats"]),
            form.get("accessibility", ""),
        )  # fmt: skip
        try:
            registration, new = await self.training.register(int(form["session"]), person)
        except TrainingError as exc:
            return Step(self._say("training_failed", reason=escape_markdown(str(exc))))
        session = await self.training.get(registration.session_id)
        return Step(await self._registered(session, registration, new))

    async def _registered(self, session: TrainingSession, registration: Registration, new: bool) -> Reply:
        title, moment = escape_markdown(session.title), self._when(session)
        mine = Choice("trn:my", self.copy["training_my"])
        if not new:
            status = self.copy[f"training_status_{registration.status}"]
            return self._say("training_already_registered", mine, title=title, status=status)
        if registration.status == "waiting":
            position = await self.training.waiting_position(registration)
            return self._say("training_waiting", mine, title=title, position=position)
        seats = self.copy.count("seats_count", registration.seats)
        reply = self._say("training_confirmed", mine, title=title, when=moment, seats=seats)
        return Reply(reply.text, reply.choices, document=self._document(session, registration))

    # --- my registrations -----------------------------------------------------------------------
    async def _my_registrations(self, turn: Turn) -> Step:
        mine = await self.training.db.registrations_of(turn.incoming.channel, turn.incoming.user_id)
        if not mine:
            return Step(self._say("training_my_none", self._back()))
        choices = []
        for registration in mine:
            session = await self.training.get(registration.session_id)
            status = self.copy[f"training_status_{registration.status}"]
            choices.append(Choice(f"trn-myreg:{registration.id}", f"{self._label(session)} ({status})"))
        return Step(Reply(self.copy["training_my_intro"], (*choices, self._back(), self._main())))

    async def _on_my_registration(self, turn: Turn, value: str) -> Step:
        registration = await self._own(turn, value)
        if registration is None or registration.status not in ("confirmed", "waiting", "offered"):
            return Step(self._say("training_no_such_registration"))
        session = await self.training.get(registration.session_id)
        text = self.copy.format(
            "training_registration",
            title=escape_markdown(session.title),
            when=self._when(session),
            status=self.copy[f"training_status_{registration.status}"],
            seats=self.copy.count("seats_count", registration.seats),
        )
        choices = []
        if registration.status == "offered":
            choices += [
                Choice(f"trn-accept:{registration.id}", self.copy["training_accept"]),
                Choice(f"trn-decline:{registration.id}", self.copy["training_decline"]),
            ]
        choices.append(Choice(f"trn-cancel:{registration.id}", self.copy["training_cancel_registration"]))
        document = self._document(session, registration) if registration.status == "confirmed" else None
        return Step(Reply(text, (*choices, Choice("trn:my", self.copy["back"]), self._main()), document=document))

    async def _on_cancel_registration(self, turn: Turn, value: str) -> Step:
        registration = await self._own(turn, value)
        if registration is None:
            return Step(self._say("training_no_such_registration"))
        session = await self.training.get(registration.session_id)
        choices = (
            Choice(f"trn-cancel-yes:{registration.id}", self.copy["training_cancel_yes"]),
            Choice("trn:my", self.copy["training_cancel_no"]),
        )
        return Step(self._say("training_cancel_confirm", *choices, title=escape_markdown(session.title)))

    async def _on_cancel_registration_yes(self, turn: Turn, value: str) -> Step:
        registration = await self._own(turn, value)
        if registration is None:
            return Step(self._say("training_no_such_registration"))
        try:
            await self.training.cancel_registration(registration.id)
        except TrainingError:
            return Step(self._say("training_no_such_registration"))
        return Step(self._say("training_registration_cancelled", Choice("trn:my", self.copy["training_my"])))

    async def _on_accept(self, turn: Turn, value: str) -> Step:
        registration = await self._own(turn, value)
        if registration is None or not await self.training.accept_offer(registration.id):
            return Step(self._say("training_offer_gone"))
        session = await self.training.get(registration.session_id)
        accepted = await self.training.db.registration(registration.id)
        assert accepted is not None
        return Step(await self._registered(session, accepted, True))

    async def _on_decline(self, turn: Turn, value: str) -> Step:
        registration = await self._own(turn, value)
        if registration is None or registration.status != "offered":
            return Step(self._say("training_offer_gone"))
        await self.training.cancel_registration(registration.id)
        return Step(self._say("training_declined"))

    # --- coordinators -----------------------------------------------------------------------------
    async def _on_manage(self, turn: Turn, _value: str) -> Step:
        sessions = await self.training.db.sessions(after=turn.now - timedelta(days=7))
        choices = [Choice(f"trn-admin:{s.id}", self._manage_label(s)) for s in sessions[:20]]
        choices.insert(0, Choice("trn-admin-new:new", self.copy["training_new_session"]))
        return Step(Reply(self.copy["training_manage_intro"], (*choices, self._back(), self._main())))

    def _manage_label(self, session: TrainingSession) -> str:
        """A session in the coordinators' list: "#3 · Sat 5 Dec 2026 · Keeping our mosque safe",
        its id marked so that it can't be read as the option's number."""
        day = dates.day(session.starts_at, self.training.tz)
        return self._marked(session, self.copy.format("training_manage_label", id=session.id, day=day,
                                                      title=session.title))  # fmt: skip

    def _people_lines(self, active: Sequence[Registration]) -> list[str]:
        """One line per registration: "- Bob Ahmed (Masjid an-Noor), 2 seats: booked", or "number
        2 on the waiting list"."""
        lines, waiting = [], 0
        for r in active:
            waiting += r.status == "waiting"
            lines.append(self.copy.format(
                "training_admin_person",
                name=escape_markdown(r.name),
                organisation=escape_markdown(r.organisation),
                seats=self.copy.count("seats_count", r.seats),
                status=self.copy.format(f"training_admin_status_{r.status}", position=waiting),
            ))  # fmt: skip
        return lines

    async def _on_admin(self, turn: Turn, value: str) -> Step:
        session = await self._session(value)
        if session is None:
            return Step(self._say("training_no_such_session"))
        people = await self.training.db.attendees(session.id)
        active = [r for r in people if r.status != "cancelled"]
        lines = self._people_lines(active)
        text = self.copy.format(
            "training_admin_session",
            id=session.id,
            title=escape_markdown(session.title),
            when=self._when(session),
            taken=session.taken,
            capacity=session.capacity,
            waiting=session.waiting,
            attended=session.attended,
        )
        if session.status == "cancelled":
            text += "\n\n" + self.copy["training_is_cancelled"]
        if lines:
            text += "\n\n" + "\n".join(lines)
        choices = []
        if session.status == "scheduled" and self.training.is_the_day(session):
            choices += [Choice(f"trn-checkin:{r.id}", self.copy.format("training_checkin", name=r.name[:40]))
                        for r in active if r.status == "confirmed"][:10]  # fmt: skip
            choices += [Choice(f"trn-uncheckin:{r.id}", self.copy.format("training_uncheckin", name=r.name[:40]))
                        for r in active if r.status == "attended"][:10]  # fmt: skip
        elif session.status == "scheduled" and any(r.status == "confirmed" for r in active):
            day = dates.day(session.starts_at, self.training.tz)
            text += "\n\n" + self.copy.format("training_checkin_on_the_day", day=day)
        if session.status == "scheduled":
            choices += [
                Choice(f"trn-admin-edit:{session.id}", self.copy["training_edit"]),
                Choice(f"trn-admin-cancel:{session.id}", self.copy["training_cancel_session"]),
            ]
        return Step(Reply(text, (*choices, Choice("trn:manage", self.copy["back"]), self._main())))

    async def _on_admin_new(self, _turn: Turn, _value: str) -> Step:
        """Adding a session step by step, one question a message, like booking."""
        return self._ask_new(NEW_STEPS[0], {}, intro=self.copy["training_new_intro"])

    def _ask_new(self, field: str, fields: Mapping[str, str], intro: str = "", problem: str = "") -> Step:
        """The question for one of a new session's fields (optional ones can be skipped)."""
        step = NEW_STEPS.index(field)
        text = self.copy.format("training_new_step", number=step + 1, count=len(NEW_STEPS),
                                question=self.copy[f"training_new_ask_{field}"])  # fmt: skip
        if problem:
            text = f"{self.copy.format('training_form_problem', problem=escape_markdown(problem))}\n\n{text}"
        elif intro:
            text = f"{intro}\n\n{text}"
        skip = (Choice(f"trn-new-skip:{field}", self.copy["training_new_skip"]),) if field in OPTIONAL else ()
        reply = Reply(text, skip, typed=True)  # a typed answer: no numbered options to mistake it for
        return Step(reply, "trn_new", {"field": field, "fields": dict(fields)})

    async def _on_new_text(self, turn: Turn, text: str) -> Step:
        field, fields = str(turn.form.get("field") or ""), dict(turn.form.get("fields") or {})
        pasted = parse_fields(text)
        as_fields = bool(pasted) and set(pasted) <= set(REQUIRED + OPTIONAL)
        if field not in NEW_STEPS and not as_fields:  # after fields pasted at once went wrong: ask one by one
            return self._ask_new(NEW_STEPS[0], {}, intro=self.copy["training_new_intro"])
        if as_fields and set(pasted) != {field}:
            # Fields as `field: value` lines (all at once, as before): taken, then what is missing asked
            merged = {**fields, **pasted}
            missing = [f for f in NEW_STEPS if f in REQUIRED and not merged.get(f)]
            if not missing or field not in NEW_STEPS:
                return await self._add_new(turn, merged, pasted_all=True)
            try:
                self.training.check(merged, partial=True)
            except TrainingError as exc:
                return self._ask_new(field, fields, problem=str(exc))
            return self._ask_new(missing[0], merged)
        value = clean(pasted.get(field, text)).strip()
        if field == "ends" and _TIME_ONLY.fullmatch(value) and fields.get("starts"):  # "13:00": the same day
            value = f"{fields['starts'].replace('T', ' ').split(' ')[0]} {value}"
        try:
            self.training.check({**fields, field: value}, partial=True)  # the borough against boroughs.yaml too
        except TrainingError as exc:
            return self._ask_new(field, fields, problem=str(exc))
        return await self._next_new(turn, {**fields, field: value}, field)

    async def _on_new_skip(self, turn: Turn, value: str) -> Step:
        if value not in OPTIONAL or turn.form.get("field") != value:
            return self._ask_new(NEW_STEPS[0], {})
        return await self._next_new(turn, dict(turn.form.get("fields") or {}), value)

    async def _next_new(self, turn: Turn, fields: dict[str, str], done: str) -> Step:
        later = NEW_STEPS[NEW_STEPS.index(done) + 1 :]
        if later:
            return self._ask_new(later[0], fields)
        return await self._add_new(turn, fields)

    async def _add_new(self, turn: Turn, fields: dict[str, str], *, pasted_all: bool = False) -> Step:
        try:
            session_id = await self.training.add(fields)
        except TrainingError as exc:
            if pasted_all:
                return Step(self._say("training_form_problem", problem=escape_markdown(str(exc))), "trn_new")
            wrong = next((f for f in NEW_STEPS if str(exc).startswith(f"{f}:")), NEW_STEPS[0])
            return self._ask_new(wrong, {k: v for k, v in fields.items() if k != wrong}, problem=str(exc))
        return await self._on_admin(turn, str(session_id))

    async def _on_admin_edit(self, _turn: Turn, value: str) -> Step:
        return Step(self._say("training_edit_help"), "trn_edit", {"session": number(value) or 0})

    async def _on_edit_text(self, turn: Turn, text: str) -> Step:
        session_id = int(turn.form.get("session", 0))
        try:
            _session, told = await self.training.edit(session_id, parse_fields(text))
        except TrainingError as exc:
            return Step(self._say("training_form_problem", problem=escape_markdown(str(exc))), "trn_edit", turn.form)
        page = await self._on_admin(turn, str(session_id))
        if not told:
            return page
        said = self.copy.format("training_edit_told", count=told)
        return Step(Reply(f"{said}\n\n{page.reply.text}", page.reply.choices), page.state, page.form)

    async def _on_admin_cancel(self, _turn: Turn, value: str) -> Step:
        session = await self._session(value)
        if session is None:
            return Step(self._say("training_no_such_session"))
        choices = (Choice(f"trn-admin-cancel-yes:{session.id}", self.copy["training_cancel_session_yes"]),
                   Choice(f"trn-admin:{session.id}", self.copy["back"]))  # fmt: skip
        return Step(self._say("training_cancel_session_confirm", *choices, title=escape_markdown(session.title)))

    async def _on_admin_cancel_yes(self, _turn: Turn, value: str) -> Step:
        try:
            told = await self.training.cancel(number(value) or 0)
        except TrainingError as exc:
            return Step(self._say("training_form_problem", problem=escape_markdown(str(exc))))
        return Step(self._say("training_session_cancelled_done", Choice("trn:manage", self.copy["back"]), count=told))

    async def _on_checkin(self, turn: Turn, value: str) -> Step:
        return await self._check_in(turn, value, undo=False)

    async def _on_uncheckin(self, turn: Turn, value: str) -> Step:
        return await self._check_in(turn, value, undo=True)

    async def _check_in(self, turn: Turn, value: str, *, undo: bool) -> Step:
        """Check someone in, or undo it; on any other day than the session's, say why not."""
        registration = await self.training.db.registration(wanted) if (wanted := number(value)) is not None else None
        if registration is None:
            return Step(self._say("training_no_such_registration"))
        try:
            await self.training.check_in(registration.id, undo=undo)
        except TrainingError as exc:
            back = Choice(f"trn-admin:{registration.session_id}", self.copy["back"])
            return Step(self._say("training_checkin_refused", back, problem=escape_markdown(str(exc))))
        return await self._on_admin(turn, str(registration.session_id))
