"""The alerts part of the conversation.

For everyone: sign up (faith leaders: name, role, place of worship, areas → a coordinator
approves; community members: areas only), see and change a subscription, stop it, check an alert
is genuine (CHECK A-7K3Q), and answer an alert ("Received", "Need help": coordinators are told
at once). For coordinators: approve or reject leaders, compose an alert (kind → audience → areas
→ text or template → preview with exact counts → send now or later), follow its progress, and
from its status page withdraw it or send a correction or the all clear to those who received it.

    choice prefix     alr (home|leader|community|change|stop|stop-yes|compose|pending|recent|check)
                      alr-role alr-all alr-ok        sign-up answers
                      alr-review alr-approve alr-reject     coordinators: leaders waiting
                      alr-kind alr-aud alr-areas alr-tpl alr-send alr-later alr-status   coordinators
                      alr-wd alr-wd-yes alr-fix alr-clear alr-fu-send  coordinators: after sending
                      alr-appr alr-refuse            a second coordinator (ALERT_APPROVALS=2)
                      alr-ack alr-help               answers to an alert
    open choices      alr-ack alr-help alr-review alr-status alr-appr alr-refuse: on messages the bot sent
                      first; accepted without being offered, each checks who may press it
    state (typed)     alr_name alr_place alr_role alr_areas alr_compose_areas alr_text alr_at alr_fu_text
                      (alr_text, alr_fu_text are not read for danger: an alert may describe it)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from alerts import (
    KINDS,
    NO_QUIET_HOURS,
    Alert,
    AlertError,
    AlertMessage,
    AlertStore,
    Composer,
    Delivery,
    FollowUp,
    Progress,
    Subscriber,
    parse_areas,
    parse_quiet_hours,
)
from bot import dates, languages
from bot.content import AlertTemplate, Copy, place_key, shown_template
from bot.dates import parse_local
from bot.dialog import Flow, Handler, Step, Turn, coordinators_only
from bot.messages import Choice, Incoming, Reply, notice_body
from bot.render import escape_markdown, in_language
from bot.roles import ROLES, shown_roles
from bot.store import NEED_HELP_KEY, Database
from bot.text import clean, number
from bot.translations import differences

logger = logging.getLogger(__name__)

AUDIENCES = ("leaders", "community", "all")
# A postcode, or its first half (the district): "E1", "e1 6an", "SW1A 1AA", "UB1"
_POSTCODE = re.compile(r"([a-z]{1,2}\d[a-z\d]?)(?:\s*\d[a-z]{2})?", re.IGNORECASE)
MAX_REASON = 300  # characters of a reason for rejecting a request, told to the person
MAX_HELP_DETAILS = 500  # characters of what's wrong and where, after Need help
ESCALATE_AFTER = timedelta(minutes=15)  # the chat's "escalate" choice when composing
ESCALATION_LINES = 30  # places of worship listed in an escalation notice; the rest: `alerts recipients`
_SHOWN_STATUSES = frozenset({"pending", "sending", "sent", "delivered", "failed"})
_REQUEST = "leader-request"  # notification keys: leader-request:<channel>:<user id>:<day>:<coordinator>


def actor(channel: str, user_id: str) -> str:
    return f"{channel}:{user_id}"


class PlaceSuggestion(AlertError):
    """Typed areas that named a place, not a borough: the boroughs it is in are suggested
    (`str()`: "Whitechapel is in Tower Hamlets."), with every area as they would be (`areas`)."""

    def __init__(self, message: str, areas: tuple[str, ...]) -> None:
        super().__init__(message)
        self.areas = areas


class AlertsFlow:
    """Builds the `Flow` for alerts, and words alerts and reports for people."""

    def __init__(
        self,
        store: AlertStore,
        composer: Composer,
        db: Database,
        copy: Copy,
        *,
        templates: Mapping[str, AlertTemplate],
        channels: Callable[[], Sequence[str]],
        clock: Callable[[], datetime],
        roles: Sequence[str] = (),
        places: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
        numbers: Mapping[str, str] | None = None,
        danger: Callable[[str], bool] | None = None,
    ) -> None:
        self.danger = danger  # whether typed text is danger now (the answerer's triage): 999 first
        self.roles = tuple(roles) or ROLES  # content/copy.yaml's `roles`
        self.places = places or {}  # content/places.yaml: "whitechapel" → ("Whitechapel", ("Tower Hamlets",))
        self.store = store
        self.composer = composer
        self.db = db
        self.copy = copy
        self.templates = templates
        self.channels = channels
        self.clock = clock
        self.numbers = numbers or {}  # content/numbers.yaml: a translation must give the English's numbers
        # What recipients get, worded once per alert and language: (text, its language, answers' labels).
        self._worded: dict[tuple[int, str | None], tuple[str, str | None, str, str]] = {}

    def flow(self) -> Flow:
        coordinator = self._coordinator
        choices: dict[str, Handler] = {
            "alr": self._on_alr,
            "alr-role": self._on_role_choice,
            "alr-all": self._on_all_areas,
            "alr-ok": self._on_consent,
            # Screens and steps on the way are checked, not audited: what they lead to is
            # (a leader approved or rejected, an alert sent), once, with what it was.
            "alr-review": coordinator(self._on_review, audited=False),
            "alr-approve": coordinator(self._on_approve, audited=False),
            "alr-reject": coordinator(self._on_reject, audited=False),
            "alr-reject-now": coordinator(self._on_reject_now, audited=False),
            "alr-kind": coordinator(self._on_kind, audited=False),
            "alr-aud": coordinator(self._on_audience, audited=False),
            "alr-areas": coordinator(self._on_compose_all_areas, audited=False),
            "alr-tpl": coordinator(self._on_template, audited=False),
            "alr-send": coordinator(self._on_send, audited=False),
            "alr-later": coordinator(self._on_later, audited=False),
            "alr-tr": coordinator(self._on_add_translation, audited=False),
            "alr-tr-lang": coordinator(self._on_translation_language, audited=False),
            "alr-status": coordinator(self._on_status, audited=False),
            "alr-wd": coordinator(self._on_withdraw, audited=False),
            "alr-wd-yes": coordinator(self._on_withdraw_yes, audited=False),
            "alr-fix": coordinator(self._on_correction, audited=False),
            "alr-clear": coordinator(self._on_all_clear, audited=False),
            "alr-fu-send": coordinator(self._on_follow_up_send, audited=False),
            "alr-appr": coordinator(self._on_approve_alert, audited=False),
            "alr-onit": coordinator(self._on_im_on_it, audited=False),
            "alr-esc": coordinator(self._on_escalate, audited=False),
            "alr-callme": self._on_call_me,
            "alr-pref": self._on_preference,
            "alr-refuse": coordinator(self._on_refuse_alert, audited=False),
            "alr-ack": self._on_ack,
            "alr-help": self._on_need_help,
            "alr-ask": self._on_ask_team,
        }
        texts: dict[str, Handler] = {
            "alr_name": self._on_name,
            "alr_place": self._on_place,
            "alr_role": self._on_role_text,
            "alr_areas": self._on_areas_text,
            "alr_compose_areas": coordinator(self._on_compose_areas_text, typed=True, audited=False),
            "alr_text": coordinator(self._on_text, typed=True, audited=False),
            "alr_at": coordinator(self._on_at_text, typed=True, audited=False),
            "alr_tr_text": coordinator(self._on_translation_text, typed=True, audited=False),
            "alr_fu_text": coordinator(self._on_follow_up_text, typed=True, audited=False),
            "alr_help_text": self._on_help_text,
            "alr_quiet": self._on_quiet_text,
            "alr_reject_reason": coordinator(self._on_reject_reason, typed=True, audited=False),
        }
        return Flow(
            choices=choices,
            texts=texts,
            menu={"alerts": self._home},
            links={"check": self._on_check},
            commands={"alerts": self._home, "subscribe": self._subscribe, "unsubscribe": self._unsubscribe},
            # Buttons on messages the bot sent first; each checks who may press it.
            open_choices=frozenset(
                {"alr-ack", "alr-help", "alr-review", "alr-status", "alr-ask", "alr-appr", "alr-refuse", "alr-onit"}
            ),
            # A coordinator's alert may well describe danger: not read for it.
            untriaged=frozenset({"alr_text", "alr_tr_text", "alr_fu_text"}),
            triaged=frozenset({"alr_help_text"}),  # what's wrong, after Need help: kept, and 999 first if danger
            keywords_too=frozenset({"alr_help_text"}),  # "STOP" alone there still stops
            forget=self._forget,
            privacy=self.copy["privacy_alerts"],
        )

    async def _forget(self, channel: str, user_id: str) -> None:
        """Before /forget (which also anonymises the audit log): the coordinators' notices of
        their request."""
        await self.db.drop_notifications(f"{_REQUEST}:{channel}:{user_id}:", sent_too=True)
        for delivery in await self.store.deliveries_of(channel, user_id):  # and of their calls for help
            await self.db.drop_notifications(f"{NEED_HELP_KEY}{delivery}:", sent_too=True)
        me = await self.store.subscriber(channel, user_id)
        if me is not None:  # coordinators' buttons naming them ("Amina (Masjid Al-Huda)")
            actions = ("review", "approve", "reject", "reject-now", "ask")
            await self.db.drop_choices(f"alr-{action}:{me.id}" for action in actions)

    # --- helpers --------------------------------------------------------------------------------
    def _main(self) -> Choice:
        return Choice("menu:main", self.copy["main_menu"])

    def _say(self, key: str, *choices: Choice, **values: object) -> Reply:
        text = self.copy.format(key, **values) if values else self.copy[key]
        return Reply(text, (*choices, self._main()))

    def _coordinator(self, handler: Handler, *, typed: bool = False, audited: bool = True) -> Handler:
        """Coordinators only: checked on arrival and audited (`coordinators_only`)."""
        wrap = coordinators_only(self.db, lambda: self._say("alerts_not_allowed"))
        return wrap(handler, typed=typed, audited=audited)

    def _areas_label(self, areas: Sequence[str]) -> str:
        return self.copy["alerts_all_london"] if "all" in areas else ", ".join(areas)

    def _match_areas(self, text: str) -> tuple[str, ...]:
        """Boroughs typed freely ("tower hamlets, newham and hackney", "richmond"), tolerating
        small misspellings; "and" inside a name (Kensington and Chelsea) is kept. A place or a
        postcode ("Whitechapel", "E1") is a suggestion of its borough (`PlaceSuggestion`)."""
        names: list[str] = []
        places: list[tuple[str, tuple[str, ...]]] = []
        for part in re.split(r"[,;\n]+", clean(text)):
            part = " ".join(part.split()).strip(" .")
            if not part:
                continue
            if part.lower() in ("all", "all london", "all of london", "london"):
                return ("all",)
            found = self._borough(part)
            if found is not None:
                names.append(found)
                continue
            place = self._place(part)
            if place is not None:  # "Whitechapel", "E1 6AN": a place in a borough (or two)
                names += place[1]
                places.append(place)
                continue
            # "newham and hackney": two boroughs
            pieces = [p for p in re.split(r"\s+(?:and|&)\s+", part, flags=re.IGNORECASE) if p.strip()]
            matched = [self._borough(p) for p in pieces] if len(pieces) > 1 else [None]
            if any(m is None for m in matched):
                raise AlertError(self.copy.format("alerts_unknown_area", area=escape_markdown(part)))
            names += [m for m in matched if m is not None]
        areas = parse_areas(names, self.composer.boroughs)
        if places:  # suggested, not taken: the person says yes to the boroughs
            raise PlaceSuggestion(self._in_boroughs(places), areas)
        return areas

    def _place(self, typed: str) -> tuple[str, tuple[str, ...]] | None:
        """The place (or postcode district) someone typed, and the boroughs it is in."""
        postcode = _POSTCODE.fullmatch(typed.strip())
        if postcode is not None:
            return self.places.get(place_key(postcode.group(1)))
        key = place_key(typed)
        if key in self.places:
            return self.places[key]
        found = process.extractOne(key, list(self.places), scorer=Levenshtein.normalized_similarity,
                                   score_cutoff=0.85) if len(key) >= 5 else None  # fmt: skip
        return self.places[str(found[0])] if found is not None else None

    def _in_boroughs(self, places: list[tuple[str, tuple[str, ...]]]) -> str:
        """What places are in: "Whitechapel is in Tower Hamlets. Clapham is in Lambeth and Wandsworth."."""
        lines = []
        for name, boroughs in places:
            listed = " and ".join(boroughs) if len(boroughs) <= 2 else ", ".join(boroughs[:-1]) + " and " + boroughs[-1]
            lines.append(self.copy.format("alerts_place_in", place=escape_markdown(name), boroughs=listed))
        return " ".join(lines)

    def _borough(self, typed: str) -> str | None:
        """The borough a name means: nearly the same spelling, or the start of only one ("Richmond")."""
        found = process.extractOne(typed, self.composer.boroughs, scorer=Levenshtein.normalized_similarity,
                                   processor=str.lower, score_cutoff=0.8)  # fmt: skip
        if found is not None:
            return str(found[0])
        lowered = typed.lower()
        starts = [b for b in self.composer.boroughs if len(lowered) >= 4 and b.lower().startswith(lowered + " ")]
        return starts[0] if len(starts) == 1 else None

    async def _notify_coordinators(self, key: str, word: Callable[[], Reply], *, but: str = "") -> None:
        """Queue a notice for every coordinator (`but` this actor), worded (`word`) in the language
        each chose (not in the language of whoever it is about)."""
        for channel, user_id, _since in await self.db.coordinators():
            if actor(channel, user_id) != but:
                await self._tell(f"{key}:{channel}:{user_id}", channel, user_id, word, coordinators_only=True)

    async def _in_their_language(self, channel: str, user_id: str, word: Callable[[], Reply]) -> Reply:
        """A reply worded (`word`) in the language this person chose."""
        with self.copy.speaking(await self.db.language_of(channel, user_id)) as voice:
            return in_language(word(), voice, self.copy)

    async def _tell(
        self, key: str, channel: str, user_id: str, word: Callable[[], Reply], *, coordinators_only: bool = False
    ) -> None:
        """Queue a notice (sent by the running bot) for one person, worded in their language."""
        body = notice_body(await self._in_their_language(channel, user_id, word))
        await self.db.notify(key, channel, user_id, body, self.clock(), coordinators_only=coordinators_only)

    async def tell_decision(self, subscriber: Subscriber, status: str, reason: str = "") -> None:
        """Tell a faith leader their request was approved or rejected (sent by the running bot):
        a rejection with the coordinator's reason, if they gave one, and a way to ask the team."""

        def decision() -> Reply:
            text = self.copy[f"alerts_you_are_{status}"]
            choices: tuple[Choice, ...] = ()
            if status == "rejected":
                if reason:
                    text += "\n\n" + self.copy.format("alerts_rejected_reason", reason=escape_markdown(reason))
                choices = (Choice(f"alr-ask:{subscriber.id}", self.copy["alerts_ask_team"]),)
            return Reply(text, choices)

        key = f"leader-{status}:{subscriber.id}:{self.clock().isoformat()}"
        await self._tell(key, subscriber.channel, subscriber.user_id, decision)

    # --- home -------------------------------------------------------------------------------------
    async def _home(self, turn: Turn, _value: str = "") -> Step:
        me = await self.store.subscriber(turn.incoming.channel, turn.incoming.user_id)
        choices: list[Choice] = []
        if me is None:
            text = self.copy["alerts_intro"]
            choices += [Choice("alr:leader", self.copy["alerts_leader_signup"]),
                        Choice("alr:community", self.copy["alerts_community_signup"])]  # fmt: skip
        else:
            status = self.copy[f"alerts_status_{me.kind}_{me.status}"]
            text = self.copy.format(
                "alerts_yours", status=status, areas=escape_markdown(self._areas_label(me.boroughs))
            )
            if (await self.db.contact(turn.incoming.channel, turn.incoming.user_id)).opted_out_at is not None:
                text += "\n\n" + self.copy["alerts_paused"]
            choices += [Choice("alr:change", self.copy["alerts_change_areas"]),
                        Choice("alr:prefs", self.copy["alerts_change_preferences"]),
                        Choice("alr:stop", self.copy["alerts_stop"])]  # fmt: skip
        if turn.coordinator:
            pending = len(await self.store.subscribers(status="pending"))
            choices += [
                Choice("alr:compose", self.copy["alerts_compose"]),
                Choice("alr:pending", self.copy.format("alerts_pending", count=pending)),
                Choice("alr:recent", self.copy["alerts_recent"]),
            ]
        return Step(Reply(text, (*choices, self._main())))

    async def _on_alr(self, turn: Turn, value: str) -> Step:
        if value == "home":
            return await self._home(turn)
        if value in ("leader", "community"):
            return await self._start_signup(turn, value)
        if value == "change":
            return self._ask_areas({"kind": "change"})
        if value == "prefs":
            return await self._preferences(turn)
        if value == "stop":
            return Step(self._say("alerts_stop_confirm", Choice("alr:stop-yes", self.copy["alerts_stop_yes"])))
        if value == "stop-yes":
            return await self._unsubscribe(turn, "")
        if value == "compose":
            return await self._coordinator(self._compose, audited=False)(turn, value)
        if value == "pending":
            return await self._coordinator(self._pending, audited=False)(turn, value)
        if value == "recent":
            return await self._coordinator(self._recent, audited=False)(turn, value)
        return await self._home(turn)

    # --- a subscriber's preferences: kinds of alert, quiet hours ----------------------------------------
    async def _preferences(self, turn: Turn) -> Step:
        me = await self.store.subscriber(turn.incoming.channel, turn.incoming.user_id)
        if me is None:
            return Step(self._say("alerts_not_subscribed"))
        kinds = ", ".join(self.copy[f"alerts_kind_{k}"] for k in reversed(KINDS) if me.gets(k))
        quiet = self._quiet_label(me.quiet_start, me.quiet_end)
        toggles = [
            Choice(
                f"alr-pref:{k}",
                self.copy.format(
                    "alerts_kind_on" if me.gets(k) else "alerts_kind_off", kind=self.copy[f"alerts_kind_{k}"]
                ),
            )
            for k in ("vigilance", "reassurance")
        ]
        choices = (*toggles, Choice("alr-pref:quiet", self.copy["alerts_change_quiet"]),
                   Choice("alr:home", self.copy["back"]))  # fmt: skip
        return Step(Reply(self.copy.format("alerts_preferences", kinds=kinds, quiet=quiet), (*choices, self._main())))

    def _quiet_label(self, start: str, end: str) -> str:
        return self.copy["alerts_quiet_none"] if start == end else f"{start}–{end}"

    async def _on_preference(self, turn: Turn, value: str) -> Step:
        incoming = turn.incoming
        me = await self.store.subscriber(incoming.channel, incoming.user_id)
        if me is None:
            return Step(self._say("alerts_not_subscribed"))
        if value == "quiet":
            return Step(self._say("alerts_ask_quiet", Choice("alr-pref:no-quiet", self.copy["alerts_no_quiet"])),
                        "alr_quiet", {})  # fmt: skip
        if value == "no-quiet":
            await self.store.set_preferences(incoming.channel, incoming.user_id, turn.now, quiet=NO_QUIET_HOURS)
        elif value in ("vigilance", "reassurance"):
            kinds = set(me.kinds) ^ {value}
            await self.store.set_preferences(incoming.channel, incoming.user_id, turn.now, kinds=kinds)
        return await self._preferences(turn)

    async def _on_quiet_text(self, turn: Turn, text: str) -> Step:
        incoming = turn.incoming
        try:
            quiet = parse_quiet_hours(clean(text))
        except AlertError:
            again = Choice("alr-pref:no-quiet", self.copy["alerts_no_quiet"])
            return Step(self._say("alerts_bad_quiet", again), "alr_quiet", turn.form)
        if await self.store.subscriber(incoming.channel, incoming.user_id) is None:
            return Step(self._say("alerts_not_subscribed"))
        await self.store.set_preferences(incoming.channel, incoming.user_id, turn.now, quiet=quiet)
        return await self._preferences(turn)

    async def _subscribe(self, turn: Turn, _payload: str) -> Step:
        return await self._home(turn)

    async def _unsubscribe(self, turn: Turn, _payload: str) -> Step:
        incoming = turn.incoming
        removed = await self.store.remove_subscriber(incoming.channel, incoming.user_id)
        if removed:
            await self.store.audit(actor(incoming.channel, incoming.user_id), "unsubscribed", {}, turn.now)
        return Step(self._say("alerts_stopped" if removed else "alerts_not_subscribed"))

    # --- signing up -------------------------------------------------------------------------------
    async def _start_signup(self, turn: Turn, kind: str) -> Step:
        if not turn.incoming.private:  # a group would read their name, place and areas
            return Step(self._say("private_only"))
        if kind == "community":
            return self._ask_areas({"kind": "community"})
        return Step(self._say("alerts_ask_name"), "alr_name", {"kind": "leader"})

    def _answer(self, text: str, low: int, high: int) -> str | None:
        value = " ".join(clean(text).split())
        return value if low <= len(value) <= high else None

    async def _on_name(self, turn: Turn, text: str) -> Step:
        name = self._answer(text, 2, 80)
        if name is None:
            return Step(self._say("alerts_bad_name"), "alr_name", turn.form)
        roles = tuple(Choice(f"alr-role:{i}", role) for i, role in enumerate(shown_roles(self.roles)))
        return Step(self._say("alerts_ask_role", *roles), "alr_role", {**turn.form, "name": name})

    async def _on_role_choice(self, turn: Turn, value: str) -> Step:
        index = number(value)
        if index is None or index >= len(self.roles) or "name" not in turn.form:
            return await self._home(turn)
        return Step(self._say("alerts_ask_place"), "alr_place", {**turn.form, "role": self.roles[index]})

    async def _on_role_text(self, turn: Turn, text: str) -> Step:
        role = self._answer(text, 2, 60)
        if role is None:
            return await self._on_name(turn, turn.form.get("name", ""))
        return Step(self._say("alerts_ask_place"), "alr_place", {**turn.form, "role": role})

    async def _on_place(self, turn: Turn, text: str) -> Step:
        place = self._answer(text, 2, 120)
        if place is None:
            return Step(self._say("alerts_bad_place"), "alr_place", turn.form)
        return self._ask_areas({**turn.form, "place": place})

    def _ask_areas(self, form: Mapping[str, Any]) -> Step:
        return Step(
            self._say("alerts_ask_areas", Choice("alr-all:all", self.copy["alerts_all_london"])), "alr_areas", form
        )

    async def _on_all_areas(self, turn: Turn, value: str) -> Step:
        suggested = turn.form.get("suggested")
        if value == "suggested" and isinstance(suggested, list) and suggested:  # yes to the boroughs of a place
            return await self._with_areas(turn, tuple(suggested))
        return await self._with_areas(turn, ("all",))

    def _suggest(self, exc: PlaceSuggestion, prefix: str, state: str, form: Mapping[str, Any]) -> Step:
        """The borough(s) a typed place is in, to say yes to, or type the areas again."""
        yes = Choice(f"{prefix}:suggested", self.copy.format("alerts_use_boroughs", areas=self._areas_label(exc.areas)))
        every = Choice(f"{prefix}:all", self.copy["alerts_all_london"])
        reply = self._say("alerts_place_suggestion", yes, every, places=str(exc))
        return Step(reply, state, {**form, "suggested": list(exc.areas)})

    async def _on_areas_text(self, turn: Turn, text: str) -> Step:
        try:
            areas = self._match_areas(text)
        except PlaceSuggestion as exc:
            return self._suggest(exc, "alr-all", "alr_areas", turn.form)
        except AlertError as exc:
            return Step(self._say("alerts_area_problem", Choice("alr-all:all", self.copy["alerts_all_london"]),
                                  problem=str(exc)), "alr_areas", turn.form)  # fmt: skip
        return await self._with_areas(turn, areas)

    async def _with_areas(self, turn: Turn, areas: Sequence[str]) -> Step:
        form = {**turn.form, "areas": list(areas)}
        incoming = turn.incoming
        if form.get("kind") == "change":
            me = await self.store.subscriber(incoming.channel, incoming.user_id)
            if me is None:
                return await self._home(turn)
            await self.store.set_boroughs(incoming.channel, incoming.user_id, areas, turn.now)
            return Step(self._say("alerts_areas_changed", areas=escape_markdown(self._areas_label(areas))))
        key = "alerts_consent_leader" if form.get("kind") == "leader" else "alerts_consent_community"
        consent = Choice("alr-ok:yes", self.copy["alerts_consent_yes"])
        return Step(self._say(key, consent, channel=incoming.channel.capitalize()), "alr_consent", form)

    async def _on_consent(self, turn: Turn, _value: str) -> Step:
        form, incoming = turn.form, turn.incoming
        if form.get("kind") not in ("leader", "community") or "areas" not in form:
            return await self._home(turn)
        leader = form["kind"] == "leader"
        subscriber, _ = await self.store.save_subscriber(
            incoming.channel, incoming.user_id, kind=form["kind"], status="pending" if leader else "approved",
            name=form.get("name", ""), role=form.get("role", ""), place=form.get("place", ""),
            boroughs=form["areas"], now=turn.now,
        )  # fmt: skip
        await self.store.audit(
            actor(incoming.channel, incoming.user_id),
            f"subscribed ({form['kind']})",
            {"areas": form["areas"]},
            turn.now,
        )
        if not leader:
            return Step(self._say("alerts_community_done", areas=escape_markdown(self._areas_label(form["areas"]))))

        def review() -> Reply:
            return Reply(
                self._request(subscriber), (Choice(f"alr-review:{subscriber.id}", self.copy["alerts_review"]),)
            )

        # At most one notice a day per person: signing up again and again can't flood coordinators.
        who = f"{incoming.channel}:{incoming.user_id}"
        await self._notify_coordinators(f"{_REQUEST}:{who}:{turn.now.date().isoformat()}", review)
        return Step(self._say("alerts_leader_pending"))

    # --- coordinators: leaders waiting ----------------------------------------------------------
    async def _pending(self, turn: Turn, _value: str) -> Step:
        waiting = await self.store.subscribers(status="pending")
        if not waiting:
            return Step(self._say("alerts_none_pending", Choice("alr:home", self.copy["back"])))
        choices = [Choice(f"alr-review:{s.id}", f"{s.name} ({s.place})"[:60]) for s in waiting[:20]]
        return Step(
            Reply(self.copy["alerts_pending_intro"], (*choices, Choice("alr:home", self.copy["back"]), self._main()))
        )

    def _request(self, subscriber: Subscriber) -> str:
        """A faith leader's request, as coordinators check it."""
        return self.copy.format(
            "alerts_request", name=escape_markdown(subscriber.name), role=escape_markdown(subscriber.role),
            place=escape_markdown(subscriber.place), areas=escape_markdown(self._areas_label(subscriber.boroughs)),
            channel=subscriber.channel,
        )  # fmt: skip

    async def _on_review(self, turn: Turn, value: str) -> Step:
        subscriber = await self.store.subscriber_by_id(wanted) if (wanted := number(value)) is not None else None
        if subscriber is None:
            return Step(self._say("alerts_no_such_request"))
        text = self._request(subscriber)
        choices = (Choice(f"alr-approve:{subscriber.id}", self.copy["alerts_approve"]),
                   Choice(f"alr-reject:{subscriber.id}", self.copy["alerts_reject"]),
                   Choice("alr:pending", self.copy["back"]))  # fmt: skip
        return Step(Reply(f"{text}\n\n{self.copy['alerts_review_' + subscriber.status]}", (*choices, self._main())))

    async def _request_of(self, value: str) -> Subscriber | None:
        subscriber = await self.store.subscriber_by_id(wanted) if (wanted := number(value)) is not None else None
        return subscriber if subscriber is not None and subscriber.kind == "leader" else None

    async def decide(self, subscriber: Subscriber, status: str, who: str, now: datetime, reason: str = "") -> None:
        """Approve or reject a faith leader's request: recorded, audited and, if it changed, told
        to them (the chat and `safetybot leaders approve|reject` both decide here)."""
        await self.store.set_status(subscriber.id, status, now)
        details = {"subscriber": subscriber.id, "name": subscriber.name, "reason given": bool(reason)}
        await self.store.audit(who, f"leader {status}", details, now)
        if subscriber.status != status:
            await self.tell_decision(subscriber, status, reason)

    async def _decide(self, turn: Turn, value: str, status: str, reason: str = "") -> Step:
        subscriber = await self._request_of(value)
        if subscriber is None:
            return Step(self._say("alerts_no_such_request"))
        await self.decide(subscriber, status, actor(turn.incoming.channel, turn.incoming.user_id), turn.now, reason)
        done = self.copy.format(f"alerts_decided_{status}", who=self._who(subscriber))
        rest = await self._pending(turn, "")
        return dataclasses.replace(rest, reply=dataclasses.replace(rest.reply, text=f"{done}\n\n{rest.reply.text}"))

    async def _on_approve(self, turn: Turn, value: str) -> Step:
        return await self._decide(turn, value, "approved")

    async def _on_reject(self, turn: Turn, value: str) -> Step:
        """Rejecting asks for a reason to tell them first (optional)."""
        subscriber = await self._request_of(value)
        if subscriber is None:
            return Step(self._say("alerts_no_such_request"))
        choices = (Choice(f"alr-reject-now:{subscriber.id}", self.copy["alerts_reject_no_reason"]),
                   Choice(f"alr-review:{subscriber.id}", self.copy["back"]))  # fmt: skip
        return Step(self._say("alerts_ask_reject_reason", *choices, who=self._who(subscriber)), "alr_reject_reason",
                    {"subscriber": subscriber.id})  # fmt: skip

    async def _on_reject_now(self, turn: Turn, value: str) -> Step:
        return await self._decide(turn, value, "rejected")

    async def _on_reject_reason(self, turn: Turn, text: str) -> Step:
        reason = clean(text).strip()
        if not 2 <= len(reason) <= MAX_REASON:
            again = (Choice(f"alr-reject-now:{turn.form.get('subscriber')}", self.copy["alerts_reject_no_reason"]),)
            return Step(self._say("alerts_bad_reject_reason", *again, most=MAX_REASON), "alr_reject_reason", turn.form)
        return await self._decide(turn, str(turn.form.get("subscriber", "")), "rejected", reason)

    async def _on_ask_team(self, turn: Turn, value: str) -> Step:
        """A rejected faith leader asks the team about it (the button on the rejection): the
        coordinators are told, with how to reach them, once."""
        me = await self._request_of(value)
        incoming = turn.incoming
        if me is None or (me.channel, me.user_id) != (incoming.channel, incoming.user_id) or me.status != "rejected":
            return Step(self._say("alerts_no_such_request"))

        def review() -> Reply:
            text = self.copy.format("alerts_leader_asks", request=self._request(me), channel=me.channel,
                                    contact=escape_markdown(me.user_id))  # fmt: skip
            return Reply(text, (Choice(f"alr-review:{me.id}", self.copy["alerts_review"]),))

        await self._notify_coordinators(f"{_REQUEST}:{me.channel}:{me.user_id}:asks", review)
        await self.store.audit(actor(incoming.channel, incoming.user_id), "asked about a rejection", {}, turn.now)
        return Step(self._say("alerts_team_asked"))

    def _who(self, subscriber: Subscriber) -> str:
        """ "Amina Khan, Imam, Masjid an-Noor": the parts they gave (a community member may give none)."""
        parts = [p.strip() for p in (subscriber.name, subscriber.role, subscriber.place) if p and p.strip()]
        return escape_markdown(", ".join(parts)) if parts else self.copy["alerts_unnamed"]

    # --- coordinators: composing ------------------------------------------------------------------
    async def _compose(self, _turn: Turn, _value: str) -> Step:
        kinds = tuple(Choice(f"alr-kind:{k}", self.copy[f"alerts_kind_{k}"]) for k in KINDS)
        return Step(self._say("alerts_ask_kind", *kinds), "alr_compose", {})

    async def _on_kind(self, turn: Turn, value: str) -> Step:
        if value not in KINDS:
            return await self._compose(turn, value)
        audiences = tuple(Choice(f"alr-aud:{a}", self.copy[f"alerts_audience_{a}"]) for a in AUDIENCES)
        return Step(self._say("alerts_ask_audience", *audiences), "alr_compose", {"kind": value})

    async def _on_audience(self, turn: Turn, value: str) -> Step:
        if value not in AUDIENCES or "kind" not in turn.form:
            return await self._compose(turn, value)
        all_london = Choice("alr-areas:all", self.copy["alerts_all_london"])
        return Step(
            self._say("alerts_ask_compose_areas", all_london), "alr_compose_areas", {**turn.form, "audience": value}
        )

    async def _on_compose_all_areas(self, turn: Turn, value: str) -> Step:
        suggested = turn.form.get("suggested")
        form = {k: v for k, v in turn.form.items() if k != "suggested"}
        if value == "suggested" and isinstance(suggested, list) and suggested:
            return self._ask_text({**form, "areas": suggested})
        return self._ask_text({**form, "areas": ["all"]})

    async def _on_compose_areas_text(self, turn: Turn, text: str) -> Step:
        try:
            areas = self._match_areas(text)
        except PlaceSuggestion as exc:
            return self._suggest(exc, "alr-areas", "alr_compose_areas", turn.form)
        except AlertError as exc:
            all_london = Choice("alr-areas:all", self.copy["alerts_all_london"])
            return Step(self._say("alerts_area_problem", all_london, problem=str(exc)), "alr_compose_areas", turn.form)
        return self._ask_text({**turn.form, "areas": list(areas)})

    def _ask_text(self, form: Mapping[str, Any]) -> Step:
        templates = [t for t in self.templates.values() if t.kind == form.get("kind")]
        choices = tuple(
            Choice(f"alr-tpl:{t.name}", self.copy.format("alerts_use_template", title=t.title)) for t in templates
        )
        return Step(self._say("alerts_ask_text", *choices), "alr_text", form)

    async def _on_template(self, turn: Turn, value: str) -> Step:
        template = self.templates.get(value)
        if template is None or "areas" not in turn.form:
            return await self._compose(turn, value)
        translations = self.template_translations(template)
        return await self._preview(turn, {**turn.form, "text": template.text, "translations": translations})

    async def _on_text(self, turn: Turn, text: str) -> Step:
        body = clean(text).strip()
        try:
            self.composer.check(str(turn.form.get("kind")), str(turn.form.get("audience")), body)
        except AlertError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)), "alr_text", turn.form)
        return await self._preview(turn, {**turn.form, "text": escape_markdown(body)})

    def fill(self, text: str, areas: Sequence[str], when: datetime) -> str:
        """The placeholders {areas} and {date} filled in; any other braces are left as written."""
        date = dates.day(when, self.composer.tz)
        return text.replace("{areas}", self._areas_label(areas)).replace("{date}", date)

    async def _preview(self, turn: Turn, form: Mapping[str, Any]) -> Step:
        areas = form["areas"]
        preview = await self.composer.preview(form["audience"], areas, self.channels(), form["kind"])
        counts = preview.by_channel
        per_channel = ", ".join(f"{channel} {count}" for channel, count in sorted(counts.items())) or "-"
        when = datetime.fromisoformat(form["at"]) if form.get("at") else turn.now
        if not preview.recipients:  # nothing to send or schedule: say so, and go back a step
            again = Choice(f"alr-aud:{form['audience']}", self.copy["alerts_other_areas"])
            audiences = Choice(f"alr-kind:{form['kind']}", self.copy["alerts_other_audience"])
            nobody = self._say("alerts_nobody", again, audiences, areas=escape_markdown(self._areas_label(areas)),
                               audience=self.copy[f"alerts_audience_{form['audience']}"])  # fmt: skip
            return Step(nobody, "alr_compose", {k: v for k, v in form.items() if k in ("kind", "audience")})
        body = self.fill(form["text"], areas, when)
        text = self.message_text(body, "A-????", form["kind"])
        translations: dict[str, str] = form.get("translations") or {}
        for code, translated in sorted(translations.items()):
            with self.copy.speaking(code):
                shown = self.message_text(self.fill(translated, areas, when), "A-????", form["kind"])
            text += f"\n\n---\n\n**{languages.language(code).name}**\n\n{shown}"
        at = self.local_time(when) if form.get("at") else self.copy["alerts_now"]
        summary = self.copy.format("alerts_preview", total=len(preview.recipients), channels=per_channel, at=at,
                                   kind=self.copy[f"alerts_kind_{form['kind']}"],
                                   audience=self.copy[f"alerts_audience_{form['audience']}"],
                                   areas=escape_markdown(self._areas_label(areas)))  # fmt: skip
        by_language = self.languages_line(preview.by_language, translations)
        summary += "\n\n" + self.copy.format("alerts_preview_languages", languages=by_language)
        if self.composer.community_channel and self.composer.posts_to_channel(form["audience"], self.channels()):
            summary += "\n\n" + self.copy.format("alerts_preview_channel",
                                                 channel=escape_markdown(self.composer.community_channel))  # fmt: skip
        if form.get("escalate"):
            minutes = int(form["escalate"]) // 60
            summary += "\n\n" + self.copy.format("alerts_preview_escalation", minutes=minutes)
            escalate = Choice("alr-esc:off", self.copy["alerts_no_escalation"])
        else:
            escalate = Choice("alr-esc:on", self.copy.format("alerts_escalate", minutes=ESCALATE_AFTER.seconds // 60))
        choices = (
            Choice("alr-send:go", self.copy["alerts_send"]),
            Choice("alr-later:at", self.copy["alerts_send_later"]),
            Choice("alr-tr:add", self.copy["alerts_add_translation"]),
            escalate,
            Choice("alr:home", self.copy["alerts_discard"]),
        )
        return Step(
            Reply(f"{summary}\n\n---\n\n{text}", (*choices, self._main())),
            "alr_preview",
            {**form, "text": form["text"]},
        )

    # --- coordinators: the alert in other languages -----------------------------------------------
    def languages_line(self, counts: Mapping[str, int], translations: Mapping[str, str]) -> str:
        """ "English 9 · বাংলা 3 ✓ · العربية 1": recipients per language chosen, ✓ where the alert
        has its translation (the others get the English)."""
        parts = []
        for code, count in sorted(counts.items(), key=lambda item: (item[0] != languages.ENGLISH, -item[1], item[0])):
            mark = " ✓" if code in translations else ""
            parts.append(f"{languages.language(code).name} {count}{mark}")
        return " · ".join(parts) or "-"

    def template_translations(self, template: AlertTemplate) -> dict[str, str]:
        """A template's translations that may be shown (TRANSLATION_MIN_STATUS), by language."""
        found = {}
        for code in self.copy.translations:
            with self.copy.speaking(code):
                shown = shown_template(template)
            if shown is not template:
                found[code] = shown.text
        return found

    def fill_translations(
        self, translations: Mapping[str, str], areas: Sequence[str], when: datetime
    ) -> dict[str, str]:
        """Each translation's {areas} and {date} filled in, the date in its own language."""
        filled = {}
        for code, text in translations.items():
            with self.copy.speaking(code):
                filled[code] = self.fill(text, areas, when)
        return filled

    def translation_problems(self, english: str, code: str, text: str) -> list[str]:
        """Why a translation of an alert can't go: a language the bot doesn't speak, or phone
        numbers, links or placeholders that are not the English's."""
        if languages.supported(code) in (None, languages.ENGLISH):
            known = ", ".join(lang.code for lang in languages.LANGUAGES if lang.code != languages.ENGLISH)
            return [f"{code!r} is not a language the bot speaks ({known})"]
        return differences(english, text, self.numbers)

    async def _on_add_translation(self, turn: Turn, _value: str) -> Step:
        if "text" not in turn.form:
            return await self._compose(turn, "")
        done: Mapping[str, str] = turn.form.get("translations") or {}
        choices = tuple(
            Choice(f"alr-tr-lang:{lang.code}", lang.name + (" ✓" if lang.code in done else ""))
            for lang in languages.LANGUAGES
            if lang.code != languages.ENGLISH
        )
        return Step(self._say("alerts_ask_translation_language", *choices), "alr_preview", turn.form)

    async def _on_translation_language(self, turn: Turn, value: str) -> Step:
        code = languages.supported(value)
        if "text" not in turn.form or code in (None, languages.ENGLISH):
            return await self._compose(turn, "")
        name = languages.language(code).name
        form = {**turn.form, "translating": code}
        return Step(self._say("alerts_ask_translation", language=name), "alr_tr_text", form)

    async def _on_translation_text(self, turn: Turn, text: str) -> Step:
        form = turn.form
        code = str(form.get("translating") or "")
        if "text" not in form or not code:
            return await self._compose(turn, "")
        body = escape_markdown(clean(text).strip())
        try:
            self.composer.check_translations({code: body})
            areas = form.get("areas") or ()
            english, filled = self.fill(form["text"], areas, turn.now), self.fill(body, areas, turn.now)
            problems = self.translation_problems(english, code, filled)
        except AlertError as exc:
            problems = [str(exc)]
        if problems:
            return Step(self._say("alerts_compose_problem", problem="; ".join(problems)), "alr_tr_text", form)
        translations = {**(form.get("translations") or {}), code: body}
        kept = {k: v for k, v in form.items() if k != "translating"}
        return await self._preview(turn, {**kept, "translations": translations})

    def local_time(self, when: datetime) -> str:
        return dates.friendly(when, self.composer.tz)

    async def _on_escalate(self, turn: Turn, value: str) -> Step:
        """Escalate if leaders haven't acknowledged it in 15 minutes: on or off, then the preview again."""
        if "text" not in turn.form:
            return await self._compose(turn, "")
        form = {k: v for k, v in turn.form.items() if k != "escalate"}
        if value == "on":
            form["escalate"] = int(ESCALATE_AFTER.total_seconds())
        return await self._preview(turn, form)

    async def _on_later(self, turn: Turn, _value: str) -> Step:
        if "text" not in turn.form:
            return await self._compose(turn, "")
        return Step(self._say("alerts_ask_at"), "alr_at", turn.form)

    async def _on_at_text(self, turn: Turn, text: str) -> Step:
        try:
            when = parse_local(text, self.composer.tz, "time")
        except ValueError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)), "alr_at", turn.form)
        if when <= turn.now:
            return Step(self._say("alerts_compose_problem", problem=self.copy["alerts_past"]), "alr_at", turn.form)
        return await self._preview(turn, {**turn.form, "at": when.isoformat()})

    async def _on_send(self, turn: Turn, _value: str) -> Step:
        form, incoming = turn.form, turn.incoming
        if not {"kind", "audience", "areas", "text"} <= set(form):
            return await self._compose(turn, "")
        when = datetime.fromisoformat(form["at"]) if form.get("at") else None
        try:
            alert = await self.composer.send(
                kind=form["kind"], audience=form["audience"], areas=form["areas"],
                text=self.fill(form["text"], form["areas"], when or turn.now),
                created_by=actor(incoming.channel, incoming.user_id), channels=self.channels(), send_at=when,
                report_to=(incoming.channel, incoming.user_id),
                translations=self.fill_translations(form.get("translations") or {}, form["areas"], when or turn.now),
                escalate_after=timedelta(seconds=int(form["escalate"])) if form.get("escalate") else None,
            )  # fmt: skip
        except AlertError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)))
        if alert.awaiting:
            await self.ask_approval(alert)
            status = Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"])
            return Step(self._say("alerts_awaiting_approval", status, reference=alert.reference))
        key = "alerts_scheduled" if when else "alerts_queued"
        at = self.local_time(when) if when else ""
        status = Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"])
        recipients = self.copy.count("recipients_count", alert.total)
        return Step(self._say(key, status, reference=alert.reference, recipients=recipients, at=at))

    # --- coordinators: progress -------------------------------------------------------------------
    async def _recent(self, _turn: Turn, _value: str) -> Step:
        recent = await self.store.alerts(10)
        if not recent:
            return Step(self._say("alerts_none_sent", Choice("alr:home", self.copy["back"])))
        choices = [Choice(f"alr-status:{a.id}", self._recent_label(a)) for a in recent]
        return Step(
            Reply(self.copy["alerts_recent_intro"], (*choices, Choice("alr:home", self.copy["back"]), self._main()))
        )

    def _recent_label(self, alert: Alert) -> str:
        """A recent alert as a coordinator picks it: "A-KNRQ · Urgent · Tue 1 Dec 2026 · 1 recipient"."""
        return self.copy.format(
            "alerts_recent_label", reference=alert.reference, kind=self.copy["alerts_kind_" + alert.kind],
            day=dates.day(alert.send_at, self.composer.tz), recipients=self.copy.count("recipients_count", alert.total),
        )  # fmt: skip

    async def _alert_of(self, value: str) -> Alert | None:
        return await self.store.alert(wanted) if (wanted := number(value)) is not None else None

    async def _on_status(self, turn: Turn, value: str) -> Step:
        alert = await self._alert_of(value)
        if alert is None:
            return Step(self._say("alerts_no_such_alert"))
        progress = await self.store.progress(alert)
        follow_ups = await self.store.follow_ups(alert)
        choices = [Choice(f"alr-status:{alert.id}", self.copy["alerts_refresh"])]
        if (
            alert.awaiting
            and alert.cancelled_at is None
            and actor(turn.incoming.channel, turn.incoming.user_id) != alert.created_by
        ):
            choices.append(Choice(f"alr-appr:{alert.id}", self.copy["alerts_approve_alert"]))
            choices.append(Choice(f"alr-refuse:{alert.id}", self.copy["alerts_refuse_alert"]))
        if (
            alert.cancelled_at is None
            and alert.approval != "refused"
            and (progress.pending or alert.send_at > self.clock() or alert.awaiting)
        ):
            choices.append(Choice(f"alr-wd:{alert.id}", self.copy["alerts_withdraw"]))
        if alert.follows is None and progress.sent + progress.delivered:
            choices.append(Choice(f"alr-fix:{alert.id}", self.copy["alerts_send_correction"]))
            choices.append(Choice(f"alr-clear:{alert.id}", self.copy["alerts_send_all_clear"]))
        text = self.progress_text(alert, progress, follow_ups)
        return Step(Reply(text, (*choices, Choice("alr:recent", self.copy["back"]), self._main())))

    # --- a second coordinator approves (ALERT_APPROVALS=2) ------------------------------------------
    async def ask_approval(self, alert: Alert) -> None:
        """Ask every other coordinator to approve or refuse an alert (sent by the running bot):
        what it says, to whom, and who composed it."""

        def request() -> Reply:
            summary = self.copy.format(
                "alerts_approval_request", reference=alert.reference, kind=self.copy[f"alerts_kind_{alert.kind}"],
                audience=self.copy[f"alerts_audience_{alert.audience}"],
                areas=escape_markdown(self._areas_label(alert.areas)),
                recipients=self.copy.count("recipients_count", alert.total), who=escape_markdown(alert.created_by),
            )  # fmt: skip
            shown = self.message_text(alert.text, alert.shown_reference, alert.kind, alert.follow_up)
            choices = (Choice(f"alr-appr:{alert.id}", self.copy["alerts_approve_alert"]),
                       Choice(f"alr-refuse:{alert.id}", self.copy["alerts_refuse_alert"]))  # fmt: skip
            return Reply(f"{summary}\n\n---\n\n{shown}", choices)

        await self._notify_coordinators(f"alert-approval:{alert.id}", request, but=alert.created_by)

    async def tell_composer(self, alert: Alert) -> None:
        """Tell whoever composed an alert in the chat that it was approved or refused."""
        if alert.report_channel and alert.report_user:
            key = "alerts_told_approved" if alert.approval == "approved" else "alerts_told_refused"

            def told() -> Reply:
                status = Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"])
                return Reply(self.copy.format(key, reference=alert.reference), (status,))

            await self._tell(f"alert-decided:{alert.id}", alert.report_channel, alert.report_user, told)

    async def _on_approve_alert(self, turn: Turn, value: str) -> Step:
        return await self._decide_alert(turn, value, approve=True)

    async def _on_refuse_alert(self, turn: Turn, value: str) -> Step:
        return await self._decide_alert(turn, value, approve=False)

    async def _decide_alert(self, turn: Turn, value: str, *, approve: bool) -> Step:
        alert = await self._alert_of(value)
        if alert is None:
            return Step(self._say("alerts_no_such_alert"))
        who = actor(turn.incoming.channel, turn.incoming.user_id)
        try:
            decided = await (self.composer.approve(alert, who) if approve else self.composer.refuse(alert, who))
        except AlertError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)))
        await self.db.drop_notifications(f"alert-approval:{alert.id}:")  # the others needn't decide
        await self.tell_composer(decided)
        status = Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"])
        key = "alerts_alert_approved" if approve else "alerts_alert_refused"
        recipients = self.copy.count("recipients_count", decided.total)
        return Step(self._say(key, status, reference=alert.reference, recipients=recipients))

    # --- coordinators: withdrawing, correcting, the all clear --------------------------------------
    async def _on_withdraw(self, _turn: Turn, value: str) -> Step:
        alert = await self._alert_of(value)
        if alert is None:
            return Step(self._say("alerts_no_such_alert"))
        back = Choice(f"alr-status:{alert.id}", self.copy["back"])
        if alert.cancelled_at is not None:
            return Step(self._say("alerts_already_withdrawn", back, reference=alert.reference,
                                  when=self.local_time(alert.cancelled_at)))  # fmt: skip
        progress = await self.store.progress(alert)
        gone = progress.sent + progress.delivered + progress.failed
        yes = Choice(f"alr-wd-yes:{alert.id}", self.copy["alerts_withdraw_yes"])
        return Step(self._say("alerts_confirm_withdraw", yes, back, reference=alert.reference,
                              pending=progress.pending, gone=gone))  # fmt: skip

    async def withdraw(self, alert: Alert, who: str, now: datetime) -> int:
        """Withdraw an alert and audit it (the chat and `safetybot alerts cancel`): how many not sent."""
        count = await self.store.cancel(alert, who, now)
        await self.store.audit(who, "alert withdrawn", {"reference": alert.reference, "not sent": count}, now)
        return count

    async def _on_withdraw_yes(self, turn: Turn, value: str) -> Step:
        alert = await self._alert_of(value)
        if alert is None:
            return Step(self._say("alerts_no_such_alert"))
        status = Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"])
        if alert.cancelled_at is not None:
            return Step(self._say("alerts_already_withdrawn", status, reference=alert.reference,
                                  when=self.local_time(alert.cancelled_at)))  # fmt: skip
        count = await self.withdraw(alert, actor(turn.incoming.channel, turn.incoming.user_id), turn.now)
        return Step(self._say("alerts_withdrawn_done", status, reference=alert.reference, cancelled=count))

    async def _on_correction(self, turn: Turn, value: str) -> Step:
        return await self._ask_follow_up(value, FollowUp.CORRECTION)

    async def _on_all_clear(self, turn: Turn, value: str) -> Step:
        return await self._ask_follow_up(value, FollowUp.ALL_CLEAR)

    async def _ask_follow_up(self, value: str, kind: FollowUp) -> Step:
        alert = await self._alert_of(value)
        if alert is None:
            return Step(self._say("alerts_no_such_alert"))
        alert = await self.composer.root(alert)
        received = len(await self.store.received(alert))
        back = Choice(f"alr-status:{alert.id}", self.copy["back"])
        if not received:
            return Step(self._say("alerts_nobody_received", back, reference=alert.reference))
        key = "alerts_ask_correction" if kind is FollowUp.CORRECTION else "alerts_ask_all_clear"
        recipients = self.copy.count("recipients_count", received)
        return Step(self._say(key, back, reference=alert.reference, recipients=recipients), "alr_fu_text",
                    {"alert": alert.id, "follow_up": kind.value})  # fmt: skip

    async def _on_follow_up_text(self, turn: Turn, text: str) -> Step:
        alert = await self._alert_of(str(turn.form.get("alert", "")))
        kind = str(turn.form.get("follow_up", ""))
        if alert is None or kind not in tuple(FollowUp):
            return Step(self._say("alerts_no_such_alert"))
        body = clean(text).strip()
        try:
            self.composer.check(alert.kind, alert.audience, body)
        except AlertError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)), "alr_fu_text", turn.form)
        body = escape_markdown(body)
        received = len(await self.store.received(alert))
        summary = self.copy.format("alerts_follow_up_preview", reference=alert.reference,
                                   recipients=self.copy.count("recipients_count", received))  # fmt: skip
        shown = self.message_text(body, alert.reference, alert.kind, kind)
        choices = (Choice("alr-fu-send:go", self.copy["alerts_send"]),
                   Choice(f"alr-status:{alert.id}", self.copy["alerts_discard"]))  # fmt: skip
        return Step(Reply(f"{summary}\n\n---\n\n{shown}", (*choices, self._main())), "alr_fu_preview",
                    {**turn.form, "text": body})  # fmt: skip

    async def _on_follow_up_send(self, turn: Turn, _value: str) -> Step:
        form, incoming = turn.form, turn.incoming
        alert = await self._alert_of(str(form.get("alert", "")))
        if alert is None or "text" not in form:
            return Step(self._say("alerts_no_such_alert"))
        try:
            sent = await self.composer.follow_up(
                alert, kind=str(form.get("follow_up")), text=str(form["text"]),
                created_by=actor(incoming.channel, incoming.user_id), report_to=(incoming.channel, incoming.user_id),
            )  # fmt: skip
        except AlertError as exc:
            return Step(self._say("alerts_compose_problem", problem=str(exc)))
        status = Choice(f"alr-status:{sent.id}", self.copy["alerts_see_progress"])
        if sent.awaiting:
            await self.ask_approval(sent)
            return Step(self._say("alerts_awaiting_approval", status, reference=sent.reference))
        recipients = self.copy.count("recipients_count", sent.total)
        return Step(self._say("alerts_follow_up_queued", status, reference=sent.reference, recipients=recipients))

    def progress_text(self, alert: Alert, progress: Progress, follow_ups: Sequence[Alert] = ()) -> str:
        """An alert's totals, as coordinators read them, then its withdrawal and follow-ups."""
        failed = "; ".join(f"{reason} {count}" for reason, count in sorted(progress.failed_by_reason.items()))
        if alert.unapproved and alert.cancelled_at is None:
            key = f"alerts_report_{alert.approval}"
        elif alert.send_at > self.clock() and alert.cancelled_at is None:
            key = "alerts_report_scheduled"
        else:
            key = "alerts_report_final" if progress.done else "alerts_report_progress"
        text = self.copy.format(
            key, reference=alert.reference, total=progress.total, sent=progress.sent + progress.delivered,
            delivered=progress.delivered, failed=progress.failed, pending=progress.pending,
            acknowledged=progress.acknowledged, help=progress.need_help, reasons=failed or "-",
            at=self.local_time(alert.send_at), recipients=self.copy.count("recipients_count", progress.total),
        )  # fmt: skip
        if alert.cancelled_at is not None:
            when = self.local_time(alert.cancelled_at)
            text += "\n\n" + self.copy.format("alerts_report_withdrawn", when=when, cancelled=progress.cancelled)
        for later in follow_ups:
            if later.unapproved:  # not sent (yet): said as of any alert
                recipients = self.copy.count("recipients_count", later.total)
                text += "\n\n" + self.copy.format(f"alerts_report_{later.approval}", reference=later.reference,
                                                   recipients=recipients)  # fmt: skip
                continue
            text += "\n\n" + self.copy.format(
                f"alerts_report_follow_up_{(later.follow_up or 'correction').replace('-', '_')}",
                reference=later.reference, when=self.local_time(later.send_at),
                recipients=self.copy.count("recipients_count", later.total),
            )  # fmt: skip
        return text

    # --- everyone: answering an alert, checking one -------------------------------------------------
    async def _delivery(self, turn: Turn, value: str) -> tuple[Alert, Subscriber | None, int] | None:
        delivery = number(value)
        if delivery is None:
            return None
        found = await self.store.delivery_for(delivery, turn.incoming.channel, turn.incoming.user_id)
        return (found[0], found[1], delivery) if found else None

    async def _on_ack(self, turn: Turn, value: str) -> Step:
        found = await self._delivery(turn, value)
        if found is None:  # not theirs: a forged or stale button
            return Step(self._say("alerts_no_such_alert"))
        await self._acknowledge(found[0], found[2], turn, "received")
        return Step(self._say("alerts_thanks"))

    async def _acknowledge(self, alert: Alert, delivery_id: int, turn: Turn, how: str) -> None:
        await self.store.acknowledge(delivery_id, how, turn.now)
        if alert.follows is not None and alert.follow_up == FollowUp.REMINDER:  # it answers the alert too
            await self.store.acknowledge_original(alert.follows, turn.incoming.channel, turn.incoming.user_id, how,
                                                  turn.now)  # fmt: skip

    async def _on_need_help(self, turn: Turn, value: str) -> Step:
        found = await self._delivery(turn, value)
        if found is None:
            return Step(self._say("alerts_no_such_alert"))
        alert, subscriber, delivery_id = found
        await self._acknowledge(alert, delivery_id, turn, "help")
        incoming = turn.incoming

        def help_request() -> Reply:
            return Reply(self.copy.format(
                "alerts_help_request", reference=alert.shown_reference, who=self._asker(subscriber, incoming),
                areas=escape_markdown(self._areas_label(subscriber.boroughs) if subscriber else "-"),
                channel=incoming.channel, contact=escape_markdown(incoming.user_id),
            ), (Choice(f"alr-onit:{delivery_id}", self.copy["alerts_on_it"]),))  # fmt: skip

        await self._notify_coordinators(f"{NEED_HELP_KEY}{delivery_id}", help_request)
        await self.store.audit(
            actor(turn.incoming.channel, turn.incoming.user_id),
            "asked for help",
            {"reference": alert.shown_reference},
            turn.now,
        )
        if turn.busy:  # mid-booking, say: told, and they carry on where they were (no question of ours)
            return Step(self._say("alerts_help_sent"))
        call_me = Choice(f"alr-callme:{delivery_id}", self.copy["alerts_call_me"])
        text = f"{self.copy['alerts_help_sent']}\n\n{self.copy['alerts_help_ask_details']}"
        return Step(Reply(text, (call_me, self._main())), "alr_help_text", {"delivery": delivery_id})

    async def _on_help_text(self, turn: Turn, text: str) -> Step:
        """What's wrong and where, after Need help: to the coordinators (999 first if it is danger now)."""
        details = clean(text).strip()
        if not details:
            call_me = Choice(f"alr-callme:{turn.form.get('delivery')}", self.copy["alerts_call_me"])
            return Step(self._say("alerts_help_ask_details", call_me), "alr_help_text", turn.form)
        return await self._help_details(turn, str(turn.form.get("delivery", "")), details[:MAX_HELP_DETAILS])

    async def _on_call_me(self, turn: Turn, value: str) -> Step:
        return await self._help_details(turn, value, self.copy["alerts_call_me_detail"])

    def _asker(self, subscriber: Subscriber | None, incoming: Incoming) -> str:
        """Who asked for help, as coordinators read it (in the language of the notice being worded):
        the name, role and place they signed up with, else what their account shows."""
        if subscriber is not None and (subscriber.name or subscriber.role or subscriber.place):
            who = self._who(subscriber)
        else:  # a community member gives no name: what their account shows, if anything
            shown = incoming.display_name or ""
            who = escape_markdown(shown) if shown.strip() else self.copy["alerts_unnamed"]
        if subscriber is not None and subscriber.kind == "community":
            who += " " + self.copy["alerts_community_member"]
        return who

    async def _help_details(self, turn: Turn, value: str, details: str) -> Step:
        found = await self._delivery(turn, value)
        if found is None:
            return Step(self._say("alerts_no_such_alert"))
        alert, subscriber, delivery_id = found
        incoming = turn.incoming

        def more() -> Reply:
            who = self._asker(subscriber, incoming)
            text = self.copy.format("alerts_help_details", reference=alert.shown_reference, who=who,
                                    details=escape_markdown(details), channel=incoming.channel,
                                    contact=escape_markdown(incoming.user_id))  # fmt: skip
            return Reply(text, (Choice(f"alr-onit:{delivery_id}", self.copy["alerts_on_it"]),))

        # Each message of theirs goes (a key each); the same one sent twice at once, once.
        said = hashlib.sha256(f"{turn.now.isoformat()} {details}".encode()).hexdigest()[:12]
        await self._notify_coordinators(f"{NEED_HELP_KEY}{delivery_id}:details-{said}", more)
        reply = self._say("alerts_help_details_sent")
        if self.danger is not None and self.danger(details):  # "he's at the door with a knife": 999 first
            return Step(dataclasses.replace(reply, text=f"{self.copy['emergency_lead']}\n\n{reply.text}",
                                            emergency=True))  # fmt: skip
        return Step(reply)

    async def _on_im_on_it(self, turn: Turn, value: str) -> Step:
        """A coordinator takes on a call for help: the others see it is taken, the person that
        someone is dealing with it."""
        delivery_id = number(value)
        found = await self.store.help_request(delivery_id) if delivery_id is not None else None
        if found is None or delivery_id is None:
            return Step(self._say("alerts_no_such_alert"))
        _alert_id, channel, user_id, _taken_by, _taken_at = found
        who = actor(turn.incoming.channel, turn.incoming.user_id)
        name = escape_markdown(turn.incoming.display_name or who)
        if not await self.store.take_help(delivery_id, f"{who} ({turn.incoming.display_name or '-'})", turn.now):
            current = await self.store.help_request(delivery_id)  # who got there first, read again
            by, at = (current[3], current[4]) if current else (None, None)
            when = self.local_time(datetime.fromisoformat(at)) if at else "-"
            return Step(self._say("alerts_help_already_taken", by=escape_markdown(by or "-"), when=when))
        await self.store.audit(who, "took on a call for help", {"delivery": delivery_id}, turn.now)

        def taken() -> Reply:
            return Reply(self.copy.format("alerts_help_taken_by", who=name, contact=escape_markdown(user_id),
                                          channel=channel))  # fmt: skip

        await self._notify_coordinators(f"help-taken:{delivery_id}", taken, but=who)
        await self._tell(f"help-taken:{delivery_id}:person", channel, user_id,
                         lambda: Reply(self.copy["alerts_help_on_the_way"]))  # fmt: skip
        return Step(self._say("alerts_you_are_on_it", contact=escape_markdown(user_id), channel=channel))

    async def _on_check(self, _turn: Turn, value: str) -> Step:
        found = await self.store.alert_by_reference(value.strip().upper())
        if found is None:
            return Step(self._say("alerts_not_genuine", reference=escape_markdown(value.strip().upper()[:12])))
        alert = await self.composer.root(found)  # a follow-up's own reference: what it is about
        if alert.unapproved:  # never sent: nobody got it from us
            return Step(self._say("alerts_not_genuine", reference=escape_markdown(alert.reference)))
        if alert.cancelled_at is not None:
            reply = self._say("alerts_withdrawn", reference=alert.reference, when=self.local_time(alert.cancelled_at))
        else:
            reply = self._say("alerts_genuine", reference=alert.reference, when=self.local_time(alert.send_at),
                              kind=self.copy[f"alerts_kind_{alert.kind}"])  # fmt: skip
        lines = [reply.text]
        for later in await self.store.follow_ups(alert):
            if later.send_at > self.clock() or later.follow_up == FollowUp.REMINDER or later.unapproved:
                continue  # people hear of a correction once it is on its way to them
            voice = languages.current()
            body = later.translations.get(voice.language.code) if voice is not None else None
            key = "alerts_check_correction" if later.follow_up == FollowUp.CORRECTION else "alerts_check_all_clear"
            lines.append(self.copy.format(key, when=self.local_time(later.send_at), text=body or later.text))
        return Step(dataclasses.replace(reply, text="\n\n".join(lines)))

    # --- the message people get -------------------------------------------------------------------
    def message_text(self, body: str, reference: str, kind: str, follow_up: str | None = None) -> str:
        if follow_up is not None:  # a correction, the all clear or a reminder, under the original's reference
            key = f"alerts_{follow_up.replace('-', '_')}_message"
            return self.copy.format(key, body=body, reference=reference)
        label = self.copy[f"alerts_kind_{kind}"]
        return self.copy.format("alerts_message", kind=label, body=body, reference=reference)

    def message_for(self, alert: Alert, delivery: Delivery) -> AlertMessage:
        """What one recipient gets: the text, its reference, and the answers (the dispatcher calls this)."""
        key = (alert.id, delivery.language)
        worded = self._worded.get(key)
        if worded is None:  # the same for everyone of an alert who reads its language: worded once
            if len(self._worded) >= 256:
                self._worded.clear()
            worded = self._worded[key] = self._word(alert, delivery.language)
        text, language, received, need_help = worded
        if (delivery.channel, delivery.user_id) == ("telegram", self.composer.community_channel):
            return AlertMessage(text, (), language)  # a channel's readers can't answer it
        return AlertMessage(text, ((f"alr-ack:{delivery.id}", received), (f"alr-help:{delivery.id}", need_help)),
                            language)  # fmt: skip

    def _word(self, alert: Alert, language: str | None) -> tuple[str, str | None, str, str]:
        """An alert in a language (the one a recipient chose), with the labels of its answers."""
        with self.copy.speaking(language) as voice:
            received, need_help = self.copy["alerts_received"], self.copy["alerts_need_help"]
            body = alert.translations.get(voice.language.code) if not voice.english else None
            if body is None and not voice.english:
                voice.notes.add(languages.FALLBACK_NOTE)  # the coordinators wrote it in English only
            text = self.message_text(body or alert.text, alert.shown_reference, alert.kind, alert.follow_up)
            worded = in_language(Reply(text), voice, self.copy)
        return worded.text, worded.language, received, need_help

    async def escalate_due(self) -> None:
        """For each alert whose time to be acknowledged has run out (the dispatcher calls this
        every few seconds): one reminder to the leaders it reached who haven't answered, and the
        places of worship not yet reached to every coordinator (with how to contact them)."""
        now = self.clock()
        for alert in await self.store.escalations_due(now):
            if not await self.store.mark_escalated(alert, now):
                continue  # another process got there first
            waiting = await self.store.unacknowledged_leaders(alert)
            reached = [s for s, status, _ in waiting if status in ("sent", "delivered")]
            reminded = 0
            if reached:
                try:
                    reminder = await self.composer.follow_up(
                        alert, kind=FollowUp.REMINDER, text=alert.text, created_by="escalation",
                        translations=alert.translations, recipients=reached,
                    )  # fmt: skip
                    reminded = reminder.total
                except AlertError:
                    logger.exception("alerts: the reminder for %s could not be queued", alert.reference)
            await self.store.audit("escalation", "alert escalated", {"reference": alert.reference,
                                   "not acknowledged": len(waiting), "reminded": reminded}, now)  # fmt: skip
            if not waiting:
                continue
            after = int(alert.escalate_after.total_seconds() // 60) if alert.escalate_after else 0

            notice = functools.partial(self._escalation_notice, alert, waiting, after, reminded)
            await self._notify_coordinators(f"alert-escalation:{alert.id}", notice)

    def _escalation_notice(
        self, alert: Alert, waiting: Sequence[tuple[Subscriber, str, str | None]], after: int, reminded: int
    ) -> Reply:
        """The leaders not yet reached, as coordinators read them: who, how to contact them, what happened."""
        lines = []
        for subscriber, status, reason in waiting[:ESCALATION_LINES]:
            state = self.copy[f"alerts_escalation_{status}"] if status in _SHOWN_STATUSES else status
            if reason:
                state += f" ({escape_markdown(reason)})"
            lines.append(
                f"- {self._who(subscriber)}: {subscriber.channel} {escape_markdown(subscriber.user_id)} · {state}"
            )
        if len(waiting) > ESCALATION_LINES:
            lines.append(self.copy.format("alerts_escalation_more", count=len(waiting) - ESCALATION_LINES,
                                          reference=alert.reference))  # fmt: skip
        text = self.copy.format("alerts_escalation", reference=alert.reference, minutes=after, count=len(waiting),
                                reminded=reminded, places="\n".join(lines))  # fmt: skip
        return Reply(text, (Choice(f"alr-status:{alert.id}", self.copy["alerts_see_progress"]),))

    async def live_progress(self, alert: Alert, progress: Progress) -> Reply:
        """How an alert is going, for the message that changes as it does (Telegram), in the
        language of whoever sent it."""
        assert alert.report_channel is not None and alert.report_user is not None
        return await self._in_their_language(alert.report_channel, alert.report_user, lambda: Reply(
            self.progress_text(alert, progress), (Choice(f"alr-status:{alert.id}", self.copy["alerts_refresh"]),)
        ))  # fmt: skip

    async def finished(self, alert: Alert, progress: Progress) -> None:
        """The final report, to whoever sent the alert from the chat."""
        if alert.report_channel and alert.report_user:
            await self._tell(f"alert-report:{alert.id}", alert.report_channel, alert.report_user,
                             lambda: Reply(self.progress_text(alert, progress)))  # fmt: skip
