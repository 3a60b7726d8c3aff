"""The takeover page: the summary card (with and without Rasa), the timeline, claim, reply, resolve, and the
live parts (queue rows, timeline, SMS meter) that refresh without keeping an idle session alive."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from console.deps import console_now
from console.takeover import TIMELINE_SHOWN, BotMemory
from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.language.timefmt import format_when
from relay.messaging.handoffs import open_handoff
from relay.models import (
    AppointmentStatus,
    AuditEvent,
    Call,
    CallOutcome,
    CallTurn,
    Conversation,
    Handoff,
    HandoffPriority,
    HandoffStatus,
    Message,
    OutreachKind,
    OutreachState,
    Patient,
    PlannedOutreach,
    Referral,
    utcnow,
)
from relay.records import consent, conversations
from tests.console.support import Clock, csrf_of, make_account, sign_in

JAMES, AISHA, TOM, UNKNOWN = "+13125550145", "+13125550146", "+13125550151", "+13125550199"
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
TZ = "America/Chicago"
HTMX = {"HX-Request": "true"}


# --- helpers -------------------------------------------------------------------------------------


def _handoff(phone: str, clock: Clock, *, reason: str = "patient_request", priority=HandoffPriority.NORMAL,
             minutes_ago: int = 10, with_referral: bool = False, **conversation_values) -> int:  # fmt: skip
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        for name, value in conversation_values.items():
            setattr(conversation, name, value)
        referral_id = None
        if with_referral:
            referral_id = session.scalars(select(Referral).filter_by(patient_id=conversation.patient_id)).first().id
        handoff = open_handoff(session, conversation=conversation, reason=reason, priority=priority,
                               referral_id=referral_id, now=clock.now - timedelta(minutes=minutes_ago))  # fmt: skip
        return handoff.id


def _say(phone: str, clock: Clock, body: str, *, minutes_ago: float, direction: str = "inbound",
         author: str = "patient", channel: str = "sms") -> int:  # fmt: skip
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        return conversations.record_message(session, conversation=conversation, direction=direction,
                                            channel=channel, author=author, body=body,
                                            now=clock.now - timedelta(minutes=minutes_ago)).id  # fmt: skip


def _takeover(client: TestClient, handoff_id: int, **params: str) -> str:
    page = client.get(f"/console/handoffs/{handoff_id}", params=params)
    assert page.status_code == 200, page.text
    return page.text


def _post(client: TestClient, handoff_id: int, action: str, **data: str):
    token = csrf_of(client.get(f"/console/handoffs/{handoff_id}"))
    return client.post(f"/console/handoffs/{handoff_id}/{action}", data={"csrf_token": token, **data})


def _summary(page: str) -> str:
    start = page.index('id="summary-heading"')
    return page[start : page.index("</section>", start)]


def _timeline(page: str) -> str:
    start = page.index('id="timeline-live"')
    return page[start : page.index("<noscript>", start)]


def _handoff_row(handoff_id: int) -> Handoff:
    with session_scope() as session:
        handoff = session.get_one(Handoff, handoff_id)
        session.expunge(handoff)
        return handoff


@pytest.fixture
def second_console(fresh_demo, clock) -> Iterator[TestClient]:
    """Another browser, for a second staff member."""
    app = create_app()
    app.dependency_overrides[console_now] = clock
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _public_id(phone: str) -> str:
    with session_scope() as session:
        return session.scalars(select(Conversation).filter_by(phone=phone)).one().public_id


def _user_event(text: str, intent: str, confidence: float) -> dict:
    return {"event": "user", "timestamp": 1.0, "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": []}}  # fmt: skip


# --- the summary card ----------------------------------------------------------------------------


def test_the_card_of_a_verified_patient_with_an_appointment_and_offered_slots(console, account, clock, fake_rasa):
    _say(JAMES, clock, "hi", minutes_ago=30)
    _say(JAMES, clock, "when is my appointment", minutes_ago=20)
    _say(JAMES, clock, "Your appointment is ...", minutes_ago=20, direction="outbound", author="bot")
    _say(JAMES, clock, "can I move it to a morning", minutes_ago=15)
    _say(JAMES, clock, "I want to talk to a person", minutes_ago=12)
    handoff_id = _handoff(JAMES, clock, with_referral=True, verified_at=clock.now - timedelta(minutes=18))
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        appointment = referral.appointments[-1]
        appointment.status = AppointmentStatus.CONFIRMED
        start_at = appointment.start_at
    offered = [clock.now + timedelta(days=1, hours=-1), clock.now + timedelta(days=2, hours=-2)]
    fake_rasa.trackers[_public_id(JAMES)] = {
        "sender_id": _public_id(JAMES),
        "slots": {"offered_slots": [moment.isoformat() for moment in offered], "booking_referral": "RF-2001"},
        "events": [
            {"event": "action", "name": "action_listen"},
            _user_event("hi", "greet", 0.99),
            _user_event("when is my appointment", "ask_appointment", 0.97),
            {"event": "bot", "text": "Your appointment is ..."},
            _user_event("can I move it to a morning", "reschedule_appointment", 0.88),
            _user_event("I want to talk to a person", "request_human", 0.93),
        ],
    }
    sign_in(console, account, clock)
    card = _summary(_takeover(console, handoff_id))

    assert "Verified: their date of birth matched at " + format_when(clock.now - timedelta(minutes=18), TZ) in card
    assert "RF-2001" in card and "cardiology with Dr. Amara Okafor" in card and "Booked" in card
    assert format_when(start_at, TZ) in card and "Lakeside Heart Center" in card and "Confirmed" in card
    for moment in offered:
        assert format_when(moment, TZ) in card  # in the clinic's zone, not UTC
    assert "Booking for RF-2001: cardiology with Dr. Amara Okafor" in card
    asked = card[card.index("What they asked for last") :]
    assert "hi</q>" not in asked  # only the last three
    assert asked.index("when is my appointment") < asked.index("can I move it") < asked.index("talk to a person")
    assert "understood as: reschedule appointment (88% sure)" in asked
    assert "understood as: asked for a person (93% sure)" in asked
    assert "Asked for a person" in card and "Normal priority" in card and "10 min" in card
    assert "memory is not available" not in card
    assert fake_rasa.asked == [f"/conversations/{_public_id(JAMES)}/tracker"]
    assert "Conversation held in" not in card  # the bot's memory names no language


def test_the_card_says_which_language_the_bot_was_speaking(console, account, clock, fake_rasa):
    """James's record says English; he wrote in Spanish, so the bot answered in Spanish: staff reply in it."""
    _say(JAMES, clock, "hola, quiero hablar con una persona", minutes_ago=3)
    handoff_id = _handoff(JAMES, clock)
    fake_rasa.trackers[_public_id(JAMES)] = {
        "sender_id": _public_id(JAMES),
        "slots": {"language": "es"},
        "events": [_user_event("hola, quiero hablar con una persona", "request_human", 0.97)],
    }
    sign_in(console, account, clock)
    card = _summary(_takeover(console, handoff_id))
    held = card[card.index("Conversation held in") :]
    assert held.index("Spanish") < held.index("</dd>")


@pytest.mark.usefixtures("rasa_stopped")
def test_an_unverified_patient_and_rasa_down_still_give_a_card(console, account, clock):
    _say(AISHA, clock, "I need to book", minutes_ago=6)
    handoff_id = _handoff(AISHA, clock, reason="repeated_misunderstanding", failed_verifications=2)
    sign_in(console, account, clock)
    page = console.get(f"/console/handoffs/{handoff_id}")
    assert page.status_code == 200
    card = _summary(page.text)
    assert "Not verified" in card and "2 wrong dates of birth" in card
    assert "The bot's memory is not available right now" in card
    assert "RF-2002" in card and "Ready to book" in card and "Book a visit with the patient" in card
    assert "I need to book" in card and "understood as" not in card
    assert "Times the bot offered" not in card
    assert "The bot did not understand them twice" in card


@pytest.mark.usefixtures("rasa_stopped")
def test_a_locked_conversation_and_an_unknown_number(console, account, clock):
    locked = _handoff(TOM, clock, reason="verification_locked", priority=HandoffPriority.HIGH,
                      failed_verifications=3, locked_at=clock.now - timedelta(minutes=3))  # fmt: skip
    stranger = _handoff(UNKNOWN, clock, reason="patient_request")
    sign_in(console, account, clock)
    card = _summary(_takeover(console, locked))
    assert "locked after too many wrong dates of birth" in card and "3 wrong dates of birth" in card
    page = _takeover(console, stranger)
    assert "Unknown number: no patient on file has this number" in _summary(page)
    assert "(312) 555-0199" in page  # staff may need to call back


def test_rasa_that_hangs_is_given_up_after_a_short_wait(console, account, clock, monkeypatch):
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    get_settings.cache_clear()
    try:
        handoff_id = _handoff(JAMES, clock)
        sign_in(console, account, clock)
        started = time.monotonic()
        page = _takeover(console, handoff_id)
        assert time.monotonic() - started < 6
        assert "memory is not available right now" in page
    finally:
        listener.close()
        monkeypatch.undo()
        get_settings.cache_clear()


def test_reading_the_tracker_tolerates_odd_values():
    memory = BotMemory.of(
        {
            "slots": {
                "offered_slots": ["2026-03-11T15:00:00+00:00", "not a time", 3, "2026-03-12T15:00:00"],
                "booking_referral": 42,
            },
            "events": [None, {"event": "user", "text": "yes", "parse_data": {}}, _user_event("yes", "affirm", 1)],
        }
    )
    assert [moment.isoformat() for moment in memory.offered_slots] == [
        "2026-03-11T15:00:00+00:00",
        "2026-03-12T15:00:00+00:00",  # no zone: taken as UTC
    ]
    assert memory.booking_referral is None
    first, second = memory.intents_for(["Yes", "yes "])
    assert first is not None and first.intent is None  # the earlier "yes" had no intent
    assert second is not None and second.intent == "affirm"
    assert BotMemory.of({}).intents_for(["hello"]) == [None]


# --- the timeline --------------------------------------------------------------------------------


@pytest.mark.usefixtures("rasa_stopped")
def test_the_timeline_has_sms_calls_outreach_consent_and_handoffs_in_time_order(console, account, clock):
    now = clock.now
    staff = make_account(clock, email="kim@clinic.example", name="Kim Park")
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        patient = session.scalars(select(Patient).filter_by(phone=JAMES)).one()
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        reminder = conversations.record_message(session, conversation=conversation, direction="outbound",
                                                channel="sms", author="system", body="Reminder: your visit",
                                                twilio_sid="SMreminder", delivery_status="delivered",
                                                now=now - timedelta(hours=5))  # fmt: skip
        session.add(PlannedOutreach(kind=OutreachKind.REMINDER, patient_id=patient.id, referral_id=referral.id,
                                    template="appointment_reminder", due_at=now - timedelta(hours=5),
                                    state=OutreachState.DELIVERED, idempotency_key="t-reminder",
                                    sent_at=now - timedelta(hours=5), message_id=reminder.id))  # fmt: skip
        consent.record_consent(session, phone=JAMES, consented=False, source="sms:STOP", now=now - timedelta(hours=4))
        consent.record_consent(session, phone=JAMES, consented=True, source="sms:START", now=now - timedelta(hours=3))
        earlier = open_handoff(session, conversation=conversation, reason="rasa_unavailable",
                               now=now - timedelta(hours=2, minutes=30))  # fmt: skip
        earlier.assigned_to_id = staff.id
        session.flush()
        from relay.messaging.handoffs import resolve

        resolve(session, handoff=earlier, actor=f"staff:{staff.id}", staff_id=staff.id, note="Called back, all good",
                now=now - timedelta(hours=2))  # fmt: skip
        call = Call(call_sid="CAtimeline", conversation_id=conversation.id, started_at=now - timedelta(hours=1),
                    ended_at=now - timedelta(minutes=57), duration_seconds=185,
                    outcome=CallOutcome.TRANSFER_UNANSWERED, status="completed")  # fmt: skip
        session.add(call)
        session.flush()
        conversations.record_message(session, conversation=conversation, direction="outbound", channel="voice",
                                     author="bot", body="Hello, this is Riverside.",
                                     now=now - timedelta(minutes=59, seconds=50))  # fmt: skip
        heard = conversations.record_message(session, conversation=conversation, direction="inbound",
                                             channel="voice", author="patient", body="I want to reschedule",
                                             twilio_sid="CAtimeline:1", now=now - timedelta(minutes=59))  # fmt: skip
        session.add_all([
            CallTurn(call_id=call.id, turn=0, input="call", created_at=now - timedelta(hours=1)),
            CallTurn(call_id=call.id, turn=1, input="speech", confidence=0.9, message_id=heard.id,
                     created_at=now - timedelta(minutes=59)),
            CallTurn(call_id=call.id, turn=2, input="silence", created_at=now - timedelta(minutes=58)),
        ])  # fmt: skip
    _say(JAMES, clock, "are you there?", minutes_ago=30)
    handoff_id = _handoff(JAMES, clock, reason="voice_transfer_unanswered", minutes_ago=56)
    sign_in(console, account, clock)
    timeline = _timeline(_takeover(console, handoff_id))

    expected = [
        "Reminder: your visit",
        "Outreach: Appointment reminder",
        "Delivered",
        "Opted out of texts",
        "texted STOP",
        "Texts allowed",
        "Handed to staff: The bot was down when they wrote",
        "Resolved by Kim Park; back to the bot",
        "Outcome: Called back, all good",
        "Call from James Carter",
        "Hello, this is Riverside.",
        "I want to reschedule",
        "(said nothing)",
        "3 min 5 s",
        "Put through to the front desk; nobody answered",
        "Handed to staff: Call: transfer to the front desk was not answered",
        "are you there?",
    ]
    positions = [timeline.index(text) for text in expected]
    assert positions == sorted(positions), [t for t, p in zip(expected, positions, strict=True)]
    assert timeline.count("I want to reschedule") == 1  # inside the call, not again on its own


def test_the_timeline_refreshes_by_itself_without_the_rest_of_the_page(console, account, clock, rasa_stopped):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    page = _takeover(console, handoff_id)
    assert f'hx-get="/console/handoffs/{handoff_id}/timeline" hx-trigger="every 5s"' in page
    _say(JAMES, clock, "hello? anyone?", minutes_ago=0)
    fragment = console.get(f"/console/handoffs/{handoff_id}/timeline", headers=HTMX)
    assert fragment.status_code == 200
    assert "hello? anyone?" in fragment.text and "<html" not in fragment.text
    assert "reply-body" not in fragment.text  # the reply form is not part of what is replaced
    assert console.get("/console/handoffs/999999/timeline", headers=HTMX).status_code == 404


def test_the_timeline_shows_its_latest_entries_newest_last_and_the_whole_one_on_request(
    console, account, clock, rasa_stopped
):
    for number in range(TIMELINE_SHOWN + 5):
        _say(JAMES, clock, f"message number {number:02d}", minutes_ago=200 - number)
    handoff_id = _handoff(JAMES, clock, minutes_ago=1)
    sign_in(console, account, clock)

    latest = _timeline(_takeover(console, handoff_id))
    assert latest.count('class="entry ') == TIMELINE_SHOWN
    assert "message number 00" not in latest and "message number 34" in latest
    assert latest.index("message number 33") < latest.index("message number 34")  # newest last, above the reply
    assert f'href="/console/handoffs/{handoff_id}?timeline=all#timeline-heading">Show the whole timeline' in latest

    whole = _takeover(console, handoff_id, timeline="all")
    assert f'hx-get="/console/handoffs/{handoff_id}/timeline?timeline=all"' in whole  # its refresh keeps it whole
    assert "message number 00" in _timeline(whole) and "Show only the latest" in whole
    fragment = console.get(f"/console/handoffs/{handoff_id}/timeline", params={"timeline": "all"}, headers=HTMX)
    assert "message number 00" in fragment.text


def test_the_side_panel_says_the_kind_of_referral_without_repeating_who_referred_it(console, account, clock):
    handoff_id = _handoff(JAMES, clock, with_referral=True)
    sign_in(console, account, clock)
    page = _takeover(console, handoff_id)
    side = page[page.index('id="referrals-heading"') :]
    assert "<dt>Kind</dt><dd>From a provider (Routine)</dd>" in side
    assert "referral from Dr." not in side and "<dt>Referred by</dt><dd>Dr. Helen Moore" in side


# --- escaping and audit --------------------------------------------------------------------------


@pytest.mark.usefixtures("rasa_stopped")
def test_patient_text_is_shown_as_text_in_the_queue_the_card_and_the_timeline(console, account, clock):
    with session_scope() as session:
        session.scalars(select(Patient).filter_by(phone=JAMES)).one().name = SCRIPT
    _say(JAMES, clock, SCRIPT, minutes_ago=5)
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    pages = {
        "queue": console.get("/console/").text,
        "queue rows": console.get("/console/queue/rows", headers=HTMX).text,
        "timeline": console.get(f"/console/handoffs/{handoff_id}/timeline", headers=HTMX).text,
    }
    takeover = _takeover(console, handoff_id)
    pages |= {"card": _summary(takeover), "page timeline": _timeline(takeover), "page": takeover}
    for where, text in pages.items():
        assert SCRIPT not in text, where
        assert ESCAPED in text, where


@pytest.mark.usefixtures("rasa_stopped")
def test_each_view_of_the_takeover_page_is_audited_and_its_refreshes_are_not(console, account, clock):
    handoff_id = _handoff(JAMES, clock, with_referral=True)
    stranger = _handoff(UNKNOWN, clock)
    sign_in(console, account, clock)

    def events() -> list[AuditEvent]:
        with session_scope() as session:
            return list(session.scalars(select(AuditEvent).filter_by(action="console.viewed").order_by(AuditEvent.id)))

    _takeover(console, handoff_id)
    clock.advance(seconds=30)
    _takeover(console, handoff_id)
    for _ in range(3):
        clock.advance(seconds=5)
        assert console.get(f"/console/handoffs/{handoff_id}/timeline", headers=HTMX).status_code == 200
    _takeover(console, stranger)  # no patient record: nothing to record against
    written = [e for e in events() if e.details["page"] == "handoff"]
    handoff = _handoff_row(handoff_id)
    assert len(written) == 2
    for event in written:
        assert event.actor == f"staff:{account.id}"
        assert (event.patient_id, event.conversation_id, event.referral_id) == (
            handoff.patient_id, handoff.conversation_id, handoff.referral_id,
        )  # fmt: skip


# --- claim, reply, resolve -----------------------------------------------------------------------


@pytest.mark.usefixtures("rasa_stopped")
def test_a_claim_is_seen_by_others_and_a_second_claim_is_refused(console, second_console, account, clock):
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    answer = _post(console, handoff_id, "claim")
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/handoffs/{handoff_id}?done=claimed"
    page = console.get(answer.headers["location"]).text
    assert "You have this conversation now" in page and 'name="body"' in page
    assert _handoff_row(handoff_id).assigned_to_id == account.id

    sign_in(second_console, kim, clock)
    assert "Ann Lee has this conversation" in _takeover(second_console, handoff_id)
    row = re.search(rf'data-handoff="{handoff_id}">(.*?)</tr>', second_console.get("/console/").text, re.S)
    assert row and "Ann Lee" in row.group(1)
    refused = _post(second_console, handoff_id, "claim")
    assert refused.status_code == 409
    assert "Ann Lee has already claimed this conversation" in refused.text
    assert 'name="body"' not in refused.text  # no reply form for someone who does not have it
    assert _handoff_row(handoff_id).assigned_to_id == account.id

    released = _post(console, handoff_id, "release")
    assert released.status_code == 303 and _handoff_row(handoff_id).assigned_to_id is None
    assert _post(second_console, handoff_id, "claim").status_code == 303
    assert _handoff_row(handoff_id).assigned_to_id == kim.id


@pytest.mark.usefixtures("rasa_stopped")
def test_a_reply_goes_out_through_twilio_and_is_stored_as_the_staff_members(console, account, clock, fake_twilio):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    body = "Hi James, this is Ann at Riverside.\r\nYour visit is confirmed."
    answer = _post(console, handoff_id, "reply", body=body)
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/handoffs/{handoff_id}?done=replied"

    sent_body = "Hi James, this is Ann at Riverside.\nYour visit is confirmed."
    [request] = fake_twilio.created_requests()
    assert (request.form["To"], request.form["From"], request.form["Body"]) == (JAMES, "+13125550100", sent_body)
    [sent] = fake_twilio.sent
    with session_scope() as session:
        message = session.scalars(select(Message).filter_by(author="staff")).one()
        assert (message.direction, message.body, message.twilio_sid) == ("outbound", sent_body, sent["sid"])
        replied = session.scalars(select(AuditEvent).filter_by(action="handoff.replied")).one()
        assert replied.actor == f"staff:{account.id}" and replied.details["message_id"] == message.id
    page = console.get(answer.headers["location"]).text
    assert "Your text was sent." in page
    timeline = _timeline(page)
    assert "Ann Lee (staff)" in timeline and "Your visit is confirmed." in timeline and "Queued at Twilio" in timeline
    assert timeline.index("Claimed by Ann Lee") < timeline.index("Your visit is confirmed.")  # same instant


@pytest.mark.usefixtures("rasa_stopped")
def test_only_the_claimer_may_reply(console, second_console, account, clock, fake_twilio):
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    unclaimed = _post(console, handoff_id, "reply", body="hello there")
    assert unclaimed.status_code == 409 and "Claim this conversation before you reply" in unclaimed.text

    sign_in(second_console, kim, clock)
    assert _post(second_console, handoff_id, "claim").status_code == 303
    refused = _post(console, handoff_id, "reply", body="hello there")
    assert refused.status_code == 409 and "Kim Park has this conversation" in refused.text
    assert fake_twilio.created_requests() == []
    with session_scope() as session:
        assert session.scalars(select(Message).filter_by(author="staff")).all() == []


@pytest.mark.usefixtures("rasa_stopped")
def test_a_reply_to_a_number_that_opted_out_is_refused(console, account, clock, fake_twilio):
    handoff_id = _handoff(JAMES, clock)
    with session_scope() as session:  # the demo's own consent is recorded at the real time of the seed
        consent.record_consent(session, phone=JAMES, consented=False, source="sms:STOP", now=utcnow())
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    refused = _post(console, handoff_id, "reply", body="Can we talk?")
    assert refused.status_code == 409
    assert "This number has opted out (STOP); it must text START before you can reply" in refused.text
    assert ">Can we talk?</textarea>" in refused.text  # what was typed is kept
    assert fake_twilio.created_requests() == []


@pytest.mark.usefixtures("rasa_stopped")
def test_a_reply_twilio_refuses_is_not_stored_and_says_why(console, account, clock, fake_twilio):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    fake_twilio.fail_next(status=400, code=21211)
    refused = _post(console, handoff_id, "reply", body="Are you free tomorrow?")
    assert refused.status_code == 502
    assert "The text could not be sent: Twilio refused the message (HTTP 400, code 21211)" in refused.text
    assert ">Are you free tomorrow?</textarea>" in refused.text
    with session_scope() as session:
        assert session.scalars(select(Message).filter_by(author="staff")).all() == []
        assert session.scalars(select(AuditEvent).filter_by(action="handoff.replied")).all() == []


@pytest.mark.usefixtures("rasa_stopped")
def test_an_empty_or_too_long_reply_is_refused(console, account, clock, fake_twilio):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    assert _post(console, handoff_id, "reply", body="   \r\n ").status_code == 400
    too_long = _post(console, handoff_id, "reply", body="a" * 1601)
    assert too_long.status_code == 400 and "at most 1600 characters" in too_long.text
    assert fake_twilio.created_requests() == []


@pytest.mark.usefixtures("rasa_stopped")
def test_resolving_with_a_note_hands_the_conversation_back_to_the_bot(console, account, clock):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    missing = _post(console, handoff_id, "resolve", note="  ")
    assert missing.status_code == 400 and "Write what was done" in missing.text

    answer = _post(console, handoff_id, "resolve", note="Moved the visit to Friday by phone.")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/?done=resolved"
    with session_scope() as session:
        handoff = session.get_one(Handoff, handoff_id)
        assert handoff.status == HandoffStatus.RESOLVED and handoff.resolved_by_id == account.id
        assert handoff.resolution_note == "Moved the visit to Friday by phone."
        assert not handoff.conversation.needs_staff
    queue = console.get(answer.headers["location"]).text
    assert "Resolved: the conversation is back with the bot" in queue
    assert f'data-handoff="{handoff_id}"' not in queue

    page = _takeover(console, handoff_id)
    assert "Outcome: Moved the visit to Friday by phone." in page and 'name="body"' not in page
    again = _post(console, handoff_id, "reply", body="one more thing")
    assert again.status_code == 409 and "already resolved" in again.text


@pytest.mark.usefixtures("rasa_stopped")
def test_after_resolving_the_next_message_goes_to_the_bot(console, account, clock):
    from relay.inbound.turns import HANDOFF_ACK_REPLY, RASA_DOWN_REPLY
    from tests.webhooks.twilio_helpers import post_sms, twiml_messages

    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert twiml_messages(post_sms(console, from_phone=JAMES, body="hello?"))[0].startswith(HANDOFF_ACK_REPLY)
    assert _post(console, handoff_id, "resolve", note="Answered by phone").status_code == 303
    # Rasa is stopped: the message reaches the bot's path, which apologises (and opens a new handoff).
    assert twiml_messages(post_sms(console, from_phone=JAMES, body="thanks")) == [RASA_DOWN_REPLY]


@pytest.mark.usefixtures("rasa_stopped")
def test_a_second_staff_member_cannot_resolve_what_someone_else_has(console, second_console, account, clock):
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    handoff_id = _handoff(JAMES, clock)
    sign_in(second_console, kim, clock)
    assert _post(second_console, handoff_id, "claim").status_code == 303
    sign_in(console, account, clock)
    page = _takeover(console, handoff_id)
    assert "Kim Park has this conversation" in page and 'name="note"' not in page
    refused = _post(console, handoff_id, "resolve", note="done")
    assert refused.status_code == 409 and "Kim Park has this conversation" in refused.text
    assert _handoff_row(handoff_id).status == HandoffStatus.OPEN


@pytest.mark.usefixtures("rasa_stopped")
@pytest.mark.parametrize("action", ["claim", "release", "reply", "resolve"])
def test_a_form_without_its_csrf_token_is_refused(console, account, clock, action, fake_twilio):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    data = {"body": "hello", "note": "done"}
    for token in (None, "forged"):
        answer = console.post(f"/console/handoffs/{handoff_id}/{action}",
                              data=data | ({} if token is None else {"csrf_token": token}))  # fmt: skip
        assert answer.status_code == 403 and "Nothing was changed" in answer.text
    handoff = _handoff_row(handoff_id)
    assert handoff.status == HandoffStatus.OPEN and handoff.assigned_to_id is None
    assert fake_twilio.created_requests() == []


def test_an_unknown_handoff_is_a_404(console, account, clock):
    sign_in(console, account, clock)
    assert console.get("/console/handoffs/424242").status_code == 404
    token = csrf_of(console.get("/console/"))
    assert console.post("/console/handoffs/424242/claim", data={"csrf_token": token}).status_code == 404


# --- the live queue and the SMS meter ------------------------------------------------------------


def test_the_queue_rows_fragment_lists_open_handoffs_in_order(console, account, clock):
    normal = _handoff(JAMES, clock, minutes_ago=50)
    urgent = _handoff(AISHA, clock, reason="emergency_medical", priority=HandoffPriority.URGENT, minutes_ago=1)
    high = _handoff(TOM, clock, reason="verification_locked", priority=HandoffPriority.HIGH, minutes_ago=5)
    sign_in(console, account, clock)
    home = console.get("/console/").text
    assert 'hx-get="/console/queue/rows" hx-trigger="every 3s"' in home
    assert "does not refresh by itself" not in home and "<noscript>" in home
    assert "3 open" in home

    fragment = console.get("/console/queue/rows", headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert [int(v) for v in re.findall(r'data-handoff="(\d+)"', fragment.text)] == [urgent, high, normal]
    assert "3 open" in fragment.text and "Updated <time>10:00:10 AM</time>" in fragment.text  # Chicago, CDT
    for handoff_id in (urgent, high, normal):
        assert f'href="/console/handoffs/{handoff_id}"' in fragment.text

    with session_scope() as session:
        open_handoff(session, conversation=conversations.find_or_open(session, phone=UNKNOWN),
                     reason="patient_request", now=clock.now)  # fmt: skip
    assert "4 open" in console.get("/console/queue/rows", headers=HTMX).text


def test_polling_does_not_keep_an_idle_session_alive(console, account, clock, rasa_stopped):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    token = csrf_of(console.get("/console/"))
    for _ in range(7):  # 14 minutes of a page left open, polling
        clock.advance(minutes=2)
        assert console.get("/console/queue/rows", headers=HTMX).status_code == 200
        assert console.get(f"/console/handoffs/{handoff_id}/timeline", headers=HTMX).status_code == 200
        meter = console.post("/console/preview/sms", data={"body": "hi"}, headers=HTMX | {"X-CSRF-Token": token})
        assert meter.status_code == 200
    clock.advance(minutes=2)  # 16 minutes since the last thing the person did
    answer = console.get("/console/")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"


def test_a_poll_after_the_session_ended_sends_the_whole_page_to_sign_in(console, account, clock):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    clock.advance(minutes=16)
    for url in ("/console/queue/rows", f"/console/handoffs/{handoff_id}/timeline"):
        answer = console.get(url, headers=HTMX)
        assert answer.status_code in (200, 204) and answer.headers["HX-Redirect"] == "/console/sign-in"
        assert "<form" not in answer.text  # nothing to swap into the page
        plain = console.get(url)  # not htmx: an ordinary redirect
        assert plain.status_code == 303 and plain.headers["location"] == "/console/sign-in"
    meter = console.post("/console/preview/sms", data={"body": "hi"}, headers=HTMX)
    assert meter.headers["HX-Redirect"] == "/console/sign-in"


@pytest.mark.usefixtures("rasa_stopped")
def test_the_sms_meter_follows_the_reply_as_it_is_typed(console, account, clock):
    handoff_id = _handoff(JAMES, clock)
    sign_in(console, account, clock)
    assert _post(console, handoff_id, "claim").status_code == 303
    page = _takeover(console, handoff_id)
    assert 'hx-post="/console/preview/sms" hx-trigger="input changed delay:250ms"' in page
    assert 'id="reply-meter"' in page
    token = csrf_of(console.get("/console/"))
    meter = console.post("/console/preview/sms", data={"body": "Olá ☺", "meter_id": "reply-meter"},
                         headers=HTMX | {"X-CSRF-Token": token})  # fmt: skip
    assert meter.status_code == 200
    assert 'id="reply-meter"' in meter.text and "5 characters" in meter.text and "Unicode" in meter.text
    assert "<kbd>☺</kbd>" in meter.text
    odd = console.post("/console/preview/sms", data={"body": "x", "meter_id": '"><b>'},
                       headers=HTMX | {"X-CSRF-Token": token})  # fmt: skip
    assert 'id="reply-meter"' in odd.text and "<b>" not in odd.text
    refused = console.post("/console/preview/sms", data={"body": "hi"}, headers=HTMX)
    assert refused.status_code == 403
