"""A clinic that is not the demo, as its EHR would send it: a FHIR R4 Bundle built around a given day.

Northside Specialty Group: two specialists with weekly hours (a dermatologist
and a gastroenterologist, at two locations), five patients (one writes in
Spanish, one has no mobile number), referrals in several statuses (one waits
for its prior authorization) and two booked appointments. Dates are relative
to `today` so that the appointments are always ahead.
"""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
NPI = "http://hl7.org/fhir/sid/us-npi"
TZ = "America/Chicago"

# (id, MRN, given, family, birthDate, mobile or None, language or None, payer)
PATIENTS = [
    ("pat-1", "NS-1001", "Olivia", "Brennan", "1971-04-12", "(312) 555-0171", "en-US", "Blue Cross Blue Shield"),
    ("pat-2", "NS-1002", "Marisol", "Gutierrez", "1980-11-02", "312.555.0172", "es-MX", "Aetna"),
    ("pat-3", "NS-1003", "Dennis", "Kowalski", "1949-06-30", None, None, "Medicare"),
    ("pat-4", "NS-1004", "Priya", "Natarajan", "1992-01-19", "+1 312 555 0174", "en", "Aetna"),
    ("pat-5", "NS-1005", "Samuel", "Osei", "1965-08-08", "312-555-0175", None, "UnitedHealthcare"),
]
# (id, identifier, patient, performer, status, priority, reason)
REQUESTS = [
    ("sr-1", "NS-R-1", "pat-1", "prac-derm", "active", "routine", "Changing mole on left shoulder"),
    ("sr-2", "NS-R-2", "pat-2", "prac-gi", "active", "routine", "Chronic reflux"),
    ("sr-3", "NS-R-3", "pat-3", "prac-gi", "on-hold", "routine", "Screening colonoscopy"),
    ("sr-4", "NS-R-4", "pat-4", "prac-derm", "active", "urgent", "Eczema flare"),
    ("sr-5", "NS-R-5", "pat-5", "prac-gi", "completed", "routine", "Follow-up after endoscopy"),
]


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(TZ)).isoformat()


def next_weekday(today: date, weekday: int, *, after_days: int = 2) -> date:
    day = today + timedelta(days=after_days)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def appointment_day(today: date) -> date:
    """Olivia's dermatology visit: a Tuesday at least two days ahead, inside Dr. Lindqvist's hours."""
    return next_weekday(today, 1)


def clinic_bundle(today: date) -> dict[str, Any]:
    resources: list[dict] = [
        {
            "resourceType": "Location",
            "id": "loc-north",
            "identifier": [{"system": "urn:northside:location", "value": "NS-LOC-1"}],
            "name": "Northside Dermatology",
            "address": {
                "line": ["800 N Clark St", "Suite 210"],
                "city": "Chicago",
                "state": "IL",
                "postalCode": "60610",
            },
            "telecom": [{"system": "phone", "value": "(312) 555-0160"}],
        },
        {
            "resourceType": "Location",
            "id": "loc-south",
            "name": "Northside Digestive Health",
            "address": {"text": "1200 S Michigan Ave, Chicago, IL 60605"},
            "telecom": [{"system": "phone", "value": "(312) 555-0161"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "prac-derm",
            "identifier": [{"system": NPI, "value": "1912345678"}],
            "name": [{"use": "official", "prefix": ["Dr."], "given": ["Ingrid"], "family": "Lindqvist"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "prac-gi",
            "identifier": [{"system": NPI, "value": "1923456789"}],
            "name": [{"prefix": ["Dr."], "given": ["Tomas"], "family": "Herrera"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "prac-pcp",
            "identifier": [{"system": NPI, "value": "1934567890"}],
            "name": [{"prefix": ["Dr."], "given": ["Helen"], "family": "Ward"}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role-derm",
            "practitioner": {"reference": "Practitioner/prac-derm"},
            "specialty": [
                {"coding": [{"system": "http://snomed.info/sct", "code": "394582007", "display": "Dermatology"}]}
            ],
            "location": [{"reference": "Location/loc-north"}],
            "availableTime": [
                {"daysOfWeek": ["tue", "thu"], "availableStartTime": "09:00:00", "availableEndTime": "12:00:00"}
            ],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role-gi",
            "practitioner": {"reference": "Practitioner/prac-gi"},
            "specialty": [{"text": "Gastroenterology"}],
            "location": [{"reference": "urn:uuid:loc-south"}],
            "availableTime": [
                {"daysOfWeek": ["mon", "wed", "fri"], "availableStartTime": "13:00:00", "availableEndTime": "16:00:00"}
            ],
        },
        {"resourceType": "Organization", "id": "org-aetna", "name": "Aetna"},
    ]
    for pid, mrn, given, family, dob, mobile, language, payer in PATIENTS:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"type": MR, "system": "urn:northside:mrn", "value": mrn}],
            "name": [{"use": "official", "given": [given], "family": family}],
            "birthDate": dob,
            "telecom": [{"system": "phone", "use": "home", "value": "(312) 555-0100"}],
        }
        if mobile:
            patient["telecom"].append({"system": "phone", "use": "mobile", "value": mobile})
        if language:
            patient["communication"] = [{"language": {"coding": [{"code": language}]}, "preferred": True}]
        resources.append(patient)
        payor = {"reference": "Organization/org-aetna"} if payer == "Aetna" else {"display": payer}
        resources.append({"resourceType": "Coverage", "id": f"cov-{pid}", "status": "active",
                          "subscriberId": f"M-{mrn}", "beneficiary": {"reference": f"Patient/{pid}"},
                          "payor": [payor]})  # fmt: skip
    for sid, identifier, pid, performer, status, priority, reason in REQUESTS:
        resources.append({
            "resourceType": "ServiceRequest",
            "id": sid,
            "identifier": [{"system": "urn:northside:referral", "value": identifier}],
            "status": status,
            "intent": "order",
            "priority": priority,
            "subject": {"reference": f"Patient/{pid}"},
            "requester": {"reference": "Practitioner/prac-pcp"},
            "performer": [{"reference": f"Practitioner/{performer}"}],
            "reasonCode": [{"text": reason}],
            "authoredOn": (today - timedelta(days=5)).isoformat(),
        })  # fmt: skip
    resources.append({
        "resourceType": "Task",
        "id": "task-auth-3",
        "identifier": [{"value": "PA-77812"}],
        "status": "in-progress",
        "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "approve"}]},
        "focus": {"reference": "ServiceRequest/sr-3"},
        "authoredOn": (today - timedelta(days=3)).isoformat(),
    })  # fmt: skip
    derm_day = appointment_day(today)
    resources.append(_appointment("appt-1", "NS-A-1", "booked", _at(derm_day, 10), _at(derm_day, 10, 30), "pat-1",
                                  "prac-derm", "sr-1"))  # fmt: skip
    past = today - timedelta(days=10)
    resources.append(_appointment("appt-5", "NS-A-5", "fulfilled", _at(past, 14), _at(past, 14, 30), "pat-5",
                                  "prac-gi", "sr-5"))  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": [_entry(resource) for resource in resources]}


def _appointment(aid: str, identifier: str, status: str, start: str, end: str, pid: str, practitioner: str,
                 request: str) -> dict:  # fmt: skip
    return {
        "resourceType": "Appointment",
        "id": aid,
        "identifier": [{"value": identifier}],
        "status": status,
        "start": start,
        "end": end,
        "basedOn": [{"reference": f"ServiceRequest/{request}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{practitioner}"}, "status": "accepted"},
            {"actor": {"reference": "Location/loc-north"}, "status": "accepted"},
        ],
    }
