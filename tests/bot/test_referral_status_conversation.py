"""'Where is my referral?' through the real webhook, the trained model and the action server."""

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.language.timefmt import format_day, format_when
from relay.models import AuditEvent, Conversation, Handoff, Message
from tests.support import demo_moment, demo_today
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

pytestmark = pytest.mark.rasa

JAMES, AISHA, ROBERT, LINDA, DANIEL = "+13125550145", "+13125550146", "+13125550147", "+13125550148", "+13125550149"
EMILY, TOM, GRACE, KEVIN, MARIA, PRIYA = (
    "+13125550150", "+13125550151", "+13125550152", "+13125550153", "+13125550154", "+13125550155",
)  # fmt: skip
UNKNOWN = "+13125550199"
TZ = "America/Chicago"


def _asks_for_dob(reply: str) -> bool:
    return "date of birth" in reply.lower()


def test_james_asks_when_his_appointment_is_verifies_and_is_told(texter):
    james = texter(JAMES)
    first = james.send("when is my appointment?")
    assert _asks_for_dob(first)
    assert "Okafor" not in first and "Lakeside" not in first  # nothing before verification

    answer = james.send("9/3/1957")
    assert format_when(demo_moment(3, "10:00"), TZ) in answer  # e.g. "Sun, Nov 29 at 10:00 AM"
    assert "Lakeside Heart Center" in answer
    assert "455 N Lake Shore Dr" in answer
    assert "Dr. Amara Okafor" in answer
    assert "medications" in answer  # the specialist's prep instructions

    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        assert conversation.verified_at is not None
        disclosed = session.scalars(
            select(AuditEvent).filter_by(action="referral.disclosed", conversation_id=conversation.id)
        ).all()
        assert len(disclosed) == 1 and disclosed[0].details["channel"] == "sms"


def test_a_verification_holds_for_the_session(texter):
    james = texter(JAMES)
    james.send("what time is my appt")
    james.send("09-03-57")
    again = james.send("where is my referral")
    assert not _asks_for_dob(again)
    assert "Lakeside Heart Center" in again


def test_robert_hears_that_his_payer_approval_is_pending(texter):
    robert = texter(ROBERT)
    assert _asks_for_dob(robert.send("any update on my referral"))
    answer = robert.send("Nov 30 1979")
    assert "Blue Cross Blue Shield of Illinois" in answer
    assert format_day(demo_today() - timedelta(days=3)) in answer
    assert "Dr. Marco Silva" in answer
    assert "referral from Dr. Farah Iqbal" in answer


def test_kevin_is_asked_which_referral_and_can_pick_one(texter):
    kevin = texter(KEVIN)
    kevin.send("where is my referral")
    question = kevin.send("7/19/1988")
    assert "cardiology with Dr. Amara Okafor" in question
    assert "dermatology with Dr. Lena Park" in question
    assert "Lakeside" not in question and "Northshore" not in question  # no details until he picks

    answer = kevin.send("2")
    assert "Northshore Dermatology" in answer
    assert format_when(demo_moment(8, "09:10"), TZ) in answer


def test_an_unknown_number_gets_no_patient_data_only_how_to_reach_the_clinic(texter):
    stranger = texter(UNKNOWN)
    reply = stranger.send("when is my appointment?")
    assert "(312) 555-0100" in reply
    for leaked in ("Okafor", "Lakeside", "Carter", "appointment is", "AM", "PM"):
        assert leaked not in reply
    # Even when the stranger offers a real patient's date of birth.
    reply = stranger.send("my dob is 9/3/1957")
    assert "Okafor" not in reply and "Lakeside" not in reply


def test_three_wrong_dates_of_birth_lock_the_conversation_for_staff(texter):
    james = texter(JAMES)
    james.send("when is my appt")
    first = james.send("1/1/1960")
    assert "2" in first and _asks_for_dob(first)
    james.send("2/2/1960")
    locked = james.send("3/3/1960")
    assert "(312) 555-0100" in locked and "Lakeside" not in locked
    after = james.send("9/3/1957")  # the right date no longer unlocks it
    assert "Lakeside" not in after

    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        assert conversation.locked_at is not None and conversation.needs_staff
        handoff = session.scalars(select(Handoff).filter_by(conversation_id=conversation.id)).one()
        assert (handoff.reason, handoff.status, handoff.priority) == ("verification_locked", "open", "high")
        actions = [e.action for e in session.scalars(select(AuditEvent).filter_by(conversation_id=conversation.id))]
        assert actions.count("verification.failed") == 3 and "verification.locked" in actions
        assert "referral.disclosed" not in actions


STATUS_CASES = [
    # phone, date of birth as texted, facts the reply must state
    (AISHA, "02/17/1991", ["Dr. Lena Park", "self-referral", "ready to schedule", "(312) 555-0172"]),
    (LINDA, "June 5 1964", ["Northside Imaging", format_when(demo_moment(-1, "14:30"), TZ), "complete"]),
    (DANIEL, "1/22/83", ["Dr. Priya Raman", format_when(demo_moment(-5, "09:30"), TZ), "cancelled", "(312) 555-0176"]),
    (
        EMILY,
        "8/14/1949",
        ["Dr. Amara Okafor", format_when(demo_moment(10, "13:30"), TZ), "Lakeside Heart Center", "discharge papers"],
    ),
    (TOM, "3/9/1972", ["Dr. Priya Raman", "ready to schedule"]),
    (GRACE, "12/1/1995", ["Dr. Sam Ellis", format_when(demo_moment(-7, "11:00"), TZ), "missed", "(312) 555-0180"]),
    (MARIA, "4/12/1968", ["Riverside Endocrine Clinic", format_when(demo_moment(2, "09:00"), TZ), "Fast for 8 hours"]),
    (PRIYA, "10/27/2001", ["Dr. Amara Okafor", "today", "911"]),
]


@pytest.mark.parametrize(
    ("phone", "dob", "facts"), STATUS_CASES, ids=lambda v: v if isinstance(v, str) and v.startswith("+") else ""
)
def test_every_demo_status_gets_its_next_step(texter, phone, dob, facts):
    patient = texter(phone)
    assert _asks_for_dob(patient.send("whats the status of my referral"))
    answer = patient.send(dob)
    for fact in facts:
        assert fact.lower() in answer.lower(), f"{fact!r} missing from {answer!r}"


def test_a_duplicate_message_sid_reaches_rasa_once(api_client, rasa_stack, fresh_demo):
    first = post_sms(api_client, from_phone=AISHA, body="hello", sid="SMdupe-rasa")
    second = post_sms(api_client, from_phone=AISHA, body="hello", sid="SMdupe-rasa")
    assert twiml_messages(first) == twiml_messages(second) and twiml_messages(first)[0]
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=AISHA)).one()
        assert len(session.scalars(select(Message).filter_by(conversation_id=conversation.id)).all()) == 2
        sender = conversation.public_id
    tracker = httpx.get(f"{get_settings().rasa_url}/conversations/{sender}/tracker", timeout=10).json()
    user_turns = [e for e in tracker["events"] if e["event"] == "user"]
    assert [e["text"] for e in user_turns] == ["hello"]


def test_rasa_only_ever_sees_an_opaque_id(api_client, rasa_stack, fresh_demo):
    post_sms(api_client, from_phone=JAMES, body="hi", sid="SMopaque")
    with session_scope() as session:
        sender = session.scalars(select(Conversation).filter_by(phone=JAMES)).one().public_id
    tracker = httpx.get(f"{get_settings().rasa_url}/conversations/{sender}/tracker", timeout=10).text
    national_digits = JAMES.removeprefix("+1")
    # Whole numbers only: a float timestamp in the tracker can contain "555" by chance.
    for leaked in (JAMES, national_digits, national_digits[3:], "Carter"):
        assert leaked not in tracker, f"{leaked!r} reached Rasa"
    assert not re.search(r"\(\d{3}\)\s*\d{3}-\d{4}", tracker), "a formatted phone number reached Rasa"
    assert '"input_channel":"sms"' in tracker.replace(" ", "")


def test_a_bad_signature_never_reaches_rasa(api_client, rasa_stack, fresh_demo):
    response = api_client.post(
        "/webhooks/twilio/sms",
        data={"MessageSid": "SMforged", "From": JAMES, "To": "+13125550100", "Body": "when is my appt"},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert response.status_code == 403
    with session_scope() as session:
        assert session.scalars(select(Conversation)).first() is None


def test_health_is_green_when_everything_answers(api_client, rasa_stack):
    response = api_client.get("/health")
    assert response.status_code == 200
    assert response.json()["components"] == {"database": "ok", "redis": "ok", "rasa": "ok"}


def test_a_rasa_restart_mid_verification_forgets_nothing(texter, rasa_stack):
    """The tracker lives in the SQL tracker store, not in the Rasa process."""
    from tests.rasa_stack import start_rasa_and_wait, stop

    james = texter(JAMES)
    assert _asks_for_dob(james.send("when is my appointment?"))
    stop(rasa_stack["rasa"])
    start_rasa_and_wait(rasa_stack)
    answer = james.send("9/3/1957")  # answers the question asked before the restart
    assert "Lakeside Heart Center" in answer
