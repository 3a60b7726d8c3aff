"""Load the demo clinic file into the database exactly, and idempotently (`relay seed-demo`).

The file is read and checked whole first (relay.demo.demo_file); each row is
then inserted, or only its differing values set, so a second run is a no-op.
"""

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.core.phones import to_e164
from relay.demo.demo_file import (
    WEEKDAYS,
    AppointmentEntry,
    DemoClock,
    PatientEntry,
    SpecialistEntry,
    default_demo_file,
    read_demo_file,
)
from relay.models import (
    Appointment,
    BookedSlot,
    Clinic,
    ConsentEvent,
    Faq,
    Patient,
    Referral,
    ReferringProvider,
    Specialist,
    WeeklyAvailability,
)
from relay.models.referral import LIVE_APPOINTMENT_STATUSES


def _upsert(session: Session, model: type, lookup: dict[str, Any], values: dict[str, Any]) -> Any:
    """Insert, or set only the values that differ, so a second run is a no-op."""
    row = session.scalars(select(model).filter_by(**lookup)).one_or_none()
    if row is None:
        row = model(**lookup, **values)
        session.add(row)
        session.flush()
        return row
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
    return row


def seed_demo(session: Session, path: Path | None = None, today: date | None = None) -> dict[str, int]:
    """Load the demo file into the session's database; the caller commits."""
    demo = read_demo_file(path or default_demo_file())
    zone = demo.clinic.timezone
    clock = DemoClock(today or datetime.now(ZoneInfo(zone)).date(), zone)
    region = demo.clinic.region

    clinic_entry = demo.clinic
    _upsert(
        session,
        Clinic,
        {"name": clinic_entry.name},
        {
            "region": region,
            "timezone": zone,
            "sms_number": to_e164(clinic_entry.sms_number, region),
            "voice_number": to_e164(clinic_entry.voice_number, region),
            "front_desk_number": to_e164(clinic_entry.front_desk_number, region),
            "address": clinic_entry.address,
            "hours": clinic_entry.hours,
            "quiet_hours_start": clinic_entry.quiet_hours["start"],
            "quiet_hours_end": clinic_entry.quiet_hours["end"],
            "review_url": clinic_entry.review_url,
        },
    )
    providers = {
        p.key: _upsert(session, ReferringProvider, {"key": p.key}, {"name": p.name, "role": p.role})
        for p in demo.referring_providers
    }
    specialists = {spec.key: _seed_specialist(session, spec, region) for spec in demo.specialists}
    for entry in demo.patients:
        _seed_patient(session, entry, region, clock, specialists, providers)
    for slot in demo.busy_slots:
        _upsert(
            session,
            BookedSlot,
            {"specialist_id": specialists[slot.specialist].id, "start_at": clock.moment(slot.at)},
            {"appointment_id": None},
        )
    for faq in demo.faqs:
        _upsert(
            session,
            Faq,
            {"key": faq.key},
            {"question": faq.question, "examples": list(faq.examples), "answer": faq.answer},
        )
    session.flush()
    return {
        "specialists": len(demo.specialists),
        "patients": len(demo.patients),
        "referrals": sum(len(p.referrals) for p in demo.patients),
        "faqs": len(demo.faqs),
    }


def _seed_specialist(session: Session, entry: SpecialistEntry, region: str) -> Specialist:
    specialist = _upsert(
        session,
        Specialist,
        {"key": entry.key},
        {
            "name": entry.name,
            "specialty": entry.specialty,
            "facility": entry.facility,
            "address": entry.address,
            "phone": to_e164(entry.phone, region),
            "insurance_accepted": list(entry.insurance_accepted),
            "prep": entry.prep,
        },
    )
    hours = entry.availability
    wanted = {
        (WEEKDAYS.index(day), time.fromisoformat(hours.start.zfill(5))): (
            time.fromisoformat(hours.end.zfill(5)),
            hours.slot_minutes,
        )
        for day in hours.days
    }
    for block in list(specialist.availability):
        if (block.weekday, block.start_time) not in wanted:
            specialist.availability.remove(block)
    for (weekday, start), (end, minutes) in wanted.items():
        _upsert(
            session,
            WeeklyAvailability,
            {"specialist_id": specialist.id, "weekday": weekday, "start_time": start},
            {"end_time": end, "slot_minutes": minutes},
        )
    return specialist


def _seed_patient(
    session: Session,
    entry: PatientEntry,
    region: str,
    clock: DemoClock,
    specialists: dict[str, Specialist],
    providers: dict[str, ReferringProvider],
) -> None:
    phone = to_e164(entry.phone, region)
    existing = session.scalars(select(Patient).filter_by(mrn=entry.mrn)).one_or_none()
    consent_changed = existing is None or existing.sms_consent != entry.sms_consent
    patient = _upsert(
        session,
        Patient,
        {"mrn": entry.mrn},
        {
            "name": entry.name,
            "phone": phone,
            "dob": entry.dob,
            "language": entry.language,
            "insurance_payer": entry.insurance.payer if entry.insurance else None,
            "insurance_member_id": entry.insurance.member_id if entry.insurance else None,
            "sms_consent": entry.sms_consent,
        },
    )
    if consent_changed:
        now = datetime.now(UTC)
        patient.sms_consent_changed_at = now
        session.add(
            ConsentEvent(patient_id=patient.id, phone=phone, consented=entry.sms_consent, source="seed", at=now)
        )
    for referral_entry in entry.referrals:
        auth = referral_entry.authorization
        referral = _upsert(
            session,
            Referral,
            {"external_id": referral_entry.id},
            {
                "patient_id": patient.id,
                "specialist_id": specialists[referral_entry.specialist].id,
                "referring_provider_id": providers[referral_entry.referred_by].id
                if referral_entry.referred_by
                else None,
                "type": referral_entry.type,
                "status": referral_entry.status,
                "priority": referral_entry.priority,
                "reason": referral_entry.reason,
                "received_on": clock.day(referral_entry.created),
                "authorization_required": auth.required,
                "authorization_status": auth.status,
                "authorization_submitted_on": clock.day(auth.submitted) if auth.submitted else None,
                "authorization_reference": auth.payer_reference,
            },
        )
        if referral_entry.appointment:
            _seed_appointment(session, referral_entry.appointment, referral, clock)


def _seed_appointment(session: Session, entry: AppointmentEntry, referral: Referral, clock: DemoClock) -> None:
    # The visit lasts one slot of the specialist's schedule.
    slot_minutes = (
        session.scalars(
            select(WeeklyAvailability.slot_minutes).filter_by(specialist_id=referral.specialist_id).limit(1)
        ).first()
        or 30
    )
    appointment = _upsert(
        session,
        Appointment,
        {"external_id": entry.id},
        {
            "referral_id": referral.id,
            "specialist_id": referral.specialist_id,
            "start_at": clock.moment(entry.at),
            "duration_minutes": slot_minutes,
            "status": entry.status,
        },
    )
    holds_slot = entry.status in LIVE_APPOINTMENT_STATUSES
    booked = session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).one_or_none()
    if holds_slot:
        if booked is None:
            session.add(
                BookedSlot(
                    specialist_id=appointment.specialist_id,
                    start_at=appointment.start_at,
                    appointment_id=appointment.id,
                )
            )
        elif booked.start_at != appointment.start_at:
            booked.start_at = appointment.start_at
    elif booked is not None:
        session.delete(booked)


def database_is_empty(session: Session) -> bool:
    return session.scalars(select(Clinic.id).limit(1)).first() is None
