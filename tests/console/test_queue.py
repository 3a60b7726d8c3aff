"""The console's home page: the open handoffs, most urgent then longest waiting, in plain words, audited."""

import re
from datetime import timedelta

from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import AuditEvent, Conversation, Handoff, HandoffPriority, HandoffStatus, Patient, Referral
from relay.records import conversations
from tests.console.support import Clock, make_account, sign_in

JAMES, AISHA, TOM, UNKNOWN = "+13125550145", "+13125550146", "+13125550151", "+13125550199"
SCRIPT = "<script>alert(1)</script>"


def _handoff(phone: str, *, reason: str, priority: HandoffPriority, opened_at, **values) -> int:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        handoff = open_handoff(session, conversation=conversation, reason=reason, priority=priority, now=opened_at)
        for name, value in values.items():
            setattr(handoff, name, value)
        return handoff.id


def _row_ids(page: str) -> list[int]:
    return [int(value) for value in re.findall(r'data-handoff="(\d+)"', page)]


def _rows(page: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(r'data-handoff="(\d+)">(.*?)</tr>', page, re.S)}


def _referral_of(phone: str) -> Referral:
    with session_scope() as session:
        patient = session.scalars(select(Patient).filter_by(phone=phone)).one()
        return session.scalars(select(Referral).filter_by(patient_id=patient.id)).first()


def test_the_queue_lists_open_handoffs_by_priority_then_waiting_time(console, account, clock: Clock):
    claimer = make_account(clock, email="kim@clinic.example", name="Kim Park")
    now = clock.now
    james_referral = _referral_of(JAMES)
    normal_old = _handoff(JAMES, reason="patient_request", priority=HandoffPriority.NORMAL,
                          opened_at=now - timedelta(hours=3, minutes=5), referral_id=james_referral.id,
                          assigned_to_id=claimer.id)  # fmt: skip
    urgent_new = _handoff(AISHA, reason="emergency_medical", priority=HandoffPriority.URGENT,
                          opened_at=now - timedelta(minutes=2))  # fmt: skip
    normal_new = _handoff(UNKNOWN, reason="something_new", priority=HandoffPriority.NORMAL,
                          opened_at=now - timedelta(minutes=40))  # fmt: skip
    high = _handoff(TOM, reason="verification_locked", priority=HandoffPriority.HIGH,
                    opened_at=now - timedelta(minutes=10))  # fmt: skip
    resolved = _handoff("+13125550147", reason="patient_request", priority=HandoffPriority.URGENT,
                        opened_at=now - timedelta(hours=5), status=HandoffStatus.RESOLVED)  # fmt: skip

    sign_in(console, account, clock)
    page = console.get("/console/")
    assert page.status_code == 200
    assert _row_ids(page.text) == [urgent_new, high, normal_old, normal_new]
    assert resolved not in _row_ids(page.text)
    rows = _rows(page.text)
    assert "Emergency: described a medical emergency" in rows[urgent_new] and "2 min" in rows[urgent_new]
    assert "Date of birth failed three times" in rows[high]
    assert "Asked for a person" in rows[normal_old] and "3 h 5 min" in rows[normal_old]
    assert james_referral.external_id in rows[normal_old] and "Kim Park" in rows[normal_old]
    assert "James Carter" in rows[normal_old] and "Nobody yet" in rows[urgent_new]
    assert "Other: something new" in rows[normal_new]  # a code the console does not know yet still reads
    assert 'Unknown number <span class="nowrap">(***) ***-0199</span>' in rows[normal_new]  # never split
    assert "555" not in rows[normal_new]


def test_every_reason_code_in_the_code_base_has_plain_words():
    from console.queue import REASONS

    codes = {"emergency_referral", "insurance_not_accepted", "invalid_number", "patient_request", "rasa_unavailable",
             "referral_leakage", "repeated_misunderstanding", "send_unconfirmed", "service_recovery",
             "verification_locked", "voice_not_understood", "voice_transfer_unanswered", "emergency_medical",
             "emergency_mental_health", "voice_rasa_timeout"}  # fmt: skip
    assert codes <= REASONS.keys()
    assert all("_" not in words for words in REASONS.values())


def test_a_patient_name_is_shown_as_text_never_as_markup(console, account, clock):
    with session_scope() as session:
        session.scalars(select(Patient).filter_by(phone=JAMES)).one().name = SCRIPT
    _handoff(JAMES, reason="patient_request", priority=HandoffPriority.NORMAL, opened_at=clock.now)
    sign_in(console, account, clock)
    page = console.get("/console/").text
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_viewing_the_queue_writes_one_audit_event_per_patient_shown(console, account, clock):
    for phone, minutes in ((JAMES, 30), (AISHA, 20), (UNKNOWN, 10)):
        _handoff(phone, reason="patient_request", priority=HandoffPriority.NORMAL,
                 opened_at=clock.now - timedelta(minutes=minutes))  # fmt: skip
    sign_in(console, account, clock)
    assert console.get("/console/").status_code == 200
    with session_scope() as session:
        events = session.scalars(select(AuditEvent).filter_by(action="console.viewed")).all()
        shown = {
            handoff.conversation.patient_id
            for handoff in session.scalars(select(Handoff).filter_by(status=HandoffStatus.OPEN))
            if handoff.conversation.patient_id is not None
        }
        unknown = session.scalars(select(Conversation).filter_by(phone=UNKNOWN)).one()
    assert len(shown) == 2 and unknown.patient_id is None
    assert sorted(event.patient_id for event in events) == sorted(shown)
    assert all(event.actor == f"staff:{account.id}" and event.details["page"] == "queue" for event in events)
    assert all(event.at == clock.now for event in events)


def test_an_empty_queue_says_so(console, account, clock):
    sign_in(console, account, clock)
    page = console.get("/console/")
    assert "No one is waiting" in page.text and 'data-handoff="' not in page.text


def test_each_row_opens_its_takeover_page_and_ones_own_claim_reads_you(console, account, clock):
    mine = _handoff(JAMES, reason="patient_request", priority=HandoffPriority.NORMAL,
                    opened_at=clock.now - timedelta(minutes=5), assigned_to_id=account.id)  # fmt: skip
    other = _handoff(AISHA, reason="patient_request", priority=HandoffPriority.NORMAL,
                     opened_at=clock.now - timedelta(minutes=4))  # fmt: skip
    sign_in(console, account, clock)
    rows = _rows(console.get("/console/").text)
    assert f'href="/console/handoffs/{mine}"' in rows[mine] and f'href="/console/handoffs/{other}"' in rows[other]
    assert ">You<" in rows[mine] and "Nobody yet" in rows[other]


def test_the_queue_refreshes_itself_without_writing_an_audit_event_per_refresh(console, account, clock):
    _handoff(JAMES, reason="patient_request", priority=HandoffPriority.NORMAL, opened_at=clock.now)
    sign_in(console, account, clock)
    page = console.get("/console/").text
    assert 'id="queue-live"' in page and 'hx-get="/console/queue/rows"' in page and 'hx-trigger="every 3s"' in page
    for _ in range(4):
        clock.advance(seconds=3)
        rows = console.get("/console/queue/rows", headers={"HX-Request": "true"})
        assert rows.status_code == 200 and "1 open" in rows.text
    _handoff(AISHA, reason="emergency_medical", priority=HandoffPriority.URGENT, opened_at=clock.now)
    rows = console.get("/console/queue/rows", headers={"HX-Request": "true"}).text
    assert "2 open" in rows and "Aisha Khan" in rows
    with session_scope() as session:
        events = session.scalars(select(AuditEvent).filter_by(action="console.viewed")).all()
    assert len(events) == 2  # James once (page, then refreshes), Aisha once when she appeared


def test_after_resolving_the_queue_says_so(console, account, clock):
    sign_in(console, account, clock)
    assert "back with the bot" in console.get("/console/?done=resolved").text
    assert "back with the bot" not in console.get("/console/?done=anything").text
