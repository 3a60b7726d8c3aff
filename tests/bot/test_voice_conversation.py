"""Calls through the real voice webhooks, the trained model and the action server.

Each test posts what Twilio posts (CallSid, From, To, SpeechResult, Confidence,
Digits), reads the TwiML back and checks it against Twilio's documented TwiML
(tests/webhooks/voice_helpers.check_twiml). Transcripts are written the way
Twilio's recogniser writes them: capitalised, with a full stop.
"""

import re
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.language.spoken import format_day_spoken, format_when_spoken
from relay.models import AuditEvent, Call, Conversation, Handoff, Message
from tests.bot.conftest import REASON_WORDS
from tests.bot.test_referral_status_conversation import AISHA, DANIEL, JAMES, KEVIN, PRIYA, ROBERT, UNKNOWN
from tests.support import demo_moment, demo_today
from tests.webhooks.voice_helpers import Caller, Twiml, call_params, check_twiml, signed_post

pytestmark = pytest.mark.rasa
TZ = "America/Chicago"
FRONT_DESK = "+13125550111"  # the demo clinic's front desk
WRITTEN_TIME = re.compile(r"\b\d{1,2}:\d{2}\b|\b(?:AM|PM)\b|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),")


def assert_speakable(answer: Twiml) -> None:
    """Nothing a caller cannot act on or a voice reads badly: no 'reply', no URLs, no written times."""
    for say in answer.says:
        lowered = say.lower()
        assert "reply" not in lowered and "http" not in lowered and "text us" not in lowered, say
        assert not WRITTEN_TIME.search(say), f"a written date or time in a <Say>: {say!r}"
        for word in REASON_WORDS:
            assert word not in lowered, f"a referral reason said on a call ({word!r}): {say!r}"


class CheckedCaller(Caller):
    def _post(self, url: str, **extra: str | None) -> Twiml:
        answer = super()._post(url, **extra)
        assert_speakable(answer)
        return answer


@pytest.fixture
def caller(api_client, rasa_stack, fresh_demo):
    def make(phone: str) -> CheckedCaller:
        return CheckedCaller(api_client, phone)

    return make


def _asks_for_dob(answer: Twiml) -> bool:
    said = answer.said.lower()
    return "date of birth" in said and "keypad" in said and answer.gather is not None


def _offered(answer: Twiml) -> list[str]:
    """The spoken slots of an offer: 'press or say 1 for Friday, ... at nine A M, 2 for ...'."""
    return re.findall(r"\b\d for ([A-Z][a-z]+day, [A-Z][a-z]+ [a-z-]+ at [a-z -]+? [AP] M)", answer.said)


def _referral(api_client, auth_headers, referral_id: str) -> dict:
    response = api_client.get(f"/api/referrals/{referral_id}", headers=auth_headers)
    assert response.status_code == 200
    return response.json()


def _rasa_tracker(phone: str) -> dict:
    """Rasa's own record of the conversation, read from the Rasa server under the id it was sent."""
    with session_scope() as session:
        sender = session.scalars(select(Conversation).filter_by(phone=phone)).one().public_id
    response = httpx.get(f"{get_settings().rasa_url}/conversations/{sender}/tracker", timeout=10)
    assert response.status_code == 200
    return response.json()


def _rasa_heard(phone: str) -> list[str]:
    """Every message that reached Rasa in this caller's conversation, as Rasa got it."""
    return [event["text"] for event in _rasa_tracker(phone)["events"] if event["event"] == "user"]


def _inbound(phone: str) -> list[str]:
    """What the caller said or pressed, as the conversation keeps it."""
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=phone)).one()
        return list(
            session.scalars(
                select(Message.body)
                .filter_by(conversation_id=conversation.id, direction="inbound")
                .order_by(Message.id)
            )
        )


def test_james_confirms_his_appointment_by_voice(caller, api_client, auth_headers):
    james = caller(JAMES)
    greeting = james.dial_in()
    assert "Riverside Family Health" in greeting.said
    assert _asks_for_dob(james.say("I want to confirm my appointment."))
    confirmed = james.press("09031957")
    spoken_when = format_when_spoken(demo_moment(3, "10:00"), TZ)  # "Thursday, December third at ten A M"
    assert "confirmed" in confirmed.said and spoken_when in confirmed.said
    assert "Lakeside Heart Center" in confirmed.said and confirmed.gather is not None
    assert _referral(api_client, auth_headers, "RF-2001")["appointment"]["status"] == "confirmed"

    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        said = [(m.direction, m.channel, m.body) for m in session.scalars(select(Message).order_by(Message.id))]
        assert ("inbound", "voice", "I want to confirm my appointment.") in said
        assert ("inbound", "voice", "09031957") in said
        assert all(channel == "voice" for _, channel, _ in said)
        assert conversation.verified_at is not None


def test_aisha_books_by_saying_friday_morning_and_pressing_2(caller, api_client, auth_headers):
    aisha = caller(AISHA)
    aisha.dial_in()
    assert _asks_for_dob(aisha.say("I'd like to book an appointment."))
    asked = aisha.say("February seventeenth, nineteen ninety one.")  # the date of birth by speech
    assert "the soonest times" in asked.said.lower()
    offer = aisha.say("Friday morning.")
    times = _offered(offer)
    assert len(times) >= 2 and "press or say 1 for" in offer.said, offer.said
    assert all(t.startswith("Friday,") and t.endswith("A M") for t in times)
    booked = aisha.press("2")
    assert "booked" in booked.said and times[1] in booked.said and "Northshore Dermatology" in booked.said

    body = _referral(api_client, auth_headers, "RF-2002")
    start = datetime.fromisoformat(body["appointment"]["start"])
    assert body["status"] == "scheduled" and start.astimezone(ZoneInfo(TZ)).weekday() == 4
    assert format_when_spoken(start, TZ) == times[1]


def test_an_urgent_referral_is_never_self_booked_by_voice_the_caller_is_put_through(caller):
    priya = caller(PRIYA)
    priya.dial_in()
    assert _asks_for_dob(priya.say("I want to book my appointment."))
    answer = priya.say("October twenty seventh, two thousand one.")  # a date of birth in words
    assert "urgent" in answer.said and "9 1 1" in answer.said
    assert answer.dialed == FRONT_DESK
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.priority) == ("emergency_referral", "urgent")


def test_a_caller_asking_for_a_representative_is_put_through_to_the_front_desk(caller):
    james = caller(JAMES)
    james.dial_in()
    answer = james.say("Can I talk to a representative?")
    assert answer.dialed == FRONT_DESK
    tags = [verb.tag for verb in answer.root]
    assert tags[-1] == "Dial" and set(tags[:-1]) == {"Say"} and "connect you" in answer.said.lower()
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.status) == ("patient_request", "open")
    assert "call you back" in james.dial_ends("no-answer").said  # and nobody picked up


def test_two_silent_turns_lead_to_the_transfer(caller):
    robert = caller(ROBERT)
    robert.dial_in()
    assert _asks_for_dob(robert.say("Any update on my referral?"))
    again = robert.stay_silent()
    assert "did not hear" in again.said.lower() and "date of birth" in again.said.lower() and "keypad" in again.said
    assert robert.stay_silent().dialed == FRONT_DESK


def test_an_unknown_caller_hears_no_patient_data(caller):
    stranger = caller(UNKNOWN)
    stranger.dial_in()
    answer = stranger.say("When is my appointment?")
    said = answer.said
    assert "could not find records" in said
    for private in ("Okafor", "Park", "Lakeside", "Northshore", "Carter", "Khan", "A M", "P M"):
        assert private not in said
    assert answer.dialed == FRONT_DESK  # a person can help someone the bot cannot look up
    # Put through by the bot's `call: transfer` on that answer, not by a handoff: there is none.
    assert [verb.tag for verb in answer.root] == ["Say", "Say", "Dial"] and answer.says[-1] == "Please hold."
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 0
        assert session.scalars(select(Call)).one().outcome == "transferred"


def test_keypad_date_of_birth_and_keypad_referral_choice(caller):
    kevin = caller(KEVIN)
    kevin.dial_in()
    assert _asks_for_dob(kevin.say("Where is my referral?"))
    question = kevin.press("07191988")
    assert (
        "press or say 1 for cardiology with Dr. Amara Okafor, or 2 for dermatology with Dr. Lena Park" in question.said
    )
    answer = kevin.press("2")
    assert "Northshore Dermatology" in answer.said
    assert format_when_spoken(demo_moment(8, "09:10"), TZ) in answer.said
    with session_scope() as session:
        disclosed = session.scalars(select(AuditEvent).filter_by(action="referral.disclosed")).one()
        assert disclosed.details["channel"] == "voice"


def test_dates_and_phone_numbers_are_spoken(caller):
    robert = caller(ROBERT)
    robert.dial_in()
    robert.say("Any update on my referral?")
    answer = robert.press("11301979")
    assert format_day_spoken(demo_today() - timedelta(days=3)) in answer.said  # "Monday, November twenty-third"
    daniel = caller(DANIEL)
    daniel.dial_in()
    daniel.say("Where is my referral?")
    cancelled = daniel.say("January twenty second, nineteen eighty three.")
    assert "3 1 2, 5 5 5, 0 1 7 6" in cancelled.said  # the specialist's number, digit by digit


def test_goodbye_ends_the_call_and_the_call_is_logged(caller):
    james = caller(JAMES)
    james.dial_in()
    bye = james.say("That's all, goodbye.")
    # The bot's goodbye carries `call: end`: said once, then the call ends (no <Gather>, no hold).
    assert bye.says == ["Thank you for calling. Take care, goodbye."]
    assert [verb.tag for verb in bye.root] == ["Say", "Hangup"]
    assert james.hang_up(duration=31) == 204
    with session_scope() as session:
        call = session.scalars(select(Call)).one()
        assert (call.outcome, call.duration_seconds, call.status) == ("completed_by_bot", 31, "completed")


def test_what_reaches_rasa_keypad_digits_and_spoken_numbers(caller):
    """Rasa gets keypad dates and spoken choices in the form the model knows; the conversation keeps what the
    caller actually did."""
    aisha = caller(AISHA)
    aisha.dial_in()
    assert _asks_for_dob(aisha.say("I'd like to book an appointment."))
    assert "the soonest times" in aisha.press("02171991").said.lower()  # the date of birth on the keypad
    offer = aisha.say("Friday morning.")
    times = _offered(offer)
    assert len(times) >= 2, offer.said
    booked = aisha.say("Number two.")  # the choice in words
    assert "booked" in booked.said and times[1] in booked.said
    assert _rasa_heard(AISHA) == ["I'd like to book an appointment.", "02/17/1991", "Friday morning.", "2"]
    assert _inbound(AISHA) == ["I'd like to book an appointment.", "02171991", "Friday morning.", "Number two."]

    james = caller(JAMES)
    james.dial_in()
    assert _asks_for_dob(james.say("When is my appointment?"))
    answer = james.say("September third, nineteen fifty seven.")  # the date of birth in words
    assert format_when_spoken(demo_moment(3, "10:00"), TZ) in answer.said
    assert _rasa_heard(JAMES) == ["When is my appointment?", "09/03/1957"]
    assert _inbound(JAMES) == ["When is my appointment?", "September third, nineteen fifty seven."]

    tracker = _rasa_tracker(JAMES)  # found under the conversation's opaque id: Rasa never gets the number
    user_events = [event for event in tracker["events"] if event["event"] == "user"]
    assert {event["input_channel"] for event in user_events} == {"voice"}
    national = JAMES.removeprefix("+1")
    assert JAMES not in str(tracker) and national not in str(tracker)


def test_a_miss_after_an_understood_turn_starts_counting_again(caller):
    james = caller(JAMES)
    james.dial_in()
    assert "did not hear" in james.stay_silent().said.lower()  # a first miss
    assert _asks_for_dob(james.say("When is my appointment?"))  # understood by the model
    again = james.stay_silent()
    # Not the second miss in a row: asked again (the bot's last question), not put through.
    assert again.gather is not None and again.dialed is None
    assert "did not hear" in again.said.lower() and "date of birth" in again.said.lower()
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 0
    # The next silence is the second in a row.
    assert james.stay_silent().dialed == FRONT_DESK
    with session_scope() as session:
        assert [h.reason for h in session.scalars(select(Handoff))] == ["voice_not_understood"]
    assert _rasa_heard(JAMES) == ["When is my appointment?"]  # silences never reach the model


def test_a_retried_turn_replays_the_same_twiml_and_reaches_rasa_once(caller):
    james = caller(JAMES)
    james.dial_in()
    first = james.say("When is my appointment?")
    assert _asks_for_dob(first)
    retried = james.retry_last_turn(SpeechResult="When is my appointment?", Confidence="0.92")
    assert retried.xml == first.xml
    assert _rasa_heard(JAMES) == ["When is my appointment?"]
    with session_scope() as session:
        said = [(m.direction, m.author) for m in session.scalars(select(Message).order_by(Message.id))]
    assert said == [("outbound", "system"), ("inbound", "patient"), ("outbound", "bot")]  # greeting, words, answer


def test_a_turn_posted_twice_at_once_reaches_rasa_once_and_both_get_the_answer(caller, api_client):
    james = caller(JAMES)
    james.dial_in()
    url = james.last.next_turn_url
    params = call_params(james.call_sid, JAMES, SpeechResult="Where is my referral?", Confidence="0.9")
    barrier = threading.Barrier(2)
    results: list[tuple[float, float, object]] = []

    def post() -> None:
        barrier.wait()
        started = time.monotonic()
        response = signed_post(api_client, url, params)
        results.append((started, time.monotonic(), response))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    # Both were in flight together: the second arrived while the first was still waiting on Rasa.
    assert max(started for started, _, _ in results) < min(ended for _, ended, _ in results)
    responses = [response for _, _, response in results]
    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].text == responses[1].text
    answer = Twiml(check_twiml(responses[0].text), responses[0].text)
    assert _asks_for_dob(answer)
    assert_speakable(answer)
    assert _rasa_heard(JAMES) == ["Where is my referral?"]
    assert _inbound(JAMES) == ["Where is my referral?"]
