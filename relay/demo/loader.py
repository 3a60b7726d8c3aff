"""Load the demo clinic file into the database exactly, and idempotently (`relay seed-demo`).

The file is read and checked whole first (relay.demo.demo_file). The clinic
row and the FAQs are settings, not clinic records, and are written here; the
directory, the patients, their referrals and appointments become records for
the one import core (relay.intake.core, source "demo"), which writes only
what differs, so a second run is a no-op. Planning outreach stays the
caller's. Should the core refuse a
record the file's checks let through, nothing at all is written (SeedError
names the record).
"""

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.core.phones import to_e164
from relay.demo.demo_file import (
    WEEKDAYS,
    ClinicEntry,
    DemoClock,
    DemoFile,
    ReferralEntry,
    SeedError,
    SpecialistEntry,
    default_demo_file,
    read_demo_file,
)
from relay.intake.core import import_batch
from relay.intake.records import (
    AppointmentRecord,
    Batch,
    PatientRecord,
    ProviderRecord,
    Ref,
    ReferralRecord,
    SpecialistRecord,
    WeeklyHours,
)
from relay.models import BookedSlot, Clinic, Faq, Specialist, utcnow

IMPORT_SOURCE = "demo"


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
    path = path or default_demo_file()
    demo = read_demo_file(path)
    zone = demo.clinic.timezone
    clock = DemoClock(today or datetime.now(ZoneInfo(zone)).date(), zone)

    # All or nothing: a record the core refuses undoes the clinic row and every record before it.
    with session.begin_nested():
        _seed_clinic(session, demo.clinic)  # first: the core reads the clinic's region and time zone
        # Planning is the caller's: `relay seed-demo` plans everything afterwards, the tests' reseed nothing.
        report = import_batch(session, demo_batch(demo, clock), now=utcnow(), source=IMPORT_SOURCE, replan=False)
        if report.rejections:
            problems = "; ".join(f"{item.kind} {item.record}: {item.reason}" for item in report.rejections)
            raise SeedError(f"{path}: {problems}")
        specialists = {row.key: row for row in session.scalars(select(Specialist))}
        for slot in demo.busy_slots:
            # Taken by someone Relay does not know: held by no appointment. Not a published slot
            # (SlotRecord), which would make the published slots the specialist's only offer.
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


def _seed_clinic(session: Session, entry: ClinicEntry) -> None:
    region = entry.region
    _upsert(
        session,
        Clinic,
        {"name": entry.name},
        {
            "region": region,
            "timezone": entry.timezone,
            "sms_number": to_e164(entry.sms_number, region),
            "voice_number": to_e164(entry.voice_number, region),
            "front_desk_number": to_e164(entry.front_desk_number, region),
            "address": entry.address,
            "hours": entry.hours,
            "quiet_hours_start": entry.quiet_hours["start"],
            "quiet_hours_end": entry.quiet_hours["end"],
            "review_url": entry.review_url,
        },
    )
    session.flush()


def demo_batch(demo: DemoFile, clock: DemoClock) -> Batch:
    """The demo file's directory, patients, referrals and appointments as import records."""
    batch = Batch()
    for provider in demo.referring_providers:
        batch.add(ProviderRecord(key=provider.key, name=provider.name, role=provider.role))
    slot_minutes = {}
    for specialist in demo.specialists:
        batch.add(_specialist_record(specialist))
        slot_minutes[specialist.key] = specialist.availability.slot_minutes
    for patient in demo.patients:
        insurance = patient.insurance
        batch.add(
            PatientRecord(
                mrn=patient.mrn,
                name=patient.name,
                dob=patient.dob,
                phone=patient.phone,
                language=patient.language,
                insurance_payer=insurance.payer if insurance else None,
                insurance_member_id=insurance.member_id if insurance else None,
                sms_consent=patient.sms_consent,
            )
        )
        for referral in patient.referrals:
            batch.add(_referral_record(referral, patient.mrn, clock))
            if appointment := referral.appointment:
                batch.add(
                    AppointmentRecord(
                        external_id=appointment.id,
                        referral=Ref(key=referral.id),
                        specialist=Ref(key=referral.specialist),
                        start=clock.moment(appointment.at),
                        # The visit lasts one slot of the specialist's weekly hours, also when they change.
                        duration_minutes=slot_minutes[referral.specialist],
                        status=appointment.status,
                    )
                )
    return batch


def _specialist_record(entry: SpecialistEntry) -> SpecialistRecord:
    hours = entry.availability
    start = time.fromisoformat(hours.start.zfill(5))
    end = time.fromisoformat(hours.end.zfill(5))
    return SpecialistRecord(
        key=entry.key,
        name=entry.name,
        specialty=entry.specialty,
        facility=entry.facility,
        address=entry.address,
        phone=entry.phone,
        insurance_accepted=list(entry.insurance_accepted),
        prep=entry.prep,
        prep_es=entry.prep_es,
        availability=[
            WeeklyHours(weekday=WEEKDAYS.index(day), start=start, end=end, slot_minutes=hours.slot_minutes)
            for day in hours.days
        ],
    )


def _referral_record(entry: ReferralEntry, mrn: str, clock: DemoClock) -> ReferralRecord:
    auth = entry.authorization
    return ReferralRecord(
        external_id=entry.id,
        patient=Ref(key=mrn),
        specialist=Ref(key=entry.specialist),
        referred_by=Ref(key=entry.referred_by) if entry.referred_by else None,
        type=entry.type,
        status=entry.status,  # Relay's own word: stored as given, not derived from the appointment
        priority=entry.priority,
        reason=entry.reason,
        received_on=clock.day(entry.created),
        authorization_required=auth.required,
        authorization_status=auth.status,
        authorization_submitted_on=clock.day(auth.submitted) if auth.submitted else None,
        authorization_reference=auth.payer_reference,
    )


def database_is_empty(session: Session) -> bool:
    return session.scalars(select(Clinic.id).limit(1)).first() is None
