"""The phone simulator: texts and calls through the real, signed webhooks, the thread read from the database."""

import re
from html import unescape

import pytest
from sqlalchemy import select

from console.simulator import CALL_PATHS, NotOurWebhook, message_bodies, read_call_twiml, webhook_url
from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.messaging.sms_sender import send_sms
from relay.models import AuditEvent, Call, Conversation, Handoff, Message, Patient
from relay.records import consent, conversations
from tests.console.support import csrf_of, sign_in

JAMES = "+13125550145"
UNKNOWN = "+13125550199"
SCRIPT = "<script>alert(1)</script>"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(console, account, clock):
    assert sign_in(console, account, clock).status_code == 303
    return console


def _james_id() -> int:
    with session_scope() as session:
        return session.scalars(select(Patient.id).filter_by(phone=JAMES)).one()


def _page(client, **params):
    answer = client.get("/console/simulator", params=params)
    assert answer.status_code == 200, answer.text
    return answer


def _text(client, body: str, phone: str = JAMES, htmx: bool = True):
    token = csrf_of(_page(client))
    return client.post("/console/simulator/sms", data={"phone": phone, "body": body, "csrf_token": token},
                       headers=HTMX if htmx else {})  # fmt: skip


def _thread(client, phone: str = JAMES, **params):
    return client.get("/console/simulator/thread", params={"phone": phone, **params}, headers=HTMX)


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, html
    return unescape(match.group(1))


def _inbound(phone: str) -> list[Message]:
    with session_scope() as session:
        return list(session.scalars(select(Message).join(Conversation).where(
            Conversation.phone == phone, Message.direction == "inbound").order_by(Message.id)))  # fmt: skip


# --- the page ------------------------------------------------------------------------------------------------


def test_the_page_offers_the_demo_patients_masked_and_says_nothing_reaches_a_real_phone(signed_in, account):
    page = _page(signed_in).text
    assert "nothing is sent to a real phone" in page
    assert "James Carter · (***) ***-0145" in page and "555-0145" not in page
    assert '<link rel="stylesheet" href="/console/static/simulator.css">' in page
    assert 'aria-current="page">Phone simulator' in page
    first = re.search(r'<option value="(\d+)" selected>', page)
    assert first and page.index("<option") == page.index(first.group(0))  # the first patient by default
    james = _page(signed_in, patient=_james_id()).text
    assert _hidden(james, "phone") == JAMES and "James Carter" in james
    with session_scope() as session:
        seen = session.scalars(select(AuditEvent).where(AuditEvent.action == "console.viewed",
                                                        AuditEvent.patient_id == _james_id())).all()  # fmt: skip
        assert any(event.details["page"] == "simulator" and event.actor == f"staff:{account.id}" for event in seen)


def test_a_typed_number_is_used_and_a_bad_one_is_refused_clearly(signed_in):
    page = _page(signed_in, number="(312) 555-0199").text
    assert _hidden(page, "phone") == UNKNOWN and "Unknown number (***) ***-0199" in page
    bad = signed_in.get("/console/simulator", params={"number": "12"})
    assert bad.status_code == 400
    assert "is not a phone number we can text" in bad.text and 'aria-invalid="true"' in bad.text
    assert 'name="body"' not in bad.text  # no phone to text from
    token = csrf_of(bad)
    posted = signed_in.post("/console/simulator/sms", data={"phone": "not a number", "body": "hi", "csrf_token": token})
    assert posted.status_code == 400


def test_the_page_needs_a_signed_in_staff_member(console):
    answer = console.get("/console/simulator")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"


def test_an_ended_session_sends_htmx_to_sign_in_instead_of_swapping_it_in(signed_in, clock):
    page = _page(signed_in)
    clock.advance(minutes=get_settings().console_idle_minutes + 1)
    polled = _thread(signed_in)
    assert polled.status_code == 204 and polled.headers["HX-Redirect"] == "/console/sign-in"
    token = csrf_of(page)
    sent = signed_in.post("/console/simulator/sms", data={"phone": JAMES, "body": "hi", "csrf_token": token},
                          headers=HTMX)  # fmt: skip
    assert sent.status_code == 204 and sent.headers["HX-Redirect"] == "/console/sign-in"
    assert signed_in.get("/console/simulator").status_code == 303  # a plain page load is redirected as usual
    assert _inbound(JAMES) == []


# --- texting -------------------------------------------------------------------------------------------------


def test_texting_stop_goes_through_the_signed_webhook_and_opts_the_number_out(signed_in):
    answer = _text(signed_in, "STOP")
    assert answer.status_code == 200, answer.text
    assert answer.headers["HX-Trigger"] == "simulator-sent"
    assert "Webhook answered 200: 1 TwiML message" in answer.text
    assert "You are unsubscribed from Riverside Family Health texts." in answer.text
    assert "<textarea" in answer.text and "autofocus" in answer.text  # a fresh, empty box, focused
    assert re.search(r"<textarea[^>]*>\s*</textarea>", answer.text)
    # The webhook really took it (an unsigned or badly signed request would have been refused and not stored).
    [inbound] = _inbound(JAMES)
    assert inbound.body == "STOP" and inbound.author == "patient"
    assert re.fullmatch(r"SM[0-9a-f]{32}", inbound.twilio_sid or "")
    with session_scope() as session:
        assert consent.is_opted_out(session, JAMES)
    thread = _thread(signed_in)
    assert thread.status_code == 200
    assert "STOP" in thread.text and "You are unsubscribed" in thread.text and "TwiML reply" in thread.text


def test_a_text_without_htmx_comes_back_to_the_page(signed_in):
    answer = _text(signed_in, "HELP", htmx=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/simulator?patient={_james_id()}"
    page = signed_in.get(answer.headers["location"]).text
    assert "HELP" in page and "Riverside Family Health" in page


def test_an_empty_text_is_not_sent(signed_in):
    answer = _text(signed_in, "   ")
    assert answer.status_code == 200 and "Type a message first." in answer.text
    assert _inbound(JAMES) == []


def test_a_patients_text_and_the_bots_answer_are_escaped(signed_in, rasa_stopped):
    answer = _text(signed_in, SCRIPT)  # Rasa is down: the webhook answers with its apology and a handoff
    assert answer.status_code == 200
    thread = _thread(signed_in).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in thread and SCRIPT not in thread
    assert "A team member will follow up" in thread


def test_the_thread_shows_what_the_clinic_sends_separately_and_polls_cheaply(signed_in, fake_twilio, clock):
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        send_sms(session, conversation=conversation, body="Hi James, this is Ann from the front desk.",
                 author="staff", now=clock.now)  # fmt: skip
    first = _thread(signed_in)
    assert first.status_code == 200
    assert "Hi James, this is Ann from the front desk." in first.text
    assert '<span class="bubble-author">Staff</span>' in first.text and "queued" in first.text
    url = unescape(re.search(r'hx-get="([^"]+)"', first.text).group(1))
    assert 'hx-trigger="every 2s, simulator-sent from:body"' in first.text
    assert signed_in.get(url, headers=HTMX).status_code == 204  # nothing changed: nothing to swap
    with session_scope() as session:
        message = session.scalars(select(Message).filter_by(author="staff")).one()
        message.delivery_status = "delivered"
        conversation = session.get_one(Conversation, message.conversation_id)
        send_sms(session, conversation=conversation, body="Your visit is confirmed.", author="system", now=clock.now)
    changed = signed_in.get(url, headers=HTMX)
    assert changed.status_code == 200 and "delivered" in changed.text
    # Only what is new since the last look is read out to a screen reader.
    announced = re.search(r'<div id="sim-announce" hx-swap-oob="innerHTML">(.*?)</div>', changed.text, re.S)
    assert announced and "Your visit is confirmed." in announced.group(1) and "front desk" not in announced.group(1)


def test_state_changes_need_the_csrf_token(signed_in):
    _page(signed_in)
    for path, data in (
        ("/console/simulator/sms", {"phone": JAMES, "body": "STOP"}),
        ("/console/simulator/call", {"phone": JAMES}),
        ("/console/simulator/call/hangup", {"phone": JAMES, "call_sid": "CA" + "0" * 32}),
    ):
        assert signed_in.post(path, data=data).status_code == 403
        assert signed_in.post(path, data=data | {"csrf_token": "forged"}).status_code == 403
    assert _inbound(JAMES) == []
    with session_scope() as session:
        assert not consent.is_opted_out(session, JAMES)


# --- calling -------------------------------------------------------------------------------------------------


def _call(client, phone: str = JAMES):
    token = csrf_of(_page(client))
    return client.post("/console/simulator/call", data={"phone": phone, "csrf_token": token}, headers=HTMX)


def _turn(client, previous, **fields):
    data = {name: _hidden(previous.text, name) for name in ("csrf_token", "phone", "call_sid", "next_url", "started")}
    return client.post("/console/simulator/call/turn", data=data | fields, headers=HTMX)


def test_a_call_hears_the_greeting_presses_0_and_is_transferred(signed_in):
    call = _call(signed_in)
    assert call.status_code == 200, call.text
    assert "Clinic:</span> Thank you for calling Riverside Family Health." in call.text
    assert 'hx-swap-oob="innerHTML"' in call.text and 'id="sim-speech"' in call.text and 'id="sim-digits"' in call.text
    sid = _hidden(call.text, "call_sid")
    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    assert _hidden(call.text, "next_url") == get_settings().base_url + "/webhooks/twilio/voice/turn?turn=1"

    transfer = _turn(signed_in, call, digits="0")
    assert transfer.status_code == 200, transfer.text
    assert "You:</span> (presses 0)" in transfer.text
    assert "Transferring to the front desk, (312) 555-0111..." in transfer.text
    assert _hidden(transfer.text, "next_url") == get_settings().base_url + "/webhooks/twilio/voice/dial"

    unanswered = _turn(signed_in, transfer, dial_status="no-answer")
    assert "no one on our team could take your call" in unanswered.text
    assert "Call ended." in unanswered.text and "Call again" in unanswered.text
    with session_scope() as session:
        call_row = session.scalars(select(Call).filter_by(call_sid=sid)).one()
        assert call_row.status == "completed"  # the simulator posted the status callback, as Twilio does
        assert session.scalars(select(Handoff).join(Conversation).where(Conversation.phone == JAMES)).first()


def test_the_caller_can_hang_up(signed_in):
    call = _call(signed_in)
    data = {name: _hidden(call.text, name) for name in ("csrf_token", "phone", "call_sid", "started")}
    ended = signed_in.post("/console/simulator/call/hangup", data=data, headers=HTMX)
    assert ended.status_code == 200 and "You hung up. Call ended." in ended.text
    with session_scope() as session:
        assert session.scalars(select(Call).filter_by(call_sid=data["call_sid"])).one().status == "completed"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/webhooks/twilio/voice/turn?turn=1",
        "https://relay.example.test.evil.example/webhooks/twilio/voice/turn?turn=1",
        "https://relay.example.test/webhooks/twilio/sms",
        "https://relay.example.test/console/users",
        "https://relay.example.test/webhooks/twilio/voice/../../../console/",
        "//evil.example/x",
        "",
    ],
)
def test_a_call_goes_only_to_the_apps_own_voice_webhooks(signed_in, next_url):
    call = _call(signed_in)
    turns_before = len(_inbound(JAMES))
    answer = _turn(signed_in, call, next_url=next_url, speech="hello")
    assert answer.status_code == 400
    assert len(_inbound(JAMES)) == turns_before


# --- production ----------------------------------------------------------------------------------------------


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "production")
    get_settings.cache_clear()
    assert get_settings().is_production
    yield
    monkeypatch.delenv("RELAY_ENV")
    get_settings.cache_clear()


def test_there_is_no_simulator_in_production(signed_in, production):
    home = signed_in.get("/console/")
    assert home.status_code == 200 and "Phone simulator" not in home.text
    token = csrf_of(home)
    assert signed_in.get("/console/simulator").status_code == 404
    assert signed_in.get("/console/simulator/thread", params={"phone": JAMES}).status_code == 404
    for path in ("/console/simulator/sms", "/console/simulator/call", "/console/simulator/call/turn",
                 "/console/simulator/call/hangup"):  # fmt: skip
        assert signed_in.post(path, data={"phone": JAMES, "body": "STOP", "csrf_token": token}).status_code == 404
    assert _inbound(JAMES) == []


# --- reading TwiML -------------------------------------------------------------------------------------------


def test_twiml_is_read_as_twilio_runs_it():
    base = get_settings().base_url
    current = base + "/webhooks/twilio/voice"
    assert message_bodies("<Response><Message>One</Message><Message><Body>Two</Body></Message></Response>") == [
        "One",
        "Two",
    ]
    gather = read_call_twiml(
        '<Response><Say>Hello.</Say><Gather input="dtmf" action="turn?turn=2"><Say>Press 1.</Say></Gather>'
        "<Say>Never heard.</Say></Response>",
        current=base + "/webhooks/twilio/voice/turn?turn=1",
    )
    assert gather.says == ["Hello.", "Press 1."] and gather.listens_for == ("dtmf",)
    assert gather.listen_url == base + "/webhooks/twilio/voice/turn?turn=2"
    assert read_call_twiml("<Response><Gather/></Response>", current=current).listen_url == current
    dial = read_call_twiml("<Response><Dial><Number>+13125550111</Number></Dial></Response>", current=current)
    assert dial.dialled == "+13125550111" and dial.dial_url is None
    redirect = read_call_twiml("<Response><Redirect>/webhooks/twilio/voice</Redirect></Response>", current=current)
    assert redirect.redirect_url == current and not redirect.ended
    assert read_call_twiml("<Response><Say>Bye.</Say><Hangup/></Response>", current=current).hangs_up
    assert read_call_twiml("<Response><Say>Bye.</Say></Response>", current=current).ended
    assert webhook_url("turn?turn=3", current=current + "/x", allowed=CALL_PATHS) == current + "/turn?turn=3"
    with pytest.raises(NotOurWebhook):
        webhook_url("/webhooks/twilio/voice/status", current=current, allowed=CALL_PATHS)


# --- with the real bot ---------------------------------------------------------------------------------------


@pytest.mark.rasa
def test_texting_and_calling_the_real_bot(signed_in, rasa_stack):
    answer = _text(signed_in, "hi", phone=UNKNOWN)
    assert answer.status_code == 200, answer.text
    assert "text assistant" in answer.text  # utter_greet, as the SMS channel words it
    thread = _thread(signed_in, phone=UNKNOWN).text
    assert '<span class="bubble-author">Bot</span>' in thread and "How can I help?" in thread

    call = _call(signed_in)
    assert "Thank you for calling Riverside Family Health" in call.text and 'id="sim-speech"' in call.text
    asked = _turn(signed_in, call, speech="When is my appointment?")
    assert asked.status_code == 200, asked.text
    assert "You:</span> When is my appointment?" in asked.text
    assert "date of birth" in asked.text.lower() and 'id="sim-speech"' in asked.text
