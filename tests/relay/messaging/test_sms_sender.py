"""Outbound SMS through the official twilio client, against the local fake of Twilio's API."""

import json
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from relay.core.settings import DEV_ACCOUNT_SID, get_settings
from relay.messaging import sms_sender
from relay.messaging.sms_sender import SmsSendError, send_sms
from relay.models import Message
from relay.records import conversations

JAMES = "+13125550145"
CLINIC_NUMBER = "+13125550100"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
BODY = "Your referral paperwork is ready, call us when convenient."


@pytest.fixture
def conversation(db_session):
    return conversations.find_or_open(db_session, phone=JAMES, now=NOW)


def _outbound_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Message).filter_by(direction="outbound"))


def test_a_message_goes_through_twilio_and_is_stored(db_session, conversation, fake_twilio):
    message = send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)

    [request] = fake_twilio.created_requests()
    assert request.path == f"/2010-04-01/Accounts/{get_settings().twilio_account_sid}/Messages.json"
    assert request.auth == (get_settings().twilio_account_sid, "test-auth-token")
    assert request.headers["authorization"].startswith("Basic ")
    assert request.form["To"] == JAMES and request.form["From"] == CLINIC_NUMBER and request.form["Body"] == BODY
    assert request.form["StatusCallback"] == "https://relay.example.test/webhooks/twilio/status"

    [sent] = fake_twilio.sent
    assert (message.twilio_sid, message.delivery_status) == (sent["sid"], "queued")
    assert (message.direction, message.channel, message.author, message.body) == ("outbound", "sms", "staff", BODY)
    assert message.conversation_id == conversation.id and message.created_at == NOW
    assert conversation.last_message_at == NOW


def test_the_fake_serves_the_sent_message_back(db_session, conversation, fake_twilio):
    message = send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    fake_twilio.set_status(message.twilio_sid, "delivered")
    fetched = sms_sender.twilio_client().messages(message.twilio_sid).fetch()
    assert (fetched.sid, fetched.status, fetched.to, fetched.from_, fetched.body) == (
        message.twilio_sid, "delivered", JAMES, CLINIC_NUMBER, BODY,
    )  # fmt: skip


def test_logs_mask_the_number_and_never_carry_the_body(db_session, conversation, fake_twilio, caplog):
    with caplog.at_level(logging.DEBUG):
        send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    assert "sms sent" in caplog.text
    assert BODY not in caplog.text and "paperwork" not in caplog.text
    assert JAMES not in caplog.text and "5550145" not in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, 21211, False), (400, 21610, False), (429, 20429, True), (500, 20500, True), (503, 20503, True)],
)
def test_a_refusal_raises_with_the_twilio_code_and_stores_nothing(
    db_session, conversation, fake_twilio, status, code, retryable
):
    fake_twilio.fail_next(status=status, code=code)
    with pytest.raises(SmsSendError) as raised:
        send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    assert (raised.value.status, raised.value.code, raised.value.retryable) == (status, code, retryable)
    assert _outbound_count(db_session) == 0
    # The failure was for the next request only.
    send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    assert [r.answered for r in fake_twilio.created_requests()] == [status, 201]


def test_fail_next_counts_requests(db_session, conversation, fake_twilio):
    fake_twilio.fail_next(2, status=429)
    for _ in range(2):
        with pytest.raises(SmsSendError):
            send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    assert [r.answered for r in fake_twilio.created_requests()] == [429, 429, 201]


def test_wrong_credentials_get_401(db_session, conversation, fake_twilio, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")
    get_settings.cache_clear()
    try:
        with pytest.raises(SmsSendError) as raised:
            send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert fake_twilio.requests[-1].answered == 401 and not fake_twilio.sent


def test_twilio_unreachable_is_a_retryable_error(db_session, conversation, monkeypatch):
    from tests.support import free_port

    monkeypatch.setenv("TWILIO_API_BASE_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    try:
        with pytest.raises(SmsSendError) as raised:
            send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert raised.value.status is None and raised.value.retryable
    assert _outbound_count(db_session) == 0


def test_without_credentials_messages_go_to_the_dev_outbox(db_session, conversation, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", DEV_ACCOUNT_SID)
    monkeypatch.delenv("TWILIO_API_BASE_URL", raising=False)
    monkeypatch.setattr(sms_sender, "OUTBOX_PATH", tmp_path / "var" / "outbox.jsonl")
    get_settings.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("the dev outbox must not call Twilio")

    monkeypatch.setattr(sms_sender, "twilio_client", no_network)
    try:
        with caplog.at_level(logging.DEBUG):
            message = send_sms(db_session, conversation=conversation, body=BODY, author="staff", now=NOW)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert message.delivery_status == "dev_outbox" and message.twilio_sid.startswith("DEV")
    [line] = (tmp_path / "var" / "outbox.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["sid"] == message.twilio_sid
    assert (entry["from"], entry["to"], entry["body"], entry["author"]) == (CLINIC_NUMBER, JAMES, BODY, "staff")
    assert entry["status_callback"].endswith("/webhooks/twilio/status")
    assert BODY not in caplog.text and JAMES not in caplog.text


def test_proxy_and_ca_bundle_from_the_environment_are_read_when_the_client_is_built(monkeypatch):
    # Read once (requests would read them on every request), with the same answer for the client's one host.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.clinic.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/clinic/ca.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http = sms_sender.twilio_client(get_settings()).http_client
    assert http.proxy["https"] == "http://proxy.clinic.example:3128"
    assert http.session.verify == "/etc/clinic/ca.pem" and http.session.trust_env is False

    monkeypatch.setenv("NO_PROXY", "api.twilio.com")
    assert sms_sender.twilio_client(get_settings()).http_client.proxy == {}
