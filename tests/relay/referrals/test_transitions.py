"""Referral status changes: the allowed moves, what happens to the appointment, the audit trail, the re-plan."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEvent, BookedSlot, PlannedOutreach, Referral
from relay.outreach.reconcile import replan_referral
from relay.referrals.transitions import (
    TRANSITIONS,
    InvalidTransition,
    allowed_transitions,
    change_referral_status,
)
from relay.scheduling.booking import book_slot, live_appointment
from tests.relay.outreach.helpers import NOW, free_slots, plan, referral, rows


def change(session, ref: Referral, status: str, *, now=NOW, **kwargs) -> Referral:
    return change_referral_status(session, referral=ref, status=status, now=now, actor="api", **kwargs)


def status_events(session, ref: Referral) -> list[dict]:
    return [
        e.details
        for e in session.scalars(
            select(AuditEvent).filter_by(referral_id=ref.id, action="referral.status_changed").order_by(AuditEvent.id)
        )
    ]


def test_the_transition_table():
    assert TRANSITIONS["completed"] == TRANSITIONS["declined"] == ()
    assert set(TRANSITIONS["received"]) == {"authorization_pending", "ready_to_schedule", "declined", "cancelled"}
    assert set(TRANSITIONS["scheduled"]) == {"completed", "no_show", "cancelled", "ready_to_schedule"}


def test_an_invalid_transition_lists_the_allowed_ones_and_changes_nothing(db_session):
    priya = referral(db_session, "RF-2012")  # received
    with pytest.raises(InvalidTransition) as raised:
        change(db_session, priya, "completed")
    assert raised.value.allowed == ("authorization_pending", "ready_to_schedule", "declined", "cancelled")
    assert (raised.value.current, raised.value.requested) == ("received", "completed")
    assert priya.status == "received" and status_events(db_session, priya) == []


def test_final_statuses_stay_final(db_session):
    linda = referral(db_session, "RF-2004")
    with pytest.raises(InvalidTransition, match="final") as raised:
        change(db_session, linda, "ready_to_schedule")
    assert raised.value.allowed == ()


def test_scheduled_needs_an_appointment(db_session):
    aisha = referral(db_session, "RF-2002")  # ready to schedule, nothing booked
    assert "scheduled" not in allowed_transitions(db_session, aisha)
    with pytest.raises(InvalidTransition, match="booking an appointment") as raised:
        change(db_session, aisha, "scheduled")
    assert raised.value.allowed == ("cancelled",)


def test_authorization_approved_makes_a_referral_ready_and_invites_the_patient(db_session):
    robert = referral(db_session, "RF-2003")
    replan_referral(db_session, referral=robert, now=NOW - timedelta(hours=1))  # "we are asking Blue Cross..."
    change(
        db_session,
        robert,
        "ready_to_schedule",
        authorization={"status": "approved", "reference": "PA-77120", "submitted_on": "2026-01-05"},
    )
    assert robert.status == "ready_to_schedule"
    assert (robert.authorization_status, robert.authorization_reference, robert.authorization_submitted_on) == (
        "approved", "PA-77120", date(2026, 1, 5),
    )  # fmt: skip
    assert status_events(db_session, robert) == [
        {"from": "authorization_pending", "to": "ready_to_schedule", "authorization_status": "approved"}
    ]
    assert plan(db_session, robert) == [
        ("status_update:ack", "cancelled", "superseded"),  # the "we are asking" text had not gone yet
        ("scheduling_invite:invite", "planned", None),
        ("scheduling_nudge:2d", "planned", None),
        ("scheduling_nudge:5d", "planned", None),
        ("leakage_handoff:7d", "planned", None),
    ]
    invite = next(r for r in rows(db_session, robert) if r.kind == "scheduling_invite")
    assert invite.due_at == NOW and invite.idempotency_key.endswith(f"@{NOW.isoformat()}")


def test_a_denied_authorization_declines(db_session):
    robert = referral(db_session, "RF-2003")
    with pytest.raises(InvalidTransition, match="denied"):
        change(db_session, robert, "ready_to_schedule", authorization={"status": "denied"})
    change(db_session, robert, "declined", authorization={"status": "denied"})
    assert (robert.status, robert.authorization_status) == ("declined", "denied")
    assert [state for _, state, _ in plan(db_session, robert)] == []


def test_resending_the_current_status_only_updates_the_authorization(db_session):
    robert = referral(db_session, "RF-2003")
    change(db_session, robert, "authorization_pending", authorization={"reference": "PA-99999"})
    assert (robert.status, robert.authorization_reference, robert.authorization_status) == (
        "authorization_pending", "PA-99999", "pending",
    )  # fmt: skip
    assert status_events(db_session, robert) == []
    change(db_session, robert, "authorization_pending")  # an EHR retry: nothing new
    assert [k for k, _, _ in plan(db_session, robert)] == ["status_update:ack"]


def test_completed_closes_the_appointment_frees_the_slot_and_asks_for_a_review(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    after_visit = appointment.start_at + timedelta(hours=1)

    change(db_session, james, "completed", now=after_visit)

    assert (james.status, appointment.status) == ("completed", "completed")
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).all() == []
    review = next(r for r in rows(db_session, james) if r.kind == "review_request")
    assert review.due_at == appointment.start_at + timedelta(minutes=appointment.duration_minutes, hours=2)
    assert (review.state, review.appointment_id) == ("planned", appointment.id)
    assert not [r for r in rows(db_session, james) if r.kind == "reminder" and r.state == "planned"]
    actions = [
        e.action for e in db_session.scalars(select(AuditEvent).filter_by(referral_id=james.id).order_by(AuditEvent.id))
    ]
    assert actions[-2:] == ["appointment.completed", "referral.status_changed"]


def test_no_show_marks_the_appointment_and_follows_up(db_session):
    kevin = referral(db_session, "RF-2010")
    appointment = live_appointment(db_session, referral=kevin)
    change(db_session, kevin, "no_show", now=appointment.start_at + timedelta(hours=1))
    assert appointment.status == "no_show"
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).all() == []
    assert [k for k, state, _ in plan(db_session, kevin) if state == "planned"] == ["no_show_followup:followup"]


def test_cancelled_by_the_clinic_frees_the_slot_and_offers_one_rebooking(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    change(db_session, james, "cancelled")
    assert (james.status, appointment.status) == ("cancelled", "cancelled")
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).all() == []
    offers = [r for r in rows(db_session, james) if r.kind == "rebook_offer"]
    assert [(r.state, r.due_at) for r in offers] == [("planned", NOW)]
    change(db_session, james, "cancelled")  # repeated: still one offer
    assert len([r for r in rows(db_session, james) if r.kind == "rebook_offer"]) == 1


def test_back_to_ready_to_schedule_cancels_the_appointment_and_starts_a_fresh_campaign(db_session):
    aisha = referral(db_session, "RF-2002")
    change(db_session, aisha, "cancelled")
    change(db_session, aisha, "ready_to_schedule", now=NOW + timedelta(minutes=5))
    first_campaign = {r.idempotency_key for r in rows(db_session, aisha) if r.kind == "scheduling_invite"}
    appointment = book_slot(
        db_session,
        referral=aisha,
        start_at=free_slots(db_session, aisha.specialist_id, 1)[0],
        now=NOW + timedelta(minutes=10),
        actor="bot",
    )

    change(db_session, aisha, "ready_to_schedule", now=NOW + timedelta(days=1))

    assert appointment.status == "cancelled"
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).all() == []
    invites = [r for r in rows(db_session, aisha) if r.kind == "scheduling_invite"]
    assert len(invites) == 2 and {r.idempotency_key for r in invites} > first_campaign
    assert [r.state for r in invites] == ["cancelled", "planned"]
    reminders = [r for r in rows(db_session, aisha) if r.kind in ("confirmation", "reminder")]
    assert reminders and all(r.state in ("cancelled", "skipped") for r in reminders)
    # The clinic moved it back to be scheduled: no "your visit was cancelled" text.
    assert not [r for r in rows(db_session, aisha) if r.kind == "rebook_offer" and r.state == "planned"]


def test_a_patient_who_no_showed_and_rebooked_can_be_marked_scheduled(db_session):
    grace = referral(db_session, "RF-2008")  # no_show
    assert "scheduled" not in allowed_transitions(db_session, grace)
    book_slot(
        db_session, referral=grace, start_at=free_slots(db_session, grace.specialist_id, 1)[0], now=NOW, actor="bot"
    )
    assert grace.status == "scheduled"  # booking sets it; the EHR catching up changes nothing
    change(db_session, grace, "scheduled")
    assert grace.status == "scheduled"
    followups = [r for r in rows(db_session, grace) if r.kind == "no_show_followup"]
    assert all(r.state == "cancelled" for r in followups)


def test_unknown_statuses_and_authorization_fields_are_refused(db_session):
    robert = referral(db_session, "RF-2003")
    with pytest.raises(InvalidTransition, match="not a referral status"):
        change(db_session, robert, "lost")
    with pytest.raises(ValueError, match="unknown authorization fields"):
        change(db_session, robert, "ready_to_schedule", authorization={"payer": "x"})
    assert db_session.scalars(select(PlannedOutreach).filter_by(referral_id=robert.id)).all() == []
