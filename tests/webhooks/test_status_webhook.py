"""POST /webhooks/twilio/status: signed, forward-only, whatever order the callbacks come in."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from twilio.request_validator import RequestValidator

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import AuditEvent, ConsentEvent, Handoff, Message, Patient, PlannedOutreach
from relay.records import conversations

PATH = "/webhooks/twilio/status"
SID = "SM" + "a" * 32
NOW = datetime.now(UTC)


def post_status(client, params: dict[str, str], *, signature: str | None = None):
    settings = get_settings()
    if signature is None:
        validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
        signature = validator.compute_signature(settings.base_url + PATH, params)
    return client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})


def callback(status: str, sid: str = SID, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": get_settings().twilio_account_sid,
        "From": "+13125550100",
        "To": "+13125550145",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
def sent_outreach(fresh_demo):
    """A reminder to James that Twilio accepted (row sent, message queued, both with SID)."""
    get_settings.cache_clear()
    with session_scope() as session:
        session.execute(delete(PlannedOutreach))
        james = session.scalars(select(Patient).filter_by(name="James Carter")).one()
        conversation = conversations.find_or_open(session, phone=james.phone, now=NOW)
        message = conversations.record_message(
            session, conversation=conversation, direction="outbound", channel="sms", author="system",
            body="Reminder: your appointment is on Friday.", twilio_sid=SID, now=NOW,
        )  # fmt: skip
        message.delivery_status = "queued"
        row = PlannedOutreach(
            kind="reminder", patient_id=james.id, channel="sms", template="appointment_reminder",
            due_at=NOW - timedelta(minutes=5), valid_until=NOW + timedelta(hours=6), state="sent",
            idempotency_key="test:status", twilio_sid=SID, sent_at=NOW, message_id=message.id,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _state(outreach_id: int) -> tuple[str, str | None, str | None]:
    with session_scope() as session:
        row = session.get(PlannedOutreach, outreach_id)
        message = session.get(Message, row.message_id) if row.message_id else None
        return row.state, row.error_code, message.delivery_status if message else None


def _delivery(sid: str = SID) -> str | None:
    with session_scope() as session:
        return session.scalars(select(Message.delivery_status).filter_by(twilio_sid=sid)).one()


def test_callbacks_move_the_message_and_the_row_forward(api_client, sent_outreach):
    for status in ("sending", "sent"):
        assert post_status(api_client, callback(status)).status_code == 204
        assert _state(sent_outreach) == ("sent", None, status)
    assert post_status(api_client, callback("delivered")).status_code == 204
    assert _state(sent_outreach) == ("delivered", None, "delivered")


def test_out_of_order_callbacks_end_in_the_right_state(api_client, sent_outreach):
    for status in ("delivered", "sent", "sending", "queued", "delivered"):
        assert post_status(api_client, callback(status)).status_code == 204
    assert _state(sent_outreach) == ("delivered", None, "delivered")


def test_a_failure_is_final(api_client, sent_outreach):
    post_status(api_client, callback("undelivered", ErrorCode="30007"))
    post_status(api_client, callback("delivered"))
    post_status(api_client, callback("sent"))
    assert _state(sent_outreach) == ("failed", "30007", "undelivered")


@pytest.mark.parametrize(
    ("code", "stored"),
    [
        ("12345678901234567890", "12345678901234567890"),  # 20 digits: kept whole, the column takes 32
        ("9" * 40, "9" * 32),  # longer than the column: cut to fit it, never an error
    ],
)
def test_a_long_error_code_is_kept_as_far_as_the_column_goes(api_client, sent_outreach, code, stored):
    assert post_status(api_client, callback("undelivered", ErrorCode=code)).status_code == 204
    assert _state(sent_outreach) == ("failed", stored, "undelivered")


def test_unreachable_handset_is_tried_again_later_with_a_new_message(api_client, sent_outreach):
    assert post_status(api_client, callback("undelivered", ErrorCode="30003")).status_code == 204
    with session_scope() as session:
        row = session.get(PlannedOutreach, sent_outreach)
        assert (row.state, row.attempts, row.error_code) == ("planned", 1, "30003")
        assert row.next_attempt_at > datetime.now(UTC) and row.twilio_sid is None and row.message_id is None
    assert _delivery() == "undelivered"  # that message stays what it was


def test_a_landline_is_flagged_for_staff(api_client, sent_outreach):
    post_status(api_client, callback("undelivered", ErrorCode="30006"))
    assert _state(sent_outreach)[:2] == ("failed", "30006")
    with session_scope() as session:
        assert (
            session.scalars(select(AuditEvent).filter_by(action="phone.flagged")).one().details["error_code"] == 30006
        )
        assert session.scalars(select(Handoff).filter_by(reason="invalid_number")).one().status == "open"


def test_an_unknown_sid_is_acknowledged_and_nothing_is_stored(api_client, sent_outreach):
    with session_scope() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
    response = post_status(api_client, callback("delivered", sid="SM" + "f" * 32))
    assert response.status_code == 204 and response.content == b""
    assert _state(sent_outreach) == ("sent", None, "queued")
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_staff_reply_without_an_outreach_row_gets_its_status_too(api_client, sent_outreach):
    with session_scope() as session:
        session.execute(delete(PlannedOutreach))
    post_status(api_client, callback("delivered"))
    assert _delivery() == "delivered"


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
def test_missing_fields_are_400(api_client, sent_outreach, missing):
    params = callback("delivered")
    del params[missing]
    assert post_status(api_client, params).status_code == 400
    assert _state(sent_outreach) == ("sent", None, "queued")


def test_a_bad_signature_is_403_and_changes_nothing(api_client, sent_outreach):
    assert post_status(api_client, callback("delivered"), signature="not-a-signature").status_code == 403
    assert api_client.post(PATH, data=callback("delivered")).status_code == 403
    assert _state(sent_outreach) == ("sent", None, "queued")


def test_21610_in_a_callback_records_the_opt_out(api_client, sent_outreach):
    post_status(api_client, callback("failed", ErrorCode="21610"))
    with session_scope() as session:
        event = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert (event.phone, event.consented, event.source) == ("+13125550145", False, "twilio:21610")
