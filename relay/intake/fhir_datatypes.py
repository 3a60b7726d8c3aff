"""FHIR datatypes as Relay reads them: identifiers, names, addresses, phone numbers, languages, codes, times.

Each takes the fhir.resources (R4B) value and gives plain Python, or None
where the element says nothing usable.
"""

from datetime import UTC, date, datetime, time
from typing import Any

from relay.intake.records import WeeklyHours

REFERRAL_CATEGORY = "3457005"  # SNOMED CT: Patient referral
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# FHIR has no slot length in availableTime: weekly hours are cut into slots of this many minutes.
DEFAULT_SLOT_MINUTES = 30


def identifier(identifiers: list[Any] | None) -> str | None:
    for ident in identifiers or []:
        if ident.value:
            return str(ident.value)
    return None


def person_name(resource: Any) -> str:
    names = resource.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None:
        return ""
    if name.text:
        return " ".join(name.text.split())
    parts = [*(name.prefix or []), *(name.given or []), name.family or ""]
    return " ".join(part for part in parts if part)


def address_text(address: Any) -> str:
    if address is None:
        return ""
    if address.text:
        return " ".join(address.text.split())
    city_line = " ".join(part for part in (address.state, address.postalCode) if part)
    parts = [*(address.line or []), address.city, city_line]
    return ", ".join(part for part in parts if part)


def telecom(points: list[Any] | None, systems: tuple[str, ...], uses: tuple[str, ...] | None = None) -> str | None:
    for point in points or []:
        if point.system in systems and point.value and (uses is None or point.use in uses):
            if point.period is not None and point.period.end is not None:
                continue  # a number that stopped being theirs
            return str(point.value)
    return None


def language_code(communications: list[Any]) -> str | None:
    chosen = next((c for c in communications if c.preferred), communications[0] if communications else None)
    if chosen is None or chosen.language is None:
        return None
    for coding in chosen.language.coding or []:
        if coding.code:
            return str(coding.code)
    return chosen.language.text


def is_referral(concept: Any) -> bool:
    """SNOMED CT 3457005 "Patient referral", the category US Core and most EHRs give referrals."""
    codes = {coding.code for coding in concept.coding or []}
    return REFERRAL_CATEGORY in codes or "referral" in (concept.text or "").lower()


def concept_text(concept: Any) -> str | None:
    if concept.text:
        return str(concept.text)
    for coding in concept.coding or []:
        if coding.display:
            return str(coding.display)
    return None


def reason_text(request: Any) -> str:
    for concept in request.reasonCode or []:
        text = concept_text(concept)
        if text:
            return text
    for reference in request.reasonReference or []:
        if reference.display:
            return str(reference.display)
    return ""


def weekly_hours(available: list[Any]) -> list[WeeklyHours]:
    hours = []
    for entry in available:
        if entry.allDay or not entry.availableStartTime or not entry.availableEndTime:
            continue  # "all day" says nothing about when visits start
        for day in entry.daysOfWeek or []:
            if day in WEEKDAYS:
                hours.append(WeeklyHours(WEEKDAYS.index(day), clock(entry.availableStartTime),
                                         clock(entry.availableEndTime), DEFAULT_SLOT_MINUTES))  # fmt: skip
    return hours


def clock(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def day_of(value: Any) -> date:
    """The day of a FHIR date or dateTime (which may be only a date, or a year and month)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    return date.fromisoformat(text if len(text) == 10 else (text + "-01-01")[:10])


def instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # FHIR instants carry an offset; the model lets a few through without
        moment = moment.replace(tzinfo=UTC)
    return moment
