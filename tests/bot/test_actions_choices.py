"""Choosing without a Rasa server: the referral named in the request, the soonest slots, and both languages.

The real action classes, a real rasa_sdk Tracker and CollectingDispatcher, the
real test database (the actions commit, hence `fresh_demo`); no model: each
action is called as the action server's executor calls it, with the slots and
events Rasa would send.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.utils import call_potential_coroutine
from sqlalchemy import select

from bot.actions.appointments import SOONEST, ActionAskSlotChoice, ValidateBookingForm
from bot.actions.flow import ActionResumeRequest, choose_referral
from relay.core.db import session_scope
from relay.identity.verification import check_dob
from relay.language.gsm import is_gsm7
from relay.language.spoken import format_when_spoken
from relay.language.timefmt import format_when
from relay.models import Referral, utcnow
from relay.records.conversations import find_or_open
from relay.referrals.choosing import pick_referral
from relay.scheduling.slots import MIN_LEAD, offer_slots, soonest_slots
from relay.scheduling.time_windows import parse_time_request
from tests.bot.test_referral_status_conversation import AISHA, JAMES, KEVIN, TZ

DOBS = {KEVIN: "7/19/1988", AISHA: "02/17/1991", JAMES: "9/3/1957"}
KEVINS_OPTIONS = "1) cardiology with Dr. Amara Okafor, 2) dermatology with Dr. Lena Park"


def tracker(
    sender_id: str, *, text: str = "", channel: str = "sms", events: list[dict] | None = None, **slots: Any
) -> Tracker:
    user = {"event": "user", "text": text, "input_channel": channel, "parse_data": {"intent": {"name": "inform"}}}
    return Tracker(
        sender_id=sender_id,
        slots={"language": "en"} | slots,
        latest_message={"text": text, "intent": {"name": "inform", "confidence": 1.0}},
        events=[user, *(events or [])],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


def run(action: Action, state: Tracker) -> tuple[list[dict[str, Any]], list[EventType]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(call_potential_coroutine(action.run(dispatcher, state, {})))
    return dispatcher.messages, events


def verified(phone: str) -> str:
    """The patient's conversation, past the date-of-birth check; its Rasa sender id."""
    with session_scope() as session:
        conversation = find_or_open(session, phone=phone)
        assert check_dob(session, conversation=conversation, text=DOBS[phone]).outcome == "verified"
        return conversation.public_id


def resume(phone: str, request: str, request_text: str, **slots: Any) -> tuple[list[dict], list[EventType]]:
    """What action_resume_request does once the date-of-birth form is done."""
    state = tracker(verified(phone), pending_request=request, request_text=request_text, **slots)
    return run(ActionResumeRequest(), state)


def slot(events: list[EventType], name: str) -> Any:
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    assert values, f"no SlotSet for {name}"
    return values[-1]


def validate_time(phone: str, referral_id: str, value: str, **kwargs: Any) -> tuple[list[dict], dict]:
    dispatcher = CollectingDispatcher()
    state = tracker(verified(phone), booking_referral=referral_id, **kwargs)
    result = ValidateBookingForm().validate_time_request(value, dispatcher, state, {})
    return dispatcher.messages, result


def soonest(referral_id: str) -> list[datetime]:
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id=referral_id)).one()
        return soonest_slots(session, specialist_id=referral.specialist_id, now=utcnow(), tz=TZ)


# --- the referral named in the request survives the date-of-birth check ----------------


def test_the_referral_the_request_named_is_chosen_after_the_dob(fresh_demo):
    messages, events = resume(KEVIN, "cancel", "I need to cancel my dermatology appt")

    assert messages == []
    assert slot(events, "booking_referral") == "RF-2010"
    assert FollowupAction("cancel_form") in events
    assert slot(events, "request_text") is None  # the request is done with


@pytest.mark.parametrize(
    "request_text", ["can I cancel my appointment with Dr. Okafor", "cancel the heart one", "cancelar la del corazón"]
)
def test_by_doctor_and_everyday_words(fresh_demo, request_text):
    _, events = resume(KEVIN, "cancel", request_text)
    assert slot(events, "booking_referral") == "RF-2009"


def test_the_requests_numbers_are_no_choice(fresh_demo):
    request_text = "can we do tuesday the 2nd instead"
    with session_scope() as session:
        kevins = session.scalars(select(Referral).where(Referral.external_id.in_(["RF-2009", "RF-2010"]))).all()
        # Read as an answer to "which one?", "the 2nd" would be the second referral ...
        assert pick_referral(request_text, kevins) is not None
        # ... but in the request it is a date.
        assert choose_referral("", request_text, kevins) is None

    messages, events = resume(KEVIN, "booking", request_text)

    assert messages == []
    assert FollowupAction("referral_choice_form") in events
    assert slot(events, "options") == KEVINS_OPTIONS
    assert slot(events, "request_text") == request_text  # kept for after the choice


def test_the_answer_to_which_one_comes_before_the_request(fresh_demo):
    _, events = resume(KEVIN, "cancel", "cancel my heart appt", referral_choice="no, Dr. Park")
    assert slot(events, "booking_referral") == "RF-2010"


def test_an_answer_that_fits_both_asks_again_with_the_options(fresh_demo):
    _, events = resume(KEVIN, "cancel", "I need to cancel", referral_choice="the heart one, not the skin one")
    assert FollowupAction("referral_choice_form") in events
    assert slot(events, "options") == KEVINS_OPTIONS
    assert slot(events, "referral_choice") is None


def test_the_options_in_spanish(fresh_demo):
    _, events = resume(KEVIN, "cancel", "quiero cancelar mi cita", language="es")
    assert slot(events, "options") == "1) cardiologia con Dr. Amara Okafor, 2) dermatologia con Dr. Lena Park"
    assert is_gsm7(slot(events, "options"))


def test_the_options_on_a_spanish_call(fresh_demo):
    state = tracker(verified(KEVIN), channel="voice", pending_request="cancel", request_text="cancelar", language="es")
    _, events = run(ActionResumeRequest(), state)
    assert slot(events, "options") == (
        "marque o diga 1 para cardiología con Dr. Amara Okafor o 2 para dermatología con Dr. Lena Park"
    )


# --- booking: the soonest slots at once, unless a time was named ----------------------------


@pytest.mark.parametrize("request_text", ["i want to book an appointment", "can I reschedule", "quiero una cita"])
def test_a_booking_without_a_time_starts_with_the_soonest(fresh_demo, request_text):
    _, events = resume(AISHA, "booking", request_text)
    assert slot(events, "booking_referral") == "RF-2002"
    assert slot(events, "time_request") == SOONEST
    assert FollowupAction("booking_form") in events


@pytest.mark.parametrize(
    ("request_text", "language"),
    [("can we do tuesday after 3", "en"), ("book me asap", "en"), ("el martes por la tarde", "es"),
     ("lo antes posible", "es")],
)  # fmt: skip
def test_a_booking_with_a_time_starts_with_that_time(fresh_demo, request_text, language):
    _, events = resume(AISHA, "booking", request_text, language=language)
    assert slot(events, "time_request") == request_text


def test_the_soonest_offer(fresh_demo):
    expected = soonest("RF-2002")
    messages, result = validate_time(AISHA, "RF-2002", SOONEST)

    (offer,) = messages
    assert offer["response"] == "utter_slots_soonest"
    assert offer["specialist"] == "Dr. Lena Park"
    assert offer["options"] == "\n".join(f"{n}) {format_when(s, TZ)}" for n, s in enumerate(expected, start=1))
    assert result == {"time_request": SOONEST, "offered_slots": [s.isoformat() for s in expected]}
    assert len(expected) == 3 and expected == sorted(expected)
    assert all(s >= datetime.now(UTC) + MIN_LEAD for s in expected)


@pytest.mark.parametrize(
    ("value", "language"),
    [("as soon as possible", "en"), ("asap", "en"), ("earliest you have", "en"), ("soonest", "en"),
     ("lo antes posible", "es"), ("lo más pronto posible", "es")],
)  # fmt: skip
def test_asking_for_the_soonest_gets_the_soonest(fresh_demo, value, language):
    messages, result = validate_time(AISHA, "RF-2002", value, language=language)
    assert [m["response"] for m in messages] == ["utter_slots_soonest"]
    assert result["offered_slots"] == [s.isoformat() for s in soonest("RF-2002")]


def test_the_soonest_in_spanish_by_text_and_by_voice(fresh_demo):
    expected = soonest("RF-2002")
    (texted,), _ = validate_time(AISHA, "RF-2002", SOONEST, language="es")
    lines = texted["options"].split("\n")
    assert lines == [f"{n}) {format_when(s, TZ, 'es')}" for n, s in enumerate(expected, start=1)]
    assert all(" de " in line and ("a. m." in line or "p. m." in line) for line in lines)
    assert is_gsm7(texted["options"])

    dispatcher = CollectingDispatcher()
    state = tracker(verified(AISHA), channel="voice", booking_referral="RF-2002", language="es")
    ValidateBookingForm().validate_time_request(SOONEST, dispatcher, state, {})
    (spoken,) = dispatcher.messages
    said = [format_when_spoken(s, TZ, "es") for s in expected]
    assert spoken["options"] == f"marque o diga 1 para {said[0]}, 2 para {said[1]} o 3 para {said[2]}"


def test_the_soonest_on_an_english_call(fresh_demo):
    expected = soonest("RF-2002")
    dispatcher = CollectingDispatcher()
    state = tracker(verified(AISHA), channel="voice", booking_referral="RF-2002")
    ValidateBookingForm().validate_time_request(SOONEST, dispatcher, state, {})
    said = [format_when_spoken(s, TZ) for s in expected]
    assert dispatcher.messages[0]["options"] == f"press or say 1 for {said[0]}, 2 for {said[1]}, or 3 for {said[2]}"


def test_nothing_in_the_window_offers_the_nearest_and_says_so(fresh_demo):
    # Dr. Okafor sees patients Monday to Thursday.
    messages, result = validate_time(JAMES, "RF-2001", "saturday")
    (offer,) = messages
    assert offer["response"] == "utter_slots_nearest"
    assert offer["window"].startswith("Sat, ")
    assert len(result["offered_slots"]) == 3


def test_nothing_in_a_spanish_window_says_the_window_in_spanish(fresh_demo):
    (offer,), _ = validate_time(JAMES, "RF-2001", "el sabado", language="es")
    assert offer["response"] == "utter_slots_nearest"
    assert offer["window"].startswith("sabado ") or offer["window"].startswith("el sabado ")
    assert " de " in offer["options"]


def test_a_window_with_room_is_offered_as_before(fresh_demo):
    (offer,), result = validate_time(AISHA, "RF-2002", "friday morning")
    assert offer["response"] == "utter_slots_offer"
    assert all(line[3:].startswith("Fri, ") and line.endswith("AM") for line in offer["options"].split("\n"))
    assert result["time_request"] == "friday morning"


def test_yes_to_a_new_time_after_a_cancellation_offers_the_soonest(fresh_demo):
    messages, _ = validate_time(AISHA, "RF-2002", "yes", pending_request="rebook")
    assert [m["response"] for m in messages] == ["utter_slots_soonest"]


def test_words_that_are_no_time_are_still_not_understood(fresh_demo):
    messages, result = validate_time(AISHA, "RF-2002", "purple")
    assert [m["response"] for m in messages] == ["utter_time_unreadable"]
    assert result == {"time_request": None}


# --- the form's question after an offer ---------------------------------------------------


def bot(response: str) -> dict:
    return {"event": "bot", "text": "...", "metadata": {"utter_action": response}}


def test_the_soonest_offer_already_asks_so_the_form_does_not_ask_again():
    messages, _ = run(ActionAskSlotChoice(), tracker("x", events=[bot("utter_slots_soonest")]))
    assert messages == []


@pytest.mark.parametrize("earlier", [[bot("utter_slots_offer")], [bot("utter_slots_nearest")], []])
def test_other_offers_are_followed_by_the_question(earlier):
    messages, _ = run(ActionAskSlotChoice(), tracker("x", events=earlier))
    assert [m["response"] for m in messages] == ["utter_ask_slot_choice"]


def test_an_old_soonest_offer_does_not_silence_the_question():
    earlier = [bot("utter_slots_soonest"), {"event": "user", "text": "purple"}, bot("utter_slot_choice_invalid")]
    messages, _ = run(ActionAskSlotChoice(), tracker("x", events=earlier))
    assert [m["response"] for m in messages] == ["utter_ask_slot_choice"]


# --- choosing an offered time in Spanish --------------------------------------------------


def test_la_segunda_books_the_second_soonest(fresh_demo):
    expected = soonest("RF-2002")
    dispatcher = CollectingDispatcher()
    state = tracker(
        verified(AISHA),
        booking_referral="RF-2002",
        offered_slots=[s.isoformat() for s in expected],
        time_request=SOONEST,
        language="es",
    )

    result = ValidateBookingForm().validate_slot_choice("la segunda", dispatcher, state, {})

    assert result == {"slot_choice": expected[1].isoformat()}
    (booked,) = dispatcher.messages
    assert booked["response"] == "utter_booked"
    assert booked["when"] == format_when(expected[1], TZ, "es")
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2002")).one()
        assert referral.current_appointment.start_at == expected[1]


def offered_for(referral_id: str, *requests: str) -> list[datetime]:
    """The first open slot for each request ("friday morning", ...), as an offer would list them."""
    now = utcnow()
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id=referral_id)).one()
        return [
            offer_slots(
                session,
                specialist_id=referral.specialist_id,
                window=parse_time_request(r, now=now, tz=TZ),
                now=now,
                tz=TZ,
            ).slots[0]
            for r in requests
        ]


def choose_slot(answer: str, offered: list[datetime]) -> tuple[list[dict], dict]:
    dispatcher = CollectingDispatcher()
    state = tracker(
        verified(AISHA),
        booking_referral="RF-2002",
        offered_slots=[s.isoformat() for s in offered],
        time_request=SOONEST,
    )
    return dispatcher.messages, ValidateBookingForm().validate_slot_choice(answer, dispatcher, state, {})


def test_a_day_after_the_soonest_offer_is_a_new_wish_not_a_choice(fresh_demo):
    offered = offered_for("RF-2002", "tuesday afternoon", "friday morning", "thursday afternoon")

    messages, result = choose_slot("friday morning", offered)

    assert [m["response"] for m in messages] == ["utter_slots_offer"]
    assert result["slot_choice"] is None and result["time_request"] == "friday morning"
    assert len(result["offered_slots"]) == 3  # Friday morning's times, not a booking


def test_a_day_that_points_at_an_offered_time_chooses_it(fresh_demo):
    offered = offered_for("RF-2002", "tuesday afternoon", "friday morning", "thursday afternoon")

    messages, result = choose_slot("the friday one", offered)

    assert [m["response"] for m in messages] == ["utter_booked"]
    assert result == {"slot_choice": offered[1].isoformat()}


@pytest.mark.parametrize(
    ("answer", "taken"),
    [
        ("the dermatology one", True),
        ("Dr. Park", True),
        ("2", True),
        ("la de la piel", True),
        ("where do I park?", False),  # names Dr. Park, but asks: a digression
        ("donde me estaciono", False),
        ("thanks", False),
    ],
)
def test_an_answer_naming_a_listed_referral_is_taken_whatever_the_model_called_it(fresh_demo, answer, taken):
    """The model may file "the dermatology one" under goodbye or request_human, which the form ignores: the
    validation action extracts the answer itself when it names one of the listed referrals."""
    from bot.actions.referrals import ValidateReferralChoiceForm

    state = tracker(verified(KEVIN), text=answer, requested_slot="referral_choice", pending_request="status")
    extracted = asyncio.run(ValidateReferralChoiceForm().extract_referral_choice(CollectingDispatcher(), state, {}))
    assert extracted == ({"referral_choice": answer} if taken else {})
