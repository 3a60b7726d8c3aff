"""Patients off the happy path, by text in English: digressions inside every form, "never mind", the
request made before the date of birth carried out after it, choices by name, soonest slots, two
requests in one text, and medical questions. Real webhook, real model, real action server.

Demo patients: James (one scheduled cardiology visit, DOB 9/3/1957), Kevin (cardiology with Dr.
Okafor and dermatology with Dr. Park, both scheduled, DOB 7/19/1988), Aisha (dermatology ready to
schedule, DOB 2/17/1991), Emily (cardiology, DOB 8/14/1949).
"""

import pytest

from tests.bot.conversations import appointment_is, handoff_reasons_are, misses, replies, talk, turn
from tests.bot.test_referral_status_conversation import AISHA, EMILY, JAMES, KEVIN

pytestmark = pytest.mark.rasa

DOB = "date of birth"
PARKING = "garage on Riverside Ave"  # the demo clinic's parking answer, from the FAQ table
BRING = "photo ID, insurance card"  # ... its what-to-bring answer
COVERED = "We accept Medicare"  # ... its insurance answer
ASK_TIME = "day and time"
ASK_CHOICE = "Reply 1, 2 or 3"
STOPPED = "changed nothing"
NO_ADVICE = "can't answer medical questions"

CONVERSATIONS = [
    # --- digressions: answered, then the pending question again, with what was established kept
    talk(
        "parking while choosing a time",
        JAMES,
        turn("i need to reschedule", DOB),
        turn("9/3/1957", any_of=(ASK_TIME, ASK_CHOICE)),
        turn("where do i park", PARKING, lacks=("could not tell",)),
        turn("next thursday afternoon", "Dr. Amara Okafor", ASK_CHOICE, lacks=(DOB,)),
        then=(appointment_is("AP-3001", "scheduled"),),
    ),
    talk(
        "what to bring while choosing among offered slots",
        AISHA,
        turn("i want to book an appointment", DOB),
        turn("02/17/1991", any_of=(ASK_TIME, ASK_CHOICE)),
        turn("friday morning", ASK_CHOICE),
        turn("do I need to bring anything", BRING, ASK_CHOICE, lacks=("did not get which time",)),
        turn("1", "You are booked", "Northshore Dermatology"),
    ),
    talk(
        "is it covered, while choosing a time",
        JAMES,
        turn("can i move my appointment", DOB),
        turn("09/03/1957"),
        turn("is it covered by my insurance?", COVERED, any_of=(ASK_TIME, ASK_CHOICE)),
    ),
    talk(
        "thanks while choosing a time is not a time",
        JAMES,
        turn("i want to reschedule my appointment", DOB),
        turn("9/3/1957"),
        turn("thank you", "You're welcome", any_of=(ASK_TIME, ASK_CHOICE), lacks=("could not tell",)),
    ),
    talk(
        "what time is it again, while choosing a new one",
        JAMES,
        turn("i'd like to reschedule", DOB),
        turn("9/3/1957"),
        turn("what time is my appointment again?", "Dr. Amara Okafor", any_of=(ASK_TIME, ASK_CHOICE)),
    ),
    talk(
        "parking while asked for the date of birth, then the cancellation goes on",
        JAMES,
        turn("i need to cancel my appointment", DOB),
        turn("where can I park?", PARKING, DOB),
        turn("9/3/1957", "Do you want to cancel", "Dr. Amara Okafor"),
        turn("no", "stays as it is"),
        then=(appointment_is("AP-3001", "scheduled"),),
    ),
    talk(
        "a question while asked to confirm a cancellation, then the question again",
        JAMES,
        turn("cancel my appointment please", DOB),
        turn("9/3/1957", "Do you want to cancel"),
        turn("where do I park", PARKING, "Do you want to cancel"),
        turn("yes", "is cancelled"),
        then=(appointment_is("AP-3001", "cancelled"),),
    ),
    talk(
        "a question while asked which referral",
        KEVIN,
        turn("when is my appointment", DOB),
        turn("7/19/1988", "more than one referral"),
        turn("where do i park", PARKING, "more than one referral"),
        turn("2", "Dr. Lena Park"),
    ),
    talk(
        "a thank-you while asked for the date of birth",
        AISHA,
        turn("where is my referral", DOB),
        turn("thanks", "You're welcome", DOB),
        turn("2/17/1991", "ready to schedule"),
    ),
    talk(
        "a person, asked for while choosing a time",
        JAMES,
        turn("i need to reschedule", DOB),
        turn("9/3/1957"),
        turn("can I talk to a real person", "member of our team"),
        then=(handoff_reasons_are(JAMES, "patient_request"), appointment_is("AP-3001", "scheduled")),
    ),
    # --- never mind
    talk(
        "never mind while choosing a time changes nothing",
        JAMES,
        turn("i need to reschedule", DOB),
        turn("9/3/1957"),
        turn("never mind", STOPPED),
        turn("when is my appointment", "Dr. Amara Okafor", lacks=(DOB,)),  # still verified
        then=(appointment_is("AP-3001", "scheduled"),),
    ),
    talk(
        "forget it while asked to confirm a cancellation",
        JAMES,
        turn("i want to cancel my appt", DOB),
        turn("9/3/1957", "Do you want to cancel"),
        turn("forget it", STOPPED),
        then=(appointment_is("AP-3001", "scheduled"),),
    ),
    talk(
        "never mind while asked for the date of birth",
        AISHA,
        turn("i want to book", DOB),
        turn("nevermind", STOPPED, lacks=(DOB,)),
    ),
    # --- the request made before the date of birth, carried out after it
    talk(
        "cancel the dermatology appointment, named before the date of birth",
        KEVIN,
        turn("I need to cancel my dermatology appt", DOB),
        turn("7/19/1988", "Dr. Lena Park", "Do you want to cancel", lacks=("more than one referral",)),
        turn("yes", "is cancelled"),
        then=(appointment_is("AP-3010", "cancelled"), appointment_is("AP-3009", "scheduled")),
    ),
    talk(
        "status of the heart doctor's referral, named before the date of birth",
        KEVIN,
        turn("when is my heart doctor appointment?", DOB),
        turn("07/19/1988", "Dr. Amara Okafor", lacks=("more than one referral", "Dr. Lena Park")),
    ),
    talk(
        "confirm the skin appointment, named before the date of birth",
        KEVIN,
        turn("confirming my skin appointment", DOB),
        turn("7/19/1988", "confirmed", "Dr. Lena Park", lacks=("more than one referral",)),
        then=(appointment_is("AP-3010", "confirmed"), appointment_is("AP-3009", "scheduled")),
    ),
    talk(
        "a new time named before the date of birth is offered after it",
        JAMES,
        turn("can we do next thursday afternoon instead?", DOB),
        turn("9/3/1957", "Dr. Amara Okafor", ASK_CHOICE, lacks=("What day and time suit you",)),
    ),
    # --- choices by name
    talk(
        "Dr. Park, by name",
        KEVIN,
        turn("when is my appointment", DOB),
        turn("7/19/1988", "more than one referral"),
        turn("Dr. Park", "Dr. Lena Park", lacks=("Dr. Amara Okafor",)),
    ),
    talk(
        "the heart doctor",
        KEVIN,
        turn("when is my appt", DOB),
        turn("7/19/1988", "more than one referral"),
        turn("the heart doctor", "Dr. Amara Okafor", lacks=("Dr. Lena Park",)),
    ),
    talk(
        "the dermatology one",
        KEVIN,
        turn("where is my referral", DOB),
        turn("7/19/1988", "more than one referral"),
        turn("the dermatology one", "Dr. Lena Park", lacks=("Dr. Amara Okafor",)),
    ),
    talk(
        "an answer that names no referral asks again with the options",
        KEVIN,
        turn("when is my appointment", DOB),
        turn("7/19/1988", "more than one referral"),
        turn("the one on the north side maybe", "more than one referral", "1)", "2)"),
    ),
    # --- soonest slots
    talk(
        "reschedule without a preference: the three soonest times at once",
        JAMES,
        turn("I'd like to reschedule", DOB),
        turn("9/3/1957", "1)", "2)", "3)", ASK_TIME, lacks=("What day and time suit you",)),
        turn("1", "Done: your appointment with Dr. Amara Okafor is now"),
    ),
    talk(
        "as soon as possible",
        AISHA,
        turn("book me in as soon as possible please", DOB),
        turn("2/17/1991", "1)", "2)", "3)", "Dr. Lena Park"),
    ),
    # --- two requests in one text
    talk(
        "yes I'll be there, where do I park",
        JAMES,
        turn("Yes I'll be there, where do I park?", PARKING, DOB),
        turn("9/3/1957", "confirmed"),
        then=(appointment_is("AP-3001", "confirmed"),),
    ),
    talk(
        "cancel it and book me next week",
        JAMES,
        turn("cancel it and book me next week", DOB),
        turn("9/3/1957", "Do you want to cancel"),
        turn("yes", "is cancelled", "1)"),
        then=(appointment_is("AP-3001", "cancelled"),),
    ),
    # --- medical questions: no advice, an offer to pass it on
    talk(
        "a medication question, passed to the care team",
        JAMES,
        turn("Should I stop my metformin before the visit?", NO_ADVICE, "YES"),
        turn("yes", "care team"),
        then=(handoff_reasons_are(JAMES, "clinical_question"),),
    ),
    talk(
        "a results question, not passed on",
        EMILY,
        turn("is my result bad?", NO_ADVICE),
        turn("no thanks", "911"),
        then=(handoff_reasons_are(EMILY),),
    ),
    talk(
        "an emergency inside a medical question goes to the safety net first",
        EMILY,
        turn("I have chest pain and can't breathe, should I take my pills?", "911", lacks=(NO_ADVICE,)),
        then=(handoff_reasons_are(EMILY, "emergency_medical"),),
    ),
    talk(
        "a medical question in the middle of a booking",
        JAMES,
        turn("i need to reschedule", DOB),
        turn("9/3/1957"),
        turn("can I take ibuprofen before my appointment?", NO_ADVICE),
        turn("no", "911"),
        then=(appointment_is("AP-3001", "scheduled"), handoff_reasons_are(JAMES)),
    ),
]


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=str)
def test_conversation(conversation, texter):
    for step, reply in replies(conversation, texter):
        assert not misses(step, reply), f"{conversation}: {step.says!r} got {reply!r}: {misses(step, reply)}"
    for check in conversation.then:
        check()
