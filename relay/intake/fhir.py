"""FHIR R4 in: a Bundle or Bulk Data NDJSON, parsed with fhir.resources (R4B models), turned into import records.

Each resource is validated on its own, so one broken entry is a rejection
that names it while the others are imported. References are read as the EHR
writes them: relative (`Patient/123`), absolute (`https://ehr/fhir/Patient/123`),
to a `fullUrl` in the same Bundle (`urn:uuid:...`), or logical (an
identifier). The mapping, element by element, is in docs/fhir.md.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from relay.intake.gc_pause import collector_paused
from relay.intake.records import (
    UNSET,
    AppointmentRecord,
    AuthorizationRecord,
    Batch,
    CoverageRecord,
    LocationRecord,
    PatientRecord,
    ProviderRecord,
    Ref,
    ReferralRecord,
    SlotRecord,
    SpecialistRecord,
    WeeklyHours,
)

# What each resource type becomes, for reports (Organization and Schedule are read only to resolve others).
KIND_OF_TYPE = {
    "Location": "locations",
    "Practitioner": "specialists",
    "PractitionerRole": "specialists",
    "Schedule": "slots",
    "Slot": "slots",
    "Patient": "patients",
    "Coverage": "coverages",
    "ServiceRequest": "referrals",
    "Task": "authorizations",
    "Appointment": "appointments",
    "Organization": "records",
}
BUNDLE_TYPES = frozenset({"collection", "batch", "transaction", "searchset"})
MR_TYPE = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# Relay's extension on PractitionerRole: one valueString per payer the specialist accepts (docs/fhir.md).
ACCEPTED_PAYER_URL = "https://relay.example.org/fhir/StructureDefinition/accepted-payer"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
REFERRAL_CATEGORY = "3457005"  # SNOMED CT: Patient referral
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# FHIR has no slot length in availableTime: weekly hours are cut into slots of this many minutes.
DEFAULT_SLOT_MINUTES = 30

PRIORITIES = {"routine": "routine", "urgent": "urgent", "asap": "urgent", "stat": "emergency"}
APPOINTMENT_STATUSES = {
    "booked": "scheduled",
    "arrived": "scheduled",
    "checked-in": "scheduled",
    "fulfilled": "completed",
    "cancelled": "cancelled",
    "noshow": "no_show",
    "entered-in-error": "cancelled",
}
TASK_STATUSES = {
    "draft": "pending",
    "requested": "pending",
    "received": "pending",
    "accepted": "pending",
    "ready": "pending",
    "in-progress": "pending",
    "on-hold": "pending",
    "completed": "approved",
    "rejected": "denied",
    "failed": "denied",
}
SLOT_FREE = "free"


class FhirInputError(ValueError):
    """The input as a whole is not something to import (not JSON, not a Bundle); nothing was read."""


def read_bundle(data: Any, *, mrn_system: str = "") -> Batch:
    """A Bundle (collection, batch, transaction or searchset), as a dict, JSON text or bytes."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise FhirInputError(f"the body is not JSON ({exc})") from None
        except RecursionError:
            raise FhirInputError("the body is nested too deeply to be a FHIR Bundle") from None
    if not isinstance(data, dict):
        raise FhirInputError("expected a FHIR Bundle (a JSON object)")
    if data.get("resourceType") != "Bundle":
        raise FhirInputError(f"expected a FHIR Bundle, got resourceType {data.get('resourceType')!r}")
    if data.get("type") not in BUNDLE_TYPES:
        raise FhirInputError(f"expected a Bundle of type {', '.join(sorted(BUNDLE_TYPES))}; got {data.get('type')!r}")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError("the Bundle's entry is not a list")
    raw: list[tuple[str, dict, str | None]] = []
    batch = Batch()
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            batch.reject("records", f"entry {number}", "the entry has no resource")
            continue
        if isinstance(entry.get("search"), dict) and entry["search"].get("mode") == "outcome":
            continue  # an OperationOutcome about the search, not data
        raw.append((f"entry {number}", resource, entry.get("fullUrl")))
    return _read(raw, batch, mrn_system)


def read_ndjson(lines: Iterable[str | bytes], *, mrn_system: str = "") -> Batch:
    """The NDJSON files of a Bulk Data $export: one resource per line, any types, any order."""
    raw: list[tuple[str, dict, str | None]] = []
    batch = Batch()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            resource = json.loads(line)
        except ValueError:
            batch.reject("records", f"line {number}", "the line is not JSON")
            continue
        except RecursionError:
            batch.reject("records", f"line {number}", "the line is nested too deeply to be a FHIR resource")
            continue
        if not isinstance(resource, dict):
            batch.reject("records", f"line {number}", "the line is not a FHIR resource")
            continue
        raw.append((f"line {number}", resource, None))
    return _read(raw, batch, mrn_system)


def read_resources(resources: Iterable[dict], *, mrn_system: str = "") -> Batch:
    """Resources already read from JSON (a sync page's entries)."""
    raw: list[tuple[str, dict, str | None]] = [
        (f"resource {number}", resource, None) for number, resource in enumerate(resources, start=1)
    ]
    return _read(raw, Batch(), mrn_system)


# --- validation and the index of the batch ---------------------------------


@dataclass
class _Parsed:
    type: str
    id: str  # the resource id, or its fullUrl's uuid when it has none (a transaction's new resources)
    resource: Any  # the fhir.resources model
    label: str


class _Resources:
    """The batch's valid resources by type/id and by fullUrl, to resolve references inside it."""

    def __init__(self) -> None:
        self.by_ref: dict[str, _Parsed] = {}
        self.by_type: dict[str, list[_Parsed]] = {}

    def add(self, parsed: _Parsed, full_url: str | None) -> None:
        self.by_type.setdefault(parsed.type, []).append(parsed)
        self.by_ref[f"{parsed.type}/{parsed.id}"] = parsed
        if full_url:
            self.by_ref[full_url] = parsed

    def of_type(self, resource_type: str) -> list[_Parsed]:
        return self.by_type.get(resource_type, [])

    def target(self, reference: Any) -> tuple[str | None, str | None, _Parsed | None]:
        """(type, id, the resource if in the batch) of a Reference; (None, None, None) for a logical one."""
        literal = getattr(reference, "reference", None) if reference is not None else None
        if not literal:
            return None, None, None
        if literal in self.by_ref:
            found = self.by_ref[literal]
            return found.type, found.id, found
        parts = literal.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) < 2:
            return None, None, None
        resource_type, resource_id = parts[-2], parts[-1]
        return resource_type, resource_id, self.by_ref.get(f"{resource_type}/{resource_id}")


def _read(raw: list[tuple[str, dict, str | None]], batch: Batch, mrn_system: str) -> Batch:
    with collector_paused():
        return _validate_and_map(raw, batch, mrn_system)


def _validate_and_map(raw: list[tuple[str, dict, str | None]], batch: Batch, mrn_system: str) -> Batch:
    resources = _Resources()
    for label, resource, full_url in raw:
        resource_type = resource.get("resourceType")
        if resource_type not in KIND_OF_TYPE:
            batch.reject("records", _label(label, resource), f"{resource_type or 'a resource without resourceType'} "
                         "is not a resource Relay imports")  # fmt: skip
            continue
        try:
            model = get_fhir_model_class(resource_type).model_validate(resource)
        except ValidationError as exc:
            batch.reject(KIND_OF_TYPE[resource_type], _label(label, resource), _plain(exc))
            continue
        resource_id = getattr(model, "id", None) or (full_url.rsplit(":", 1)[-1] if full_url else None)
        if resource_id is None:
            batch.reject(KIND_OF_TYPE[resource_type], _label(label, resource), "the resource has no id")
            continue
        resources.add(_Parsed(resource_type, resource_id, model, _label(label, resource)), full_url)
    _Mapper(resources, batch, mrn_system).run()
    return batch


def _label(label: str, resource: dict) -> str:
    if resource.get("resourceType") and resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return label


def _plain(exc: ValidationError) -> str:
    """The first problem pydantic found, as `field: message` (no input values: they may be PHI)."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


# --- from resources to records ---------------------------------------------


class _Mapper:
    def __init__(self, resources: _Resources, batch: Batch, mrn_system: str) -> None:
        self.resources = resources
        self.batch = batch
        self.mrn_system = mrn_system
        self.tasks_by_request: dict[str, _Parsed] = {}

    def run(self) -> None:
        for item in self.resources.of_type("Location"):
            self.batch.add(self._location(item))
        requesters = self._requesters()
        roles_of: dict[str, list[_Parsed]] = {}
        for item in self.resources.of_type("PractitionerRole"):
            _, practitioner_id, _ = self.resources.target(item.resource.practitioner)
            roles_of.setdefault(practitioner_id or "", []).append(item)
        for item in self.resources.of_type("Practitioner"):
            # With a role here, a specialist; a referrer, or without a role (a doctor outside the clinic),
            # a referring provider: a directory entry that texts nobody.
            if item.id in requesters or item.id not in roles_of:
                self.batch.add(ProviderRecord(key=self._practitioner_key(item), name=_person_name(item.resource),
                                              fhir_id=item.id))  # fmt: skip
            if item.id in roles_of:
                self.batch.add(self._specialist(item, roles_of[item.id]))
        for practitioner_id, roles in roles_of.items():
            if not any(True for _ in self._in_batch("Practitioner", practitioner_id)):
                for role in roles:
                    self._add_or_reject(role, lambda role=role: self._role_only(role))
        for item in self.resources.of_type("Slot"):
            self._add_or_reject(item, lambda item=item: self._slot(item))
        for item in self.resources.of_type("Patient"):
            self._add_or_reject(item, lambda item=item: self._patient(item))
        for item in self.resources.of_type("Coverage"):
            self._add_or_reject(item, lambda item=item: self._coverage(item))
        for item in self.resources.of_type("Task"):
            self._task(item)
        for item in self.resources.of_type("ServiceRequest"):
            self._add_or_reject(item, lambda item=item: self._referral(item))
        for request_id, task in list(self.tasks_by_request.items()):
            # The ServiceRequest came in an earlier batch: the authorization finds it by its id.
            self.batch.add(AuthorizationRecord(key=f"Task/{task.id}", referral=Ref(fhir_id=request_id,
                           fhir_type="ServiceRequest"), **self._task_fields(task)))  # fmt: skip
        for item in self.resources.of_type("Appointment"):
            self._add_or_reject(item, lambda item=item: self._appointment(item))

    def _in_batch(self, resource_type: str, resource_id: str) -> Iterator[_Parsed]:
        found = self.resources.by_ref.get(f"{resource_type}/{resource_id}")
        return iter([found] if found else [])

    def _add_or_reject(self, item: _Parsed, build: Any) -> None:
        try:
            record = build()
        except _Skip as exc:
            self.batch.reject(KIND_OF_TYPE[item.type], item.label, str(exc))
            return
        if record is not None:
            self.batch.add(record)

    # Location, Practitioner, PractitionerRole, Schedule/Slot

    def _location(self, item: _Parsed) -> LocationRecord:
        location = item.resource
        return LocationRecord(
            key=_identifier(location.identifier) or f"Location/{item.id}",
            name=location.name or (location.alias[0] if location.alias else ""),
            address=_address(location.address),
            phone=_telecom(location.telecom, ("phone",)),
            fhir_id=item.id,
        )

    def _requesters(self) -> set[str]:
        ids = set()
        for item in self.resources.of_type("ServiceRequest"):
            resource_type, resource_id, found = self.resources.target(item.resource.requester)
            if resource_type == "PractitionerRole" and found is not None:
                resource_type, resource_id, _ = self.resources.target(found.resource.practitioner)
            if resource_type == "Practitioner" and resource_id:
                ids.add(resource_id)
        return ids

    def _practitioner_key(self, item: _Parsed) -> str:
        identifiers = item.resource.identifier or []
        npi = next((ident.value for ident in identifiers if ident.system == NPI_SYSTEM and ident.value), None)
        return npi or _identifier(identifiers) or f"Practitioner/{item.id}"

    def _specialist(self, item: _Parsed, roles: list[_Parsed]) -> SpecialistRecord:
        role = roles[0].resource if roles else None  # one specialist per practitioner: their first role here
        extra: dict[str, Any] = {}
        if role is not None:
            extra = self._role_fields(role)
            extra["fhir_role_id"] = roles[0].id
        return SpecialistRecord(key=self._practitioner_key(item), name=_person_name(item.resource),
                                fhir_id=item.id, **extra)  # fmt: skip

    def _role_only(self, item: _Parsed) -> SpecialistRecord:
        _, practitioner_id, _ = self.resources.target(item.resource.practitioner)
        if practitioner_id is None:
            raise _Skip("the PractitionerRole names no practitioner")
        return SpecialistRecord(key=None, fhir_id=practitioner_id, fhir_role_id=item.id,
                                **self._role_fields(item.resource))  # fmt: skip

    def _role_fields(self, role: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        specialty = _concept_text(role.specialty[0]) if role.specialty else None
        if specialty:
            fields["specialty"] = specialty
        if role.location:
            _, location_id, found = self.resources.target(role.location[0])
            if location_id:
                key = _identifier(found.resource.identifier) if found else None
                fields["location"] = Ref(key=key or (f"Location/{location_id}" if found else None),
                                         fhir_id=location_id, fhir_type="Location")  # fmt: skip
        phone = _telecom(role.telecom, ("phone",))
        if phone:
            fields["phone"] = phone
        if role.availableTime is not None:
            fields["availability"] = _weekly_hours(role.availableTime)
        payers = [ext.valueString for ext in role.extension or [] if ext.url == ACCEPTED_PAYER_URL and ext.valueString]
        if payers:
            fields["insurance_accepted"] = payers
        return fields

    def _slot(self, item: _Parsed) -> SlotRecord:
        slot = item.resource
        _, _, schedule = self.resources.target(slot.schedule)
        if schedule is None:
            raise _Skip("the Slot's Schedule is not in the batch (search Slots with _include=Slot:schedule)")
        specialist = None
        for actor in schedule.resource.actor:
            resource_type, resource_id, _ = self.resources.target(actor)
            if resource_type == "Practitioner":
                specialist = Ref(fhir_id=resource_id, fhir_type="Practitioner")
            elif resource_type == "PractitionerRole":
                specialist = Ref(fhir_role_id=resource_id)
        if specialist is None:
            raise _Skip("the Slot's Schedule names no practitioner")
        key = _identifier(slot.identifier) or f"Slot/{item.id}"
        return SlotRecord(key=key, specialist=specialist, start=_instant(slot.start), end=_instant(slot.end),
                          free=slot.status == SLOT_FREE)  # fmt: skip

    # Patient, Coverage

    def _patient(self, item: _Parsed) -> PatientRecord:
        patient = item.resource
        mrn = self._mrn(patient.identifier or [])
        if mrn is None:
            wanted = f"system {self.mrn_system}" if self.mrn_system else "type MR"
            raise _Skip(f"no MRN (an identifier of {wanted})")
        language = _language(patient.communication or [])
        return PatientRecord(
            mrn=mrn,
            name=_person_name(patient) or UNSET,
            dob=patient.birthDate if isinstance(patient.birthDate, date) else UNSET,
            phone=_telecom(patient.telecom, ("phone", "sms"), uses=("mobile",)) or _telecom(patient.telecom, ("sms",)),
            language=language if language else UNSET,
            fhir_id=item.id,
        )

    def _mrn(self, identifiers: list[Any]) -> str | None:
        for ident in identifiers:
            if not ident.value:
                continue
            if self.mrn_system and ident.system == self.mrn_system:
                return str(ident.value)
            codings = ident.type.coding if ident.type and ident.type.coding else []
            if not self.mrn_system and any((c.system, c.code) == MR_TYPE or c.code == "MR" for c in codings):
                return str(ident.value)
        return None

    def _patient_ref(self, reference: Any) -> Ref:
        resource_type, resource_id, found = self.resources.target(reference)
        if resource_type is None:
            logical = getattr(getattr(reference, "identifier", None), "value", None)
            if logical:
                return Ref(key=str(logical))
            raise _Skip("it names no patient")
        if resource_type != "Patient":
            raise _Skip(f"its subject is a {resource_type}, not a Patient")
        key = self._mrn(found.resource.identifier or []) if found else None
        return Ref(key=key, fhir_id=resource_id, fhir_type="Patient")

    def _coverage(self, item: _Parsed) -> CoverageRecord:
        coverage = item.resource
        payer = None
        for payor in coverage.payor or []:
            _, _, found = self.resources.target(payor)
            payer = (
                found.resource.name if found is not None and found.type == "Organization" else None
            ) or payor.display
            if payer:
                break
        member_id = coverage.subscriberId or _identifier(coverage.identifier)
        return CoverageRecord(key=f"Coverage/{item.id}", patient=self._patient_ref(coverage.beneficiary), payer=payer,
                              member_id=member_id, active=coverage.status == "active")  # fmt: skip

    # Task (prior authorization), ServiceRequest, Appointment

    def _task(self, item: _Parsed) -> None:
        task = item.resource
        codes = task.code.coding if task.code and task.code.coding else []
        if not any(coding.code == "approve" for coding in codes):
            why = "only prior authorization Tasks (code approve, focus a ServiceRequest) are imported"
            self.batch.reject("authorizations", item.label, why)
            return
        resource_type, resource_id, _ = self.resources.target(task.focus)
        if resource_type != "ServiceRequest" or resource_id is None:
            self.batch.reject("authorizations", item.label, "the Task's focus is not a ServiceRequest")
            return
        if task.status not in TASK_STATUSES:
            self.batch.reject("authorizations", item.label, f"a Task with status {task.status!r} says nothing")
            return
        self.tasks_by_request[resource_id] = item

    def _authorization(self, request_id: str) -> dict[str, Any]:
        item = self.tasks_by_request.pop(request_id, None)
        if item is None:
            return {}
        fields = self._task_fields(item)
        return {"authorization_required": True} | {f"authorization_{name}": value for name, value in fields.items()}

    def _task_fields(self, item: _Parsed) -> dict[str, Any]:
        task = item.resource
        return {
            "status": TASK_STATUSES[task.status],
            "reference": _identifier(task.identifier),
            "submitted_on": _day(task.authoredOn) if task.authoredOn else None,
        }

    def _referral(self, item: _Parsed) -> ReferralRecord:
        request = item.resource
        if request.category and not any(_is_referral(concept) for concept in request.category):
            raise _Skip("its category says it is not a referral (a lab or imaging order, say)")
        external_id = _identifier(request.identifier) or f"ServiceRequest/{item.id}"
        fields: dict[str, Any] = {"patient": self._patient_ref(request.subject)}
        if request.performer:
            fields["specialist"] = self._practitioner_ref(request.performer[0], "its performer")
        else:
            raise _Skip("it names no performer (the specialist)")
        resource_type, resource_id, found = self.resources.target(request.requester)
        if resource_type == "PractitionerRole" and found is not None:
            resource_type, resource_id, found = self.resources.target(found.resource.practitioner)
        if resource_type == "Practitioner" and resource_id:
            key = self._practitioner_key(found) if found else None
            fields["referred_by"] = Ref(key=key, fhir_id=resource_id, fhir_type="Practitioner")
            fields["type"] = "provider"
        fields["priority"] = PRIORITIES.get(request.priority or "routine", "routine")
        fields["reason"] = _reason(request)
        if request.authoredOn:
            fields["received_on"] = _day(request.authoredOn)
        fields["ehr_status"] = request.status
        authorization = self._authorization(item.id)
        if request.status == "on-hold" and not authorization:
            authorization = {"authorization_required": True, "authorization_status": "pending"}
        fields |= authorization
        return ReferralRecord(external_id=external_id, fhir_id=item.id, **fields)

    def _practitioner_ref(self, reference: Any, what: str) -> Ref:
        resource_type, resource_id, found = self.resources.target(reference)
        if resource_type == "Practitioner":
            key = self._practitioner_key(found) if found else None
            return Ref(key=key, fhir_id=resource_id, fhir_type="Practitioner")
        if resource_type == "PractitionerRole":
            return Ref(fhir_role_id=resource_id)
        raise _Skip(f"{what} is not a Practitioner or PractitionerRole")

    def _appointment(self, item: _Parsed) -> AppointmentRecord:
        appointment = item.resource
        if appointment.status not in APPOINTMENT_STATUSES:
            raise _Skip(f"an appointment with status {appointment.status!r} is not booked yet")
        if not appointment.start:
            raise _Skip("the appointment has no start")
        request = next((ref for ref in appointment.basedOn or [] if self.resources.target(ref)[0] == "ServiceRequest"),
                       None)  # fmt: skip
        if request is None:
            raise _Skip("it is not based on a referral (basedOn a ServiceRequest)")
        _, request_id, found = self.resources.target(request)
        referral_key = (_identifier(found.resource.identifier) or f"ServiceRequest/{request_id}") if found else None
        fields: dict[str, Any] = {}
        for participant in appointment.participant or []:
            resource_type = self.resources.target(participant.actor)[0]
            if resource_type in ("Practitioner", "PractitionerRole"):
                fields["specialist"] = self._practitioner_ref(participant.actor, "a participant")
                break
        start = _instant(appointment.start)
        if appointment.minutesDuration:
            fields["duration_minutes"] = int(appointment.minutesDuration)
        elif appointment.end:
            fields["duration_minutes"] = int((_instant(appointment.end) - start).total_seconds() // 60)
        return AppointmentRecord(
            external_id=_identifier(appointment.identifier) or f"Appointment/{item.id}",
            referral=Ref(key=referral_key, fhir_id=request_id, fhir_type="ServiceRequest"),
            start=start,
            status=APPOINTMENT_STATUSES[appointment.status],
            fhir_id=item.id,
            **fields,
        )


class _Skip(Exception):
    """The resource is valid FHIR but not something Relay can import; the message says why."""


# --- small readers of FHIR datatypes ----------------------------------------


def _identifier(identifiers: list[Any] | None) -> str | None:
    for ident in identifiers or []:
        if ident.value:
            return str(ident.value)
    return None


def _person_name(resource: Any) -> str:
    names = resource.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None:
        return ""
    if name.text:
        return " ".join(name.text.split())
    parts = [*(name.prefix or []), *(name.given or []), name.family or ""]
    return " ".join(part for part in parts if part)


def _address(address: Any) -> str:
    if address is None:
        return ""
    if address.text:
        return " ".join(address.text.split())
    city_line = " ".join(part for part in (address.state, address.postalCode) if part)
    parts = [*(address.line or []), address.city, city_line]
    return ", ".join(part for part in parts if part)


def _telecom(points: list[Any] | None, systems: tuple[str, ...], uses: tuple[str, ...] | None = None) -> str | None:
    for point in points or []:
        if point.system in systems and point.value and (uses is None or point.use in uses):
            if point.period is not None and point.period.end is not None:
                continue  # a number that stopped being theirs
            return str(point.value)
    return None


def _language(communications: list[Any]) -> str | None:
    chosen = next((c for c in communications if c.preferred), communications[0] if communications else None)
    if chosen is None or chosen.language is None:
        return None
    for coding in chosen.language.coding or []:
        if coding.code:
            return str(coding.code)
    return chosen.language.text


def _is_referral(concept: Any) -> bool:
    """SNOMED CT 3457005 "Patient referral", the category US Core and most EHRs give referrals."""
    codes = {coding.code for coding in concept.coding or []}
    return REFERRAL_CATEGORY in codes or "referral" in (concept.text or "").lower()


def _concept_text(concept: Any) -> str | None:
    if concept.text:
        return str(concept.text)
    for coding in concept.coding or []:
        if coding.display:
            return str(coding.display)
    return None


def _reason(request: Any) -> str:
    for concept in request.reasonCode or []:
        text = _concept_text(concept)
        if text:
            return text
    for reference in request.reasonReference or []:
        if reference.display:
            return str(reference.display)
    return ""


def _weekly_hours(available: list[Any]) -> list[WeeklyHours]:
    hours = []
    for entry in available:
        if entry.allDay or not entry.availableStartTime or not entry.availableEndTime:
            continue  # "all day" says nothing about when visits start
        for day in entry.daysOfWeek or []:
            if day in WEEKDAYS:
                hours.append(WeeklyHours(WEEKDAYS.index(day), _clock(entry.availableStartTime),
                                         _clock(entry.availableEndTime), DEFAULT_SLOT_MINUTES))  # fmt: skip
    return hours


def _clock(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _day(value: Any) -> date:
    """The day of a FHIR date or dateTime (which may be only a date, or a year and month)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    return date.fromisoformat(text if len(text) == 10 else (text + "-01-01")[:10])


def _instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # FHIR instants carry an offset; the model lets a few through without
        moment = moment.replace(tzinfo=UTC)
    return moment
