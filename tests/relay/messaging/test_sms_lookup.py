"""Finding out whether a message already went: Twilio's Messages list, or the dev outbox."""

from datetime import UTC, datetime, timedelta

import pytest

from relay.core.settings import DEV_ACCOUNT_SID, get_settings
from relay.messaging import sms_sender
from relay.messaging.sms_sender import SmsGateway, SmsLookupUnavailable, SmsSendError, find_sent

CLINIC, JAMES, AISHA = "+13125550100", "+13125550145", "+13125550146"


def test_twilio_lookup_matches_number_sender_body_and_time(fake_twilio):
    now = datetime.now(UTC)
    sent = SmsGateway().send(to=JAMES, from_=CLINIC, body="Reminder one.", now=now)
    SmsGateway().send(to=AISHA, from_=CLINIC, body="Reminder two.", now=now)
    assert find_sent(to=JAMES, from_=CLINIC, body="Reminder one.", since=now - timedelta(minutes=5)) == sent
    assert find_sent(to=JAMES, from_=CLINIC, body="Reminder two.", since=now - timedelta(minutes=5)) is None
    assert find_sent(to=JAMES, from_=CLINIC, body="Reminder one.", since=now + timedelta(minutes=5)) is None
    [lookup, *_] = [r for r in fake_twilio.requests if r.method == "GET"]
    assert (lookup.query["To"], lookup.query["From"]) == (JAMES, CLINIC)


def test_twilio_lookup_unavailable(fake_twilio):
    fake_twilio.fail_next(1, status=500)
    with pytest.raises(SmsLookupUnavailable):
        find_sent(to=JAMES, from_=CLINIC, body="x", since=datetime.now(UTC))


def test_dev_outbox_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", DEV_ACCOUNT_SID)
    monkeypatch.delenv("TWILIO_API_BASE_URL", raising=False)
    monkeypatch.setattr(sms_sender, "OUTBOX_PATH", tmp_path / "outbox.jsonl")
    get_settings.cache_clear()
    try:
        now = datetime.now(UTC)
        sent = SmsGateway().send(to=JAMES, from_=CLINIC, body="Hello.", now=now)
        assert sent.sid.startswith("DEV") and sent.status == "dev_outbox"
        assert find_sent(to=JAMES, from_=CLINIC, body="Hello.", since=now - timedelta(seconds=1)) == sent
        assert find_sent(to=AISHA, from_=CLINIC, body="Hello.", since=now - timedelta(seconds=1)) is None
    finally:
        get_settings.cache_clear()


def test_a_refused_connection_proves_nothing_was_sent(monkeypatch):
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    try:
        with pytest.raises(SmsSendError) as refused:
            SmsGateway().send(to=JAMES, from_=CLINIC, body="x", now=datetime.now(UTC))
        assert refused.value.status is None and refused.value.maybe_sent is False and refused.value.retryable
    finally:
        get_settings.cache_clear()
