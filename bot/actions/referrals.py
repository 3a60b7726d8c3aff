"""'Where is my referral?' and 'when is my appointment?', and choosing among several."""

from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import conversation_for
from bot.actions.flow import Context, RequestAction, handles
from relay.core.db import session_scope
from relay.models import Referral, utcnow
from relay.records import audit
from relay.referrals.patient_requests import candidates
from relay.referrals.status import pick_referral, status_replies


def tell_status(ctx: Context, referral: Referral) -> None:
    for reply in status_replies(referral, ctx.clinic, ctx.now, spoken=ctx.spoken):
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


class ValidateReferralChoiceForm(FormValidationAction):
    def name(self) -> str:
        return "validate_referral_choice_form"

    def validate_referral_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"referral_choice": None}  # the form just started
        request = tracker.get_slot("pending_request") or "status"
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                return {"referral_choice": None, "requested_slot": None}
            if pick_referral(str(value), candidates(conversation.patient, request, utcnow())) is not None:
                return {"referral_choice": value}
        dispatcher.utter_message(response="utter_referral_choice_invalid")
        return {"referral_choice": None}
