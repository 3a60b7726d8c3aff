"""Appointments by text, through the real webhook, the trained model and the action server."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.language.timefmt import format_when
from relay.models import AuditEvent, BookedSlot, Conversation, Handoff, Referral
from relay.scheduling.time_windows import parse_time_request
from tests.bot.test_referral_status_conversation import AISHA, DANIEL, EMILY, GRACE, JAMES, KEVIN, PRIYA
from tests.support import demo_moment

pytestmark = pytest.mark.rasa
TZ = ZoneInfo("America/Chicago")


def _referral(api_client, auth_headers, referral_id: str) -> dict:
    response = api_client.get(f"/api/referrals/{referral_id}", headers=auth_headers)
    assert response.status_code == 200
    return response.json()


def _offered_times(reply: str) -> list[str]:
    """The numbered slots in an offer, e.g. ['Thu, Dec 3 at 1:00 PM', ...]."""
    return [line.split(") ", 1)[1] for line in reply.splitlines() if line[:2] in ("1)", "2)", "3)")]


def _verified(patient, opening: str, dob: str) -> str:
    assert "date of birth" in patient.send(opening).lower()
    return patient.send(dob)


def test_james_reschedules_to_next_thursday_afternoon(texter, api_client, auth_headers):
    james = texter(JAMES)
    assert "the soonest times" in _verified(james, "i need to resched my appt", "9/3/1957").lower()
    offer = james.send("next Thursday afternoon")
    times = _offered_times(offer)
    assert 1 <= len(times) <= 3 and "Dr. Amara Okafor" in offer
    done = james.send("2" if len(times) > 1 else "1")
    chosen = times[1] if len(times) > 1 else times[0]
    assert chosen in done and "Lakeside Heart Center" in done

    appointment = _referral(api_client, auth_headers, "RF-2001")["appointment"]
    start = datetime.fromisoformat(appointment["start"]).astimezone(TZ)
    thursday = parse_time_request("next Thursday afternoon", now=datetime.now(TZ), tz="America/Chicago")
    assert start.weekday() == 3 and start.hour >= 12
    assert thursday.start <= start < thursday.end
    assert (appointment["id"], appointment["status"], appointment["version"]) == ("AP-3001", "scheduled", 2)
    with session_scope() as session:
        held = session.scalars(select(BookedSlot.start_at)).all()
        assert demo_moment(3, "10:00") not in held  # the old slot is free again
        assert any(e.action == "appointment.rescheduled" for e in session.scalars(select(AuditEvent)))


def test_aisha_books_friday_morning(texter, api_client, auth_headers):
    aisha = texter(AISHA)
    _verified(aisha, "i want to book an appointment", "02/17/1991")
    offer = aisha.send("friday morning")
    times = _offered_times(offer)
    assert times and all(t.startswith("Fri,") and t.endswith("AM") for t in times)
    booked = aisha.send("1")
    assert times[0] in booked and "Northshore Dermatology" in booked

    body = _referral(api_client, auth_headers, "RF-2002")
    start = datetime.fromisoformat(body["appointment"]["start"]).astimezone(TZ)
    assert body["status"] == "scheduled" and start.weekday() == 4 and start.hour < 12


def test_grace_is_offered_new_slots_after_her_no_show(texter):
    grace = texter(GRACE)
    _verified(grace, "i missed my appt can i get a new one", "12/1/1995")
    offer = grace.send("any morning next week")
    times = _offered_times(offer)
    assert len(times) == 3 and "Dr. Sam Ellis" in offer
    assert format_when(demo_moment(-7, "11:00"), "America/Chicago") not in offer  # not the missed one


def test_daniel_rebooks_after_his_cancellation(texter, api_client, auth_headers):
    daniel = texter(DANIEL)
    _verified(daniel, "i want to rebook", "1/22/83")
    times = _offered_times(daniel.send("next week"))
    assert times
    assert times[0] in daniel.send("1")
    body = _referral(api_client, auth_headers, "RF-2005")
    assert body["status"] == "scheduled" and body["appointment"]["status"] == "scheduled"
    assert body["appointment"]["id"] != "AP-3005"  # a new visit; the cancelled one stays on record


def test_emily_confirms_with_c(texter, api_client, auth_headers):
    emily = texter(EMILY)
    reply = _verified(emily, "C", "8/14/1949")
    assert "confirmed" in reply.lower()
    assert format_when(demo_moment(10, "13:30"), "America/Chicago") in reply
    assert _referral(api_client, auth_headers, "RF-2006")["appointment"]["status"] == "confirmed"


def test_kevin_is_asked_which_appointment_to_cancel(texter):
    kevin = texter(KEVIN)
    question = _verified(kevin, "i need to cancel my appointment", "7/19/1988")
    assert "cardiology with Dr. Amara Okafor" in question and "dermatology with Dr. Lena Park" in question


def test_kevins_dermatology_insurance_is_checked_before_any_booking(texter):
    kevin = texter(KEVIN)
    _verified(kevin, "can i reschedule", "7/19/1988")
    reply = kevin.send("2")
    assert "Blue Cross Blue Shield of Illinois" in reply and "Dr. Lena Park" in reply
    assert "booked" not in reply.lower() or "not booked" in reply.lower()
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert handoff.reason == "insurance_not_accepted"
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2010")).one()
        assert referral.current_appointment.version == 1  # untouched


def test_an_emergency_referral_is_never_self_scheduled(texter):
    priya = texter(PRIYA)
    reply = _verified(priya, "i want to schedule my visit", "10/27/2001")
    assert "call you today" in reply and "911" in reply
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.priority) == ("emergency_referral", "urgent")
        assert session.scalars(select(Referral).filter_by(external_id="RF-2012")).one().appointments == []


def test_a_slot_taken_meanwhile_is_not_booked_and_new_ones_are_offered(texter, api_client, auth_headers):
    aisha = texter(AISHA)
    _verified(aisha, "i want to book", "02/17/1991")
    offer = aisha.send("friday morning")
    first = _offered_times(offer)[0]
    with session_scope() as session:  # someone else books that slot first
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2002")).one()
        taken = _slots_from_offer(offer)[0]
        session.add(BookedSlot(specialist_id=referral.specialist_id, start_at=taken))
    reply = aisha.send("1")
    assert "just taken" in reply
    assert first not in _offered_times(reply)
    assert _referral(api_client, auth_headers, "RF-2002")["appointment"] is None


def _slots_from_offer(offer: str) -> list[datetime]:
    year = datetime.now(TZ).year
    slots = []
    for text in _offered_times(offer):
        moment = datetime.strptime(f"{text} {year}", "%a, %b %d at %I:%M %p %Y").replace(tzinfo=TZ)
        if moment < datetime.now(TZ):
            moment = moment.replace(year=year + 1)
        slots.append(moment)
    return slots


def test_cancelling_asks_for_an_explicit_yes_then_offers_a_new_time(texter, api_client, auth_headers):
    james = texter(JAMES)
    question = _verified(james, "I need to cancel my appointment", "9/3/1957")
    assert "YES" in question
    for keyword in ("CANCEL", "STOP", "END", "QUIT"):
        assert f"reply {keyword.lower()}" not in question.lower()
    assert _referral(api_client, auth_headers, "RF-2001")["appointment"]["status"] == "scheduled"
    cancelled = james.send("yes")
    assert "cancelled" in cancelled.lower() and "new time" in cancelled.lower()
    assert _referral(api_client, auth_headers, "RF-2001")["appointment"]["status"] == "cancelled"
    assert "not changed" in james.send("no").lower()
    with session_scope() as session:
        assert demo_moment(3, "10:00") not in session.scalars(select(BookedSlot.start_at)).all()


def test_saying_no_keeps_the_appointment(texter, api_client, auth_headers):
    james = texter(JAMES)
    _verified(james, "cancel my appt", "9/3/1957")
    assert "stays" in james.send("no").lower()
    assert _referral(api_client, auth_headers, "RF-2001")["appointment"]["status"] == "scheduled"


def test_free_text_opt_out_is_confirmed_before_acting(texter):
    james = texter(JAMES)
    question = james.send("please stop texting me")
    assert "YES" in question
    with session_scope() as session:
        assert session.scalars(select(Conversation).filter_by(phone=JAMES)).one().patient.sms_consent is True
    done = james.send("yes")
    assert "START" in done
    with session_scope() as session:
        assert session.scalars(select(Conversation).filter_by(phone=JAMES)).one().patient.sms_consent is False


def test_a_patient_can_pick_by_restating_the_time(texter, api_client, auth_headers):
    aisha = texter(AISHA)
    _verified(aisha, "i want to book", "02/17/1991")
    times = _offered_times(aisha.send("friday morning"))
    assert len(times) >= 2
    second = times[1]  # e.g. "Fri, Dec 4 at 8:50 AM"
    clock = second.split(" at ")[1].lower().replace(" ", "")  # "8:50am"
    booked = aisha.send(f"the {clock} one please")
    assert second in booked
    start = datetime.fromisoformat(_referral(api_client, auth_headers, "RF-2002")["appointment"]["start"])
    assert format_when(start, "America/Chicago") == second


def test_when_nothing_fits_the_bot_says_so_and_offers_the_nearest(texter):
    grace = texter(GRACE)
    _verified(grace, "can i get a new appointment", "12/1/1995")
    reply = grace.send("saturday morning")  # Dr. Ellis works Monday to Thursday
    assert "nothing is open" in reply.lower() and "nearest" in reply.lower()
    times = _offered_times(reply)
    assert times and not any(t.startswith(("Sat,", "Sun,", "Fri,")) for t in times)


def test_r_after_a_reminder_starts_rescheduling_without_asking_the_dob(texter):
    from tests.relay.inbound.test_outreach_replies import _sent

    _sent("reminder", "RF-2001")
    james = texter(JAMES)
    reply = james.send("R")
    assert "date of birth" not in reply.lower()
    assert "the soonest times" in reply.lower()
    assert _offered_times(james.send("next thursday afternoon"))
