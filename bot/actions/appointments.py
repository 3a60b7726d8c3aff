"""Confirm, book or reschedule in the patient's own words, and cancel."""

import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions.common import ANSWERED_NO, ANSWERED_YES, YesNoFormValidation, conversation_for, is_voice
from bot.actions.flow import Context, RequestAction, conversation_language, handles
from bot.actions.referrals import tell_status
from relay.core.db import session_scope
from relay.core.phones import pretty
from relay.inbound.answers import yes_or_no
from relay.language.languages import Language
from relay.language.spanish import fold
from relay.language.spoken import format_when_spoken, respell_times, spoken_options
from relay.language.timefmt import format_when
from relay.messaging.handoffs import open_handoff
from relay.models import Clinic, HandoffPriority, Referral, ReferralStatus, utcnow
from relay.records.clinics import get_clinic
from relay.referrals.choosing import choice_number
from relay.referrals.patient_requests import upcoming_appointment
from relay.scheduling.booking import (
    SELF_SCHEDULABLE_STATUSES,
    NotBookable,
    SlotTaken,
    book_slot,
    cancel_appointment,
    confirm_appointment,
    coverage_accepted,
)
from relay.scheduling.slots import offer_slots, soonest_slots
from relay.scheduling.time_windows import TimeWindow, parse_time_request

# Slot values the validators set once an answer is understood. Not plain
# "yes"/"no": the patient's own "yes" fills the slot first and must still be acted on.
STOPPED = "__stopped__"
# time_request when the patient named no day or time: the form offers the soonest slots at once.
SOONEST = "__soonest__"
# Offers that end by saying how to answer ("Reply 1, 2 or 3, or tell me a day and time"): no second prompt.
OFFERS_THAT_ASK = frozenset({"utter_slots_soonest"})
BOOKING_SLOTS = ("booking_referral", "time_request", "slot_choice", "offered_slots")


def _referral(session: Session, tracker: Tracker) -> Referral | None:
    external_id = tracker.get_slot("booking_referral")
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one_or_none() if external_id else None


def _when(clinic: Clinic, moment: datetime, *, spoken: bool = False, language: str = Language.EN) -> str:
    """'Thu, Dec 3 at 10:00 AM' in a text, 'Thursday, December third at ten A M' on a call.

    Spanish: 'jueves 3 de diciembre a las 10:00 a. m.'; on a call 'el jueves tres de
    diciembre a las diez de la mañana' (the article comes with it, as spoken.py says).
    """
    return (format_when_spoken if spoken else format_when)(moment, clinic.timezone, language)


# --- confirm ---------------------------------------------------------------


def _nothing_to_confirm(ctx: Context, _referrals: list[Referral]) -> list[EventType]:
    ctx.say("utter_no_upcoming_appointment", clinic_phone=ctx.clinic_phone)
    return []


@handles("confirm", when_none=_nothing_to_confirm)
def _confirm(ctx: Context, referrals: list[Referral]) -> list[EventType]:
    referral = referrals[0]
    upcoming = upcoming_appointment(referral, ctx.now)
    if upcoming is None:
        # Gone since the referral was chosen (cancelled by staff, or its time passed).
        return _nothing_to_confirm(ctx, referrals)
    appointment = confirm_appointment(ctx.session, appointment=upcoming, now=ctx.now, actor="bot")
    ctx.say(
        "utter_appointment_confirmed",
        specialist=referral.specialist.name,
        when=_when(ctx.clinic, appointment.start_at, spoken=ctx.spoken, language=ctx.language),
        facility=referral.specialist.facility,
    )
    return []


class ActionConfirmAppointment(RequestAction):
    request, action_name = "confirm", "action_confirm_appointment"


# --- book / reschedule -----------------------------------------------------


def _nothing_to_book(ctx: Context, _referrals: list[Referral]) -> list[EventType]:
    waiting = [
        r for r in ctx.patient.referrals if r.status in (ReferralStatus.RECEIVED, ReferralStatus.AUTHORIZATION_PENDING)
    ]
    if waiting:
        ctx.say("utter_not_ready_to_book")
        tell_status(ctx, waiting[0])
    else:
        ctx.say("utter_no_open_referral", clinic_phone=ctx.clinic_phone)
    return []


def booking_blocked(ctx: Context, referral: Referral) -> bool:
    """Say why this referral cannot be booked by text, and hand it to staff where they must act."""
    specialist = referral.specialist
    if referral.is_emergency:
        ctx.say("utter_emergency_no_self_booking", clinic_phone=ctx.clinic_phone)
        open_handoff(
            ctx.session,
            conversation=ctx.conversation,
            reason="emergency_referral",
            priority=HandoffPriority.URGENT,
            referral_id=referral.id,
            now=ctx.now,
        )
        return True
    if referral.status not in SELF_SCHEDULABLE_STATUSES:
        ctx.say("utter_not_ready_to_book")
        tell_status(ctx, referral)
        return True
    if not coverage_accepted(ctx.patient, specialist):
        # Nobody should be surprised by a bill: no booking, staff find an in-network option.
        ctx.say(
            "utter_insurance_not_accepted",
            payer=ctx.patient.insurance_payer or ("su seguro" if ctx.language == Language.ES else "your insurance"),
            specialist=specialist.name,
        )
        open_handoff(
            ctx.session,
            conversation=ctx.conversation,
            reason="insurance_not_accepted",
            priority=HandoffPriority.NORMAL,
            referral_id=referral.id,
            now=ctx.now,
        )
        return True
    return False


def start_booking(
    ctx: Context, referral: Referral, *, prefill: str | None = None, soonest_by_default: bool = False
) -> list[EventType]:
    """Start booking_form for the referral.

    A time already named ("can we do tuesday after 3?") is offered at once; so,
    with `soonest_by_default`, are the soonest slots when the request names
    none ("can I reschedule?"). Otherwise the form asks for a day and time.
    """
    if booking_blocked(ctx, referral):
        return []
    window = (
        parse_time_request(prefill, now=ctx.now, tz=ctx.clinic.timezone, language=ctx.language) if prefill else None
    )
    time_request = prefill if window else (SOONEST if soonest_by_default else None)
    return [
        SlotSet("booking_referral", referral.external_id),
        SlotSet("slot_choice", None),
        SlotSet("offered_slots", None),
        SlotSet("time_request", time_request),
        FollowupAction("booking_form"),
    ]


@handles("booking", when_none=_nothing_to_book)
def _booking(ctx: Context, referrals: list[Referral]) -> list[EventType]:
    return start_booking(ctx, referrals[0], prefill=ctx.request_text, soonest_by_default=True)


class ActionStartBooking(RequestAction):
    request, action_name = "booking", "action_start_booking"


class ActionAskTimeRequest(Action):
    def name(self) -> str:
        return "action_ask_time_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        after_cancel = tracker.get_slot("pending_request") == "rebook"
        dispatcher.utter_message(response="utter_ask_time_request_rebook" if after_cancel else "utter_ask_time_request")
        return []


class ValidateBookingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_booking_form"

    def validate_time_request(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"time_request": None}
        text = str(value)
        answer = None if text == SOONEST else yes_or_no(text, tracker.get_intent_of_latest_message())
        if answer is False:
            dispatcher.utter_message(response="utter_booking_stopped")
            return {"time_request": text, "slot_choice": STOPPED}
        now, language = utcnow(), conversation_language(tracker)
        with session_scope() as session:
            clinic, referral = get_clinic(session), _referral(session, tracker)
            if referral is None:
                return {"time_request": text, "slot_choice": STOPPED}
            window = (
                None if text == SOONEST else parse_time_request(text, now=now, tz=clinic.timezone, language=language)
            )
            # No time named: at the start of a booking, or a plain "yes" to "would you like a new time?".
            if window is None and text != SOONEST and answer is not True:
                dispatcher.utter_message(response="utter_time_unreadable")
                return {"time_request": None}
            offered = _offer(
                dispatcher, session, clinic, referral, window, now, spoken=is_voice(tracker), language=language
            )
        if not offered:
            return {"time_request": text, "slot_choice": STOPPED}
        return {"time_request": text, "offered_slots": offered}

    def validate_slot_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == STOPPED:
            return {"slot_choice": value}
        text = str(value)
        if yes_or_no(text, tracker.get_intent_of_latest_message()) is False:
            dispatcher.utter_message(response="utter_booking_stopped")
            return {"slot_choice": STOPPED}
        offered = [datetime.fromisoformat(iso) for iso in tracker.get_slot("offered_slots") or []]
        now, language, spoken = utcnow(), conversation_language(tracker), is_voice(tracker)
        with session_scope() as session:
            clinic, referral = get_clinic(session), _referral(session, tracker)
            if referral is None:
                return {"slot_choice": STOPPED}
            choice = _chosen_slot(text, offered, now, clinic.timezone, language)
            if choice is None:
                window = parse_time_request(text, now=now, tz=clinic.timezone, language=language)
                if window is None:
                    dispatcher.utter_message(response="utter_slot_choice_invalid")
                    return {"slot_choice": None}
                # A new day or time: offer slots for it instead.
                reoffered = _offer(dispatcher, session, clinic, referral, window, now, spoken=spoken, language=language)
                return {"slot_choice": None, "time_request": text, "offered_slots": reoffered or None}
            rescheduling = upcoming_appointment(referral, now) is not None
            try:
                appointment = book_slot(session, referral=referral, start_at=choice, now=now, actor="bot")
            except (SlotTaken, NotBookable):
                dispatcher.utter_message(response="utter_slot_taken")
                # Again for what was asked; the soonest when nothing was (or it no longer reads as a time).
                asked = tracker.get_slot("time_request") or ""
                fallback = parse_time_request(asked, now=now, tz=clinic.timezone, language=language)
                reoffered = _offer(
                    dispatcher, session, clinic, referral, fallback, now, spoken=spoken, language=language
                )
                return {"slot_choice": None, "offered_slots": reoffered or None}
            specialist = referral.specialist
            dispatcher.utter_message(
                response="utter_rescheduled" if rescheduling else "utter_booked",
                specialist=specialist.name,
                when=_when(clinic, appointment.start_at, spoken=spoken, language=language),
                facility=specialist.facility,
                address=specialist.address,
            )
            return {"slot_choice": appointment.start_at.isoformat()}


def _offer(
    dispatcher: CollectingDispatcher,
    session: Session,
    clinic: Clinic,
    referral: Referral,
    window: TimeWindow | None,
    now: datetime,
    *,
    spoken: bool = False,
    language: str = Language.EN,
) -> list[str]:
    """Say up to three open slots and return them as ISO strings.

    For a window: slots in it, or the nearest ones (said as the nearest). With
    no window, or "as soon as possible": the soonest open slots.
    """
    specialist = referral.specialist
    if window is None or window.asap:
        slots = soonest_slots(session, specialist_id=specialist.id, now=now, tz=clinic.timezone)
        response, label = "utter_slots_soonest", ""
    else:
        offer = offer_slots(session, specialist_id=specialist.id, window=window, now=now, tz=clinic.timezone)
        slots, response = offer.slots, "utter_slots_offer" if offer.in_window else "utter_slots_nearest"
        label = respell_times(window.label, language) if spoken else window.label
    if not slots:
        dispatcher.utter_message(response="utter_no_slots", specialist=specialist.name)
        return []
    dispatcher.utter_message(
        response=response,
        specialist=specialist.name,
        window=label,
        options=_slot_options(clinic, slots, spoken=spoken, language=language),
    )
    return [slot.isoformat() for slot in slots]


def _slot_options(clinic: Clinic, slots: list[datetime], *, spoken: bool, language: str) -> str:
    """'1) Thu, Dec 3 at 1:00 PM', one a line; on a call 'press or say 1 for Thursday, December third at one P M'."""
    if spoken:
        return spoken_options([_when(clinic, slot, spoken=True, language=language) for slot in slots], language)
    return "\n".join(f"{n}) {_when(clinic, slot, language=language)}" for n, slot in enumerate(slots, start=1))


# "the friday one", "that one", "la del viernes", "esa": a day that points at an offered time, not a new wish.
_POINTING = re.compile(r"\b(?:one|that|option|opcion|es[ea]|(?:el|la) del?)\b")


def _chosen_slot(text: str, offered: list[datetime], now: datetime, tz: str, language: str) -> datetime | None:
    """'2', 'option 2', 'the second one', 'la segunda', or a restated time ('the 1:30 one', 'thu at 1:30').

    A day without a time ("friday morning", "next week") is a new wish, offered
    for anew, unless it points at one of the offered times ("the friday one").
    """
    number = choice_number(text, len(offered))
    if number is not None:
        return offered[number - 1]
    window = parse_time_request(text, now=now, tz=tz, language=language)
    if window is None:
        return None
    if window.preferred is not None:
        matches = [slot for slot in offered if slot == window.preferred] or [
            slot for slot in offered if slot.astimezone(window.preferred.tzinfo).time() == window.preferred.time()
        ]
    elif _POINTING.search(fold(text)):
        matches = [slot for slot in offered if window.start <= slot < window.end]
    else:
        return None
    return matches[0] if len(matches) == 1 else None


class ActionAskSlotChoice(Action):
    """The form's question for slot_choice, unless the offer just made already asked it."""

    def name(self) -> str:
        return "action_ask_slot_choice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if _offered_this_turn(tracker) not in OFFERS_THAT_ASK:
            dispatcher.utter_message(response="utter_ask_slot_choice")
        return []


def _offered_this_turn(tracker: Tracker) -> str | None:
    """The response of the latest bot message since the patient last wrote (Rasa keeps it in the event's metadata)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return None
        if event.get("event") == "bot":
            return (event.get("metadata") or {}).get("utter_action")
    return None


class ActionBookingDone(Action):
    def name(self) -> str:
        return "action_booking_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet(name, None) for name in BOOKING_SLOTS] + [SlotSet("pending_request", None)]


# --- cancel ----------------------------------------------------------------


@handles("cancel", when_none=_nothing_to_confirm)
def _cancel(ctx: Context, referrals: list[Referral]) -> list[EventType]:
    return [
        SlotSet("booking_referral", referrals[0].external_id),
        SlotSet("cancel_confirmation", None),
        FollowupAction("cancel_form"),
    ]


class ActionStartCancel(RequestAction):
    request, action_name = "cancel", "action_start_cancel"


class ActionAskCancelConfirmation(Action):
    def name(self) -> str:
        return "action_ask_cancel_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        with session_scope() as session:
            clinic, referral = get_clinic(session), _referral(session, tracker)
            appointment = referral.current_appointment if referral is not None else None
            if referral is None or appointment is None:
                return [SlotSet("cancel_confirmation", ANSWERED_NO)]
            # Never "reply CANCEL": a lone CANCEL is an opt-out at Twilio.
            dispatcher.utter_message(
                response="utter_ask_cancel_confirmation",
                specialist=referral.specialist.name,
                when=_when(
                    clinic, appointment.start_at, spoken=is_voice(tracker), language=conversation_language(tracker)
                ),
            )
        return []


class ValidateCancelForm(YesNoFormValidation):
    def name(self) -> str:
        return "validate_cancel_form"

    def validate_cancel_confirmation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.read_answer("cancel_confirmation", value, dispatcher, tracker)

    def on_yes(self, tracker: Tracker) -> None:
        now = utcnow()
        with session_scope() as session:
            referral = _referral(session, tracker)
            appointment = upcoming_appointment(referral, now) if referral else None
            if appointment is not None:
                cancel_appointment(session, appointment=appointment, now=now, actor="bot")


class ActionCancelDone(Action):
    """Say what happened; after a cancellation, offer a new time straight away."""

    def name(self) -> str:
        return "action_cancel_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        finished = [SlotSet(slot, None) for slot in ("cancel_confirmation", "booking_referral", "next_request")]
        if tracker.get_slot("cancel_confirmation") != ANSWERED_YES:
            dispatcher.utter_message(response="utter_cancel_kept")
            return finished
        with session_scope() as session:
            clinic, referral = get_clinic(session), _referral(session, tracker)
            appointment = referral.current_appointment if referral is not None else None
            if referral is None or appointment is None:
                # The referral named in the slot is gone: nothing was cancelled.
                dispatcher.utter_message(
                    response="utter_no_upcoming_appointment", clinic_phone=pretty(clinic.sms_number)
                )
                return finished
            dispatcher.utter_message(
                response="utter_appointment_cancelled",
                specialist=referral.specialist.name,
                when=_when(
                    clinic, appointment.start_at, spoken=is_voice(tracker), language=conversation_language(tracker)
                ),
            )
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                # Cancelled, but no patient to offer a new time to: the team can.
                dispatcher.utter_message(
                    response="utter_unknown_number", clinic_name=clinic.name, clinic_phone=pretty(clinic.sms_number)
                )
                return finished
            ctx = Context(session, clinic, conversation, conversation.patient, utcnow(), dispatcher, tracker)
            # "cancel it and book me next week" (action_start_cancel_then_book): book with the time it named.
            asked_to_book = tracker.get_slot("next_request")
            events = start_booking(ctx, referral, prefill=asked_to_book, soonest_by_default=bool(asked_to_book))
        rebook = "rebook" if events and not asked_to_book else None
        return [
            SlotSet("cancel_confirmation", None),
            SlotSet("next_request", None),
            SlotSet("pending_request", rebook),
            *events,
        ]
