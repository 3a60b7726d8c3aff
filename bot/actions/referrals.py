"""'Where is my referral?' and 'when is my appointment?', and choosing among several."""

from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import conversation_for
from bot.actions.flow import Context, RequestAction, handles
from relay.core.db import session_scope
from relay.language.spanish import fold
from relay.models import Referral, utcnow
from relay.records import audit
from relay.referrals.choosing import pick_referral
from relay.referrals.patient_requests import candidates
from relay.referrals.status import status_replies


def tell_status(ctx: Context, referral: Referral) -> None:
    for reply in status_replies(referral, ctx.clinic, ctx.now, spoken=ctx.spoken, language=ctx.language):
        ctx.say(reply.response, **reply.variables)
    audit.record(
        ctx.session,
        actor="bot",
        action="referral.disclosed",
        patient_id=referral.patient_id,
        referral_id=referral.id,
        conversation_id=ctx.conversation.id,
        details={"status": referral.status, "channel": ctx.tracker.get_latest_input_channel() or "unknown"},
        now=ctx.now,
    )


def _no_referral(ctx: Context, _referrals: list[Referral]) -> list[EventType]:
    ctx.say("utter_no_open_referral", clinic_phone=ctx.clinic_phone)
    return []


@handles("status", when_none=_no_referral)
def _status(ctx: Context, referrals: list[Referral]) -> list[EventType]:
    tell_status(ctx, referrals[0])
    return []


class ActionReferralStatus(RequestAction):
    request, action_name = "status", "action_referral_status"


_QUESTION_WORDS = frozenset(
    "where what when how why who which is are do does can could will would should "
    "donde que cuando como cual cuanto quien puedo puede hay es tengo".split()
)


def _is_question(text: str) -> bool:
    words = fold(text).replace("¿", " ").split()
    return "?" in text or (bool(words) and words[0] in _QUESTION_WORDS)


class ValidateReferralChoiceForm(FormValidationAction):
    def name(self) -> str:
        return "validate_referral_choice_form"

    async def extract_referral_choice(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An answer that names one of the listed referrals is the answer, whatever intent the model gave it.

        "the dermatology one" or "Dr. Park" can come out as request_human or
        ask_faq, which this form ignores (so that "where do I park?" is answered
        as a digression); without this, the answer itself would be taken for one.
        """
        # Rasa validates (and so extracts) only right after a user message, never when the form asks
        # again after a digression.
        if tracker.get_slot("requested_slot") != "referral_choice":
            return {}
        text = tracker.latest_message.get("text") or ""
        # "where do I park?" names Dr. Park too: a question is the patient asking, not choosing.
        if _is_question(text):
            return {}
        return {"referral_choice": text} if self._pick(text, tracker) is not None else {}

    def validate_referral_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"referral_choice": None}  # the form just started
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                return {"referral_choice": None, "requested_slot": None}
        if self._pick(str(value), tracker) is not None:
            return {"referral_choice": value}
        dispatcher.utter_message(response="utter_referral_choice_invalid")
        return {"referral_choice": None}

    @staticmethod
    def _pick(answer: str, tracker: Tracker) -> Referral | None:
        """The referral the answer names among the patient's candidates for the pending request, if exactly one."""
        request = tracker.get_slot("pending_request") or "status"
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                return None
            return pick_referral(answer, candidates(conversation.patient, request, utcnow()))
