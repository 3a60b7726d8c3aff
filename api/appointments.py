"""POST /api/appointments and PUT /api/appointments/{id}: one appointment at a time, as the EHR books them.

Both run the import core (as the FHIR and CSV imports do): a new or moved
appointment re-plans its confirmation and reminders (see GET /api/outreach).
"""

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import AwareDatetime, ConfigDict, Field, with_config
from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from api.deps import SessionDep, require_api_token
from api.imports import AUTH_PROBLEM, Problem, import_one
from api.referrals import AppointmentOut
from relay.intake.records import AppointmentRecord, Ref
from relay.models import Appointment, AppointmentStatus
from relay.records.clinics import get_clinic

router = APIRouter(prefix="/api", tags=["appointments"], dependencies=[Depends(require_api_token)])

SOURCE = "api:appointments"


Key = Annotated[str, Field(min_length=1, max_length=64)]
# Aware only: whose 10:00 would a time without an offset be?
Start = Annotated[AwareDatetime, Field(description="ISO 8601 with its UTC offset, e.g. 2027-02-11T14:20-06:00")]


# TypedDicts rather than models: a key left out and a key sent as null differ (left out keeps the stored
# value), and a field that may not be empty can be optional without being nullable.
@with_config(ConfigDict(extra="forbid"))
class AppointmentDetails(TypedDict, total=False):
    specialist_key: Annotated[
        Annotated[str, Field(max_length=64)] | None,  # constrained inside: on the union, null fails with a TypeError
        Field(description="A specialist's key; null or left out: the referral's when new, else unchanged"),
    ]
    duration_minutes: Annotated[int, Field(gt=0, le=24 * 60, description="Left out when new: one slot")]
    status: AppointmentStatus


@with_config(ConfigDict(extra="forbid"))
class AppointmentChanges(AppointmentDetails, total=False):
    """PUT: a field left out keeps its stored value. A new appointment needs referral_id and start."""

    referral_id: Annotated[Key, Field(description="The referral's external id")]
    start: Start


@with_config(ConfigDict(extra="forbid"))
class AppointmentIn(AppointmentDetails):
    """POST: a new appointment (status scheduled unless given)."""

    id: Annotated[Key, Field(description="The appointment's external id (e.g. AP-3001)")]
    referral_id: Annotated[Key, Field(description="The referral's external id")]
    start: Start


class AppointmentDetailOut(AppointmentOut):
    """The appointment (start in the clinic's zone), with its referral and specialist."""

    referral_id: str
    specialist_key: str
    duration_minutes: int


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Rejected by the import, e.g. an unknown referral or specialist"},
    **AUTH_PROBLEM,
    422: {"description": "Malformed body, e.g. a start without a UTC offset"},
}

AppointmentId = Annotated[
    str, Path(description="The appointment's external id (e.g. AP-3001)", min_length=1, max_length=64)
]


@router.post(
    "/appointments",
    response_model=AppointmentDetailOut,
    status_code=201,
    summary="Create an appointment for a referral",
    responses={**PROBLEMS, 409: {"model": Problem, "description": "An appointment with this id exists (PUT updates)"}},
)
def create_appointment(session: SessionDep, payload: AppointmentIn) -> AppointmentDetailOut:
    external_id = payload["id"]
    if _find(session, external_id) is not None:
        raise HTTPException(status_code=409, detail=f"an appointment with id {external_id!r} exists; PUT updates it")
    import_one(session, _record(external_id, payload), source=SOURCE)
    return _stored(session, external_id)


@router.put(
    "/appointments/{appointment_id}",
    response_model=AppointmentDetailOut,
    summary="Create or update an appointment by its external id",
    description="A new appointment needs referral_id and start. 201 when created, 200 when updated or unchanged; "
    "a new start or status re-plans its confirmation and reminders.",
    responses={**PROBLEMS, 201: {"model": AppointmentDetailOut, "description": "Created"}},
)
def put_appointment(
    session: SessionDep, appointment_id: AppointmentId, payload: AppointmentChanges, response: Response
) -> AppointmentDetailOut:
    if import_one(session, _record(appointment_id, payload), source=SOURCE):
        response.status_code = 201
    return _stored(session, appointment_id)


def _record(external_id: str, payload: AppointmentChanges | AppointmentIn) -> AppointmentRecord:
    # Only the keys sent: the rest stays UNSET, which the core reads as "keep what is stored".
    sent: dict[str, Any] = dict(payload)
    sent.pop("id", None)
    fields: dict[str, Any] = {}
    if "referral_id" in sent:
        fields["referral"] = Ref(key=sent.pop("referral_id"))
    if "specialist_key" in sent:
        key = sent.pop("specialist_key")
        fields["specialist"] = None if key is None else Ref(key=key)
    return AppointmentRecord(external_id=external_id, **fields, **sent)


def _find(session: Session, external_id: str) -> Appointment | None:
    return session.scalars(select(Appointment).filter_by(external_id=external_id)).one_or_none()


def _stored(session: Session, external_id: str) -> AppointmentDetailOut:
    appointment = _find(session, external_id)
    if appointment is None:  # the core said it imported it
        raise RuntimeError("the imported appointment is not in the database")
    return AppointmentDetailOut(
        id=external_id,
        status=appointment.status,
        start=appointment.start_at.astimezone(ZoneInfo(get_clinic(session).timezone)),
        version=appointment.version,
        referral_id=appointment.referral.external_id,
        specialist_key=appointment.specialist.key,
        duration_minutes=appointment.duration_minutes,
    )
