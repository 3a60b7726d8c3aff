"""GET /api/referrals/{id}: a referral as the EHR or staff see it (without the clinical reason).
POST /api/referrals/{id}/status: change its status as the EHR or staff would; the outreach re-plans.
POST /api/referrals and PUT /api/referrals/{id}: one referral in, through the import core.
"""

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field, with_config
from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from api.deps import SessionDep, require_api_token
from api.imports import IsoDate, import_one
from relay.intake.records import Ref, ReferralRecord
from relay.models import (
    AppointmentStatus,
    AuthorizationStatus,
    Referral,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
    utcnow,
)
from relay.records.clinics import get_clinic
from relay.referrals.transitions import InvalidTransition, change_referral_status

router = APIRouter(prefix="/api", tags=["referrals"], dependencies=[Depends(require_api_token)])


class SpecialistOut(BaseModel):
    key: str
    name: str
    specialty: str
    facility: str


class AuthorizationOut(BaseModel):
    required: bool
    status: AuthorizationStatus | None
    submitted_on: date | None
    payer_reference: str | None


class AppointmentOut(BaseModel):
    id: str
    status: AppointmentStatus
    start: datetime  # ISO 8601 with the clinic's UTC offset
    version: int


class Problem(BaseModel):
    detail: str


class TransitionProblem(BaseModel):
    class Detail(BaseModel):
        message: str
        current: ReferralStatus
        requested: str
        allowed: list[ReferralStatus] = Field(description="The statuses this referral may move to now")

    detail: Detail


class AuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AuthorizationStatus | None = None
    reference: str | None = Field(default=None, max_length=64, description="The payer's reference number")
    submitted_on: date | None = Field(default=None, description="YYYY-MM-DD")


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    authorization: AuthorizationIn | None = Field(
        default=None, description="Prior authorization details, where relevant; given fields are updated"
    )


class ReferralOut(BaseModel):
    id: str
    patient_mrn: str
    type: ReferralType
    status: ReferralStatus
    priority: ReferralPriority
    received_on: date
    specialist: SpecialistOut
    authorization: AuthorizationOut
    appointment: AppointmentOut | None


def find_referral(session: Session, referral_id: str) -> Referral | None:
    """By external id (as the EHR sends it), or by our numeric id."""
    referral = session.scalars(select(Referral).filter_by(external_id=referral_id)).one_or_none()
    if referral is None and referral_id.isdigit():
        referral = session.get(Referral, int(referral_id))
    return referral


def referral_out(referral: Referral, tz: str) -> ReferralOut:
    appointment = referral.current_appointment
    return ReferralOut(
        id=referral.external_id,
        patient_mrn=referral.patient.mrn,
        type=referral.type,
        status=referral.status,
        priority=referral.priority,
        received_on=referral.received_on,
        specialist=SpecialistOut.model_validate(referral.specialist, from_attributes=True),
        authorization=AuthorizationOut(
            required=referral.authorization_required,
            status=referral.authorization_status,
            submitted_on=referral.authorization_submitted_on,
            payer_reference=referral.authorization_reference,
        ),
        appointment=AppointmentOut(
            id=appointment.external_id or str(appointment.id),
            status=appointment.status,
            start=appointment.start_at.astimezone(ZoneInfo(tz)),
            version=appointment.version,
        )
        if appointment
        else None,
    )


ReferralId = Annotated[str, Path(description="External id (e.g. RF-2001) or Relay's numeric id", max_length=64)]


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    responses={401: {"description": "Missing or wrong bearer token"}, 404: {"description": "No such referral"}},
)
def get_referral(session: SessionDep, referral_id: ReferralId) -> ReferralOut:
    return referral_out(_get(session, referral_id), get_clinic(session).timezone)


# The API token is shared, not per person; staff accounts come with the console.
API_ACTOR = "api"


@router.post(
    "/referrals/{referral_id}/status",
    response_model=ReferralOut,
    summary="Change a referral's status (and authorization) as the EHR or staff would",
    description=(
        "Validates the transition: received -> authorization_pending | ready_to_schedule | declined | cancelled; "
        "authorization_pending -> ready_to_schedule | declined | cancelled; ready_to_schedule -> scheduled | "
        "cancelled; scheduled -> completed | no_show | cancelled | ready_to_schedule; no_show -> "
        "ready_to_schedule | scheduled | cancelled; cancelled -> ready_to_schedule | scheduled; completed and "
        "declined are final. `scheduled` needs a live appointment (book one instead). completed, no_show and "
        "cancelled end the live appointment and free its slot; ready_to_schedule from scheduled cancels it. "
        "Posting the current status again only updates the authorization. The referral's outreach is re-planned "
        "(see GET /api/outreach)."
    ),
    responses={
        400: {"model": TransitionProblem, "description": "Transition not allowed; lists the allowed ones"},
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        404: {"model": Problem, "description": "No such referral"},
        422: {"description": "Malformed body"},
    },
)
def change_status(session: SessionDep, referral_id: ReferralId, payload: StatusChangeIn) -> ReferralOut:
    referral = _get(session, referral_id)
    authorization = payload.authorization.model_dump(exclude_none=True) if payload.authorization else None
    try:
        change_referral_status(
            session,
            referral=referral,
            status=payload.status,
            now=utcnow(),
            actor=API_ACTOR,
            authorization=authorization,
        )
    except InvalidTransition as exc:
        raise HTTPException(
            status_code=400,
            detail={
                "message": str(exc),
                "current": exc.current,
                "requested": exc.requested,
                "allowed": list(exc.allowed),
            },
        ) from None
    return referral_out(referral, get_clinic(session).timezone)


def _get(session: Session, referral_id: str) -> Referral:
    referral = find_referral(session, referral_id)
    if referral is None:
        raise HTTPException(status_code=404, detail=f"no referral with id {referral_id!r}")
    return referral


# --- one referral at a time, for systems that push changes (the import core, as FHIR and CSV use) ----------

REFERRAL_SOURCE = "api:referrals"
Key = Annotated[str, Field(min_length=1, max_length=64)]


# TypedDicts rather than models: a key left out and a key sent as null differ (left out keeps the stored
# value, null clears it), and a field that may not be empty can be optional without being nullable.
@with_config(ConfigDict(extra="forbid"))
class ReferralAuthorization(TypedDict, total=False):
    """Prior authorization; the fields given are updated."""

    required: Annotated[bool, Field(description="Whether the payer must approve before booking")]
    status: AuthorizationStatus | None
    # Constrained inside the `| None`: on the union, a null fails max_length with a TypeError.
    reference: Annotated[Annotated[str, Field(max_length=64)] | None, Field(description="The payer's reference number")]
    submitted_on: IsoDate | None


@with_config(ConfigDict(extra="forbid"))
class ReferralDetails(TypedDict, total=False):
    referred_by: Annotated[Annotated[str, Field(max_length=64)] | None, Field(description="A referring provider's key")]
    type: ReferralType
    status: ReferralStatus
    priority: ReferralPriority
    reason: Annotated[
        str,
        Field(max_length=2000, description="Clinical: stored for staff, never sent to the patient nor returned"),
    ]
    received_on: IsoDate
    authorization: ReferralAuthorization


@with_config(ConfigDict(extra="forbid"))
class ReferralChanges(ReferralDetails, total=False):
    """PUT: a field left out keeps its stored value; null clears the ones that may be empty. A new referral
    needs patient_mrn and specialist_key."""

    patient_mrn: Key
    specialist_key: Annotated[Key, Field(description="A specialist's key")]


@with_config(ConfigDict(extra="forbid"))
class ReferralIn(ReferralDetails):
    """POST: a new referral. Left out: type self (provider when referred_by is given), status received,
    priority routine, reason empty, received_on today."""

    id: Annotated[Key, Field(description="The referral's external id (e.g. RF-2001)")]
    patient_mrn: Key
    specialist_key: Annotated[Key, Field(description="A specialist's key")]


_WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Rejected by the import, e.g. an unknown patient or specialist"},
    401: {"model": Problem, "description": "Missing or wrong bearer token"},
    422: {"description": "Malformed body"},
}

ExternalReferralId = Annotated[
    str, Path(description="The referral's external id (e.g. RF-2001)", min_length=1, max_length=64)
]


@router.post(
    "/referrals",
    response_model=ReferralOut,
    status_code=201,
    summary="Create a referral",
    description="The patient and the specialist must exist (an unknown one is a 400 naming it). "
    "The referral's outreach is planned (see GET /api/outreach).",
    responses={
        **_WRITE_PROBLEMS,
        409: {"model": Problem, "description": "A referral with this id exists (PUT updates)"},
    },
)
def create_referral(session: SessionDep, payload: ReferralIn) -> ReferralOut:
    external_id = payload["id"]
    if session.scalars(select(Referral.id).filter_by(external_id=external_id)).first() is not None:
        raise HTTPException(status_code=409, detail=f"a referral with id {external_id!r} exists; PUT updates it")
    import_one(session, _referral_record(external_id, payload), source=REFERRAL_SOURCE)
    return _stored_referral(session, external_id)


@router.put(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    summary="Create or update a referral by its external id",
    description="A new referral needs patient_mrn and specialist_key (the rest as for POST). "
    "201 when created, 200 when updated or unchanged; touched referrals have their outreach re-planned.",
    responses={**_WRITE_PROBLEMS, 201: {"model": ReferralOut, "description": "Created"}},
)
def put_referral(
    session: SessionDep, referral_id: ExternalReferralId, payload: ReferralChanges, response: Response
) -> ReferralOut:
    if import_one(session, _referral_record(referral_id, payload), source=REFERRAL_SOURCE):
        response.status_code = 201
    return _stored_referral(session, referral_id)


def _referral_record(external_id: str, payload: ReferralChanges | ReferralIn) -> ReferralRecord:
    # Only the keys sent: the rest stays UNSET, which the core reads as "keep what is stored".
    sent: dict[str, Any] = dict(payload)
    sent.pop("id", None)
    fields: dict[str, Any] = {}
    if "patient_mrn" in sent:
        fields["patient"] = Ref(key=sent.pop("patient_mrn"))
    if "specialist_key" in sent:
        fields["specialist"] = Ref(key=sent.pop("specialist_key"))
    if "referred_by" in sent:
        provider = sent.pop("referred_by")
        fields["referred_by"] = None if provider is None else Ref(key=provider)
    for name, value in (sent.pop("authorization", None) or {}).items():
        fields[f"authorization_{name}"] = value
    return ReferralRecord(external_id=external_id, **fields, **sent)


def _stored_referral(session: Session, external_id: str) -> ReferralOut:
    referral = session.scalars(select(Referral).filter_by(external_id=external_id)).one()
    return referral_out(referral, get_clinic(session).timezone)
