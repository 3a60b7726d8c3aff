"""Patients and their insurance from an import.

A patient without a usable mobile number is imported all the same, with the
number left empty and `mobile_problem` saying why, so staff see them and
nothing is ever texted to them. A new number gets the consent the source
gives (a clinic that holds a patient's mobile may text them about their care)
unless the consent ledger already holds an opt-out for that number: a STOP
outlives any import.
"""

from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.intake.context import ImportContext, Rejected, assign, check_lengths
from relay.intake.records import CoverageRecord, PatientRecord, Ref, is_set
from relay.language.languages import language_of
from relay.models import Patient

NO_MOBILE = "no mobile number on file"
NOT_A_NUMBER = "the mobile number on file is not a phone number"
SHARED_NUMBER = "the mobile number on file is another patient's"
# What a patient row takes from its record, where the record carries it.
_PLAIN_FIELDS = ("name", "dob", "timezone", "insurance_payer", "insurance_member_id")


@lru_cache(maxsize=65536)
def _e164(raw: str, region: str) -> str | None:
    """A number as E.164, or None when it is not one; read once per import however often it is asked."""
    try:
        return to_e164(raw.strip(), region)
    except InvalidPhoneNumber:
        return None


def preload_patients(ctx: ImportContext, records: list[PatientRecord]) -> None:
    ctx.patients.preload(ctx.session, [Ref(record.mrn, record.fhir_id) for record in records])
    phones = {_e164(record.phone, ctx.region) for record in records if isinstance(record.phone, str)}
    ctx.phones.preload(ctx.session, {phone for phone in phones if phone is not None})


def apply_patient(ctx: ImportContext, record: PatientRecord) -> str:
    row = ctx.patients.find(Ref(record.mrn, record.fhir_id))
    values = _patient_values(ctx, record)
    if row is None:
        for needed in ("name", "dob"):
            if needed not in values:
                raise Rejected(f"a new patient needs a {'date of birth' if needed == 'dob' else needed}")
        if not record.mrn.strip():
            raise Rejected("a patient needs an MRN")
    phone, problem = _mobile(ctx, record) if is_set(record.phone) else (None, NO_MOBILE)
    if row is None:
        values |= {"mrn": record.mrn, "fhir_id": record.fhir_id}
        values |= _new_phone(ctx, record.mrn, phone, problem, record.sms_consent)

        def created(patient: Patient) -> None:
            ctx.patients.remember(patient)
            ctx.changed_patients.add(patient)
            if patient.phone is not None:
                ctx.consent_events.append((patient, patient.phone, patient.sms_consent))

        ctx.stage(Patient, record.mrn, values, created)
        return "created"
    ids = {"mrn": record.mrn} | ({"fhir_id": record.fhir_id} if record.fhir_id else {})
    changed = assign(row, values | ids)
    if is_set(record.phone) and (row.phone, row.mobile_problem) != (phone, problem):
        _set_phone(ctx, row, phone, problem, record.sms_consent)
        changed = True
    if changed:
        ctx.changed_patients.add(row)
    ctx.patients.remember(row)
    return "updated" if changed else "unchanged"


def _patient_values(ctx: ImportContext, record: PatientRecord) -> dict:
    values = {name: getattr(record, name) for name in _PLAIN_FIELDS if is_set(getattr(record, name))}
    if isinstance(values.get("name"), str):
        values["name"] = " ".join(values["name"].split())
        if not values["name"]:
            raise Rejected("the patient's name is empty")
    if "dob" in values:
        dob = values["dob"]
        if not isinstance(dob, date) or dob > ctx.now.date():
            raise Rejected("the date of birth is in the future")
    if values.get("timezone"):
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise Rejected(f"unknown time zone {values['timezone']!r}") from None
    if is_set(record.language):
        # Relay writes in the languages it has words for; "es-MX" is Spanish, others English.
        values["language"] = language_of(record.language).value
    check_lengths(Patient, values)
    return values


def _mobile(ctx: ImportContext, record: PatientRecord) -> tuple[str | None, str | None]:
    """The number to text, or None and why not."""
    if not isinstance(record.phone, str) or not record.phone.strip():
        return None, NO_MOBILE
    phone = _e164(record.phone, ctx.region)
    if phone is None:
        return None, NOT_A_NUMBER
    holder = ctx.phones.holder.get(phone)
    if holder is not None and holder != record.mrn:
        return None, SHARED_NUMBER
    return phone, None


def _new_phone(ctx: ImportContext, mrn: str, phone: str | None, problem: str | None, consent: bool) -> dict:
    """A new patient's number and consent (the ledger has the last word on a number it knows)."""
    if phone is None:
        return {"phone": None, "mobile_problem": problem, "sms_consent": False, "sms_consent_changed_at": None}
    ctx.phones.holder[phone] = mrn
    consented = consent and ctx.phones.consent.get(phone) is not False
    ctx.phones.consent[phone] = consented
    return {"phone": phone, "mobile_problem": None, "sms_consent": consented, "sms_consent_changed_at": ctx.now}


def _set_phone(ctx: ImportContext, row: Patient, phone: str | None, problem: str | None, consent: bool) -> None:
    if row.phone is not None and ctx.phones.holder.get(row.phone) == row.mrn:
        del ctx.phones.holder[row.phone]
    row.phone, row.mobile_problem = phone, problem
    if phone is None:
        row.sms_consent = False
        return
    ctx.phones.holder[phone] = row.mrn
    ledger = ctx.phones.consent.get(phone)
    consented = consent and ledger is not False
    row.sms_consent = consented
    row.sms_consent_changed_at = ctx.now
    if ledger is None or ledger != consented:
        # Written once the patient has an id (see relay.intake.core).
        ctx.consent_events.append((row, phone, consented))
        ctx.phones.consent[phone] = consented


# --- coverage ---------------------------------------------------------------


def preload_coverages(ctx: ImportContext, records: list[CoverageRecord]) -> None:
    ctx.patients.preload(ctx.session, [record.patient for record in records])


def apply_coverage(ctx: ImportContext, record: CoverageRecord) -> str:
    patient = ctx.patients.resolve(record.patient, "patient")
    if record.active:
        if not record.payer:
            raise Rejected("the coverage names no payer")
        values = {"insurance_payer": record.payer.strip(), "insurance_member_id": record.member_id}
    elif patient.insurance_payer == record.payer:
        values = {"insurance_payer": None, "insurance_member_id": None}
    else:
        return "unchanged"  # an old coverage ending says nothing about the current one
    check_lengths(Patient, values)
    had_payer = patient.insurance_payer is not None
    if not assign(patient, values):
        return "unchanged"
    return "updated" if had_payer else "created"
