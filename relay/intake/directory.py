"""The clinic's directory from an import: locations, referring providers, specialists and their slots."""

from datetime import UTC

from sqlalchemy import select

from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.intake.context import ImportContext, Rejected, assign, check_lengths, chunks
from relay.intake.records import (
    LocationRecord,
    ProviderRecord,
    Ref,
    SlotRecord,
    SpecialistRecord,
    WeeklyHours,
    is_set,
)
from relay.models import Location, PublishedSlot, ReferringProvider, Specialist, WeeklyAvailability


def _phone(raw: str | None, ctx: ImportContext, what: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return to_e164(raw.strip(), ctx.region)
    except InvalidPhoneNumber:
        raise Rejected(f"{what} phone is not a phone number") from None


# --- locations --------------------------------------------------------------


def preload_locations(ctx: ImportContext, records: list[LocationRecord]) -> None:
    ctx.locations.preload(ctx.session, [Ref(record.key, record.fhir_id) for record in records])


def apply_location(ctx: ImportContext, record: LocationRecord) -> str:
    if not record.name.strip():
        raise Rejected("a location needs a name")
    values = {
        "name": record.name.strip(),
        "address": record.address.strip(),
        "phone": _phone(record.phone, ctx, "the location's"),
    }
    check_lengths(Location, values)
    row = ctx.locations.find(Ref(record.key, record.fhir_id))
    if row is None:
        row = Location(key=record.key, fhir_id=record.fhir_id, **values)
        ctx.session.add(row)
        ctx.locations.remember(row)
        return "created"
    changed = assign(row, values | {"key": record.key} | ({"fhir_id": record.fhir_id} if record.fhir_id else {}))
    if changed:
        # Specialists carry their location's name, address and phone: keep them in step.
        for specialist in ctx.session.scalars(select(Specialist).where(Specialist.location_id == row.id)):
            assign(specialist, _location_fields(row, specialist.phone))
    return "updated" if changed else "unchanged"


def _location_fields(location: Location, fallback_phone: str) -> dict[str, str]:
    return {"facility": location.name, "address": location.address, "phone": location.phone or fallback_phone}


# --- referring providers ----------------------------------------------------


def preload_providers(ctx: ImportContext, records: list[ProviderRecord]) -> None:
    ctx.providers.preload(ctx.session, [Ref(record.key, record.fhir_id) for record in records])


def apply_provider(ctx: ImportContext, record: ProviderRecord) -> str:
    if not record.name.strip():
        raise Rejected("a referring provider needs a name")
    values = {"name": record.name.strip(), "role": record.role.strip() or "Referring provider"}
    check_lengths(ReferringProvider, values)
    row = ctx.providers.find(Ref(record.key, record.fhir_id))
    if row is None:
        row = ReferringProvider(key=record.key, fhir_id=record.fhir_id, **values)
        ctx.session.add(row)
        ctx.providers.remember(row)
        return "created"
    changed = assign(row, values | ({"fhir_id": record.fhir_id} if record.fhir_id else {}))
    return "updated" if changed else "unchanged"


# --- specialists ------------------------------------------------------------

_NEEDED_FOR_NEW = ("name", "specialty")


def preload_specialists(ctx: ImportContext, records: list[SpecialistRecord]) -> None:
    ctx.specialists.preload(
        ctx.session,
        [Ref(record.key, record.fhir_id) for record in records],
        extra=[("fhir_role_id", record.fhir_role_id) for record in records if record.fhir_role_id],
    )
    locations = [record.location for record in records if isinstance(record.location, Ref)]
    ctx.locations.preload(ctx.session, locations)


def apply_specialist(ctx: ImportContext, record: SpecialistRecord) -> str:
    row = _find_specialist(ctx, record)
    values = _specialist_values(ctx, record, row)
    hours = _checked_hours(record.availability) if is_set(record.availability) else None
    if row is None:
        if "specialty" not in values:
            raise Rejected(
                "only a practitioner with a role here (a PractitionerRole: specialty, location) is a specialist"
            )
        missing = [name for name in (*_NEEDED_FOR_NEW, "facility", "address", "phone") if name not in values]
        if missing:
            raise Rejected("a new specialist needs " + ", ".join(name.replace("_", " ") for name in missing))
        if record.key is None:
            raise Rejected(f"unknown practitioner Practitioner/{record.fhir_id}: send the Practitioner with its role")
        row = Specialist(key=record.key, fhir_id=record.fhir_id, fhir_role_id=record.fhir_role_id, **values)
        row.availability = [_block(hours_entry) for hours_entry in hours or []]
        ctx.session.add(row)
        ctx.specialists.remember(row)
        return "created"
    ids = {name: getattr(record, name) for name in ("fhir_id", "fhir_role_id") if getattr(record, name)}
    if record.key is not None:
        ids["key"] = record.key
    changed = assign(row, values | ids)
    if hours is not None:
        changed = _replace_hours(row, hours) or changed
    ctx.specialists.remember(row)
    return "updated" if changed else "unchanged"


def _find_specialist(ctx: ImportContext, record: SpecialistRecord) -> Specialist | None:
    found = ctx.specialists.find(Ref(record.key, record.fhir_id))
    if found is None and record.fhir_role_id:
        found = ctx.specialists.find_by("fhir_role_id", record.fhir_role_id)
    return found


def _specialist_values(ctx: ImportContext, record: SpecialistRecord, row: Specialist | None) -> dict:
    values: dict = {}
    for name in ("name", "specialty", "facility", "address", "prep", "prep_es"):
        value = getattr(record, name)
        if is_set(value):
            values[name] = value.strip() if isinstance(value, str) else value
    if is_set(record.phone):
        values["phone"] = _phone(record.phone, ctx, "the specialist's") or ""
        if not values["phone"]:
            raise Rejected("a specialist needs a phone number patients can call")
    if is_set(record.insurance_accepted):
        # In the source's order (staff read the list), each payer once.
        values["insurance_accepted"] = list(dict.fromkeys(p.strip() for p in record.insurance_accepted if p.strip()))
    if isinstance(record.location, Ref):
        location = ctx.locations.resolve(record.location, "location")
        values["location_id"] = location.id
        fallback = values.get("phone") or (row.phone if row is not None else "")
        values |= _location_fields(location, fallback)
        if not values["phone"]:
            raise Rejected(f"neither the specialist nor location {record.location} has a phone number")
    elif record.location is None:
        values["location_id"] = None
    for name in _NEEDED_FOR_NEW:
        if name in values and not values[name]:
            raise Rejected(f"the specialist's {name} is empty")
    check_lengths(Specialist, values)
    return values


def _checked_hours(hours: list[WeeklyHours]) -> list[WeeklyHours]:
    seen = set()
    for entry in hours:
        if not 0 <= entry.weekday <= 6:
            raise Rejected(f"weekday {entry.weekday} is not 0 (Monday) to 6 (Sunday)")
        if entry.end <= entry.start:
            raise Rejected(f"weekly hours end ({entry.end:%H:%M}) before they start ({entry.start:%H:%M})")
        if entry.slot_minutes <= 0:
            raise Rejected("slot minutes must be positive")
        if (entry.weekday, entry.start) in seen:
            raise Rejected("two blocks of weekly hours start at the same time on the same day")
        seen.add((entry.weekday, entry.start))
    return hours


def _block(entry: WeeklyHours) -> WeeklyAvailability:
    return WeeklyAvailability(
        weekday=entry.weekday, start_time=entry.start, end_time=entry.end, slot_minutes=entry.slot_minutes
    )


def _replace_hours(row: Specialist, hours: list[WeeklyHours]) -> bool:
    wanted = {(entry.weekday, entry.start): entry for entry in hours}
    have = {(block.weekday, block.start_time): block for block in row.availability}
    changed = False
    for key, block in have.items():
        if key not in wanted:
            row.availability.remove(block)
            changed = True
    for key, entry in wanted.items():
        if key not in have:
            row.availability.append(_block(entry))
            changed = True
        else:
            changed = assign(have[key], {"end_time": entry.end, "slot_minutes": entry.slot_minutes}) or changed
    return changed


# --- published slots --------------------------------------------------------


def preload_slots(ctx: ImportContext, records: list[SlotRecord]) -> None:
    ctx.specialists.preload(ctx.session, [record.specialist for record in records])
    keys = sorted({record.key for record in records} - ctx.slots.keys())
    for part in chunks(keys):
        for slot in ctx.session.scalars(select(PublishedSlot).where(PublishedSlot.key.in_(part))):
            ctx.slots[slot.key] = slot


def apply_slot(ctx: ImportContext, record: SlotRecord) -> str:
    specialist = ctx.specialists.resolve(record.specialist, "specialist")
    if record.start.tzinfo is None or record.end.tzinfo is None:
        raise Rejected("a slot's start and end need a time zone")
    if record.end <= record.start:
        raise Rejected("the slot ends before it starts")
    values = {
        "specialist_id": specialist.id,
        "start_at": record.start.astimezone(UTC),
        "end_at": record.end.astimezone(UTC),
        "free": record.free,
    }
    check_lengths(PublishedSlot, {"key": record.key})
    row = ctx.slots.get(record.key)
    if row is None:
        row = PublishedSlot(key=record.key, **values)
        ctx.session.add(row)
        ctx.slots[record.key] = row
        return "created"
    return "updated" if assign(row, values) else "unchanged"
