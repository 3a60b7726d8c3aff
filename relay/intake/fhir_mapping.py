"""From validated FHIR resources to import records: the mapping that docs/fhir.md tabulates.

`Resources` indexes a batch's valid resources by type/id and fullUrl, so
references resolve inside the batch; what they name outside it is left to
the import core, by the EHR's ids. A resource that is valid FHIR but not
something Relay imports raises NotImportable, which becomes a rejection.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from relay.intake.fhir_datatypes import (
    address_text,
    concept_text,
    day_of,
    identifier,
    instant,
    is_referral,
    language_code,
    person_name,
    reason_text,
    telecom,
    weekly_hours,
)
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
MR_TYPE = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# Relay's extension on PractitionerRole: one valueString per payer the specialist accepts (docs/fhir.md).
ACCEPTED_PAYER_URL = "https://relay.example.org/fhir/StructureDefinition/accepted-payer"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"

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


@dataclass
class Parsed:
    type: str
    id: str  # the resource id, or its fullUrl's uuid when it has none (a transaction's new resources)
    resource: Any  # the fhir.resources model
    label: str


class Resources:
    """The batch's valid resources by type/id and by fullUrl, to resolve references inside it."""

    def __init__(self) -> None:
        self.by_ref: dict[str, Parsed] = {}
        self.by_type: dict[str, list[Parsed]] = {}

    def add(self, parsed: Parsed, full_url: str | None) -> None:
        self.by_type.setdefault(parsed.type, []).append(parsed)
        self.by_ref[f"{parsed.type}/{parsed.id}"] = parsed
        if full_url:
            self.by_ref[full_url] = parsed

    def of_type(self, resource_type: str) -> list[Parsed]:
        return self.by_type.get(resource_type, [])

    def target(self, reference: Any) -> tuple[str | None, str | None, Parsed | None]:
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


class ResourceMapper:
    def __init__(self, resources: Resources, batch: Batch, mrn_system: str) -> None:
        self.resources = resources
        self.batch = batch
        self.mrn_system = mrn_system
        self.tasks_by_request: dict[str, Parsed] = {}

    def run(self) -> None:
        for item in self.resources.of_type("Location"):
            self.batch.add(self._location(item))
        requesters = self._requesters()
        roles_of: dict[str, list[Parsed]] = {}
        for item in self.resources.of_type("PractitionerRole"):
            _, practitioner_id, _ = self.resources.target(item.resource.practitioner)
            roles_of.setdefault(practitioner_id or "", []).append(item)
        for item in self.resources.of_type("Practitioner"):
            # With a role here, a specialist; a referrer, or without a role (a doctor outside the clinic),
            # a referring provider: a directory entry that texts nobody.
            if item.id in requesters or item.id not in roles_of:
                self.batch.add(ProviderRecord(key=self._practitioner_key(item), name=person_name(item.resource),
                                              fhir_id=item.id))  # fmt: skip
            if item.id in roles_of:
                self.batch.add(self._specialist(item, roles_of[item.id]))
        for practitioner_id, roles in roles_of.items():
            if f"Practitioner/{practitioner_id}" not in self.resources.by_ref:
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

    def _add_or_reject(self, item: Parsed, build: Any) -> None:
        try:
            record = build()
        except NotImportable as exc:
            self.batch.reject(KIND_OF_TYPE[item.type], item.label, str(exc))
            return
        if record is not None:
            self.batch.add(record)

    # Location, Practitioner, PractitionerRole, Schedule/Slot

    def _location(self, item: Parsed) -> LocationRecord:
        location = item.resource
        return LocationRecord(
            key=identifier(location.identifier) or f"Location/{item.id}",
            name=location.name or (location.alias[0] if location.alias else ""),
            address=address_text(location.address),
            phone=telecom(location.telecom, ("phone",)),
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

    def _practitioner_key(self, item: Parsed) -> str:
        identifiers = item.resource.identifier or []
        npi = next((ident.value for ident in identifiers if ident.system == NPI_SYSTEM and ident.value), None)
        return npi or identifier(identifiers) or f"Practitioner/{item.id}"

    def _specialist(self, item: Parsed, roles: list[Parsed]) -> SpecialistRecord:
        role = roles[0].resource if roles else None  # one specialist per practitioner: their first role here
        extra: dict[str, Any] = {}
        if role is not None:
            extra = self._role_fields(role)
            extra["fhir_role_id"] = roles[0].id
        return SpecialistRecord(key=self._practitioner_key(item), name=person_name(item.resource),
                                fhir_id=item.id, **extra)  # fmt: skip

    def _role_only(self, item: Parsed) -> SpecialistRecord:
        _, practitioner_id, _ = self.resources.target(item.resource.practitioner)
        if practitioner_id is None:
            raise NotImportable("the PractitionerRole names no practitioner")
        return SpecialistRecord(key=None, fhir_id=practitioner_id, fhir_role_id=item.id,
                                **self._role_fields(item.resource))  # fmt: skip

    def _role_fields(self, role: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        specialty = concept_text(role.specialty[0]) if role.specialty else None
        if specialty:
            fields["specialty"] = specialty
        if role.location:
            _, location_id, found = self.resources.target(role.location[0])
            if location_id:
                key = identifier(found.resource.identifier) if found else None
                fields["location"] = Ref(key=key or (f"Location/{location_id}" if found else None),
                                         fhir_id=location_id, fhir_type="Location")  # fmt: skip
        phone = telecom(role.telecom, ("phone",))
        if phone:
            fields["phone"] = phone
        if role.availableTime is not None:
            fields["availability"] = weekly_hours(role.availableTime)
        payers = [ext.valueString for ext in role.extension or [] if ext.url == ACCEPTED_PAYER_URL and ext.valueString]
        if payers:
            fields["insurance_accepted"] = payers
        return fields

    def _slot(self, item: Parsed) -> SlotRecord:
        slot = item.resource
        _, _, schedule = self.resources.target(slot.schedule)
        if schedule is None:
            raise NotImportable("the Slot's Schedule is not in the batch (search Slots with _include=Slot:schedule)")
        specialist = None
        for actor in schedule.resource.actor:
            resource_type, resource_id, _ = self.resources.target(actor)
            if resource_type == "Practitioner":
                specialist = Ref(fhir_id=resource_id, fhir_type="Practitioner")
            elif resource_type == "PractitionerRole":
                specialist = Ref(fhir_role_id=resource_id)
        if specialist is None:
            raise NotImportable("the Slot's Schedule names no practitioner")
        key = identifier(slot.identifier) or f"Slot/{item.id}"
        return SlotRecord(key=key, specialist=specialist, start=instant(slot.start), end=instant(slot.end),
                          free=slot.status == SLOT_FREE)  # fmt: skip

    # Patient, Coverage

    def _patient(self, item: Parsed) -> PatientRecord:
        patient = item.resource
        mrn = self._mrn(patient.identifier or [])
        if mrn is None:
            wanted = f"system {self.mrn_system}" if self.mrn_system else "type MR"
            raise NotImportable(f"no MRN (an identifier of {wanted})")
        language = language_code(patient.communication or [])
        return PatientRecord(
            mrn=mrn,
            name=person_name(patient) or UNSET,
            dob=patient.birthDate if isinstance(patient.birthDate, date) else UNSET,
            phone=telecom(patient.telecom, ("phone", "sms"), uses=("mobile",)) or telecom(patient.telecom, ("sms",)),
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
            raise NotImportable("it names no patient")
        if resource_type != "Patient":
            raise NotImportable(f"its subject is a {resource_type}, not a Patient")
        key = self._mrn(found.resource.identifier or []) if found else None
        return Ref(key=key, fhir_id=resource_id, fhir_type="Patient")

    def _coverage(self, item: Parsed) -> CoverageRecord:
        coverage = item.resource
        payer = None
        for payor in coverage.payor or []:
            _, _, found = self.resources.target(payor)
            payer = (
                found.resource.name if found is not None and found.type == "Organization" else None
            ) or payor.display
            if payer:
                break
        member_id = coverage.subscriberId or identifier(coverage.identifier)
        return CoverageRecord(key=f"Coverage/{item.id}", patient=self._patient_ref(coverage.beneficiary), payer=payer,
                              member_id=member_id, active=coverage.status == "active")  # fmt: skip

    # Task (prior authorization), ServiceRequest, Appointment

    def _task(self, item: Parsed) -> None:
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

    def _task_fields(self, item: Parsed) -> dict[str, Any]:
        task = item.resource
        return {
            "status": TASK_STATUSES[task.status],
            "reference": identifier(task.identifier),
            "submitted_on": day_of(task.authoredOn) if task.authoredOn else None,
        }

    def _referral(self, item: Parsed) -> ReferralRecord:
        request = item.resource
        if request.category and not any(is_referral(concept) for concept in request.category):
            raise NotImportable("its category says it is not a referral (a lab or imaging order, say)")
        external_id = identifier(request.identifier) or f"ServiceRequest/{item.id}"
        fields: dict[str, Any] = {"patient": self._patient_ref(request.subject)}
        if request.performer:
            fields["specialist"] = self._practitioner_ref(request.performer[0], "its performer")
        else:
            raise NotImportable("it names no performer (the specialist)")
        resource_type, resource_id, found = self.resources.target(request.requester)
        if resource_type == "PractitionerRole" and found is not None:
            resource_type, resource_id, found = self.resources.target(found.resource.practitioner)
        if resource_type == "Practitioner" and resource_id:
            key = self._practitioner_key(found) if found else None
            fields["referred_by"] = Ref(key=key, fhir_id=resource_id, fhir_type="Practitioner")
            fields["type"] = "provider"
        fields["priority"] = PRIORITIES.get(request.priority or "routine", "routine")
        fields["reason"] = reason_text(request)
        if request.authoredOn:
            fields["received_on"] = day_of(request.authoredOn)
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
        raise NotImportable(f"{what} is not a Practitioner or PractitionerRole")

    def _appointment(self, item: Parsed) -> AppointmentRecord:
        appointment = item.resource
        if appointment.status not in APPOINTMENT_STATUSES:
            raise NotImportable(f"an appointment with status {appointment.status!r} is not booked yet")
        if not appointment.start:
            raise NotImportable("the appointment has no start")
        request = next((ref for ref in appointment.basedOn or [] if self.resources.target(ref)[0] == "ServiceRequest"),
                       None)  # fmt: skip
        if request is None:
            raise NotImportable("it is not based on a referral (basedOn a ServiceRequest)")
        _, request_id, found = self.resources.target(request)
        referral_key = (identifier(found.resource.identifier) or f"ServiceRequest/{request_id}") if found else None
        fields: dict[str, Any] = {}
        for participant in appointment.participant or []:
            resource_type = self.resources.target(participant.actor)[0]
            if resource_type in ("Practitioner", "PractitionerRole"):
                fields["specialist"] = self._practitioner_ref(participant.actor, "a participant")
                break
        start = instant(appointment.start)
        if appointment.minutesDuration:
            fields["duration_minutes"] = int(appointment.minutesDuration)
        elif appointment.end:
            fields["duration_minutes"] = int((instant(appointment.end) - start).total_seconds() // 60)
        return AppointmentRecord(
            external_id=identifier(appointment.identifier) or f"Appointment/{item.id}",
            referral=Ref(key=referral_key, fhir_id=request_id, fhir_type="ServiceRequest"),
            start=start,
            status=APPOINTMENT_STATUSES[appointment.status],
            fhir_id=item.id,
            **fields,
        )


class NotImportable(Exception):
    """The resource is valid FHIR but not something Relay can import; the message says why."""
