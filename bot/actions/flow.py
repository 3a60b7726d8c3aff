"""The steps every patient request goes through before anything is said or done.

Who is texting -> locked? -> verified (else ask the date of birth) -> which
referral (else ask) -> the request's own handler. A form interrupts the flow;
`action_resume_request` picks it up again from the `pending_request` slot.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.common import conversation_for, is_voice
from relay.core.db import session_scope
from relay.core.phones import pretty
from relay.identity.verification import check_dob, is_verified
from relay.language.languages import Language, language_of
from relay.models import Clinic, Conversation, Patient, Referral, utcnow
from relay.records.clinics import get_clinic
from relay.referrals.choosing import choice_options, pick_referral
from relay.referrals.patient_requests import candidates


def conversation_language(tracker: Tracker) -> Language:
    """The language of this conversation (the `language` slot): every date, time and list is written in it."""
    return language_of(tracker.get_slot("language") or "en")


@dataclass
class Context:
    session: Session
    clinic: Clinic
    conversation: Conversation
    patient: Patient
    now: datetime
    dispatcher: CollectingDispatcher
    tracker: Tracker
    # The message that started the request ("can we do tuesday after 3 instead?"),
    # kept across the date-of-birth and referral-choice questions.
    request_text: str = ""

    @property
    def spoken(self) -> bool:
        """On a call: dates, times and choices worded for the ear."""
        return is_voice(self.tracker)

    @property
    def language(self) -> Language:
        return conversation_language(self.tracker)

    @property
    def clinic_phone(self) -> str:
        return pretty(self.clinic.sms_number)

    def say(self, response: str, **variables: Any) -> None:
        self.dispatcher.utter_message(response=response, **variables)


Handler = Callable[[Context, list[Referral]], list[EventType]]
# request name -> (handler for one chosen referral, handler when there is none)
HANDLERS: dict[str, tuple[Handler, Handler]] = {}


def handles(request: str, *, when_none: Handler):
    def register(handler: Handler) -> Handler:
        HANDLERS[request] = (handler, when_none)
        return handler

    return register


def cleared() -> list[EventType]:
    return [
        SlotSet("pending_request", None),
        SlotSet("request_text", None),
        SlotSet("referral_choice", None),
        SlotSet("dob_text", None),
    ]


def run_request(
    request: str, dispatcher: CollectingDispatcher, tracker: Tracker, request_text: str = ""
) -> list[EventType]:
    now = utcnow()
    with session_scope() as session:
        clinic = get_clinic(session)
        conversation = conversation_for(session, tracker)
        if conversation is None or conversation.patient is None:
            dispatcher.utter_message(
                response="utter_unknown_number", clinic_name=clinic.name, clinic_phone=pretty(clinic.sms_number)
            )
            return cleared()
        ctx = Context(session, clinic, conversation, conversation.patient, now, dispatcher, tracker, request_text)
        if conversation.locked_at is not None:
            ctx.say("utter_verification_locked", clinic_phone=ctx.clinic_phone)
            return cleared()
        if not is_verified(conversation, now) and not _verify_unprompted_dob(ctx):
            if conversation.locked_at is not None:
                ctx.say("utter_verification_locked", clinic_phone=ctx.clinic_phone)
                return cleared()
            return [
                SlotSet("pending_request", request),
                SlotSet("request_text", request_text),
                SlotSet("dob_text", None),
                FollowupAction("dob_form"),
            ]

        handler, when_none = HANDLERS[request]
        referrals = candidates(ctx.patient, request, now)
        if not referrals:
            return cleared() + when_none(ctx, [])
        if len(referrals) > 1:
            chosen = choose_referral(tracker.get_slot("referral_choice") or "", request_text, referrals)
            if chosen is None:
                return [
                    SlotSet("pending_request", request),
                    SlotSet("request_text", request_text),
                    SlotSet("referral_choice", None),
                    SlotSet("options", choice_options(referrals, spoken=ctx.spoken, language=ctx.language)),
                    FollowupAction("referral_choice_form"),
                ]
            referrals = [chosen]
        return cleared() + handler(ctx, referrals)


def choose_referral(choice: str, request_text: str, referrals: list[Referral]) -> Referral | None:
    """The referral the patient's answer names, else the one the request itself named ("cancel my skin appt").

    The request's digits and number words are its times and dates ("can we do
    tuesday after 3"), never a choice: it is read for names only.
    """
    return pick_referral(choice, referrals) or pick_referral(request_text, referrals, numbers=False)


def _verify_unprompted_dob(ctx: Context) -> bool:
    """A patient who sends the date of birth before being asked is checked at once."""
    if ctx.tracker.get_intent_of_latest_message() != "inform_dob":
        return False
    text = ctx.tracker.latest_message.get("text") or ""
    return check_dob(ctx.session, conversation=ctx.conversation, text=text, now=ctx.now).outcome == "verified"


class RequestAction(Action, ABC):
    """An action that starts one kind of request; each subclass names its request and its action.

    Abstract, so that the action server, which registers every Action subclass it
    can instantiate, leaves this base alone.
    """

    @property
    @abstractmethod
    def request(self) -> str: ...

    @property
    @abstractmethod
    def action_name(self) -> str: ...

    def name(self) -> str:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return run_request(self.request, dispatcher, tracker, tracker.latest_message.get("text") or "")


class ActionResumeRequest(Action):
    """After the date-of-birth or referral-choice form: carry on with what was asked."""

    def name(self) -> str:
        return "action_resume_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        request = tracker.get_slot("pending_request")
        request_text = tracker.get_slot("request_text") or ""
        return run_request(request if request in HANDLERS else "status", dispatcher, tracker, request_text)
