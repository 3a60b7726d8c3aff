"""'Where is my referral?' and 'when is my appointment?'."""

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import conversation_for
from relay import audit
from relay.clinics import get_clinic
from relay.db import session_scope
from relay.models import Referral, utcnow
from relay.phones import pretty
from relay.referral_status import choice_options, pick_referral, referrals_to_discuss, status_replies
from relay.verification import check_dob, is_verified


class ActionReferralStatus(Action):
    """Verify, pick the referral, then tell its status and next step."""

    def name(self) -> str:
        return "action_referral_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        now = utcnow()
        with session_scope() as session:
            clinic = get_clinic(session)
            clinic_phone = pretty(clinic.sms_number)
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                dispatcher.utter_message(
                    response="utter_unknown_number", clinic_name=clinic.name, clinic_phone=clinic_phone
                )
                return _reset()
            if conversation.locked_at is not None:
                dispatcher.utter_message(response="utter_verification_locked", clinic_phone=clinic_phone)
                return _reset()
            if not is_verified(conversation, now):
                if tracker.get_intent_of_latest_message() == "inform_dob":
                    # The patient sent the date unprompted: check it rather than ask again.
                    outcome = check_dob(session, conversation=conversation, text=tracker.latest_message.get("text", ""))
                    if outcome.outcome == "locked":
                        dispatcher.utter_message(response="utter_verification_locked", clinic_phone=clinic_phone)
                        return _reset()
                    if outcome.outcome != "verified":
                        return _ask_for_dob()
                else:
                    return _ask_for_dob()

            referrals = referrals_to_discuss(conversation.patient)
            if not referrals:
                dispatcher.utter_message(response="utter_no_open_referral", clinic_phone=clinic_phone)
                return _reset()
            referral = referrals[0]
            if len(referrals) > 1:
                referral = pick_referral(tracker.get_slot("referral_choice") or "", referrals)
                if referral is None:
                    return [
                        SlotSet("referral_choice", None),
                        SlotSet("options", choice_options(referrals)),
                        FollowupAction("referral_choice_form"),
                    ]
            for reply in status_replies(referral, clinic, now):
                dispatcher.utter_message(response=reply.response, **reply.variables)
            _audit_disclosure(session, conversation.id, referral, tracker)
        return _reset()


class ValidateReferralChoiceForm(FormValidationAction):
    def name(self) -> str:
        return "validate_referral_choice_form"

    def validate_referral_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value is None:
            return {"referral_choice": None}  # the form just started
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is None or conversation.patient is None:
                return {"referral_choice": None, "requested_slot": None}
            referrals = referrals_to_discuss(conversation.patient)
            if pick_referral(str(value), referrals) is not None:
                return {"referral_choice": value}
        dispatcher.utter_message(response="utter_referral_choice_invalid")
        return {"referral_choice": None}


def _ask_for_dob() -> list:
    # The form completes at once if its slot still holds an old value.
    return [SlotSet("dob_text", None), FollowupAction("dob_form")]


def _reset() -> list:
    return [SlotSet("referral_choice", None), SlotSet("dob_text", None)]


def _audit_disclosure(session, conversation_id: int, referral: Referral, tracker: Tracker) -> None:  # noqa: ANN001
    audit.record(
        session,
        actor="bot",
        action="referral.disclosed",
        patient_id=referral.patient_id,
        referral_id=referral.id,
        conversation_id=conversation_id,
        details={"status": referral.status, "channel": tracker.get_latest_input_channel() or "unknown"},
    )
