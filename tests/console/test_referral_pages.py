"""The referral pages: search, one referral's page, status changes and booking through the real app and database."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    BookedSlot,
    OutreachKind,
    OutreachState,
    Patient,
    PlannedOutreach,
    Referral,
    ReferralStatus,
)
from relay.models.outreach import PENDING_STATES
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records import conversations
from relay.scheduling.booking import book_slot
from tests.console.support import Clock, csrf_of, sign_in
from tests.support import DEMO_TZ, demo_moment

# Every test here commits through the console: start from, and leave, a clean demo clinic.
pytestmark = pytest.mark.usefixtures("fresh_demo")

ZONE = ZoneInfo(DEMO_TZ)
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def clock() -> Clock:
    """The demo clinic is seeded relative to today; the console's clock is today at noon, mid TOTP step."""
    return Clock(demo_moment(0, "12:00") + timedelta(seconds=10))


@pytest.fixture
def staff(console, account, clock):
    sign_in(console, account, clock)
    return console


# --- helpers ------------------------------------------------------------------------------------------


def listed(page: str) -> set[str]:
    return set(re.findall(r'data-referral="([^"]+)"', page))


def slots_of(page: str) -> list[datetime]:
    return [datetime.fromisoformat(value) for value in re.findall(r'name="slot" value="([^"]+)"', page)]


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field"
    return match.group(1)


def options_of(page: str) -> set[str]:
    select_html = re.search(r'<select id="new-status".*?</select>', page, re.S)
    assert select_html
    return set(re.findall(r'<option value="([^"]+)"', select_html.group(0)))


def referral(external_id: str) -> Referral:
    with session_scope() as session:
        found = session.scalars(select(Referral).filter_by(external_id=external_id)).one()
        _ = found.appointments  # loaded while the session is open
        return found


def live_of(external_id: str) -> Appointment | None:
    appointments = [a for a in referral(external_id).appointments if a.status in ("scheduled", "confirmed")]
    return appointments[-1] if appointments else None


def live(external_id: str) -> Appointment:
    appointment = live_of(external_id)
    assert appointment is not None, f"{external_id} has no live appointment"
    return appointment


def outreach(**where) -> list[PlannedOutreach]:
    with session_scope() as session:
        return list(session.scalars(select(PlannedOutreach).filter_by(**where)))


def pending_reminders(appointment_id: int) -> set[datetime]:
    rows = outreach(appointment_id=appointment_id, kind=OutreachKind.REMINDER)
    return {row.due_at for row in rows if row.state in PENDING_STATES}


def events(action: str, **where) -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent).filter_by(action=action, **where)))


def views(actor_id: int, page: str) -> list[AuditEvent]:
    return [e for e in events("console.viewed", actor=f"staff:{actor_id}") if e.details.get("page") == page]


def patient_id(mrn: str) -> int:
    with session_scope() as session:
        return session.scalars(select(Patient.id).filter_by(mrn=mrn)).one()


def plan_outreach(external_id: str, now: datetime) -> None:
    """What the worker's sweep does for the seeded demo (the seed plans nothing): plan the referral's outreach."""
    with session_scope() as session:
        found = session.scalars(select(Referral).filter_by(external_id=external_id)).one()
        for appointment in found.appointments:
            replan_appointment(session, appointment=appointment, now=now)
        replan_referral(session, referral=found, now=now)


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


# --- search ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("carter", {"RF-2001"}),  # a name, partial and in any case
        ("JAMES car", {"RF-2001"}),  # every word of it, in any order
        ("(312) 555-0146", {"RF-2002"}),  # a phone as the front desk types it
        ("312.555.0146", {"RF-2002"}),
        ("+1 312 555 0147", {"RF-2003"}),
        ("0148", {"RF-2004"}),  # the last 4 digits of a phone
        ("rfh-100049", {"RF-2005"}),  # an MRN
        ("RF-2006", {"RF-2006"}),  # a referral id
        ("kevin murphy", {"RF-2009", "RF-2010"}),  # a patient with two referrals: both
    ],
)
def test_search_finds_referrals_by_name_phone_mrn_or_id(staff, query, expected):
    page = staff.get("/console/referrals", params={"q": query})
    assert page.status_code == 200
    assert listed(page.text) == expected


def test_search_shows_the_minimum_and_masks_phones(staff, account):
    page = staff.get("/console/referrals", params={"q": "James Carter"})
    assert "RFH-100045" in page.text and "cardiology" in page.text
    assert "(***) ***-0145" in page.text and "555-0145" not in page.text
    assert "1957" not in page.text  # no date of birth
    assert "Chest pain" not in page.text  # the clinical reason is only on the referral's own page


def test_search_results_are_audited_one_event_per_patient_shown(staff, account):
    staff.get("/console/referrals", params={"q": "kevin"})
    staff.get("/console/referrals", params={"q": "nobody by this name"})
    seen = views(account.id, "referral_search")
    assert [e.patient_id for e in seen] == [patient_id("RFH-100053")]  # two referrals, one patient; none for no match


def test_an_empty_search_lists_the_referrals_needing_attention_emergencies_first(staff):
    page = staff.get("/console/referrals")
    assert page.status_code == 200
    assert listed(page.text) == {"RF-2002", "RF-2003", "RF-2007", "RF-2008", "RF-2012"}
    assert page.text.index('data-referral="RF-2012"') < page.text.index('data-referral="RF-2002"')


def test_an_unknown_referral_is_404_with_the_search_box(staff):
    page = staff.get("/console/referrals/RF-9999")
    assert page.status_code == 404
    assert "no referral with the id" in page.text.lower() and 'name="q"' in page.text


def test_the_pages_need_a_signed_in_staff_member(console):
    for url in ("/console/referrals", "/console/referrals/RF-2001"):
        response = console.get(url)
        assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"


# --- the referral page -------------------------------------------------------------------------------


def test_the_referral_page_shows_patient_referral_plan_and_appointment_and_is_audited(staff, account, clock):
    plan_outreach("RF-2001", clock.now)
    page = staff.get("/console/referrals/RF-2001")
    assert page.status_code == 200
    text = page.text
    assert "James Carter" in text and "RFH-100045" in text and "(***) ***-0145" in text
    assert "Chest pain on exertion" in text  # the clinical reason, for staff
    assert "Dr. Helen Moore" in text and "Dr. Amara Okafor" in text
    assert "Booked, not yet confirmed" in text
    start = live("RF-2001").start_at
    assert f'datetime="{start.isoformat()}"' in text
    assert "Appointment reminder" in text  # the outreach plan
    assert "Receives texts" in text and "English" in text

    staff.get("/console/referrals/RF-2001")
    seen = views(account.id, "referral")
    assert len(seen) == 2  # every view, not deduplicated
    assert {(e.patient_id, e.referral_id) for e in seen} == {(patient_id("RFH-100045"), referral("RF-2001").id)}


def test_an_opted_out_patient_is_shown_as_such(staff):
    page = staff.get("/console/referrals/RF-2007")
    assert "Opted out" in page.text


def test_messages_are_escaped_and_an_open_handoff_is_linked(staff):
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone="+13125550145")
        conversations.record_message(session, conversation=conversation, direction="inbound", channel="sms",
                                     author="patient", body=SCRIPT)  # fmt: skip
        handoff_id = open_handoff(session, conversation=conversation, reason="patient_request").id
    page = staff.get("/console/referrals/RF-2001")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert SCRIPT not in page.text
    assert f'href="/console/handoffs/{handoff_id}"' in page.text


# --- status ------------------------------------------------------------------------------------------


def test_staff_change_the_status_and_the_outreach_is_re_planned(staff, account):
    page = staff.get("/console/referrals/RF-2003")
    assert options_of(page.text) == {"ready_to_schedule", "declined", "cancelled"}
    response = staff.post(
        "/console/referrals/RF-2003/status",
        data={"status": "ready_to_schedule", "expected": "authorization_pending", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/referrals/RF-2003?done=status"
    assert referral("RF-2003").status == ReferralStatus.READY_TO_SCHEDULE
    changed = events("referral.status_changed", referral_id=referral("RF-2003").id)
    assert [(e.actor, e.details["to"]) for e in changed] == [(f"staff:{account.id}", "ready_to_schedule")]
    # The invitation to book, as the API's change plans it.
    kinds = {row.kind for row in outreach(referral_id=referral("RF-2003").id) if row.state in PENDING_STATES}
    assert OutreachKind.SCHEDULING_INVITE in kinds

    after = staff.get(response.headers["location"])
    assert "now ready to book" in after.text
    assert "Waiting for insurance approval to Ready to book" in after.text and account.name in after.text


def test_a_status_the_referral_cannot_take_is_refused_in_words_and_nothing_changes(staff):
    page = staff.get("/console/referrals/RF-2002")
    assert options_of(page.text) == {"cancelled"}  # booked only by booking: no live appointment
    response = staff.post(
        "/console/referrals/RF-2002/status",
        data={"status": "completed", "expected": "ready_to_schedule", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 409
    assert "can&#39;t go from ready_to_schedule to completed" in response.text
    assert "it can become: cancelled" in response.text
    assert 'aria-describedby="status-hint status-error"' in response.text
    assert referral("RF-2002").status == ReferralStatus.READY_TO_SCHEDULE
    assert events("referral.status_changed", referral_id=referral("RF-2002").id) == []


def test_a_status_change_from_a_stale_page_is_refused(staff):
    page = staff.get("/console/referrals/RF-2003")
    response = staff.post(
        "/console/referrals/RF-2003/status",
        data={"status": "cancelled", "expected": "received", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 409 and "changed while you had the page open" in response.text
    assert referral("RF-2003").status == ReferralStatus.AUTHORIZATION_PENDING


# --- booking -----------------------------------------------------------------------------------------


def test_staff_book_an_open_slot_for_a_referral(staff, account, clock):
    page = staff.get("/console/referrals/RF-2002")
    offered = slots_of(page.text)
    assert offered and all(slot > clock.now for slot in offered)
    assert all(local(slot).weekday() in (1, 3, 4) for slot in offered)  # Dr. Park: Tue, Thu, Fri
    assert "Book this time" in page.text
    chosen = offered[0]
    response = staff.post(
        "/console/referrals/RF-2002/book",
        data={"slot": chosen.isoformat(), "current": field(page.text, "current"), "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303 and response.headers["location"].endswith("?done=booked")
    booked = live("RF-2002")
    assert booked.start_at == chosen
    assert referral("RF-2002").status == ReferralStatus.SCHEDULED
    assert [e.actor for e in events("appointment.booked", referral_id=referral("RF-2002").id)] == [
        f"staff:{account.id}"
    ]
    assert pending_reminders(booked.id)  # the reminders are planned
    after = staff.get(response.headers["location"])
    assert "Booked for" in after.text and chosen not in slots_of(after.text)


def test_moving_an_appointment_moves_its_reminders(staff, clock):
    plan_outreach("RF-2001", clock.now)
    before = live("RF-2001")
    old_reminders = pending_reminders(before.id)
    assert old_reminders
    page = staff.get("/console/referrals/RF-2001")
    assert "Move the appointment here" in page.text
    today = local(clock.now).date()
    # An afternoon slot at least five days out: every reminder (3 days, 1 day, 2 hours before) is still ahead.
    chosen = next(s for s in slots_of(page.text) if (local(s).date() - today).days >= 5 and local(s).hour == 14)
    response = staff.post(
        "/console/referrals/RF-2001/book",
        data={"slot": chosen.isoformat(), "current": field(page.text, "current"), "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303 and response.headers["location"].endswith("?done=moved")
    moved = live("RF-2001")
    assert (moved.id, moved.start_at, moved.version) == (before.id, chosen, before.version + 1)
    day = local(chosen).date()
    expected = {
        datetime.combine(day - timedelta(days=3), datetime.min.time().replace(hour=10), tzinfo=ZONE).astimezone(UTC),
        datetime.combine(day - timedelta(days=1), datetime.min.time().replace(hour=10), tzinfo=ZONE).astimezone(UTC),
        chosen - timedelta(hours=2),
    }
    assert pending_reminders(moved.id) == expected
    # The old times' rows that the new plan does not share are cancelled.
    superseded = {
        row.due_at
        for row in outreach(appointment_id=moved.id, kind=OutreachKind.REMINDER, state=OutreachState.CANCELLED)
    }
    assert old_reminders - expected and old_reminders - expected <= superseded
    with session_scope() as session:  # the old slot is free, the new one held
        held = set(session.scalars(select(BookedSlot.start_at).filter_by(appointment_id=moved.id)))
    assert held == {chosen}
    assert "The reminders moved with it" in staff.get(response.headers["location"]).text


def test_a_slot_taken_meanwhile_is_refused_and_nothing_changes(staff, clock):
    page = staff.get("/console/referrals/RF-2002")
    wanted = slots_of(page.text)[0]
    with session_scope() as session:  # someone else (the bot, for Kevin's dermatology visit) takes it first
        kevins = session.scalars(select(Referral).filter_by(external_id="RF-2010")).one()
        book_slot(session, referral=kevins, start_at=wanted, now=clock.now, actor="bot")
    response = staff.post(
        "/console/referrals/RF-2002/book",
        data={"slot": wanted.isoformat(), "current": field(page.text, "current"), "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 409
    assert "That time was just taken; choose another." in response.text
    assert wanted not in slots_of(response.text)
    assert live_of("RF-2002") is None and referral("RF-2002").status == ReferralStatus.READY_TO_SCHEDULE
    assert events("appointment.booked", referral_id=referral("RF-2002").id) == []


def test_booking_without_choosing_a_time_is_refused(staff):
    page = staff.get("/console/referrals/RF-2002")
    response = staff.post(
        "/console/referrals/RF-2002/book", data={"current": field(page.text, "current"), "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 422 and "Choose a time from the list." in response.text
    assert live_of("RF-2002") is None


def test_booking_from_a_stale_page_is_refused(staff, clock):
    page = staff.get("/console/referrals/RF-2001")
    offered = slots_of(page.text)
    with session_scope() as session:  # the patient moves it by text meanwhile
        james = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        book_slot(session, referral=james, start_at=offered[1], now=clock.now, actor="bot")
    response = staff.post(
        "/console/referrals/RF-2001/book",
        data={"slot": offered[0].isoformat(), "current": field(page.text, "current"), "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 409 and "changed while you had the page open" in response.text
    assert live("RF-2001").start_at == offered[1]


def test_staff_book_an_emergency_referral_that_the_bot_would_not(staff, clock):
    """The bot never lets a patient book an emergency referral; staff book it, calling the patient."""
    page = staff.get("/console/referrals/RF-2012")
    assert page.status_code == 200 and "call the patient now" in page.text
    offered = slots_of(page.text)
    assert offered, "staff must be offered slots for an emergency referral"
    booked = staff.post("/console/referrals/RF-2012/book",
                        data={"slot": offered[0].isoformat(), "current": field(page.text, "current"),
                              "csrf_token": csrf_of(page)})  # fmt: skip
    assert booked.status_code == 303, booked.text
    assert live("RF-2012").start_at == offered[0]


def test_the_slot_list_can_start_from_a_later_date(staff, clock):
    later = local(clock.now).date() + timedelta(days=30)
    page = staff.get("/console/referrals/RF-2002", params={"from": later.isoformat()})
    assert page.status_code == 200
    offered = slots_of(page.text)
    assert offered and all(later <= local(s).date() < later + timedelta(days=14) for s in offered)
    bad = staff.get("/console/referrals/RF-2002", params={"from": "next tuesday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text and 'aria-describedby="from-error"' in bad.text


def chooser_tag(page: str) -> str:
    match = re.search(r'<details class="booking" id="book"[^>]*>', page)
    assert match, "no time chooser"
    return match.group(0)


def test_the_time_chooser_is_folded_while_an_appointment_stands_and_the_cancellation_comes_last(staff, clock):
    booked = staff.get("/console/referrals/RF-2001").text
    assert " open" not in chooser_tag(booked)  # two weeks of slots stay out of the way
    assert booked.index('id="book-heading">Move to another time<') < booked.index("Cancel the appointment")
    assert booked.index("Cancel the appointment") < booked.index('id="outreach"')

    assert " open" in chooser_tag(staff.get("/console/referrals/RF-2002").text)  # nothing booked yet: open
    later = (local(clock.now).date() + timedelta(days=14)).isoformat()
    assert " open" in chooser_tag(staff.get("/console/referrals/RF-2001", params={"from": later}).text)  # asked for
    refused = staff.post(
        "/console/referrals/RF-2001/book",
        data={"current": field(booked, "current"), "csrf_token": csrf_of(staff.get("/console/referrals/RF-2001"))},
    )
    assert refused.status_code == 422 and " open" in chooser_tag(refused.text)  # the error is shown, not folded


def test_the_outreach_plan_shows_the_live_plan_and_folds_what_was_superseded(staff, clock):
    plan_outreach("RF-2001", clock.now)
    page = staff.get("/console/referrals/RF-2001")
    chosen = next(s for s in slots_of(page.text) if (local(s).date() - local(clock.now).date()).days >= 5)
    staff.post(
        "/console/referrals/RF-2001/book",
        data={"slot": chosen.isoformat(), "current": field(page.text, "current"), "csrf_token": csrf_of(page)},
    )
    text = staff.get("/console/referrals/RF-2001?done=moved").text
    assert '(see <a href="#outreach">Outreach plan</a>).' in text

    plan = text[text.index('id="outreach"') : text.index('id="history"')]
    live_part, _, earlier = plan.partition('<details class="earlier-plans">')
    folded = re.findall(r'class="outreach-(cancelled|skipped)"', earlier)
    assert folded and f"Earlier plans ({len(folded)})" in earlier
    assert "outreach-planned" in live_part and not re.search(r"outreach-(cancelled|skipped)", live_part)
    assert ">Sent<" not in live_part  # nothing was sent yet: no empty column


# --- cancel ------------------------------------------------------------------------------------------


def test_cancelling_needs_the_confirmation_then_cancels_and_frees_the_slot(staff, account, clock):
    plan_outreach("RF-2001", clock.now)
    page = staff.get("/console/referrals/RF-2001")
    appointment = live("RF-2001")
    token = field(page.text, "appointment")
    assert token == f"{appointment.id}:{appointment.version}"

    unconfirmed = staff.post(
        "/console/referrals/RF-2001/cancel", data={"appointment": token, "csrf_token": csrf_of(page)}
    )
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    assert live_of("RF-2001") is not None

    response = staff.post(
        "/console/referrals/RF-2001/cancel", data={"appointment": token, "confirm": "yes", "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 303 and response.headers["location"].endswith("?done=cancelled")
    assert live_of("RF-2001") is None
    assert referral("RF-2001").status == ReferralStatus.CANCELLED
    with session_scope() as session:
        cancelled = session.get_one(Appointment, appointment.id)
        assert cancelled.status == AppointmentStatus.CANCELLED
        held = session.scalars(select(BookedSlot.id).filter_by(appointment_id=appointment.id)).all()
        assert held == []
    assert pending_reminders(appointment.id) == set()
    assert [e.actor for e in events("appointment.cancelled", referral_id=referral("RF-2001").id)] == [
        f"staff:{account.id}"
    ]


# --- CSRF --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("status", {"status": "cancelled"}),
        ("book", {"slot": "2030-01-01T15:00:00+00:00", "current": "none"}),
        ("cancel", {"confirm": "yes"}),
    ],
)
def test_a_change_without_the_csrf_token_is_refused(staff, action, data):
    before = live("RF-2001")
    response = staff.post(f"/console/referrals/RF-2001/{action}", data=data)
    assert response.status_code == 403
    wrong = staff.post(f"/console/referrals/RF-2001/{action}", data=data | {"csrf_token": "not-the-token"})
    assert wrong.status_code == 403
    assert referral("RF-2001").status == ReferralStatus.SCHEDULED
    assert live("RF-2001").start_at == before.start_at
